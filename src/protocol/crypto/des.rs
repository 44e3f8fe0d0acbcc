//! Single DES and two-key triple DES (EDE2), table driven.
//!
//! Every purchase in a simulation costs about a hundred DES block operations
//! (MACs, ARQC, PIN, PVV, CVV), so DES is the hot path of the whole simulator.
//! This is the classic combined S-box/P-box ("SP table") formulation: each
//! round is eight table look-ups, the expansion E is eight bytes of a half
//! kept twice in a 64-bit word (see [`Half`]), and the initial and final
//! permutations are delta swaps. Tables are built at compile time from the
//! FIPS 46-3 definitions below, so there are no magic constants to mistype.
//! Key schedules are computed once per key and cached by the callers
//! ([`Des`], [`Tdes`] are cheap to copy).
//!
//! RustCrypto's `des` crate is the reference: property tests compare this
//! implementation with it on random keys and blocks.
//!
//! Bit numbering follows FIPS 46-3: bit 1 is the most significant bit.

// Table indices below are masked to the table size (`& 0xff`, `& 63`, `& 0xf`,
// `& 0x7f`), so indexing cannot go out of bounds.
#![allow(clippy::indexing_slicing)]

/// Initial permutation (FIPS 46-3): output bit i takes input bit IP[i].
/// The code uses the equivalent delta swaps in [`ip`]; tests check them against this.
#[cfg(test)]
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61,
    53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// Final permutation, the inverse of IP.
#[cfg(test)]
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
    37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];

/// Permutation P applied to the S-box outputs.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
    13, 30, 6, 22, 11, 4, 25,
];

/// Permuted choice 1: the 56 key bits that matter, in order C then D.
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60,
    52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: the 48 bits of a round key from C and D.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41, 52,
    31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of C and D before each round.
