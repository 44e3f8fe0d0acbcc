//! The card session: how the terminal reads a card. Everything it uses
//! comes from the card's own answers: the candidate applications from the
//! directory (PSE or PPSE), AIP and AFL from GET PROCESSING OPTIONS (format
//! 1 or 2), the records the AFL names, and from them CDOL1, CDOL2 and the
//! CVM list. The terminal fills every DOL from its own data. Nothing here
//! assumes possim's card, so a real card over PC/SC reads the same way.

use super::{
    CardChannel, CvmPerformed, Entry, Note, Output, Presentation, Purchase, TerminalCore, Txn,
    exchange,
};
use crate::card::{Brand, Interface, PPSE, PSE};
use crate::money::Money;
use crate::protocol::apdu::Command;
use crate::protocol::tlv::{self, Dol};
use crate::protocol::track::Track2;
use crate::time::SimTime;

/// The applications this terminal's kernel accepts, in its own preference.
pub const SUPPORTED_AIDS: [&[u8]; 5] = [
    &[0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10], // Visa credit/debit
    &[0xA0, 0x00, 0x00, 0x00, 0x03, 0x20, 0x10], // Visa Electron
    &[0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10], // Mastercard
    &[0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01], // UnionPay debit
    &[0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x02], // UnionPay credit
];

/// The most records a terminal reads for one application (a hostile AFL
/// cannot make it loop).
const MAX_RECORDS: usize = 32;

/// What the terminal learned from the card.
#[derive(Debug, Clone)]
pub(super) struct CardRead {
    pub entry: Entry,
    pub track2: String,
    pub pan: String,
    /// The PAN sequence number (5F34) as the card gave it.
    pub psn: Option<u8>,
    pub cvm: CvmPerformed,
    /// Field 55, encoded (chip and contactless).
    pub icc: Vec<u8>,
    /// The first cryptogram, already made (contactless).
    pub ac_ready: bool,
    /// The card's application interchange profile (tag 82).
    pub aip: [u8; 2],
    /// The card's CDOL1 and CDOL2 (tags 8C, 8D), chip only.
    pub cdol1: Option<Dol>,
    pub cdol2: Option<Dol>,
    /// The application selected (the FCI's DF name, tag 84): it goes into
    /// field 55 so the issuer can hold the brand it names against the BIN.
    pub aid: Vec<u8>,
}

impl CardRead {
    /// Nothing read yet.
    pub fn none(entry: Entry) -> Self {
        Self {
            entry,
            track2: String::new(),
            pan: String::new(),
            psn: None,
            cvm: CvmPerformed::NoCvm,
            icc: Vec::new(),
            ac_ready: false,
            aip: [0; 2],
            cdol1: None,
            cdol2: None,
            aid: Vec::new(),
        }
    }
}

/// The terminal's own data elements for one transaction.
#[derive(Debug, Clone, Copy)]
pub(super) struct TermData {
    amount: [u8; 6],
    other: [u8; 6],
    country: [u8; 2],
    currency: [u8; 2],
    tvr: [u8; 5],
    date: [u8; 3],
    txn_type: [u8; 1],
    pub un: [u8; 4],
    ttq: [u8; 4],
    terminal_type: [u8; 1],
    cvm_results: [u8; 3],
}

impl TermData {
    /// The value of a terminal data element a DOL asks for.
    pub fn get(&self, tag: u32) -> Option<&[u8]> {
        Some(match tag {
            0x9F02 => &self.amount,
            0x9F03 => &self.other,
            0x9F1A => &self.country,
            0x5F2A => &self.currency,
            0x95 => &self.tvr,
            0x9A => &self.date,
            0x9C => &self.txn_type,
            0x9F37 => &self.un,
            0x9F66 => &self.ttq,
            0x9F35 => &self.terminal_type,
            0x9F34 => &self.cvm_results,
            _ => return None,
        })
    }
}

/// The candidate applications a directory lists: (AID, priority) from each
/// 4F with the 87 that follows it in the same entry.
fn candidates(directory: &[u8]) -> Vec<(Vec<u8>, u8)> {
    let mut out = Vec::new();
    collect(directory, &mut out, 0);
    out
}

fn collect(data: &[u8], out: &mut Vec<(Vec<u8>, u8)>, depth: usize) {
    if depth > tlv::MAX_DEPTH {
        return;
    }
    for item in tlv::iter(data) {
        let Ok((tag, value)) = item else { return };
        if tag == 0x61 {
            if let Some(aid) = tlv::find(value, 0x4F) {
                // 1 is the highest priority; 0 or none means no priority: last.
                let priority = tlv::find(value, 0x87)
                    .and_then(|p| p.first())
                    .map(|p| p & 0x0F)
                    .filter(|&p| p != 0)
                    .unwrap_or(0x10);
                out.push((aid.to_vec(), priority));
            }
        } else if tlv::is_constructed(tag) {
            collect(value, out, depth + 1);
        }
    }
}

