//! EMV chip cryptography, Visa CVN 10: the ICC master key (option A), the
//! application cryptogram (ARQC, TC, AAC) and the ARPC (method 1).

use super::{CryptoError, MacPadding, TdesKey, check_pan, retail_mac, xor8};

/// The data elements behind a CVN 10 cryptogram, in the order they are
/// concatenated, with their lengths in bytes; the 4-byte CVR from the IAD
/// (9F10) follows them.
pub const ARQC_TAGS: [(u32, usize); 10] = [
    (0x9F02, 6), // amount, authorised
    (0x9F03, 6), // amount, other
    (0x9F1A, 2), // terminal country code
    (0x95, 5),   // terminal verification results
    (0x5F2A, 2), // transaction currency code
    (0x9A, 3),   // transaction date YYMMDD
    (0x9C, 1),   // transaction type
    (0x9F37, 4), // unpredictable number
    (0x82, 2),   // application interchange profile
    (0x9F36, 2), // application transaction counter
];

/// Card verification results bits (Visa CVR, the 4 bytes inside the IAD,
/// first byte being the CVR length 03).
pub struct CvrBits;

impl CvrBits {
    /// Byte 2: the first GENERATE AC returned an ARQC.
    pub const FIRST_AC_ARQC: u8 = 0x20;
    /// Byte 2: the first GENERATE AC returned a TC.
    pub const FIRST_AC_TC: u8 = 0x10;
    /// Byte 2: second GENERATE AC not requested.
    pub const SECOND_AC_NOT_REQUESTED: u8 = 0x80;
    /// Byte 2: offline PIN verification performed.
    pub const OFFLINE_PIN_PERFORMED: u8 = 0x04;
    /// Byte 2: offline PIN verification failed.
    pub const OFFLINE_PIN_FAILED: u8 = 0x02;
    /// Byte 3: PIN try limit exceeded.
    pub const PIN_TRY_LIMIT_EXCEEDED: u8 = 0x80;
}

/// EMV option A: the ICC master key for a PAN and PAN sequence number,
/// derived from the issuer master key (IMK-AC), with odd parity.
pub fn derive_icc_master_key(imk: &TdesKey, pan: &str, psn: &str) -> Result<TdesKey, CryptoError> {
    check_pan(pan)?;
    if psn.len() != 2 || !psn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::Digits { what: "PAN sequence number", digits: 2 });
    }
    // The rightmost 16 digits of PAN || PSN, left-padded with zeros.
    let mut digits = [b'0'; 16];
    for (d, c) in digits.iter_mut().rev().zip(pan.bytes().chain(psn.bytes()).rev()) {
        *d = c;
    }
    let mut y = [0u8; 8];
    super::digits_to_bcd(&digits, &mut y);
    let zl = imk.encrypt(y);
    let zr = imk.encrypt(xor8(y, [0xff; 8]));
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&zl);
    k[8..].copy_from_slice(&zr);
    Ok(TdesKey::new_odd_parity(k))
}

/// An amount in minor units as tag 9F02 or 9F03 carries it: 12 digits of
/// BCD in 6 bytes. Higher digits are dropped, as field 4 (n12) drops them, so
/// the card signs the amount the request carries.
pub fn amount_n12(minor: u64) -> [u8; 6] {
    let mut out = [0u8; 6];
    let mut v = minor;
    for b in out.iter_mut().rev() {
        *b = (((v / 10 % 10) << 4) | (v % 10)) as u8;
        v /= 100;
    }
    out
}

/// The inputs of a CVN 10 cryptogram, gathered from the tags of field 55 or
/// from the card's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArqcInput {
    /// 9F02, amount authorised (n12 BCD).
    pub amount: [u8; 6],
    /// 9F03, amount other.
    pub amount_other: [u8; 6],
    /// 9F1A, terminal country code.
    pub country: [u8; 2],
    /// 95, terminal verification results.
    pub tvr: [u8; 5],
    /// 5F2A, transaction currency code.
    pub currency: [u8; 2],
    /// 9A, transaction date YYMMDD.
    pub date: [u8; 3],
    /// 9C, transaction type.
    pub txn_type: u8,
    /// 9F37, unpredictable number.
    pub un: [u8; 4],
    /// 82, application interchange profile.
    pub aip: [u8; 2],
    /// 9F36, application transaction counter.
    pub atc: [u8; 2],
    /// The 4-byte CVR from the IAD (9F10 = 06 01 0A + CVR).
    pub cvr: [u8; 4],
}