const SHIFTS: [u8; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// The eight S-boxes, each as 4 rows of 16.
const SBOX: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12,
        11, 9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9,
        1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1,
        10, 6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15,
        4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5,
        14, 12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6,
        9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2,
        12, 1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1,
        13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15,
        10, 3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14,
        2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13,
        14, 0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5,
        15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5,
        12, 2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4,
        10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6,
        11, 0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10,
        8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// Combined S-box and P tables: `SP[i][v]` is P applied to S-box i's output
/// for the 6-bit input v, in place.
const SP: [[u32; 64]; 8] = build_sp();

/// [`SP`] in the round domain (see [`Half`]) for S3, S4, S6, S7 and S8,
/// whose windows come out of a [`Half`] with a shift and a mask (or a mask
/// alone). Indexed by box number for clarity: the rows of S1, S2 and S5
/// are built but never read (1.5 KB; [`SP_BYTE`] has them).
static SP_HALF: [[u64; 64]; 8] = build_sp_half();

/// The same for S1, S2 and S5, indexed by a whole byte whose low six bits
/// are the S-box input: their windows are the top byte of a copy or the
/// second byte of the word, which come out of a register in one operation
/// (a shift, or a `movzx` from `dh`) with the two bits above the window
/// still in them. The table repeats itself four times so that those bits
/// do not matter (6 KB; all eight boxes this way took 16 KB, and made a run
/// miss the L1 cache half as much again; BENCHMARKS.md).
static SP_BYTE: [[u64; 256]; 3] = build_sp_byte();

const fn build_sp_half() -> [[u64; 64]; 8] {
    let mut t = [[0u64; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut v = 0;
        while v < 64 {
            t[i][v] = to_half(SP[i][v]);
            v += 1;
        }
        i += 1;
    }
    t
}

const fn build_sp_byte() -> [[u64; 256]; 3] {
    let boxes = [0, 1, 4];
    let mut t = [[0u64; 256]; 3];
    let mut i = 0;
    while i < 3 {
        let mut v = 0;
        while v < 256 {
            t[i][v] = to_half(SP[boxes[i]][v & 63]);
            v += 1;
        }
        i += 1;
    }
    t
}

/// Nibble-indexed permuted choice 1: `PC1_TABLE[i][v]` is the 56-bit C||D
/// contribution of key nibble i with value v.
static PC1_TABLE: [[u64; 16]; 16] = build_pc1_table();

/// 7-bit-chunk-indexed permuted choice 2: `PC2_TABLE[i][v]` is the 48-bit
/// round-key contribution of chunk i (bits 7i+1..7i+7 of C||D) with value v.
static PC2_TABLE: [[u64; 128]; 8] = build_pc2_table();

const fn build_sp() -> [[u32; 64]; 8] {
    let mut sp = [[0u32; 64]; 8];
    let mut i = 0;
    while i < 8 {
        let mut v = 0;
        while v < 64 {
            let row = ((v >> 4) & 2) | (v & 1);
            let col = (v >> 1) & 0xf;
            let s = SBOX[i][row * 16 + col] as u32;
            // S-box i's 4 output bits sit at DES bits 4i+1..4i+4 of the word.
            let pre = s << (28 - 4 * i);
            let mut out = 0u32;
            let mut j = 0;
            while j < 32 {
                // Output bit j+1 takes input bit P[j].
                let src = P[j] as u32;
                if pre & (1 << (32 - src)) != 0 {
                    out |= 1 << (31 - j);
                }
                j += 1;
            }
            sp[i][v] = out;
            v += 1;
        }
        i += 1;
    }
    sp
}

const fn build_pc1_table() -> [[u64; 16]; 16] {
    let mut t = [[0u64; 16]; 16];
    let mut nib = 0;
    while nib < 16 {
        let mut v = 0;
        while v < 16 {
            let mut out = 0u64;
            let mut j = 0;
            while j < 56 {
                let src = PC1[j] as usize - 1; // 0-based key bit, MSB first
                if src / 4 == nib && (v >> (3 - src % 4)) & 1 == 1 {
                    out |= 1 << (55 - j);
                }
                j += 1;
            }
            t[nib][v] = out;
            v += 1;
        }
        nib += 1;
    }
    t
}

const fn build_pc2_table() -> [[u64; 128]; 8] {
    let mut t = [[0u64; 128]; 8];
    let mut chunk = 0;
    while chunk < 8 {
        let mut v = 0;
        while v < 128 {
            let mut out = 0u64;
            let mut j = 0;
            while j < 48 {
                let src = PC2[j] as usize - 1; // 0-based bit of C||D, MSB first
                if src / 7 == chunk && (v >> (6 - src % 7)) & 1 == 1 {
                    out |= 1 << (47 - j);
                }
                j += 1;
            }
            t[chunk][v] = out;
            v += 1;
        }
        chunk += 1;
    }
    t
}

/// Swaps the bits of `a` selected by `m << n` with the bits of `b` selected
/// by `m` (a delta swap; its own inverse).
#[inline(always)]
fn perm_op(a: &mut u32, b: &mut u32, n: u32, m: u32) {
    let t = ((*a >> n) ^ *b) & m;
    *b ^= t;
    *a ^= t << n;
}

/// The initial permutation on the two big-endian halves, as five delta swaps.
#[inline(always)]
fn ip(mut l: u32, mut r: u32) -> (u32, u32) {
    perm_op(&mut l, &mut r, 4, 0x0f0f_0f0f);
    perm_op(&mut l, &mut r, 16, 0x0000_ffff);
    perm_op(&mut r, &mut l, 2, 0x3333_3333);
    perm_op(&mut r, &mut l, 8, 0x00ff_00ff);
    perm_op(&mut l, &mut r, 1, 0x5555_5555);
    (l, r)
}

/// The final permutation: the same swaps in reverse order.
#[inline(always)]
fn fp(mut l: u32, mut r: u32) -> (u32, u32) {
    perm_op(&mut l, &mut r, 1, 0x5555_5555);
    perm_op(&mut r, &mut l, 8, 0x00ff_00ff);
    perm_op(&mut r, &mut l, 2, 0x3333_3333);
    perm_op(&mut l, &mut r, 16, 0x0000_ffff);
    perm_op(&mut l, &mut r, 4, 0x0f0f_0f0f);
    (l, r)
}

/// A 32-bit half of the DES state as the rounds keep it: written twice in
/// a `u64`, rotated right by three bits in the low 32 bits and left by one
/// in the high 32.
///
/// E(R) takes eight overlapping 6-bit windows that wrap around R. In the
/// low copy the windows of S1, S3, S5 and S7 sit whole at the bottom of its
/// bytes (bits 24, 16, 8 and 0), in the high copy those of S2, S4, S6 and
/// S8 (bits 56, 48, 40 and 32), so every window is a shift (or a byte) of
/// one word: a round needs no rotation, one XOR mixes in the whole round
/// key, and the key can be mixed into the next round's input while the
/// current round's table look-ups are still in flight (see
/// [`Des::rounds`]). The S-box tables ([`SP_HALF`], [`SP_BYTE`]) are stored
/// in the same form, so XOR keeps a half in it. (With the same rotation in
/// both copies, as before, a round needed two words and a DES block took
/// about 3% longer; BENCHMARKS.md.)
type Half = u64;

#[inline(always)]
const fn to_half(x: u32) -> Half {
    ((x.rotate_left(1) as u64) << 32) | x.rotate_right(3) as u64
}

#[inline(always)]
const fn from_half(h: Half) -> u32 {
    (h as u32).rotate_left(3)
}

#[inline(always)]
fn load(block: [u8; 8]) -> (Half, Half) {
    let x = u64::from_be_bytes(block);
    let (l, r) = ip((x >> 32) as u32, x as u32);
    (to_half(l), to_half(r))
}

#[inline(always)]
fn store(l: Half, r: Half) -> [u8; 8] {
    let (l, r) = fp(from_half(l), from_half(r));
    ((u64::from(l) << 32) | u64::from(r)).to_be_bytes()
}

/// The chaining value of a CBC-MAC between blocks, kept in the round
/// domain: IP is linear, so IP(C xor P) = IP(C) xor IP(P), and the final and
/// initial permutations between blocks cancel out.
#[derive(Clone, Copy, Default)]
pub(crate) struct Chain {
    l: Half,
    r: Half,
}

#[cfg(test)]
const fn build_perm_table(perm: &[u8; 64]) -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut byte = 0;
    while byte < 8 {
        let mut v = 0;
        while v < 256 {
            let mut out = 0u64;
            let mut j = 0;
            while j < 64 {
                let src = perm[j] as usize - 1; // 0-based input bit, MSB first
                if src / 8 == byte {
                    let bit = 7 - (src % 8);
                    if (v >> bit) & 1 == 1 {
                        out |= 1 << (63 - j);
                    }
                }
                j += 1;
            }
            t[byte][v] = out;
            v += 1;
        }
        byte += 1;
    }
    t
}

#[cfg(test)]
fn permute(table: &[[u64; 256]; 8], x: u64) -> u64 {
    let b = x.to_be_bytes();
    table[0][b[0] as usize]
        | table[1][b[1] as usize]
        | table[2][b[2] as usize]
        | table[3][b[3] as usize]
        | table[4][b[4] as usize]
        | table[5][b[5] as usize]
        | table[6][b[6] as usize]
        | table[7][b[7] as usize]
}

/// One round key in the form the round function wants, to XOR into a
/// [`Half`]: the even S-box chunks (S1, S3, S5, S7) at bits 24, 16, 8 and 0
/// of the low copy, the odd ones (S2, S4, S6, S8) at the same offsets in
/// the high copy. A schedule stays 128 bytes (a simulation keeps a few per
/// card).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RoundKey(u64);

/// `lk xor f(R, K)`, the cipher function from R already mixed with the key
/// (`x` is R xor a [`RoundKey`], both as a [`Half`]), joined with `lk`: the
/// left half, already mixed with the next round key except in the last
/// round.
///
/// The eight S-box outputs land on disjoint bits (P is a permutation), so
/// they can be joined with `|` and `+` as well as `^`. Mixing the operators
/// keeps them a shallow tree: written with `^` alone, LLVM chains all eight
/// into one accumulator, and that serial chain is most of a round's latency
/// (a DES block is about 8% faster this way; BENCHMARKS.md).
///
/// S1, S2, S5 and S7 take one operation to index (a shift, a byte move or a
/// mask) and arrive a cycle before the other four (a shift and a mask), so
/// `lk` joins two of them while the others are still loading, and the tree
/// ends one level after the last look-up instead of two (a retail MAC,
/// whose CBC chain waits on every round, is about 6.6% faster;
/// BENCHMARKS.md).
#[inline(always)]
fn f_then_xor(x: Half, lk: Half) -> Half {
    let [s1, s2, s3, s4, s5, s6, s7, s8] = sboxes(x);
    let early = (s1 | s2).wrapping_add(s5 | s7) ^ lk;
    let late = (s3 | s4).wrapping_add(s6 | s8);
    early ^ late
}

/// The eight S-box look-ups of f(R, K): their outputs on disjoint bits.
#[inline(always)]
fn sboxes(x: Half) -> [Half; 8] {
    // The low copy as a 32-bit word: its top byte is one shift away.
    let low = x as u32;
    [
        SP_BYTE[0][(low >> 24) as usize & 0xff],
        SP_BYTE[1][(x >> 56) as usize & 0xff],
        SP_HALF[2][(low >> 16) as usize & 63],
        SP_HALF[3][(x >> 48) as usize & 63],
        SP_BYTE[2][(low >> 8) as usize & 0xff],
        SP_HALF[5][(x >> 40) as usize & 63],
        SP_HALF[6][low as usize & 63],
        SP_HALF[7][(x >> 32) as usize & 63],
    ]
}

/// A DES key schedule: the 16 round keys, computed once per key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Des {
    keys: [RoundKey; 16],
}

