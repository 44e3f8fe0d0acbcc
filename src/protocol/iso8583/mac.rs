//! The message MAC (fields 64 and 128, PROTOCOL.md section 3): ISO 9797-1
//! algorithm 3 with zero padding under the TAK, over every wire byte before
//! the MAC field, with the MAC's bitmap bit already set.

use super::{EncodeError, Message, Spec};
use crate::protocol::crypto::{MacPadding, TdesKey, retail_mac, retail_mac_verify};

/// The outcome of checking a message's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MacCheck {
    /// The MAC matches.
    Valid,
    /// The MAC does not match: the message was altered or the key is wrong.
    Invalid,
    /// The message carries no MAC.
    Absent,
}

/// Encodes `msg` with its MAC: sets field 64 (or 128 when a secondary bitmap
/// is present), computes the MAC over the encoded bytes before it, and
/// returns the wire bytes. `msg` ends up holding the MAC too.
pub fn encode_with_mac(
    spec: &Spec,
    msg: &mut Message,
    tak: &TdesKey,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(512);
    encode_with_mac_into(spec, msg, tak, &mut out)?;
    Ok(out)
}

/// Like [`encode_with_mac`], appending to `out`.
pub fn encode_with_mac_into(
    spec: &Spec,
    msg: &mut Message,
    tak: &TdesKey,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let n = msg.mac_field();
    let begin = out.len();
    msg.set(n, [0u8; 8]);
    spec.encode_into(msg, out)?;
    // The MAC field is the last field: 128 is last by number, and 64 is used
    // only when no field above 64 is present.
    let field_len = spec.wire_len(n, 8).unwrap_or(0);
    let at = out.len().saturating_sub(field_len);
    let mac = retail_mac(tak, out.get(begin..at).unwrap_or_default(), MacPadding::Method1);
    out.truncate(at);
    spec.encode_field(out, n, &mac)?;
    msg.set(n, mac);
    Ok(())
}

/// Checks the MAC of a message as received: `wire` is the exact bytes
/// `msg` was decoded from.
pub fn verify_mac(spec: &Spec, wire: &[u8], msg: &Message, tak: &TdesKey) -> MacCheck {
    let (n, mac) = match (msg.get(128), msg.get(64)) {
        (Some(m), _) => (128, m),
        (None, Some(m)) => (64, m),
        (None, None) => return MacCheck::Absent,
    };
    let last = msg.field_numbers().last() == Some(n);
    let at = if last {
        spec.wire_len(n, mac.len()).and_then(|l| wire.len().checked_sub(l))
    } else {
        spec.decode_with_layout(wire).ok().and_then(|(_, l)| l.field(n)).map(|r| r.start)
    };
    match at.and_then(|at| wire.get(..at)) {
        Some(data) if retail_mac_verify(tak, data, MacPadding::Method1, mac) => MacCheck::Valid,
        _ => MacCheck::Invalid,
    }
}
