//! Payment cryptography: TDES keys, the retail MAC, PIN blocks, PVV, CVV and
//! the EMV (Visa CVN 10) cryptograms.
//!
//! Everything here is a pure function of its inputs. Key schedules are
//! expanded once in [`TdesKey`] and reused, because a simulation performs a
//! hundred DES operations per purchase.

mod cvv;
pub(crate) mod des;
mod emv;
mod key;
mod mac;
mod pin;
mod pvv;

pub use cvv::{cvv, icvv};
pub use des::{Des, Tdes};
pub use emv::{
    ARQC_TAGS, ArqcInput, CvrBits, amount_n12, arpc_method1, arqc_cvn10, derive_icc_master_key,
    verify_arqc_cvn10,
};
pub use key::TdesKey;
pub use mac::{MacPadding, retail_mac, retail_mac_verify};
pub use pin::{PinBlock, decode_pin_block_iso0, pin_block_iso0};
pub use pvv::pvv;

/// What can go wrong when crypto is given bad material.
///
/// These come from user input (key files, scenario values, frames), so they
/// are errors, never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key is not 16 bytes (32 hex digits).
    #[error("key must be 16 bytes (32 hex digits), found {found} bytes")]
    KeyLength {
        /// The length found, in bytes.
        found: usize,
    },
    /// A hex string has a character that is not a hex digit, or an odd length.
    #[error("not valid hex: {0}")]
    Hex(String),
    /// A PIN is not 4 to 12 decimal digits.
    #[error("PIN must be 4 to 12 digits")]
    PinFormat,
    /// A decrypted PIN block is not a valid ISO 9564 format 0 block.
    #[error(
        "PIN block is not ISO 9564 format 0 for this PAN (control nibble {control:X}, length {length})"
    )]
    PinBlockFormat {
        /// The first nibble of the clear block (0 for format 0).
        control: u8,
        /// The PIN length nibble.
        length: u8,
    },
    /// A PAN is not 12 to 19 decimal digits.
    #[error("PAN must be 12 to 19 digits")]
    PanFormat,
    /// A field that must be decimal digits is not (expiry, service code, PVKI, PSN).
    #[error("{what} must be {digits} decimal digits")]
    Digits {
        /// Which input.
        what: &'static str,
        /// How many digits it needs.
        digits: usize,
    },
    /// An EMV data element needed for a cryptogram is missing or has the wrong length.
    #[error("EMV tag {tag:X} is missing or has the wrong length (expected {expected} bytes)")]
    EmvTag {
        /// The tag.
        tag: u32,
        /// Its required length in bytes.
        expected: usize,
    },
}

/// Parses hex into bytes, reporting the first bad character.
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, CryptoError> {
    hex::decode(s.trim()).map_err(|e| CryptoError::Hex(e.to_string()))
}

/// Packs a string of decimal digits (even length) into BCD bytes.
pub(crate) fn digits_to_bcd(digits: &[u8], out: &mut [u8]) {
    for (o, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let hi = pair.first().map_or(0, |d| d.wrapping_sub(b'0') & 0x0f);
        let lo = pair.get(1).map_or(0, |d| d.wrapping_sub(b'0') & 0x0f);
        *o = (hi << 4) | lo;
    }
}

/// Checks that `s` is exactly `n` decimal digits.
pub fn check_digits(s: &str, what: &'static str, n: usize) -> Result<(), CryptoError> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CryptoError::Digits { what, digits: n })
    }
}

/// Checks that a PAN is 12 to 19 decimal digits.
pub(crate) fn check_pan(pan: &str) -> Result<(), CryptoError> {
    if (12..=19).contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CryptoError::PanFormat)
    }
}

/// Visa decimalisation: the decimal digits of the hex string first, then the
/// remaining hex letters minus ten, until `n` digits are collected.
pub(crate) fn decimalise(block: &[u8], n: usize) -> String {
    // Walked twice rather than collected: CVV, iCVV and PVV run it on every
    // purchase.
    let nibbles = || block.iter().flat_map(|b| [b >> 4, b & 0x0f]);
    let mut out = String::with_capacity(n);
    for d in nibbles().filter(|&d| d < 10) {
        if out.len() == n {
            return out;
        }
        out.push(char::from(b'0' + d));
    }
    for d in nibbles().filter(|&d| d >= 10) {
        if out.len() == n {
            return out;
        }
        out.push(char::from(b'0' + d - 10));
    }
    out
}

/// XOR of two 8-byte blocks.
#[inline]
pub(crate) fn xor8(a: [u8; 8], b: [u8; 8]) -> [u8; 8] {
    (u64::from_be_bytes(a) ^ u64::from_be_bytes(b)).to_be_bytes()
}