impl std::fmt::Debug for Des {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Des(..)")
    }
}

impl Des {
    /// Expands a 64-bit DES key (parity bits are ignored, as in FIPS 46-3).
    pub fn new(key: [u8; 8]) -> Self {
        let k = u64::from_be_bytes(key);
        let mut cd = 0u64; // 56 bits: C in the top 28, D in the bottom 28
        for (i, t) in PC1_TABLE.iter().enumerate() {
            cd |= t[((k >> (60 - 4 * i)) & 0xf) as usize];
        }
        let mut c = (cd >> 28) as u32 & 0x0fff_ffff;
        let mut d = cd as u32 & 0x0fff_ffff;
        let mut keys = [RoundKey::default(); 16];
        for (round, &shift) in SHIFTS.iter().enumerate() {
            let s = u32::from(shift);
            c = ((c << s) | (c >> (28 - s))) & 0x0fff_ffff;
            d = ((d << s) | (d >> (28 - s))) & 0x0fff_ffff;
            let cd = (u64::from(c) << 28) | u64::from(d);
            let mut k48 = 0u64;
            for (i, t) in PC2_TABLE.iter().enumerate() {
                k48 |= t[((cd >> (49 - 7 * i)) & 0x7f) as usize];
            }
            let chunk = |i: u32| ((k48 >> (42 - 6 * i)) & 63) as u32;
            let even = (chunk(0) << 24) | (chunk(2) << 16) | (chunk(4) << 8) | chunk(6);
            let odd = (chunk(1) << 24) | (chunk(3) << 16) | (chunk(5) << 8) | chunk(7);
            keys[round] = RoundKey(u64::from(even) | (u64::from(odd) << 32));
        }
        Self { keys }
    }

