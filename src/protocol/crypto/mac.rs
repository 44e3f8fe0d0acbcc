//! ISO 9797-1 MAC algorithm 3 (ANSI X9.19 "retail MAC"), the MAC of ISO 8583
//! fields 64 and 128, and the core of the EMV application cryptogram.

use super::TdesKey;
use super::des::Chain;

/// ISO 9797-1 padding methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MacPadding {
    /// Method 1: zeros up to a multiple of 8 (empty data is one zero block).
    Method1,
    /// Method 2: one 0x80 byte, then zeros up to a multiple of 8.
    Method2,
}

/// ISO 9797-1 MAC algorithm 3 over `data`: single-DES CBC under the left key
/// half, then decrypt with the right half and encrypt with the left.
///
/// Works on the bytes as given; the message is never copied or re-encoded.
pub fn retail_mac(key: &TdesKey, data: &[u8], padding: MacPadding) -> [u8; 8] {
    let left = key.cipher().left();
    // The chain stays in DES's round domain between blocks (see `Chain`).
    let mut chain = Chain::default();
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        left.cbc_step(&mut chain, b);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    if let Some(s) = last.get_mut(..rest.len()) {
        s.copy_from_slice(rest);
    }
    let need_last = match padding {
        MacPadding::Method1 => !rest.is_empty() || data.is_empty(),
        MacPadding::Method2 => {
            if let Some(b) = last.get_mut(rest.len()) {
                *b = 0x80;
            }
            true
        }
    };
    if need_last {
        left.cbc_step(&mut chain, last);
    }
    key.cipher().mac_final(chain)
}

/// Checks a MAC in constant time with respect to its content.
pub fn retail_mac_verify(key: &TdesKey, data: &[u8], padding: MacPadding, mac: &[u8]) -> bool {
    let expect = retail_mac(key, data, padding);
    mac.len() == expect.len() && mac.iter().zip(expect).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
