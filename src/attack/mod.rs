//! Attacks on the shop, sans IO. A device fitted between card and terminal is
//! a [`CardTap`] that copies what passes through it
//! (a skimmer on the swipe path, a shimmer on the chip contacts); what an
//! attacker steals is a [`Theft`], and the [`Loot`] is what they can cash out
//! later: card data with, when they saw it, the PIN. The sim fits and removes
//! the devices on the scenario's timeline and sends the attacker back to pay
//! with what they took.

pub mod insider;
pub mod mitm;
pub mod preplay;

use crate::card::Interface;
use crate::protocol::apdu::ins;
use crate::protocol::pan::mask_pan;
use crate::protocol::tlv;
use crate::protocol::track::Track2;
use crate::terminal::{CardChannel, CardTap};

/// What one theft took.
#[derive(Clone, PartialEq, Eq)]
pub enum Stolen {
    /// Track 2 as the magstripe carries it (CVV included).
    Track2(String),
    /// The chip's track 2 equivalent (tag 57): its CVV field is the iCVV.
    Tag57(String),
    /// A PIN, seen typed or read in clear from a VERIFY.
    Pin(String),
    /// A chip session recorded with cryptograms made in advance (pre-play).
    Preplayed(Box<preplay::Preplayed>),
}

impl std::fmt::Debug for Stolen {
    // Loot is card data: never printed in clear.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Track2(t) => write!(f, "Track2({})", masked_track(t)),
            Self::Tag57(t) => write!(f, "Tag57({})", masked_track(t)),
            Self::Pin(_) => f.write_str("Pin(****)"),
            Self::Preplayed(p) => write!(f, "{p:?}"),
        }
    }
}

impl Stolen {
    /// What it is, for journals and reports.
    pub fn what(&self) -> &'static str {
        match self {
            Self::Track2(_) => "track2",
            Self::Tag57(_) => "tag57",
            Self::Pin(_) => "pin",
            Self::Preplayed(_) => "arqc",
        }
    }
}

/// One theft: what was taken from which card.
#[derive(Clone, PartialEq, Eq)]
pub struct Theft {
    /// The card's PAN (the key the attacker joins data by).
    pub pan: String,
    /// What was taken.
    pub stolen: Stolen,
}

impl std::fmt::Debug for Theft {
    // Card data: masked, whatever prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Theft({} {:?})", mask_pan(&self.pan), self.stolen)
    }
}

/// Track data with the PAN masked and everything after it hidden.
pub fn masked_track(t: &str) -> String {
    let pan = t.split(['=', 'D']).next().unwrap_or("");
    format!("{}=****", mask_pan(pan))
}

/// A skimmer on the swipe path: copies every track 2 that passes the head.
#[derive(Debug)]
pub struct Skimmer {
    owner: usize,
    taken: Vec<Theft>,
}

impl Skimmer {
    /// A skimmer fitted by attack `owner`.
    pub fn new(owner: usize) -> Self {
        Self { owner, taken: Vec::new() }
    }
}

impl CardTap for Skimmer {
    fn name(&self) -> &'static str {
        "skimmer"
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }

    fn swipe(&mut self, card: &mut dyn CardChannel) -> Option<String> {
        let track = card.swipe();
        if let Some(t) = &track
            && let Ok(t2) = Track2::parse(t)
        {
            self.taken.push(Theft { pan: t2.pan, stolen: Stolen::Track2(t.clone()) });
        }
        track
    }

    fn take(&mut self) -> Vec<Theft> {
        std::mem::take(&mut self.taken)
    }
}

/// A shimmer on the chip contacts: logs every APDU, and keeps tag 57 from the
/// records the card returns and the PIN of a plaintext VERIFY. It sees
/// nothing of an online PIN, which the PIN pad encrypts.
pub struct Shimmer {
    owner: usize,
    pan: Option<String>,
    pending_pin: Option<String>,
    taken: Vec<Theft>,
}

impl std::fmt::Debug for Shimmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shimmer(attack {}, {} taken)", self.owner, self.taken.len())
    }
}