    /// The sixteen Feistel rounds, with the round keys in order or
    /// reversed, returning the pre-output (R16, L16).
    ///
    /// The next round's input is R' = L xor f, and what its look-ups need
    /// is R' xor K'. L and K' are known a round early, so `L xor K'` joins
    /// the tree of look-ups on its early side (see [`f_then_xor`]). Left to
    /// itself LLVM flattens `L xor K' xor f` into one XOR chain and puts L
    /// last, after the slowest look-up; passing `L xor K'` through
    /// `black_box` keeps it one value. That costs a store and a load off the
    /// critical path (the value is ready a round before it is needed) and
    /// makes a retail MAC over the 342-byte 0200 about 6.6% faster
    /// (criterion; BENCHMARKS.md).
    #[inline(always)]
    fn rounds<const DECRYPT: bool>(&self, l: Half, r: Half) -> (Half, Half) {
        let key = |i: usize| self.keys[if DECRYPT { 15 - i } else { i }].0;
        let (mut l, mut r) = (l, r);
        let mut x = r ^ key(0);
        // Unrolled by hand: LLVM would keep a loop of fifteen here.
        macro_rules! round {
            ($($i:literal)*) => {$({
                // An optimisation barrier, not a benchmark helper: see above.
                let lk = std::hint::black_box(l ^ key($i));
                x = f_then_xor(x, lk);
                // R' = L xor f = x xor K', wanted only a round later.
                (l, r) = (r, x ^ key($i));
            })*};
        }
        round!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        (f_then_xor(x, l), r)
    }

