//! Visa Card Verification Value (CVV, CVV2, iCVV).

use super::{CryptoError, TdesKey, check_digits, check_pan, decimalise, digits_to_bcd, xor8};

/// The Visa CVV for a PAN, expiry (YYMM) and service code.
///
/// PAN || expiry || service code, zero-filled to 32 digits, is split in two
/// blocks; the first is encrypted under the left CVK half, XORed with the
/// second, then TDES-encrypted; the result is decimalised to 3 digits.
pub fn cvv(
    cvk: &TdesKey,
    pan: &str,
    expiry: &str,
    service_code: &str,
) -> Result<String, CryptoError> {
    check_pan(pan)?;
    check_digits(expiry, "expiry (YYMM)", 4)?;
    check_digits(service_code, "service code", 3)?;
    let mut digits = [b'0'; 32];
    let mut at = 0;
    for part in [pan, expiry, service_code] {
        let end = at + part.len();
        digits.get_mut(at..end).ok_or(CryptoError::PanFormat)?.copy_from_slice(part.as_bytes());
        at = end;
    }
    let mut bcd = [0u8; 16];
    digits_to_bcd(&digits, &mut bcd);
    let (b1, b2) = super::des::split16(bcd);
    let step = key_left_encrypt(cvk, b1);
    Ok(decimalise(&cvk.encrypt(xor8(step, b2)), 3))
}

/// The iCVV: the CVV computed with service code 999, carried in chip track 2
/// equivalent data (tag 57) so a copy of chip data cannot make a magstripe clone.
pub fn icvv(cvk: &TdesKey, pan: &str, expiry: &str) -> Result<String, CryptoError> {
    cvv(cvk, pan, expiry, "999")
}

fn key_left_encrypt(k: &TdesKey, b: [u8; 8]) -> [u8; 8] {
    k.cipher().left().encrypt(b)
}