impl Shimmer {
    /// A shimmer fitted by attack `owner`.
    pub fn new(owner: usize) -> Self {
        Self { owner, pan: None, pending_pin: None, taken: Vec::new() }
    }

    fn steal(&mut self, stolen: Stolen) {
        match (&self.pan, stolen) {
            (Some(pan), s) => self.taken.push(Theft { pan: pan.clone(), stolen: s }),
            // A PIN before the card's number was read: kept until it is.
            (None, Stolen::Pin(p)) => self.pending_pin = Some(p),
            (None, _) => {}
        }
    }
}

impl CardTap for Shimmer {
    fn name(&self) -> &'static str {
        "shimmer"
    }

    fn owner(&self) -> Option<usize> {
        Some(self.owner)
    }

    fn power_on(&mut self, interface: Interface, card: &mut dyn CardChannel) -> Vec<u8> {
        self.pan = None;
        self.pending_pin = None;
        card.power_on(interface)
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        let rapdu = card.transmit(capdu);
        let ins = capdu.get(1).copied();
        if ins == Some(ins::VERIFY)
            && capdu.get(3) == Some(&0x80)
            && let Some(block) = capdu.get(5..13)
            && let Some(pin) = crate::card::plaintext_pin(block)
        {
            self.steal(Stolen::Pin(pin));
        }
        let ok = rapdu.len() >= 2 && rapdu[rapdu.len() - 2..] == [0x90, 0x00];
        if ok
            && ins == Some(ins::READ_RECORD)
            && let Some(t57) = tlv::find_deep(&rapdu[..rapdu.len() - 2], 0x57)
            && let Ok(t2) = Track2::parse_tag57(t57)
        {
            let first = self.pan.is_none();
            self.pan = Some(t2.pan.clone());
            self.steal(Stolen::Tag57(t2.to_field35()));
            if first && let Some(p) = self.pending_pin.take() {
                self.steal(Stolen::Pin(p));
            }
        }
        rapdu
    }

    fn take(&mut self) -> Vec<Theft> {
        std::mem::take(&mut self.taken)
    }
}

/// Firmware that reads the terminal's memory: whatever the terminal reads
/// from a card (the stripe's track 2, the chip's tag 57, a plaintext offline
/// PIN) it copies, to send out of the shop. A RAM scraper, or the
/// harvesting device a fake technician swaps in.
#[derive(Debug)]
pub struct Scraper {
    name: &'static str,
    stripe: Skimmer,
    chip: Shimmer,
}

impl Scraper {
    /// A scraper of attack `owner`, named as the attack is.
    pub fn new(owner: usize, name: &'static str) -> Self {
        Self { name, stripe: Skimmer::new(owner), chip: Shimmer::new(owner) }
    }
}

impl CardTap for Scraper {
    fn name(&self) -> &'static str {
        self.name
    }

    fn owner(&self) -> Option<usize> {
        self.stripe.owner()
    }

    fn power_on(&mut self, interface: Interface, card: &mut dyn CardChannel) -> Vec<u8> {
        self.chip.power_on(interface, card)
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        self.chip.transmit(capdu, card)
    }

    fn swipe(&mut self, card: &mut dyn CardChannel) -> Option<String> {
        self.stripe.swipe(card)
    }

    fn take(&mut self) -> Vec<Theft> {
        let mut t = self.stripe.take();
        t.extend(self.chip.take());
        t
    }
}

/// A PIN-bypass wedge between a stolen card and the terminal (Murdoch et
/// al., 2010): it answers every VERIFY with 9000 itself, so the terminal
/// believes the card checked the PIN, and passes everything else through.
/// The card never saw a PIN: its CVR says so, under the ARQC.
#[derive(Debug, Default)]
pub struct PinWedge {
    /// VERIFY commands it answered.
    pub answered: u32,
}

impl CardTap for PinWedge {
    fn name(&self) -> &'static str {
        "pin_wedge"
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        if capdu.get(1) == Some(&ins::VERIFY) {
            self.answered += 1;
            return vec![0x90, 0x00];
        }
        card.transmit(capdu)
    }
}