impl TerminalCore {
    /// The terminal's data for DOLs and field 55 at `now`.
    pub(super) fn term_data(&self, txn: &Txn, now: SimTime) -> TermData {
        TermData {
            amount: crate::protocol::crypto::amount_n12(txn.purchase.amount.minor()),
            other: [0; 6],
            country: self.country,
            currency: self.currency,
            tvr: txn.tvr,
            date: self.cfg.calendar.at(now).yymmdd_bcd(),
            txn_type: [if txn.purchase.refund { 0x20 } else { 0x00 }],
            un: txn.un,
            // TTQ: contactless qVSDC, online capable, online PIN supported.
            ttq: [0x36, 0x00, 0x40, 0x00],
            // Attended, online only, operated by the merchant.
            terminal_type: [0x22],
            cvm_results: match txn.read.cvm {
                CvmPerformed::OnlinePin => [0x02, 0x00, 0x00],
                CvmPerformed::OfflinePin => [0x01, 0x00, 0x02],
                CvmPerformed::NoCvm => [0x1F, 0x00, 0x02],
                // "Consumer device CVM", successful.
                CvmPerformed::ConsumerDevice => [0x22, 0x00, 0x02],
            },
        }
    }

    pub(super) fn read_card(
        &mut self,
        now: SimTime,
        p: &Purchase,
        card: &mut dyn CardChannel,
        out: &mut Vec<Output>,
    ) -> Result<CardRead, &'static str> {
        let mut presentation = p.presentation;
        if presentation == Presentation::Tap && !self.cfg.contactless {
            presentation = Presentation::Insert;
        }
        if presentation == Presentation::Tap {
            let before = card.elapsed();
            let read = self.read_contactless(now, p, card);
            let took = card.elapsed().micros().saturating_sub(before.micros());
            if self.cfg.relay_bound.is_some_and(|b| took > b.micros()) {
                return Err("the card answered too slowly: a relay?");
            }
            if let Some(r) = read {
                return Ok(r);
            }
            presentation = Presentation::Insert;
        }
        // One swipe, read once: the service code decides chip or stripe, and
        // the same read is the stripe data (a second read would be a second
        // swipe, and a skimmer would count the card twice).
        let mut swiped = None;
        if presentation == Presentation::Swipe && self.cfg.chip {
            // A chip card swiped on a chip terminal is asked to insert.
            swiped = card.swipe();
            if let Some(t2) = swiped.as_deref().and_then(|t| Track2::parse(t).ok())
                && t2.has_chip()
            {
                presentation = Presentation::Insert;
            }
        }
        if presentation == Presentation::Insert && self.cfg.chip {
            match self.read_chip(now, p, card) {
                Ok(r) => return Ok(r),
                Err(()) => {
                    out.push(Output::Note(Note::ChipFailed { purchase: p.id }));
                    return self.read_magstripe(card, Entry::Fallback);
                }
            }
        }
        match swiped {
            Some(track) if self.cfg.magstripe => magstripe_read(track, Entry::Magstripe),
            _ => self.read_magstripe(card, Entry::Magstripe),
        }
    }

    pub(super) fn read_magstripe(
        &mut self,
        card: &mut dyn CardChannel,
        entry: Entry,
    ) -> Result<CardRead, &'static str> {
        if !self.cfg.magstripe {
            return Err("card needs a magstripe reader");
        }
        let track = card.swipe().ok_or("magstripe unreadable")?;
        magstripe_read(track, entry)
    }

    /// Selects the directory and the application it lists first among those
    /// this terminal supports (without a directory, tries its own list);
    /// returns the application's FCI.
    pub(super) fn select_application(
        &mut self,
        card: &mut dyn CardChannel,
        directory: &[u8],
    ) -> Option<Vec<u8>> {
        let mut listed = Vec::new();
        if let Some(dir) = exchange(card, &Command::select(directory)).filter(|r| r.sw().is_ok()) {
            listed = candidates(dir.data());
            // A contact PSE names its records' SFI (88) instead of listing.
            if listed.is_empty()
                && let Some(sfi) = tlv::find_deep(dir.data(), 0x88).and_then(|b| b.first().copied())
            {
                for record in 1..=8u8 {
                    let Some(rec) = exchange(card, &Command::read_record(record, sfi))
                        .filter(|r| r.sw().is_ok())
                    else {
                        break;
                    };
                    listed.extend(candidates(rec.data()));
                }
            }
        }
        let mut choices: Vec<Vec<u8>> = if listed.is_empty() {
            SUPPORTED_AIDS.iter().map(|a| a.to_vec()).collect()
        } else {
            listed.sort_by_key(|(_, priority)| *priority);
            listed
                .into_iter()
                .map(|(aid, _)| aid)
                .filter(|aid| SUPPORTED_AIDS.contains(&aid.as_slice()))
                .collect()
        };
        choices.dedup();
        for aid in choices {
            let Some(r) = exchange(card, &Command::select(&aid)) else { continue };
            if r.sw().is_ok() {
                return Some(r.into_data());
            }
        }
        None
    }

    pub(super) fn read_chip(
        &mut self,
        now: SimTime,
        p: &Purchase,
        card: &mut dyn CardChannel,
    ) -> Result<CardRead, ()> {
        if card.power_on(Interface::Contact).is_empty() {
            return Err(());
        }
        let fci = self.select_application(card, PSE).ok_or(())?;
        let data = self.term_data(&Txn::probe(*p), now);
        let pdol_data = tlv::find_deep(&fci, 0x9F38)
            .and_then(|d| Dol::parse(d).ok())
            .map(|d| d.fill(|t| data.get(t)))
            .unwrap_or_default();
        let gpo = exchange(card, &Command::get_processing_options(&pdol_data))
            .filter(|r| r.sw().is_ok())
            .ok_or(())?;
        // Format 1 (80: AIP then AFL) or format 2 (77 with 82 and 94).
        let (aip, afl) = match tlv::find(gpo.data(), 0x80) {
            Some(v) => (v.get(..2).ok_or(())?, v.get(2..).ok_or(())?),
            None => (
                tlv::find_deep(gpo.data(), 0x82).ok_or(())?,
                tlv::find_deep(gpo.data(), 0x94).ok_or(())?,
            ),
        };
        let aip: [u8; 2] = aip.try_into().map_err(|_| ())?;
        if afl.is_empty() || afl.len() % 4 != 0 {
            return Err(());
        }
        let mut records = Vec::with_capacity(160);
        let mut read = 0;
        for entry in afl.chunks_exact(4) {
            let (sfi, first, last) = (entry[0] >> 3, entry[1], entry[2]);
            if first == 0 || last < first {
                return Err(());
            }
            for rec in first..=last {
                read += 1;
                if read > MAX_RECORDS {
                    return Err(());
                }
                let r = exchange(card, &Command::read_record(rec, sfi))
                    .filter(|r| r.sw().is_ok())
                    .ok_or(())?;
                records.extend_from_slice(r.data());
            }
        }
        let records = tlv::DeepIndex::new(&records);
        let t2 = Track2::parse_tag57(records.get(0x57).ok_or(())?).map_err(|_| ())?;
        let psn = records.get(0x5F34).and_then(|b| b.first()).copied();
        let cdol = |tag| records.get(tag).and_then(|d| Dol::parse(d).ok());
        let (cdol1, cdol2) = (cdol(0x8C).ok_or(())?, cdol(0x8D));
        let cvm = self.select_cvm(records.get(0x8E).unwrap_or_default(), p.amount);
        let track2 = t2.to_field35();
        Ok(CardRead {
            aid: tlv::find_deep(&fci, 0x84).unwrap_or_default().to_vec(),
            pan: t2.pan,
            track2,
            psn,
            cvm,
            aip,
            cdol1: Some(cdol1),
            cdol2,
            ..CardRead::none(Entry::Chip)
        })
    }

    /// The first rule of the card's CVM list (EMV Book 3, 10.5) whose
    /// condition holds and whose method this terminal performs. Amounts X
    /// and Y are in the application currency, taken to be the terminal's.
    pub(super) fn select_cvm(&self, list: &[u8], amount: Money) -> CvmPerformed {
        let word = |at: usize| {
            list.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (x, y) = (u64::from(word(0)), u64::from(word(4)));
        let amount = amount.minor();
        for rule in list.get(8..).unwrap_or_default().chunks_exact(2) {
            let (method, condition) = (rule[0] & 0x3F, rule[1]);
            let supported = match method {
                0x02 | 0x1F => true,
                0x01 | 0x04 => self.cfg.offline_pin,
                _ => false,
            };
            let applies = match condition {
                0x00 => true,
                // Not unattended cash, manual cash or cashback: a purchase is none.
                0x02 => true,
                // Unattended cash, manual cash, purchase with cashback.
                0x01 | 0x04 | 0x05 => false,
                0x03 => supported,
                0x06 => amount < x,
                0x07 => amount > x,
                0x08 => amount < y,
                0x09 => amount > y,
                _ => false,
            };
            if !applies || !supported {
                continue;
            }
            return match method {
                0x02 => CvmPerformed::OnlinePin,
                0x01 | 0x04 => CvmPerformed::OfflinePin,
                _ => CvmPerformed::NoCvm,
            };
        }
        CvmPerformed::OnlinePin
    }

    pub(super) fn read_contactless(
        &mut self,
        now: SimTime,
        p: &Purchase,
        card: &mut dyn CardChannel,
    ) -> Option<CardRead> {
        if card.power_on(Interface::Contactless).is_empty() {
            return None;
        }
        let fci = self.select_application(card, PPSE)?;
        let pdol = Dol::parse(tlv::find_deep(&fci, 0x9F38)?).ok()?;
        // The UN goes into the PDOL data: draw it now; it is the transaction's.
        let un = self.unpredictable_number();
        let data = TermData { un, ..self.term_data(&Txn::probe(*p), now) };
        let pdol_data = pdol.fill(|t| data.get(t));
        let gpo = exchange(card, &Command::get_processing_options(&pdol_data))
            .filter(|r| r.sw().is_ok())?;
        let answer = tlv::DeepIndex::new(gpo.data());
        let get = |tag: u32| answer.get(tag);
        let t2 = Track2::parse_tag57(get(0x57)?).ok()?;
        let aip: [u8; 2] = get(0x82)?.try_into().ok()?;
        let mut icc = Vec::with_capacity(96);
        for (tag, v) in pdol.split(&pdol_data)? {
            if tag != 0x9F66 {
                tlv::write(&mut icc, tag, v);
            }
        }
        for tag in [0x82, 0x9F36, 0x9F26, 0x9F27, 0x9F10] {
            tlv::write(&mut icc, tag, get(tag)?);
        }
        // What the card says about verification and what it is (a plastic
        // card or a phone): the issuer holds the two against each other.
        let ctq = get(0x9F6C);
        for (tag, v) in [(0x9F6C, ctq), (0x9F6E, get(0x9F6E))] {
            if let Some(v) = v {
                tlv::write(&mut icc, tag, v);
            }
        }
        let psn = get(0x5F34).and_then(|b| b.first().copied());
        if let Some(b) = psn {
            tlv::write(&mut icc, 0x5F34, &[b]);
        }
        let aid = tlv::find_deep(&fci, 0x84).unwrap_or_default().to_vec();
        if !aid.is_empty() {
            tlv::write(&mut icc, 0x84, &aid);
        }
        // CTQ byte 2, bit 8: the consumer's device verified them. Only the
        // Visa kernel (qVSDC) takes the card's word for it; this terminal's
        // other kernels ask for the online PIN above the limit whatever the
        // CTQ says. Which kernel runs is decided by the AID alone.
        let visa_kernel = Brand::of_aid(&aid) == Some(Brand::Visa);
        let device_cvm = visa_kernel && ctq.and_then(|c| c.get(1)).is_some_and(|b| b & 0x80 != 0);
        let cvm = if p.amount <= self.cfg.contactless_cvm_limit {
            CvmPerformed::NoCvm
        } else if device_cvm {
            CvmPerformed::ConsumerDevice
        } else {
            CvmPerformed::OnlinePin
        };
        let track2 = t2.to_field35();
        Some(CardRead {
            pan: t2.pan,
            track2,
            psn,
            cvm,
            icc,
            ac_ready: true,
            aip,
            aid,
            ..CardRead::none(Entry::Contactless)
        })
    }
}

