//! Visa PIN Verification Value.

use super::{CryptoError, TdesKey, check_digits, check_pan, decimalise, digits_to_bcd};

/// The Visa PVV: TDES under the PVK of (11 rightmost PAN digits before the
/// check digit, PVKI, first 4 PIN digits), decimalised to 4 digits.
pub fn pvv(pvk: &TdesKey, pan: &str, pvki: &str, pin: &str) -> Result<String, CryptoError> {
    check_pan(pan)?;
    check_digits(pvki, "PVKI", 1)?;
    if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::PinFormat);
    }
    let p = pan.as_bytes();
    let end = p.len() - 1;
    let mut tsp = [0u8; 16];
    tsp[..11].copy_from_slice(p.get(end.saturating_sub(11)..end).ok_or(CryptoError::PanFormat)?);
    tsp[11] = pvki.as_bytes().first().copied().unwrap_or(b'0');
    tsp[12..].copy_from_slice(pin.as_bytes().get(..4).ok_or(CryptoError::PinFormat)?);
    let mut block = [0u8; 8];
    digits_to_bcd(&tsp, &mut block);
    Ok(decimalise(&pvk.encrypt(block), 4))
}