/// Byte `n` of `tag`'s value in a card's answer (data, then SW1 SW2),
/// found at any depth, for a device that rewrites it in place.
pub(crate) fn value_byte(rapdu: &mut [u8], tag: u32, n: usize) -> Option<&mut u8> {
    let body = rapdu.get(..rapdu.len().checked_sub(2)?)?;
    let v = tlv::find_deep(body, tag).filter(|v| v.len() > n)?;
    let at = (v.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize) + n;
    rapdu.get_mut(at)
}

/// Labels the cryptogram in a GENERATE AC answer a TC (its CID, 9F27).
pub(crate) fn relabel_tc(rapdu: &mut [u8]) {
    if let Some(b) = value_byte(rapdu, 0x9F27, 0) {
        *b = crate::protocol::apdu::cryptogram::TC;
    }
}

/// A yes-card: the device in a chip clone that says yes. It answers every
/// VERIFY with 9000, whatever the PIN, and labels every cryptogram the card
/// makes a TC, "approved offline": a terminal under its floor limit hands
/// the goods over on the card's word. The cryptogram is under the forger's
/// key; only the issuer can tell, when the advice reaches it.
#[derive(Debug, Default)]
pub struct YesCard;

impl CardTap for YesCard {
    fn name(&self) -> &'static str {
        "yes_card"
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        if capdu.get(1) == Some(&ins::VERIFY) {
            return vec![0x90, 0x00];
        }
        let mut rapdu = card.transmit(capdu);
        if capdu.get(1) == Some(&ins::GENERATE_AC) {
            relabel_tc(&mut rapdu);
        }
        rapdu
    }
}

/// A relay that rewrites the card's Card Transaction Qualifiers (9F6C) on
/// the way to the terminal to say "consumer device CVM performed", so a
/// plastic card pays above the no-PIN limit without a PIN (Basin, Sasse,
/// Toro-Pozo, 2021). The cryptogram does not cover the CTQ.
#[derive(Debug, Default)]
pub struct CtqRewrite;

impl CardTap for CtqRewrite {
    fn name(&self) -> &'static str {
        "ctq_rewrite"
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        let mut rapdu = card.transmit(capdu);
        if capdu.get(1) == Some(&ins::GET_PROCESSING_OPTIONS) {
            // The CTQ's second byte, bit 8: "consumer device CVM performed".
            if let Some(b) = value_byte(&mut rapdu, 0x9F6C, 1) {
                *b |= 0x80;
            }
        }
        rapdu
    }
}

/// A relay that makes the card look like another brand's (Basin et al.,
/// USENIX Security 2021): on the way to the terminal it swaps the card's
/// AID (tags 4F and 84) for `shown`, and on the way to the card it turns a
/// SELECT of `shown` back into one of the card's real AID. The terminal
/// runs the kernel of the brand shown; the card never knows. No cryptogram
/// covers the AID, but field 55 carries it to the issuer beside the PAN.
#[derive(Debug)]
pub struct BrandMixup {
    shown: Vec<u8>,
    real: Option<Vec<u8>>,
}

impl BrandMixup {
    /// A relay that shows every card as the application `shown`.
    pub fn new(shown: &[u8]) -> Self {
        Self { shown: shown.to_vec(), real: None }
    }

    fn swap(&mut self, tlvs: &mut [tlv::Tlv]) {
        for t in tlvs {
            match &mut t.value {
                tlv::TlvValue::Constructed(c) => self.swap(c),
                tlv::TlvValue::Primitive(v) if matches!(t.tag, 0x4F | 0x84) => {
                    // Directory names (1PAY…, 2PAY…) are not AIDs.
                    if v.first() == Some(&0xA0) && *v != self.shown {
                        self.real = Some(std::mem::replace(v, self.shown.clone()));
                    }
                }
                tlv::TlvValue::Primitive(_) => {}
            }
        }
    }
}