    #[inline(always)]
    fn encrypt_halves(&self, l: &mut Half, r: &mut Half) {
        (*l, *r) = self.rounds::<false>(*l, *r);
    }

    #[inline(always)]
    fn decrypt_halves(&self, l: &mut Half, r: &mut Half) {
        (*l, *r) = self.rounds::<true>(*l, *r);
    }

    /// One CBC step: XORs the block into the chaining value and encrypts it.
    #[inline(always)]
    pub(crate) fn cbc_step(&self, chain: &mut Chain, block: [u8; 8]) {
        let (pl, pr) = load(block);
        chain.l ^= pl;
        chain.r ^= pr;
        self.encrypt_halves(&mut chain.l, &mut chain.r);
    }

    /// Encrypts one 64-bit block.
    #[inline]
    pub fn encrypt(&self, block: [u8; 8]) -> [u8; 8] {
        let (mut l, mut r) = load(block);
        self.encrypt_halves(&mut l, &mut r);
        store(l, r)
    }

    /// Decrypts one 64-bit block.
    #[inline]
    pub fn decrypt(&self, block: [u8; 8]) -> [u8; 8] {
        let (mut l, mut r) = load(block);
        self.decrypt_halves(&mut l, &mut r);
        store(l, r)
    }
}

/// Two-key triple DES (EDE2: encrypt K1, decrypt K2, encrypt K1), the
/// "double-length key" of every payment algorithm here.
///
/// The final permutation of one stage and the initial permutation of the next
/// cancel, so a TDES block costs one IP, 48 rounds and one FP.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tdes {
    k1: Des,
    k2: Des,
}

impl std::fmt::Debug for Tdes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tdes(..)")
    }
}

impl Tdes {
    /// Expands a 16-byte key K1 || K2.
    pub fn new(key: [u8; 16]) -> Self {
        let (k1, k2) = split16(key);
        Self { k1: Des::new(k1), k2: Des::new(k2) }
    }

    /// The schedule of the left half, which ISO 9797-1 algorithm 3 uses alone.
    pub fn left(&self) -> &Des {
        &self.k1
    }

    /// Encrypts one block: E(K1, D(K2, E(K1, x))).
    #[inline]
    pub fn encrypt(&self, block: [u8; 8]) -> [u8; 8] {
        let (mut l, mut r) = load(block);
        self.k1.encrypt_halves(&mut l, &mut r);
        self.k2.decrypt_halves(&mut l, &mut r);
        self.k1.encrypt_halves(&mut l, &mut r);
        store(l, r)
    }

