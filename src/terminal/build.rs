//! The terminal's messages: 0200 requests and 0400 reversals, laid out as in
//! the protocol vectors.

use super::{Entry, TerminalConfig, Txn};
use crate::protocol::iso8583::{EncodeError, Message, Mti, OriginalData, encode_with_mac};
use crate::protocol::tlv;
use crate::time::DateTime;

/// The 0200 for a transaction.
pub(super) fn request(cfg: &TerminalConfig, txn: &Txn, when: &DateTime) -> Message {
    let mut m = Message::with_capacity(Mti::REQUEST, 320);
    m.set(3, if txn.purchase.refund { "200000" } else { "000000" });
    m.set_amount(txn.purchase.amount.minor());
    m.set(7, &txn.transmission);
    m.set_stan(txn.stan);
    m.set(12, when.hhmmss());
    m.set(13, when.mmdd());
    m.set(22, txn.read.entry.code());
    if let Some(psn) =
        txn.read.psn.as_ref().filter(|_| matches!(txn.read.entry, Entry::Chip | Entry::Contactless))
    {
        m.set(23, format!("0{psn}"));
    }
    m.set(25, "00");
    m.set(35, &txn.read.track2);
    m.set(37, &txn.rrn);
    m.set(41, format!("{:<8}", cfg.tid));
    m.set(42, format!("{:<15}", cfg.mid));
    m.set(49, &cfg.currency);
    if let Some(b) = txn.pin_block {
        m.set(52, b);
    }
    if !txn.read.icc.is_empty() {
        let mut icc = Vec::with_capacity(96);
        for (tag, v) in &txn.read.icc {
            tlv::write(&mut icc, *tag, v);
        }
        m.set(55, icc);
    }
    m
}

/// The 0400 reversing a transaction's 0200.
pub(super) fn reversal(cfg: &TerminalConfig, txn: &Txn, stan: u32, when: &DateTime) -> Message {
    let mut m = Message::with_capacity(Mti::REVERSAL, 256);
    m.set(3, if txn.purchase.refund { "200000" } else { "000000" });
    m.set_amount(txn.purchase.amount.minor());
    m.set(7, when.mmddhhmmss());
    m.set_stan(stan);
    m.set(22, txn.read.entry.code());
    m.set(25, "00");
    m.set(35, &txn.read.track2);
    m.set(37, &txn.rrn);
    m.set(41, format!("{:<8}", cfg.tid));
    m.set(42, format!("{:<15}", cfg.mid));
    m.set(49, &cfg.currency);
    let od = OriginalData {
        mti: Mti::REQUEST,
        stan: txn.stan,
        transmission_time: txn.transmission.clone(),
    };
    m.set(90, od.to_field());
    m
}

/// Encodes, with the MAC when the terminal uses one.
pub(super) fn seal(cfg: &TerminalConfig, mut m: Message) -> Result<Vec<u8>, EncodeError> {
    if cfg.mac { encode_with_mac(&cfg.spec, &mut m, &cfg.tak) } else { cfg.spec.encode(&m) }
}