impl CardTap for BrandMixup {
    fn name(&self) -> &'static str {
        "brand_mixup"
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        let select = capdu.get(1) == Some(&ins::SELECT);
        let lc = usize::from(capdu.get(4).copied().unwrap_or(0));
        let rapdu = match (&self.real, capdu.get(5..5 + lc)) {
            (Some(real), Some(name)) if select && name == self.shown.as_slice() => {
                card.transmit(&crate::protocol::apdu::Command::select(real).to_bytes())
            }
            _ => card.transmit(capdu),
        };
        if !select || rapdu.len() <= 2 {
            return rapdu;
        }
        let (body, sw) = rapdu.split_at(rapdu.len() - 2);
        let Ok(mut tlvs) = tlv::parse(body) else { return rapdu };
        self.swap(&mut tlvs);
        let mut out = tlv::encode(&tlvs);
        out.extend_from_slice(sw);
        out
    }
}

/// A relay: the card is in a victim's pocket somewhere else, and every
/// exchange makes the round trip to it and back, `per` each way and back.
#[derive(Debug)]
pub struct Relay {
    per: crate::time::Duration,
    added: crate::time::Duration,
}

impl Relay {
    /// A relay adding `per` to every exchange.
    pub fn new(per: crate::time::Duration) -> Self {
        Self { per, added: crate::time::Duration::ZERO }
    }

    fn lag(&mut self) {
        self.added = crate::time::Duration(self.added.micros().saturating_add(self.per.micros()));
    }
}

impl CardTap for Relay {
    fn name(&self) -> &'static str {
        "relay"
    }

    fn power_on(&mut self, interface: Interface, card: &mut dyn CardChannel) -> Vec<u8> {
        self.lag();
        card.power_on(interface)
    }

    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        self.lag();
        card.transmit(capdu)
    }

    fn added(&self) -> crate::time::Duration {
        self.added
    }
}

/// One card as the attacker holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Haul {
    /// The PAN.
    pub pan: String,
    /// Track data to write onto a blank card (a magstripe track, else a
    /// tag 57 image), if any was stolen.
    pub track: Option<String>,
    /// Whether the track came from the chip (its CVV is an iCVV).
    pub from_chip: bool,
    /// The PIN, if seen.
    pub pin: Option<String>,
    /// A recorded chip session with cryptograms made in advance, if any.
    pub preplayed: Option<Box<preplay::Preplayed>>,
    /// The attacks that took part of it (indices in the scenario), in order.
    pub sources: Vec<usize>,
    /// Already cashed out.
    pub used: bool,
}

impl std::fmt::Debug for Haul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Haul({} track: {} pin: {}{} from {:?}{})",
            mask_pan(&self.pan),
            if self.track.is_some() { "****" } else { "none" },
            if self.pin.is_some() { "****" } else { "none" },
            if self.preplayed.is_some() { " pre-played" } else { "" },
            self.sources,
            if self.used { ", used" } else { "" }
        )
    }
}

/// Everything stolen in a run, joined by card, in the order first seen.
#[derive(Clone, Default)]
pub struct Loot {
    cards: Vec<Haul>,
}

impl std::fmt::Debug for Loot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.cards).finish()
    }
}

impl Loot {
    /// Adds a theft by attack `source`. Returns the card's number among
    /// those held (from 0, in the order first seen) and whether it was new data.
    pub fn add(&mut self, source: usize, t: Theft) -> (usize, bool) {
        let i = match self.cards.iter().position(|h| h.pan == t.pan) {
            Some(i) => i,
            None => {
                self.cards.push(Haul {
                    pan: t.pan.clone(),
                    track: None,
                    from_chip: false,
                    pin: None,
                    preplayed: None,
                    sources: Vec::new(),
                    used: false,
                });
                self.cards.len() - 1
            }
        };
        let h = &mut self.cards[i];
        if !h.sources.contains(&source) {
            h.sources.push(source);
        }
        let new = match t.stolen {
            // A magstripe track is the better copy: it carries the real CVV.
            Stolen::Track2(s) => {
                let new = h.track.as_deref() != Some(&s);
                h.track = Some(s);
                h.from_chip = false;
                new
            }
            Stolen::Tag57(s) if h.track.is_none() => {
                h.track = Some(s);
                h.from_chip = true;
                true
            }
            Stolen::Tag57(_) => false,
            Stolen::Pin(p) => {
                let new = h.pin.as_deref() != Some(&p);
                h.pin = Some(p);
                new
            }
            // The latest recording: its cryptograms are the freshest guesses.
            Stolen::Preplayed(p) => {
                h.preplayed = Some(p);
                h.used = false;
                true
            }
        };
        (i, new)
    }