/// What a stripe's track 2 gives the terminal.
fn magstripe_read(track: String, entry: Entry) -> Result<CardRead, &'static str> {
    let t2 = Track2::parse(&track).map_err(|_| "magstripe unreadable")?;
    Ok(CardRead {
        pan: t2.pan,
        track2: track,
        cvm: CvmPerformed::OnlinePin,
        ..CardRead::none(entry)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An application entry (61) for `aid`, wrapped in `depth` templates.
    fn nested(aid: &[u8], depth: usize) -> Vec<u8> {
        let mut entry = Vec::new();
        tlv::write_constructed(&mut entry, 0x61, |o| {
            tlv::write(o, 0x4F, aid);
            tlv::write(o, 0x87, &[0x01]);
        });
        for _ in 0..depth {
            let mut outer = Vec::new();
            tlv::write(&mut outer, 0xA5, &entry);
            entry = outer;
        }
        entry
    }

    #[test]
    fn a_directory_is_read_as_deep_as_tlv_nesting_may_go_and_no_deeper() {
        let aid = [0xA0, 0, 0, 0, 3, 0x10, 0x10];
        assert_eq!(candidates(&nested(&aid, tlv::MAX_DEPTH)), [(aid.to_vec(), 1)]);
        assert!(candidates(&nested(&aid, tlv::MAX_DEPTH + 1)).is_empty());
    }
}
