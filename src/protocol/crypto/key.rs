//! Double-length TDES keys: parsing, parity, check values, cached schedules.

use super::{CryptoError, Tdes, parse_hex};

/// A double-length (16-byte) TDES key and its expanded schedule.
///
/// `Debug` shows only the key check value, so a key never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct TdesKey {
    bytes: [u8; 16],
    cipher: Tdes,
}

impl std::fmt::Debug for TdesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TdesKey(kcv {})", hex::encode_upper(self.kcv()))
    }
}

impl TdesKey {
    /// Wraps 16 key bytes (parity is kept as given; see [`Self::with_odd_parity`]).
    pub fn new(bytes: [u8; 16]) -> Self {
        Self { bytes, cipher: Tdes::new(bytes) }
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, CryptoError> {
        let v = parse_hex(s)?;
        let bytes: [u8; 16] =
            v.as_slice().try_into().map_err(|_| CryptoError::KeyLength { found: v.len() })?;
        Ok(Self::new(bytes))
    }

    /// The raw key bytes.
    pub fn bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// The key as 32 upper-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.bytes)
    }

    /// The expanded schedule.
    pub fn cipher(&self) -> &Tdes {
        &self.cipher
    }

    /// True when every byte has odd parity, as DES keys should.
    pub fn has_odd_parity(&self) -> bool {
        self.bytes.iter().all(|b| b.count_ones() % 2 == 1)
    }

    /// The same key with the parity bit of every byte set for odd parity.
    pub fn with_odd_parity(&self) -> Self {
        Self::new_odd_parity(self.bytes)
    }

    /// A key from 16 bytes with the parity bit of every byte set for odd
    /// parity: what derivations produce, with the schedule expanded once.
    pub fn new_odd_parity(mut bytes: [u8; 16]) -> Self {
        for x in &mut bytes {
            *x = (*x & 0xfe) | u8::from(((*x & 0xfe).count_ones() % 2) == 0);
        }
        Self::new(bytes)
    }

    /// Key check value: the first 3 bytes of the key encrypting a zero block.
    ///
    /// Common tools show 2 or 3 bytes; compare as many as you were given.
    pub fn kcv(&self) -> [u8; 3] {
        let e = self.cipher.encrypt([0u8; 8]);
        [e[0], e[1], e[2]]
    }

    /// Encrypts one block.
    #[inline]
    pub fn encrypt(&self, block: [u8; 8]) -> [u8; 8] {
        self.cipher.encrypt(block)
    }

    /// Decrypts one block.
    #[inline]
    pub fn decrypt(&self, block: [u8; 8]) -> [u8; 8] {
        self.cipher.decrypt(block)
    }
}

impl std::str::FromStr for TdesKey {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}