    /// The next card not yet cashed out that one of `sources` helped steal
    /// and that can be written onto a blank (it has track data); marks it used.
    pub fn next_usable(&mut self, sources: &[usize]) -> Option<Haul> {
        let h = self.cards.iter_mut().find(|h| {
            !h.used && h.track.is_some() && h.sources.iter().any(|s| sources.contains(s))
        })?;
        h.used = true;
        Some(h.clone())
    }

    /// Like [`Loot::next_usable`], but the first card `best` likes when
    /// there is one (a pre-played card with a cryptogram for the number the
    /// till will use next).
    pub fn next_usable_preferring(
        &mut self,
        sources: &[usize],
        best: impl Fn(&Haul) -> bool,
    ) -> Option<Haul> {
        let usable = |h: &Haul| {
            !h.used && h.track.is_some() && h.sources.iter().any(|s| sources.contains(s))
        };
        let i = self
            .cards
            .iter()
            .position(|h| usable(h) && best(h))
            .or_else(|| self.cards.iter().position(usable))?;
        self.cards[i].used = true;
        Some(self.cards[i].clone())
    }

    /// Every card held, in the order first seen.
    pub fn cards(&self) -> &[Haul] {
        &self.cards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_seen_on_camera_joins_the_track_skimmed_from_the_same_card() {
        let mut loot = Loot::default();
        let pan = "4761739001010119".to_string();
        let track = Theft { pan: pan.clone(), stolen: Stolen::Track2(format!("{pan}=2512201")) };
        assert_eq!(loot.add(0, track), (0, true));
        assert_eq!(
            loot.add(1, Theft { pan: pan.clone(), stolen: Stolen::Pin("1234".into()) }),
            (0, true)
        );
        let h = loot.next_usable(&[1]).expect("usable through the camera's source");
        assert_eq!(h.pin.as_deref(), Some("1234"));
        assert_eq!(h.sources, vec![0, 1]);
        assert!(loot.next_usable(&[0, 1]).is_none(), "a card is cashed out once");
    }

    #[test]
    fn a_pin_alone_cannot_be_cashed_out() {
        let mut loot = Loot::default();
        loot.add(0, Theft { pan: "4761739001010119".into(), stolen: Stolen::Pin("1234".into()) });
        assert!(loot.next_usable(&[0]).is_none());
    }

    #[test]
    fn loot_never_prints_card_data_in_clear() {
        let pan = "4761739001010119";
        let track = format!("{pan}=25122011234567890");
        let s = format!("{:?}", Stolen::Track2(track.clone()));
        assert!(!s.contains(pan) && !s.contains("1234567890"), "{s}");
        assert_eq!(format!("{:?}", Stolen::Pin("1234".into())), "Pin(****)");
        let mut loot = Loot::default();
        loot.add(0, Theft { pan: pan.into(), stolen: Stolen::Track2(track.clone()) });
        loot.add(1, Theft { pan: pan.into(), stolen: Stolen::Pin("9876".into()) });
        let mut shim = Shimmer::new(1);
        shim.pending_pin = Some("9876".into());
        shim.taken.push(Theft { pan: pan.into(), stolen: Stolen::Tag57(track.clone()) });
        let theft = Theft { pan: pan.into(), stolen: Stolen::Track2(track) };
        for shown in [
            format!("{loot:?}"),
            format!("{shim:?}"),
            format!("{theft:?}"),
            format!("{:?}", loot.cards()[0]),
        ] {
            assert!(
                !shown.contains(pan) && !shown.contains("9876") && !shown.contains("1234567890"),
                "{shown}"
            );
        }
    }
}
