//! ISO 9564-1 format 0 PIN blocks.

use super::{CryptoError, TdesKey, check_pan, xor8};

/// An encrypted PIN block as it travels in field 52.
pub type PinBlock = [u8; 8];

/// The PAN block: four zero nibbles and the 12 rightmost PAN digits before
/// the check digit (zero-filled on the left for a 12-digit PAN).
fn pan_block(pan: &str) -> Result<[u8; 8], CryptoError> {
    check_pan(pan)?;
    let digits = pan.as_bytes();
    let end = digits.len() - 1;
    let twelve = digits.get(end.saturating_sub(12)..end).ok_or(CryptoError::PanFormat)?;
    let mut v: u64 = 0;
    for d in twelve {
        v = (v << 4) | u64::from(d - b'0');
    }
    Ok(v.to_be_bytes())
}

/// The clear ISO 9564 format 0 block for `pin` and `pan`.
pub fn pin_block_iso0_clear(pin: &str, pan: &str) -> Result<[u8; 8], CryptoError> {
    if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::PinFormat);
    }
    let mut v: u64 = pin.len() as u64;
    for d in pin.bytes() {
        v = (v << 4) | u64::from(d - b'0');
    }
    for _ in pin.len()..14 {
        v = (v << 4) | 0xf;
    }
    Ok(xor8(v.to_be_bytes(), pan_block(pan)?))
}

/// The format 0 PIN block encrypted under the TPK (what goes in field 52).
pub fn pin_block_iso0(tpk: &TdesKey, pin: &str, pan: &str) -> Result<PinBlock, CryptoError> {
    Ok(tpk.encrypt(pin_block_iso0_clear(pin, pan)?))
}

/// Decrypts a field 52 PIN block under the TPK and recovers the clear PIN.
///
/// A wrong key or PAN almost always yields a block that is not format 0,
/// which is reported as [`CryptoError::PinBlockFormat`].
pub fn decode_pin_block_iso0(
    tpk: &TdesKey,
    block: PinBlock,
    pan: &str,
) -> Result<String, CryptoError> {
    let clear = xor8(tpk.decrypt(block), pan_block(pan)?);
    let v = u64::from_be_bytes(clear);
    let control = (v >> 60) as u8;
    let length = ((v >> 56) & 0xf) as u8;
    let bad = CryptoError::PinBlockFormat { control, length };
    if control != 0 || !(4..=12).contains(&length) {
        return Err(bad);
    }
    let mut pin = String::with_capacity(usize::from(length));
    for i in 0..14u32 {
        let nib = ((v >> (52 - 4 * i)) & 0xf) as u8;
        if i < u32::from(length) {
            if nib > 9 {
                return Err(bad);
            }
            pin.push(char::from(b'0' + nib));
        } else if nib != 0xf {
            return Err(bad);
        }
    }
    Ok(pin)
}