impl ArqcInput {
    /// Collects the inputs from a tag lookup (field 55 decoded as TLV).
    ///
    /// The CVR is taken from the Visa IAD in 9F10: bytes 3..7.
    pub fn from_tags<'a>(get: impl Fn(u32) -> Option<&'a [u8]>) -> Result<Self, CryptoError> {
        fn fixed<'a, const N: usize>(
            get: &impl Fn(u32) -> Option<&'a [u8]>,
            tag: u32,
        ) -> Result<[u8; N], CryptoError> {
            get(tag)
                .and_then(|v| <[u8; N]>::try_from(v).ok())
                .ok_or(CryptoError::EmvTag { tag, expected: N })
        }
        let iad = get(0x9F10).ok_or(CryptoError::EmvTag { tag: 0x9F10, expected: 7 })?;
        let cvr: [u8; 4] = iad
            .get(3..7)
            .and_then(|v| v.try_into().ok())
            .ok_or(CryptoError::EmvTag { tag: 0x9F10, expected: 7 })?;
        Ok(Self {
            amount: fixed(&get, 0x9F02)?,
            amount_other: fixed(&get, 0x9F03)?,
            country: fixed(&get, 0x9F1A)?,
            tvr: fixed(&get, 0x95)?,
            currency: fixed(&get, 0x5F2A)?,
            date: fixed(&get, 0x9A)?,
            txn_type: fixed::<1>(&get, 0x9C)?[0],
            un: fixed(&get, 0x9F37)?,
            aip: fixed(&get, 0x82)?,
            atc: fixed(&get, 0x9F36)?,
            cvr,
        })
    }

    /// The 37 bytes the cryptogram is computed over.
    pub fn to_bytes(&self) -> [u8; 37] {
        let parts: [&[u8]; 11] = [
            &self.amount,
            &self.amount_other,
            &self.country,
            &self.tvr,
            &self.currency,
            &self.date,
            std::slice::from_ref(&self.txn_type),
            &self.un,
            &self.aip,
            &self.atc,
            &self.cvr,
        ];
        let mut out = [0u8; 37];
        for (o, b) in out.iter_mut().zip(parts.into_iter().flatten()) {
            *o = *b;
        }
        out
    }
}

/// The Visa CVN 10 application cryptogram (ARQC, TC or AAC alike): ISO 9797-1
/// MAC algorithm 3 with zero padding under the ICC master key.
pub fn arqc_cvn10(icc_mk: &TdesKey, input: &ArqcInput) -> [u8; 8] {
    retail_mac(icc_mk, &input.to_bytes(), MacPadding::Method1)
}

/// Checks a CVN 10 cryptogram.
pub fn verify_arqc_cvn10(icc_mk: &TdesKey, input: &ArqcInput, arqc: &[u8]) -> bool {
    super::retail_mac_verify(icc_mk, &input.to_bytes(), MacPadding::Method1, arqc)
}

/// ARPC method 1: TDES under the ICC master key of ARQC XOR (ARC padded with
/// zeros). Tag 91 carries ARPC || ARC.
pub fn arpc_method1(icc_mk: &TdesKey, arqc: [u8; 8], arc: [u8; 2]) -> [u8; 8] {
    icc_mk.encrypt(xor8(arqc, [arc[0], arc[1], 0, 0, 0, 0, 0, 0]))
}

#[cfg(test)]
mod tests {
    use super::amount_n12;

    #[test]
    fn an_amount_is_its_last_twelve_digits_in_bcd() {
        assert_eq!(amount_n12(0), [0; 6]);
        assert_eq!(amount_n12(123_456), [0, 0, 0, 0x12, 0x34, 0x56]);
        assert_eq!(amount_n12(999_999_999_999), [0x99; 6]);
        assert_eq!(amount_n12(1_000_000_000_000), [0; 6]);
        assert_eq!(amount_n12(12_345_678_901_234), [0x34, 0x56, 0x78, 0x90, 0x12, 0x34]);
    }
}