    /// Decrypts one block: D(K1, E(K2, D(K1, x))).
    #[inline]
    pub fn decrypt(&self, block: [u8; 8]) -> [u8; 8] {
        let (mut l, mut r) = load(block);
        self.k1.decrypt_halves(&mut l, &mut r);
        self.k2.encrypt_halves(&mut l, &mut r);
        self.k1.decrypt_halves(&mut l, &mut r);
        store(l, r)
    }

    /// Finishes ISO 9797-1 algorithm 3 from the single-DES chain (see
    /// [`Chain`]): D(K2), then E(K1).
    #[inline]
    pub(crate) fn mac_final(&self, chain: Chain) -> [u8; 8] {
        let Chain { mut l, mut r } = chain;
        self.k2.decrypt_halves(&mut l, &mut r);
        self.k1.encrypt_halves(&mut l, &mut r);
        store(l, r)
    }
}

/// Splits a double-length key into its halves.
pub(crate) fn split16(key: [u8; 16]) -> ([u8; 8], [u8; 8]) {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&key[..8]);
    b.copy_from_slice(&key[8..]);
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_box_outputs_occupy_disjoint_bits() {
        // `f` joins the eight outputs with `|` and `+`, which equal `^` only
        // if no two S-boxes can set the same bit.
        let bits: Vec<u32> = SP.iter().map(|t| t.iter().fold(0, |a, v| a | v)).collect();
        for (i, a) in bits.iter().enumerate() {
            assert_eq!(a.count_ones(), 4, "S-box {} drives four bits", i + 1);
            for b in &bits[i + 1..] {
                assert_eq!(a & b, 0);
            }
        }
    }

    #[test]
    fn fips_81_single_des_known_answer() {
        // FIPS 81 appendix B: key 0123456789ABCDEF, "Now is t".
        let des = Des::new([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
        let ct = des.encrypt(*b"Now is t");
        assert_eq!(ct, [0x3F, 0xA4, 0x0E, 0x8A, 0x98, 0x4D, 0x48, 0x15]);
        assert_eq!(des.decrypt(ct), *b"Now is t");
    }

    #[test]
    fn delta_swap_permutations_equal_the_fips_tables() {
        let ip_table = build_perm_table(&IP);
        let fp_table = build_perm_table(&FP);
        let mut x: u64 = 0x0123_4567_89AB_CDEF;
        for _ in 0..10_000 {
            // xorshift: a spread of bit patterns
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (l, r) = ip((x >> 32) as u32, x as u32);
            assert_eq!((u64::from(l) << 32) | u64::from(r), permute(&ip_table, x));
            let (l, r) = fp((x >> 32) as u32, x as u32);
            assert_eq!((u64::from(l) << 32) | u64::from(r), permute(&fp_table, x));
        }
        for bit in 0..64 {
            let x = 1u64 << bit;
            let (l, r) = ip((x >> 32) as u32, x as u32);
            assert_eq!((u64::from(l) << 32) | u64::from(r), permute(&ip_table, x), "bit {bit}");
        }
    }

    #[test]
    fn tdes_with_equal_halves_is_single_des() {
        let k = [0x13, 0x34, 0x57, 0x79, 0x9B, 0xBC, 0xDF, 0xF1];
        let mut kk = [0u8; 16];
        kk[..8].copy_from_slice(&k);
        kk[8..].copy_from_slice(&k);
        let block = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];
        // Classic worked example: 85E813540F0AB405.
        assert_eq!(Des::new(k).encrypt(block), [0x85, 0xE8, 0x13, 0x54, 0x0F, 0x0A, 0xB4, 0x05]);
        assert_eq!(Tdes::new(kk).encrypt(block), Des::new(k).encrypt(block));
    }
}
