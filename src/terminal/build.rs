//! The terminal's messages: 0200 requests, 0220 advices and 0400 reversals, laid out as in
//! the protocol vectors (the encoder writes fields in bitmap order, so the
//! order they are set in here does not matter).

use super::{Entry, Fields, Txn};
use crate::protocol::iso8583::{EncodeError, Message, Mti, OriginalData, encode_with_mac};
use crate::time::DateTime;

/// The fields a request and its reversal share: processing code, amount,
/// entry mode, condition code, track 2, RRN, terminal, merchant, currency.
fn common(m: &mut Message, f: &Fields, txn: &Txn) {
    m.set(3, if txn.purchase.refund { "200000" } else { "000000" });
    m.set_amount(txn.purchase.amount.minor());
    m.set(22, txn.read.entry.code());
    m.set(25, "00");
    m.set(35, &txn.read.track2);
    m.set(37, &txn.rrn);
    m.set(41, &f.tid_field);
    m.set(42, &f.mid_field);
    m.set(49, &f.currency);
}

/// The 0200 for a transaction.
pub(super) fn request(f: &Fields, txn: &Txn, when: &DateTime) -> Message {
    financial(Mti::REQUEST, f, txn, when)
}

/// The 0220 advising the host of a purchase the card approved offline.
pub(super) fn advice(f: &Fields, txn: &Txn, when: &DateTime) -> Message {
    financial(Mti::ADVICE, f, txn, when)
}

fn financial(mti: Mti, f: &Fields, txn: &Txn, when: &DateTime) -> Message {
    let mut m = Message::with_capacity(mti, 320);
    common(&mut m, f, txn);
    m.set(7, &txn.transmission);
    m.set_stan(txn.stan);
    let (_, hms, md) = when.wire_numbers();
    m.set_digits(12, hms, 6);
    m.set_digits(13, md, 4);
    let chip = matches!(txn.read.entry, Entry::Chip | Entry::Contactless);
    if let Some(psn) = txn.read.psn.filter(|_| chip) {
        // n3: a zero, then the two digits of 5F34 as the card holds them.
        use crate::protocol::iso8583::hex_digit;
        m.set(23, [b'0', hex_digit(psn >> 4), hex_digit(psn)]);
    }
    if let Some(b) = txn.pin_block {
        m.set(52, b);
    }
    if !txn.read.icc.is_empty() {
        m.set(55, &txn.read.icc);
    }
    m
}

/// The 0400 reversing a transaction's 0200.
pub(super) fn reversal(f: &Fields, txn: &Txn, stan: u32, when: &DateTime) -> Message {
    let mut m = Message::with_capacity(Mti::REVERSAL, 256);
    common(&mut m, f, txn);
    m.set_digits(7, when.wire_numbers().0, 10);
    m.set_stan(stan);
    let od = OriginalData {
        mti: Mti::REQUEST,
        stan: txn.stan,
        transmission_time: txn.transmission.clone(),
    };
    m.set(90, od.to_field());
    m
}

/// Encodes, with the MAC when the terminal uses one.
pub(super) fn seal(cfg: &super::TerminalConfig, mut m: Message) -> Result<Vec<u8>, EncodeError> {
    if cfg.mac { encode_with_mac(&cfg.spec, &mut m, &cfg.tak) } else { cfg.spec.encode(&m) }
}
