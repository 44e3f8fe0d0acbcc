//! The sans-IO cores together: a terminal, a card and the host exchanging
//! real APDUs and ISO 8583 frames, driven by hand (no Bevy, no clock).

use std::sync::Arc;

use possim::card::{Card, CardData, CardProfile, Cvm, Interface, Layout};
use possim::host::{CardRecord, HostConfig, HostCore, LedgerEffect, Rules, TerminalRecord};
use possim::inspect::{Status, inspect};
use possim::keys::KeySet;
use possim::money::Money;
use possim::protocol::crypto::{TdesKey, derive_icc_master_key};
use possim::protocol::iso8583::{Mti, Spec};
use possim::protocol::response::ResponseCode;
use possim::rng::Stream;
use possim::terminal::{
    CardChannel, Completion, Entry, Note, Outcome, Output, Presentation, Purchase, TerminalConfig,
    TerminalCore, TimeoutPolicy, UnpredictableNumber,
};
use possim::time::{Calendar, DateTime, Duration, SimTime};

use crate::util::{s, vector};

pub(crate) struct Slot<'a>(pub(crate) &'a mut Card);

impl CardChannel for Slot<'_> {
    fn power_on(&mut self, i: Interface) -> Vec<u8> {
        self.0.power_on(i)
    }
    fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
        self.0.transmit(c)
    }
    fn swipe(&mut self) -> Option<String> {
        Some(self.0.magstripe())
    }
}

pub(crate) fn key(name: &str) -> TdesKey {
    TdesKey::from_hex(s(&vector("keys.json"), name)).unwrap()
}

pub(crate) struct Shop {
    pub(crate) term: TerminalCore,
    pub(crate) host: HostCore,
    pub(crate) card: Card,
    pub(crate) now: SimTime,
    pub(crate) sent: Vec<Vec<u8>>,
    pub(crate) notes: Vec<Note>,
    pub(crate) timers: Vec<(u64, SimTime)>,
    /// Drop host responses (a dead downlink).
    pub(crate) drop_responses: bool,
    /// Flip a bit in the next this-many frames sent (a noisy uplink).
    pub(crate) corrupt_sends: u32,
}

pub(crate) fn calendar() -> Calendar {
    Calendar::new(DateTime::parse("2026-11-24T09:00:00").unwrap())
}

pub(crate) fn shop(profile: CardProfile, pin: &str) -> Shop {
    shop_with_atc(profile, pin, 0x10)
}

pub(crate) fn shop_with_atc(profile: CardProfile, pin: &str, atc: u16) -> Shop {
    shop_with(profile, pin, atc, vec![])
}

pub(crate) fn shop_with(
    profile: CardProfile,
    pin: &str,
    atc: u16,
    issuer_down: Vec<(SimTime, SimTime)>,
) -> Shop {
    shop_with_rules(profile, pin, atc, issuer_down, Rules::default())
}

/// A shop whose issuer applies `rules`.
pub(crate) fn shop_with_rules(
    profile: CardProfile,
    pin: &str,
    atc: u16,
    issuer_down: Vec<(SimTime, SimTime)>,
    rules: Rules,
) -> Shop {
    let spec = Arc::new(Spec::iso87_ascii());
    let cfg = TerminalConfig {
        tid: "TERM0001".into(),
        mid: "SHOP00000000001".into(),
        currency: "156".into(),
        country: "156".into(),
        spec: spec.clone(),
        tak: key("tak"),
        tpk: key("tpk"),
        mac: true,
        response_timeout: Duration::from_secs(30),
        on_timeout: TimeoutPolicy::Reverse,
        reversal_attempts: 3,
        reversal_retry: Duration::from_secs(60),
        reversal_max_attempts: 10,
        chip: true,
        magstripe: true,
        contactless: true,
        contactless_cvm_limit: Money::parse("100.00").unwrap(),
        floor_limit: Money::ZERO,
        reversals_first: true,
        serial: "1234567890".into(),
        offline_pin: true,
        un: UnpredictableNumber::Random,
        calendar: calendar(),
        relay_bound: None,
    };
    let term = TerminalCore::new(cfg, Stream::derive(1, "TERM0001"));
    let mut host = HostCore::new(HostConfig {
        spec,
        imk_ac: key("imk_ac"),
        cvk: key("cvk"),
        pvk: key("pvk"),
        rules,
        pin_try_limit: 3,
        calendar: calendar(),
        issuer_down,
        reversal_keep: Duration::from_secs(6 * 3600),
    });
    host.add_terminal(
        "TERM0001",
        TerminalRecord {
            tak: key("tak"),
            tpk: key("tpk"),
            mid: "SHOP00000000001".into(),
            serial: "1234567890".into(),
        },
    );
    let sc = if profile.chip { "201" } else { "101" };
    let data = CardData::issue(&key("pvk"), &key("cvk"), "4073662585178123", "00", "3306", sc, pin)
        .unwrap();
    let acct = host.open_account(Money::parse("1000.00").unwrap());
    host.add_card(
        &data.pan,
        CardRecord::new(
            data.psn(),
            data.expiry(),
            data.service_code(),
            data.pvki(),
            data.pvv(),
            acct,
        ),
    );
    let mk = derive_icc_master_key(&key("imk_ac"), &data.pan, data.psn()).unwrap();
    let card = Card::new(profile, data, Some(mk), atc);
    Shop {
        term,
        host,
        card,
        now: SimTime(0),
        sent: vec![],
        notes: vec![],
        timers: vec![],
        drop_responses: false,
        corrupt_sends: 0,
    }
}

pub(crate) fn chip(cvm: Cvm) -> CardProfile {
    CardProfile { chip: true, contactless: true, cvm, pin_try_limit: 3, layout: Layout::Standard }
}

impl Shop {
    /// Runs the outputs until nothing is left; PIN requests are answered
    /// with `pins` in order.
    pub(crate) fn drive(&mut self, mut outs: Vec<Output>, pins: &mut Vec<&str>) -> Vec<Completion> {
        let mut done = vec![];
        while !outs.is_empty() {
            let mut next = vec![];
            for o in outs {
                match o {
                    Output::RequestPin { .. } => {
                        let pin = if pins.is_empty() { None } else { Some(pins.remove(0)) };
                        self.now = self.now + Duration::from_secs(3);
                        self.term.pin_entered(self.now, pin, &mut Slot(&mut self.card), &mut next);
                    }
                    Output::Send(f) => {
                        self.sent.push(f.bytes.clone());
                        self.now = self.now + Duration::from_millis(40);
                        let mut bytes = f.bytes;
                        if self.corrupt_sends > 0 {
                            self.corrupt_sends -= 1;
                            let mid = bytes.len() / 2;
                            bytes[mid] ^= 0x01;
                        }
                        let r = self.host.handle(self.now, &bytes);
                        if let (Some(resp), false) = (r.response, self.drop_responses) {
                            self.now = self.now + Duration::from_millis(40);
                            self.term.receive(
                                self.now,
                                &resp,
                                &mut Slot(&mut self.card),
                                &mut next,
                            );
                        }
                    }
                    Output::Timer { token, at } => self.timers.push((token, at)),
                    Output::Completed(c) => done.push(c),
                    Output::Note(n) => self.notes.push(n),
                }
            }
            outs = next;
        }
        done
    }

    pub(crate) fn buy(
        &mut self,
        amount: &str,
        presentation: Presentation,
        pins: &[&str],
    ) -> Completion {
        let mut pins = pins.to_vec();
        let mut outs = vec![];
        let p =
            Purchase { id: 1, amount: Money::parse(amount).unwrap(), refund: false, presentation };
        self.term.start(self.now, p, &mut Slot(&mut self.card), &mut outs);
        let done = self.drive(outs, &mut pins);
        assert_eq!(done.len(), 1, "{done:?}");
        done.into_iter().next().unwrap()
    }

    pub(crate) fn fire_timers(&mut self) -> Vec<Completion> {
        let timers = std::mem::take(&mut self.timers);
        let mut done = vec![];
        for (token, at) in timers {
            self.now = self.now.max(at);
            let mut outs = vec![];
            self.term.timer(self.now, token, &mut Slot(&mut self.card), &mut outs);
            done.extend(self.drive(outs, &mut vec![]));
        }
        done
    }

    pub(crate) fn available(&self) -> Money {
        self.host.ledger().available(0)
    }
}

fn all_keys() -> KeySet {
    KeySet::parse(
        &std::fs::read_to_string(crate::util::root().join("tests/vectors/keys.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn chip_and_pin_purchase_is_approved_and_every_check_in_the_0200_holds() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let c = shop.buy("35.00", Presentation::Insert, &["7070"]);
    assert_eq!(
        (c.outcome, c.response, c.entry),
        (Outcome::Approved, Some(ResponseCode::Approved), Some(Entry::Chip))
    );
    assert_eq!(shop.available(), Money::parse("965.00").unwrap());
    // The request the terminal sent passes the inspector's independent checks.
    let report = inspect(&Spec::iso87_ascii(), &shop.sent[0], &all_keys()).unwrap();
    assert_eq!(
        (report.checks.mac.status, report.checks.pin.status, report.checks.arqc.status),
        (Status::Valid, Status::Valid, Status::Valid)
    );
    assert_eq!(report.checks.cvv.detail, "chip iCVV (track 2 equivalent data)");
    assert_eq!(shop.term.totals().purchases, 1);
    assert_eq!(shop.host.totals("TERM0001").purchase_amount, Money::parse("35.00").unwrap());
}

#[test]
fn a_wrong_pin_is_declined_55_and_three_block_the_pin_75() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    for _ in 0..2 {
        let c = shop.buy("10.00", Presentation::Insert, &["1234"]);
        assert_eq!((c.outcome, c.response), (Outcome::Declined, Some(ResponseCode::IncorrectPin)));
    }
    let c = shop.buy("10.00", Presentation::Insert, &["1234"]);
    assert_eq!(c.response, Some(ResponseCode::PinTriesExceeded));
    let c = shop.buy("10.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.response, Some(ResponseCode::PinTriesExceeded));
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
}

#[test]
fn a_broken_chip_falls_back_to_magstripe_and_the_issuer_refuses_it() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.card.chip_broken = true;
    let c = shop.buy("20.00", Presentation::Insert, &["7070"]);
    assert_eq!((c.entry, c.response), (Some(Entry::Fallback), Some(ResponseCode::DoNotHonour)));
    assert!(shop.notes.contains(&Note::ChipFailed { purchase: 1 }));
    assert!(String::from_utf8_lossy(&shop.sent[0]).contains("801"));
}

#[test]
fn a_magstripe_only_card_is_approved_on_its_cvv() {
    let mut shop = shop(
        CardProfile {
            chip: false,
            contactless: false,
            cvm: Cvm::OnlinePin,
            pin_try_limit: 3,
            layout: Layout::Standard,
        },
        "7070",
    );
    let c = shop.buy("20.00", Presentation::Swipe, &["7070"]);
    assert_eq!((c.entry, c.outcome), (Some(Entry::Magstripe), Outcome::Approved));
    // A swipe has no CVM list: the terminal asks for the online PIN.
    assert_eq!(format!("{:?}", c.cvm), "Some(OnlinePin)");
    assert!(Spec::iso87_ascii().decode(&shop.sent[0]).unwrap().pin_block().is_some());
}

#[test]
fn contactless_needs_no_pin_under_the_limit_and_a_pin_above_it() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let c = shop.buy("35.00", Presentation::Tap, &[]);
    assert_eq!((c.entry, c.outcome), (Some(Entry::Contactless), Outcome::Approved));
    assert_eq!(format!("{:?}", c.cvm), "Some(NoCvm)");
    let c = shop.buy("350.00", Presentation::Tap, &["7070"]);
    assert_eq!(
        (c.outcome, format!("{:?}", c.cvm)),
        (Outcome::Approved, "Some(OnlinePin)".to_string())
    );
    let report = inspect(&Spec::iso87_ascii(), &shop.sent[1], &all_keys()).unwrap();
    assert_eq!(report.checks.arqc.status, Status::Valid, "{}", report.checks.arqc.detail);
    // The card made its cryptogram in GPO: one ATC per tap, no GENERATE AC.
    assert_eq!(shop.card.atc(), 0x12, "two taps from ATC 0x10");
    // Each tap's unpredictable number is fresh (it goes into the PDOL).
    let un = |i: usize| {
        icc_of(&shop.sent[i]).into_iter().find(|(t, _)| *t == 0x9F37).map(|(_, v)| v).unwrap()
    };
    assert_ne!(un(0), vec![0; 4]);
    assert_ne!(un(0), un(1));
}

#[test]
fn offline_pin_is_checked_by_the_card_with_retries() {
    let mut shop = shop(chip(Cvm::OfflinePin), "7070");
    let c = shop.buy("12.00", Presentation::Insert, &["0000", "7070"]);
    assert_eq!(c.outcome, Outcome::Approved);
    assert!(shop.notes.contains(&Note::OfflinePinWrong { tries_left: 2 }));
    assert_eq!(shop.card.pin_tries_left(), 3);
    // No PIN block travels for an offline PIN.
    let m = Spec::iso87_ascii().decode(&shop.sent[0]).unwrap();
    assert!(m.pin_block().is_none());
    // The TVR says the PIN was verified: no "try limit exceeded", no
    // "verification failed" (byte 3, bits 0x20 and 0x80).
    let tvr = icc_of(&shop.sent[0]).into_iter().find(|(t, _)| *t == 0x95).unwrap().1;
    assert_eq!(tvr[2] & 0xA0, 0, "TVR {tvr:02X?}");
}

#[test]
fn a_timeout_declines_then_the_reversal_releases_the_funds_once() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.drop_responses = true;
    let mut outs = vec![];
    let p = Purchase {
        id: 7,
        amount: Money::parse("50.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    assert!(shop.drive(outs, &mut vec!["7070"]).is_empty());
    // The host approved, but the terminal never heard.
    assert_eq!(shop.available(), Money::parse("950.00").unwrap());
    shop.drop_responses = false;
    let done = shop.fire_timers();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].outcome, Outcome::Timeout);
    assert_eq!(
        shop.available(),
        Money::parse("1000.00").unwrap(),
        "the reversal released the funds"
    );
    assert!(shop.notes.iter().any(|n| matches!(n, Note::ReversalAcknowledged { purchase: 7, .. })));
    assert_eq!(shop.term.pending_reversals(), 0);
    // The same reversal again releases nothing more.
    let reversal = shop.sent.last().unwrap().clone();
    let again = shop.host.handle(shop.now, &reversal);
    assert_eq!(
        (again.decision.response, again.decision.ledger),
        (Some(ResponseCode::Approved), LedgerEffect::None)
    );
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
}

#[test]
fn an_unanswered_reversal_is_stored_and_retried_until_acknowledged() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.drop_responses = true;
    let mut outs = vec![];
    let p = Purchase {
        id: 9,
        amount: Money::parse("5.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    for _ in 0..4 {
        shop.fire_timers();
    }
    assert!(shop.notes.iter().any(|n| matches!(n, Note::ReversalStored { .. })));
    assert_eq!(shop.term.pending_reversals(), 1);
    shop.drop_responses = false;
    for _ in 0..2 {
        shop.fire_timers();
    }
    assert_eq!(shop.term.pending_reversals(), 0);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
}

#[test]
fn replaying_a_0200_gets_94_and_changes_nothing() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.buy("35.00", Presentation::Insert, &["7070"]);
    let before = shop.available();
    let replay = shop.host.handle(shop.now, &shop.sent[0].clone());
    assert_eq!(
        (replay.decision.response, replay.decision.ledger),
        (Some(ResponseCode::Duplicate), LedgerEffect::None)
    );
    assert_eq!(shop.available(), before);
}

#[test]
fn an_atc_at_or_below_the_highest_seen_is_refused_59() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.buy("35.00", Presentation::Insert, &["7070"]);
    // The same cryptogram under a new STAN and RRN, properly MACed: a clone
    // replaying harvested chip data.
    let spec = Spec::iso87_ascii();
    let mut m = spec.decode(&shop.sent[0]).unwrap();
    m.set_stan(999).set(37, "699999000999");
    m.remove(64);
    let wire = possim::protocol::iso8583::encode_with_mac(&spec, &mut m, &key("tak")).unwrap();
    let r = shop.host.handle(shop.now, &wire);
    assert_eq!(r.decision.response, Some(ResponseCode::SuspectedFraud), "{}", r.decision.reason);
}

#[test]
fn every_corrupted_byte_gets_30_or_63_or_silence_and_never_moves_money() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.buy("35.00", Presentation::Insert, &["7070"]);
    let good = shop.sent[0].clone();
    // Use a fresh STAN range so the duplicate check does not answer first.
    let before = shop.available();
    for at in 0..good.len() {
        for bit in [0u8, 3, 6] {
            let mut bad = good.clone();
            bad[at] ^= 1 << bit;
            let r = shop.host.handle(shop.now, &bad);
            assert_eq!(
                r.decision.ledger,
                LedgerEffect::None,
                "byte {at} bit {bit}: {}",
                r.decision.reason
            );
            let rc = r.decision.response;
            assert!(
                matches!(
                    rc,
                    None | Some(
                        ResponseCode::FormatError
                            | ResponseCode::SecurityViolation
                            | ResponseCode::Duplicate
                    )
                ),
                "byte {at} bit {bit}: {rc:?} {}",
                r.decision.reason
            );
        }
    }
    assert_eq!(shop.available(), before);
}

#[test]
fn a_resending_terminal_gets_94_and_reverses_so_nobody_pays_without_goods() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let mut cfg = shop.term.config().clone();
    cfg.on_timeout = TimeoutPolicy::ResendSameStan;
    shop.term = TerminalCore::new(cfg, Stream::derive(1, "TERM0001"));
    shop.drop_responses = true;
    let mut outs = vec![];
    let p = Purchase {
        id: 3,
        amount: Money::parse("50.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    // The host approved the first copy; the terminal never heard.
    assert_eq!(shop.available(), Money::parse("950.00").unwrap());
    shop.drop_responses = false;
    let done = shop.fire_timers();
    assert_eq!(done[0].response, Some(ResponseCode::Duplicate), "the resent copy is answered 94");
    assert_eq!(done[0].outcome, Outcome::Declined);
    // 94 leaves the outcome unknown, so the terminal reversed: money back.
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
    assert!(shop.notes.iter().any(|n| matches!(n, Note::ReversalAcknowledged { purchase: 3, .. })));
}

#[test]
fn a_pan_in_field_2_that_differs_from_track_2_is_refused() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.buy("35.00", Presentation::Insert, &["7070"]);
    let spec = Spec::iso87_ascii();
    let mut m = spec.decode(&shop.sent[0]).unwrap();
    // Someone else's card number in field 2, a genuine track in field 35.
    m.set(2, "4499962283038835").set_stan(77).set(37, "600000000077");
    m.remove(64);
    let wire = possim::protocol::iso8583::encode_with_mac(&spec, &mut m, &key("tak")).unwrap();
    let r = shop.host.handle(shop.now, &wire);
    assert_eq!(
        (r.decision.response, r.decision.ledger),
        (Some(ResponseCode::FormatError), LedgerEffect::None),
        "{}",
        r.decision.reason
    );
    // A magstripe entry without track 2 is refused too.
    let mut m = spec.decode(&shop.sent[0]).unwrap();
    m.set(22, "021").set(2, "4073662585178123").set_stan(78).set(37, "600000000078");
    m.remove(35).remove(55).remove(64);
    let wire = possim::protocol::iso8583::encode_with_mac(&spec, &mut m, &key("tak")).unwrap();
    let r = shop.host.handle(shop.now, &wire);
    assert_eq!(r.decision.response, Some(ResponseCode::FormatError), "{}", r.decision.reason);
}

/// A response to `request` with response code `rc`, sealed with the TAK as
/// the host would.
fn answer(request: &[u8], rc: &str) -> Vec<u8> {
    let mti = Spec::iso87_ascii().decode(request).unwrap().mti().response();
    answer_as(request, mti, rc)
}

/// An answer of type `mti` to `request` with response code `rc`, echoing
/// the request's fields and MACed with the shop's key.
pub(crate) fn answer_as(request: &[u8], mti: Mti, rc: &str) -> Vec<u8> {
    use possim::protocol::iso8583::{Message, encode_with_mac};
    let spec = Spec::iso87_ascii();
    let req = spec.decode(request).unwrap();
    let mut m = Message::new(mti);
    for n in [3, 4, 7, 11, 12, 13, 37, 41, 42, 49] {
        if let Some(v) = req.get(n) {
            m.set(n, v);
        }
    }
    m.set(39, rc);
    if rc == "00" {
        m.set(38, "123456");
    }
    encode_with_mac(&spec, &mut m, &key("tak")).unwrap()
}

#[test]
fn issue_8_an_approval_arriving_after_the_terminal_declined_is_reversed() {
    // See: issue 8, 3b: the host posted the original, the terminal took a
    // decline (for a copy, or from an issuer-down race) as final; the
    // approval that follows must not be ignored, or money is lost.
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.drop_responses = true;
    let mut outs = vec![];
    let p = Purchase {
        id: 9,
        amount: Money::parse("50.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    assert_eq!(shop.available(), Money::parse("950.00").unwrap(), "the host posted it");
    shop.drop_responses = false;
    let request = shop.sent.last().unwrap().clone();
    let mut outs = vec![];
    shop.term.receive(shop.now, &answer(&request, "91"), &mut Slot(&mut shop.card), &mut outs);
    let done = shop.drive(outs, &mut vec![]);
    assert_eq!(done[0].outcome, Outcome::Declined);
    assert_eq!(shop.available(), Money::parse("950.00").unwrap(), "still posted");
    let mut outs = vec![];
    shop.term.receive(shop.now, &answer(&request, "00"), &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec![]);
    assert!(shop.notes.iter().any(|n| matches!(n, Note::LateApprovalReversed { purchase: 9, .. })));
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap(), "the reversal released it");
}

#[test]
fn issue_8_a_card_whose_atc_is_spent_refuses_cryptograms_instead_of_wrapping() {
    // See: issue 8, 4e: the 2-byte ATC wrapped to 0 and every later
    // purchase met the host's replay check (59) with an alert each time.
    let mut shop = shop_with_atc(chip(Cvm::OnlinePin), "7070", 0xFFFE);
    let last = shop.buy("10.00", Presentation::Insert, &["7070"]);
    assert_eq!(last.outcome, Outcome::Approved, "the last ATC is still good");
    assert_eq!(shop.card.atc(), 0xFFFF);
    let spent = shop.buy("10.00", Presentation::Insert, &["7070"]);
    assert_ne!(spent.outcome, Outcome::Approved);
    assert_eq!(spent.response, None, "the card stops before anything goes online");
    assert_eq!(shop.card.atc(), 0xFFFF, "no wrap");
}

/// Field 55 of a request, tag by tag.
pub(crate) fn icc_of(request: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let m = Spec::iso87_ascii().decode(request).unwrap();
    possim::protocol::tlv::iter(m.icc_data().unwrap())
        .map(|t| t.map(|(tag, v)| (tag, v.to_vec())).unwrap())
        .collect()
}

#[test]
fn the_terminal_reads_aip_afl_cdols_and_cvm_list_from_a_card_laid_out_differently() {
    // The alternate card answers GPO in format 1 with AIP 1980 and an AFL
    // of SFI 2 records 1-3, asks in its reordered CDOL1 for the terminal
    // type and CVM results too, and wants online PIN only above 50.00.
    let alt = CardProfile { layout: Layout::Alternate, ..chip(Cvm::OnlinePin) };
    let mut shop = shop(alt, "7070");
    let small = shop.buy("30.00", Presentation::Insert, &[]);
    assert_eq!(small.outcome, Outcome::Approved, "{small:?}");
    let big = shop.buy("80.00", Presentation::Insert, &["7070"]);
    assert_eq!(big.outcome, Outcome::Approved, "{big:?}");
    let (first, second) = (&shop.sent[0], &shop.sent[1]);
    let spec = Spec::iso87_ascii();
    assert!(spec.decode(first).unwrap().pin_block().is_none(), "no CVM under X");
    assert!(spec.decode(second).unwrap().pin_block().is_some(), "online PIN over X");
    let icc = icc_of(first);
    let tag = |t: u32| icc.iter().find(|(k, _)| *k == t).map(|(_, v)| v.clone());
    assert_eq!(tag(0x82), Some(vec![0x19, 0x80]), "the card's AIP, not possim's");
    assert_eq!(tag(0x9F35), Some(vec![0x22]), "terminal type filled from the terminal's data");
    assert_eq!(tag(0x9F34), Some(vec![0x1F, 0x00, 0x02]), "CVM results: no CVM, successful");
    let once = icc.iter().filter(|(k, _)| *k == 0x9F34).count();
    assert_eq!(once, 1, "9F34 from the CDOL1, not written twice");
    // The issuer verifies the ARQC over what the card signed: every DOL was filled right.
    for request in [first, second] {
        let report = inspect(&spec, request, &all_keys()).unwrap();
        assert_eq!(report.checks.arqc.status, Status::Valid);
    }
}

#[test]
fn field_55_carries_the_scenario_country_currency_date_amount_and_a_fresh_un() {
    // Pins down what the terminal puts on the wire (issue 8, 7): card and
    // host would agree on anything, so the values themselves are checked.
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.buy("35.00", Presentation::Insert, &["7070"]);
    shop.now = shop.now + Duration::from_secs(3600 * 24);
    shop.buy("12.34", Presentation::Insert, &["7070"]);
    let (a, b) = (icc_of(&shop.sent[0]), icc_of(&shop.sent[1]));
    let get = |icc: &[(u32, Vec<u8>)], t: u32| {
        icc.iter().find(|(k, _)| *k == t).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    assert_eq!(get(&a, 0x9F1A), vec![0x01, 0x56], "terminal country 156");
    assert_eq!(get(&a, 0x5F2A), vec![0x01, 0x56], "currency 156");
    assert_eq!(get(&a, 0x9F02), vec![0, 0, 0, 0, 0x35, 0x00], "the amount of field 4");
    assert_eq!(get(&b, 0x9F02), vec![0, 0, 0, 0, 0x12, 0x34]);
    assert_eq!(get(&a, 0x9F03), vec![0; 6], "no cashback");
    assert_eq!(get(&a, 0x9C), vec![0x00], "purchase");
    assert_eq!(get(&a, 0x9A), vec![0x26, 0x11, 0x24], "the virtual date, 2026-11-24");
    assert_eq!(get(&b, 0x9A), vec![0x26, 0x11, 0x25], "a day later");
    assert_eq!(get(&a, 0x95).len(), 5);
    let (un_a, un_b) = (get(&a, 0x9F37), get(&b, 0x9F37));
    assert_eq!(un_a.len(), 4);
    assert_ne!(un_a, un_b, "a fresh unpredictable number each time");
    let m = Spec::iso87_ascii().decode(&shop.sent[0]).unwrap();
    assert_eq!(m.amount(), Some(3500));
    assert_eq!(m.get(49), Some(&b"156"[..]));
}

#[test]
fn issue_8_a_copy_of_a_request_answered_91_is_never_approved_when_the_issuer_returns() {
    // Found by `possim sweep scenarios/chaos-reverse.ron --seeds 1000..1400`
    // (seed 1286): the link duplicated a 0200; the original met the issuer
    // down (91, the customer left declined), the copy arrived after it came
    // back and was approved, and its 0210 was lost. A transmission is now
    // decided once: the copy gets 94.
    let down = vec![(SimTime(0), SimTime(60_000_000))];
    let mut shop = shop_with(chip(Cvm::OnlinePin), "7070", 0x10, down);
    let c = shop.buy("20.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.response, Some(ResponseCode::IssuerUnavailable));
    let copy = shop.sent[0].clone();
    let later = shop.host.handle(SimTime(61_000_000), &copy);
    assert_eq!(later.decision.response, Some(ResponseCode::Duplicate));
    assert_eq!(later.decision.ledger, LedgerEffect::None);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
}

fn with_policy(mut shop: Shop, policy: TimeoutPolicy) -> Shop {
    let mut cfg = shop.term.config().clone();
    cfg.on_timeout = policy;
    shop.term = TerminalCore::new(cfg, Stream::derive(1, "TERM0001"));
    shop
}

fn start(shop: &mut Shop, id: u64) {
    let mut outs = vec![];
    let p = Purchase {
        id,
        amount: Money::parse("50.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(shop.now, p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
}

#[test]
fn issue_8_a_decline_for_a_damaged_copy_is_reversed_so_the_posted_original_is_released() {
    // See: issue 8, 3a: the original posted but its 0210 was lost; the
    // resent copy arrived damaged and was answered 63. That answer is not
    // proven for the original: the terminal reverses.
    let mut shop = with_policy(shop(chip(Cvm::OnlinePin), "7070"), TimeoutPolicy::ResendSameStan);
    shop.drop_responses = true;
    start(&mut shop, 5);
    assert_eq!(shop.available(), Money::parse("950.00").unwrap(), "the original posted");
    shop.drop_responses = false;
    shop.corrupt_sends = 1;
    let done = shop.fire_timers();
    assert_eq!(done[0].outcome, Outcome::Declined);
    assert!(done[0].reason.contains("may be for a copy"), "{}", done[0].reason);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap(), "released");
    assert!(shop.notes.iter().any(|n| matches!(n, Note::ReversalAcknowledged { purchase: 5, .. })));
}

#[test]
fn a_resending_terminal_sends_exactly_reversal_attempts_copies_then_reverses() {
    // Pins down the resend count (3 tries in all) and that copies keep the STAN.
    let mut shop = with_policy(shop(chip(Cvm::OnlinePin), "7070"), TimeoutPolicy::ResendSameStan);
    shop.drop_responses = true;
    start(&mut shop, 6);
    let mut done = vec![];
    for _ in 0..10 {
        done.extend(shop.fire_timers());
        if !done.is_empty() {
            break;
        }
    }
    assert_eq!(done[0].outcome, Outcome::Timeout);
    let spec = Spec::iso87_ascii();
    let requests: Vec<_> = shop
        .sent
        .iter()
        .map(|b| spec.decode(b).unwrap())
        .filter(|m| m.mti() == possim::protocol::iso8583::Mti::REQUEST)
        .collect();
    assert_eq!(requests.len(), 3, "reversal_attempts = 3 tries in all");
    assert!(requests.iter().all(|m| m.stan() == requests[0].stan()), "same STAN");
    let reversals = shop
        .sent
        .iter()
        .filter(|b| spec.decode(b).unwrap().mti() == possim::protocol::iso8583::Mti::REVERSAL)
        .count();
    assert_eq!(reversals, 1, "then one reversal goes out");
}

#[test]
fn a_terminal_with_the_new_stan_bug_resends_under_a_new_stan_and_never_reverses() {
    let mut shop = with_policy(shop(chip(Cvm::OnlinePin), "7070"), TimeoutPolicy::ResendNewStan);
    shop.drop_responses = true;
    start(&mut shop, 7);
    for _ in 0..10 {
        if !shop.fire_timers().is_empty() {
            break;
        }
    }
    let spec = Spec::iso87_ascii();
    let stans: Vec<_> =
        shop.sent.iter().map(|b| spec.decode(b).unwrap()).map(|m| (m.mti(), m.stan())).collect();
    let requests: Vec<_> =
        stans.iter().filter(|(m, _)| *m == possim::protocol::iso8583::Mti::REQUEST).collect();
    assert_eq!(requests.len(), 3);
    assert!(requests.windows(2).all(|w| w[0].1 != w[1].1), "a new STAN each time: {stans:?}");
    assert!(stans.iter().all(|(m, _)| *m != possim::protocol::iso8583::Mti::REVERSAL));
    // The copies carry the first cryptogram again: the host's ATC check
    // refuses them (59), so only the original is charged.
    assert_eq!(shop.available(), Money::parse("950.00").unwrap());
}

/// A card that lists applications in its PSE record and answers every
/// application SELECT with "not found", recording what was selected.
struct Directory {
    entries: Vec<(Vec<u8>, u8)>,
    selected: Vec<Vec<u8>>,
}

impl CardChannel for Directory {
    fn power_on(&mut self, _: Interface) -> Vec<u8> {
        vec![0x3B, 0x00]
    }
    fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
        use possim::protocol::tlv;
        let lc = usize::from(c.get(4).copied().unwrap_or(0));
        let data = c.get(5..5 + lc).unwrap_or_default();
        match (c[1], c[2], c[3]) {
            (0xA4, 0x04, _) if data == b"1PAY.SYS.DDF01" => {
                let mut out = vec![];
                tlv::write_constructed(&mut out, 0x6F, |o| {
                    tlv::write(o, 0x84, data);
                    tlv::write_constructed(o, 0xA5, |o| tlv::write(o, 0x88, &[0x01]));
                });
                out.extend([0x90, 0x00]);
                out
            }
            (0xA4, 0x04, _) => {
                self.selected.push(data.to_vec());
                vec![0x6A, 0x82]
            }
            (0xB2, 1, p2) if p2 >> 3 == 1 => {
                let mut out = vec![];
                tlv::write_constructed(&mut out, 0x70, |o| {
                    for (aid, priority) in &self.entries {
                        tlv::write_constructed(o, 0x61, |o| {
                            tlv::write(o, 0x4F, aid);
                            tlv::write(o, 0x87, &[*priority]);
                        });
                    }
                });
                out.extend([0x90, 0x00]);
                out
            }
            _ => vec![0x6A, 0x83],
        }
    }
    fn swipe(&mut self) -> Option<String> {
        None
    }
}

#[test]
fn the_terminal_selects_the_highest_priority_application_it_supports_from_the_directory() {
    let amex = vec![0xA0, 0x00, 0x00, 0x00, 0x25, 0x01, 0x01];
    let visa = vec![0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10];
    let mastercard = vec![0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];
    let unionpay = vec![0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01];
    let mut card = Directory {
        // Amex first (unsupported), UnionPay with no priority (0: last),
        // Mastercard priority 2, Visa priority 3.
        entries: vec![(amex, 1), (unionpay.clone(), 0), (visa.clone(), 3), (mastercard.clone(), 2)],
        selected: vec![],
    };
    let shop = shop(chip(Cvm::OnlinePin), "7070");
    let mut term = shop.term;
    let p = Purchase {
        id: 1,
        amount: Money::parse("10.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    let mut outs = vec![];
    term.start(SimTime(0), p, &mut card, &mut outs);
    // Every supported application, best first; none of them answers, so the
    // terminal tries the next, and the unsupported one never.
    assert_eq!(card.selected, vec![mastercard, visa, unionpay]);
}

#[test]
fn a_refund_carries_transaction_type_20_and_a_pin_blocked_card_sets_the_tvr() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let mut outs = vec![];
    let refund = Purchase {
        id: 1,
        amount: Money::parse("10.00").unwrap(),
        refund: true,
        presentation: Presentation::Insert,
    };
    shop.term.start(shop.now, refund, &mut Slot(&mut shop.card), &mut outs);
    let done = shop.drive(outs, &mut vec!["7070"]);
    assert!(!shop.sent.is_empty(), "{done:?}");
    let icc = icc_of(&shop.sent[0]);
    let tag =
        |icc: &[(u32, Vec<u8>)], t: u32| icc.iter().find(|(k, _)| *k == t).map(|(_, v)| v.clone());
    assert_eq!(tag(&icc, 0x9C), Some(vec![0x20]), "refund");
    assert_eq!(tag(&icc, 0x95), Some(vec![0; 5]), "nothing went wrong");
    // Offline PIN tried until the card blocks it: the TVR the terminal gives
    // the card in GENERATE AC says so (byte 3), and the card declines.
    struct Recorder<'a>(&'a mut Card, Vec<Vec<u8>>);
    impl CardChannel for Recorder<'_> {
        fn power_on(&mut self, i: Interface) -> Vec<u8> {
            self.0.power_on(i)
        }
        fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
            self.1.push(c.to_vec());
            self.0.transmit(c)
        }
        fn swipe(&mut self) -> Option<String> {
            Some(self.0.magstripe())
        }
    }
    let mut shop2 = shop_with(chip(Cvm::OfflinePin), "7070", 0x10, vec![]);
    let mut rec = Recorder(&mut shop2.card, vec![]);
    let p = Purchase {
        id: 2,
        amount: Money::parse("12.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    let mut outs = vec![];
    shop2.term.start(SimTime(0), p, &mut rec, &mut outs);
    for _ in 0..3 {
        let mut next = vec![];
        shop2.term.pin_entered(SimTime(0), Some("0000"), &mut rec, &mut next);
    }
    let genac = rec.1.iter().find(|c| c[1] == 0xAE).expect("a GENERATE AC");
    // CDOL1: 9F02 (6), 9F03 (6), 9F1A (2), then 95 (5).
    let tvr = genac[5 + 14..5 + 19].to_vec();
    assert_eq!(
        tvr[2] & 0xA0,
        0xA0,
        "PIN try limit exceeded, cardholder verification failed: {tvr:02X?}"
    );
}

// Pins on what the host decides: each of these fails on a mutant that every
// other test let through (cargo-mutants).

pub(crate) fn magstripe_only() -> CardProfile {
    CardProfile {
        chip: false,
        contactless: false,
        cvm: Cvm::OnlinePin,
        pin_try_limit: 3,
        layout: Layout::Standard,
    }
}

/// A MACed 0400 reversing the 0200 `request`, naming its transmission time as `f7`.
pub(crate) fn reversal_of(request: &[u8], f7: &str) -> Vec<u8> {
    let spec = Spec::iso87_ascii();
    let req = spec.decode(request).unwrap();
    let stan = req.stan().unwrap();
    let mut m = possim::protocol::iso8583::Message::new(possim::protocol::iso8583::Mti::REVERSAL);
    for n in [2, 3, 4, 7, 11, 12, 13, 22, 37, 41, 42, 49] {
        if let Some(v) = req.get(n) {
            m.set(n, v);
        }
    }
    m.set(90, format!("0200{stan:06}{f7}{:011}{:011}", 0, 0));
    possim::protocol::iso8583::encode_with_mac(&spec, &mut m, &key("tak")).unwrap()
}

/// `wire` decoded, changed by `f`, and MACed again under the terminal's key.
pub(crate) fn remac(
    wire: &[u8],
    f: impl FnOnce(&mut possim::protocol::iso8583::Message),
) -> Vec<u8> {
    let spec = Spec::iso87_ascii();
    let mut m = spec.decode(wire).unwrap();
    f(&mut m);
    m.remove(64);
    possim::protocol::iso8583::encode_with_mac(&spec, &mut m, &key("tak")).unwrap()
}

#[test]
fn a_key_entered_request_is_judged_on_the_expiry_the_issuer_has_on_file() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    // Keyed in (entry 012): no track 2, so the host's own record decides.
    let keyed = remac(&shop.sent[0], |m| {
        m.set(2, "4073662585178123").remove(35).set(22, "012").set_stan(77).set(37, "600000000077");
    });
    let r = shop.host.handle(shop.now, &keyed);
    assert_eq!(r.decision.response, Some(ResponseCode::Approved), "{}", r.decision.reason);
    // A second card on file, expired in January 2024: refused 54 before its PIN is looked at.
    let base = "407366258517813";
    let old = format!("{base}{}", possim::protocol::track::luhn_check_digit(base));
    assert!(possim::protocol::track::luhn_valid(&old) && old != "4073662585178123");
    let acct = shop.host.open_account(Money::parse("100.00").unwrap());
    shop.host.add_card(&old, CardRecord::new("00", "2401", "101", "1", "1234", acct));
    let expired = remac(&keyed, |m| {
        m.set(2, old.as_str()).set_stan(78).set(37, "600000000078");
    });
    let r = shop.host.handle(shop.now, &expired);
    assert_eq!(r.decision.response, Some(ResponseCode::ExpiredCard), "{}", r.decision.reason);
}

#[test]
fn a_blocked_card_is_refused_57() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.host.block_card("4073662585178123");
    let c = shop.buy("35.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.response, Some(ResponseCode::NotPermitted));
}

#[test]
fn a_copy_arriving_after_the_duplicate_window_is_no_longer_a_duplicate() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    let again = shop.host.handle(shop.now + Duration::from_secs(3600), &shop.sent[0].clone());
    assert_eq!(again.decision.response, Some(ResponseCode::Duplicate));
    // 25 hours later the host has forgotten it (and charges it again: the
    // window is what protects).
    let later = shop.host.handle(shop.now + Duration::from_secs(25 * 3600), &shop.sent[0].clone());
    assert_ne!(later.decision.response, Some(ResponseCode::Duplicate), "{}", later.decision.reason);
    // The same TID and STAN with another RRN is a new transmission too.
    let other = remac(&shop.sent[0], |m| {
        m.set(37, "611111111111");
    });
    let r = shop.host.handle(shop.now + Duration::from_secs(60), &other);
    assert_ne!(r.decision.response, Some(ResponseCode::Duplicate), "{}", r.decision.reason);
}

#[test]
fn a_sign_on_is_answered_0810_echoing_its_network_code_without_a_mac() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let mut outs = Vec::new();
    shop.term.sign_on(SimTime(0), &mut outs);
    let Some(Output::Send(f)) = outs.into_iter().find(|o| matches!(o, Output::Send(_))) else {
        panic!("a sign-on is sent")
    };
    let r = shop.host.handle(SimTime(0), &f.bytes);
    let spec = Spec::iso87_ascii();
    let resp = spec.decode(r.response.as_deref().unwrap()).unwrap();
    assert_eq!(resp.mti().to_string(), "0810");
    assert_eq!(resp.get(70), spec.decode(&f.bytes).unwrap().get(70));
    assert!(resp.get(70).is_some() && resp.get(64).is_none() && resp.get(4).is_none());
}

#[test]
fn answers_echo_the_fields_their_request_type_calls_for() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    let spec = Spec::iso87_ascii();
    let req = spec.decode(&shop.sent[0]).unwrap();
    let fields = |wire: &[u8]| {
        let m = spec.decode(wire).unwrap();
        (2..=128u8).filter(|&n| m.get(n).is_some()).collect::<Vec<_>>()
    };
    // A 0400 carrying the original's local time and date (12, 13): its
    // 0410 echoes only what a reversal answer holds.
    let reversal = reversal_of(&shop.sent[0], req.get_str(7).unwrap());
    assert!(fields(&reversal).contains(&12) && fields(&reversal).contains(&13));
    let r = shop.host.handle(shop.now, &reversal);
    let answer = r.response.unwrap();
    assert_eq!(spec.decode(&answer).unwrap().mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(fields(&answer), [3, 4, 7, 11, 37, 39, 41, 42, 49, 64]);
}

#[test]
fn a_reversal_naming_another_transmission_of_the_same_stan_releases_nothing() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    let spent = shop.available();
    let spec = Spec::iso87_ascii();
    let req = spec.decode(&shop.sent[0]).unwrap();
    let reversal = |f7: &str| reversal_of(&shop.sent[0], f7);
    let wrong = shop.host.handle(shop.now, &reversal("0101000000"));
    assert_eq!(wrong.decision.ledger, LedgerEffect::None, "{}", wrong.decision.reason);
    assert_eq!(shop.available(), spent);
    let right = shop.host.handle(shop.now, &reversal(req.get_str(7).unwrap()));
    assert_eq!(right.decision.ledger, LedgerEffect::Release, "{}", right.decision.reason);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
    // Twice releases once: two postings in all (the purchase, one release).
    let again = shop.host.handle(shop.now, &reversal(req.get_str(7).unwrap()));
    assert_eq!(again.decision.ledger, LedgerEffect::None);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
    assert_eq!(shop.host.ledger().postings(), 2);
}

#[test]
fn the_defences_are_the_checks_that_can_be_switched_off() {
    let names = possim::host::Check::defence_names();
    assert!(
        names.contains(&"mac") && names.contains(&"refund_sale") && names.contains(&"velocity")
    );
    assert!(!names.contains(&"format") && !names.contains(&"card"));
}

#[test]
fn a_refund_goes_through_only_to_a_card_that_bought_as_much_here() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.host.set_check("refund_sale", true);
    assert_eq!(
        shop.host.card("4073662585178123").map(|c| c.expiry().to_string()),
        Some("3306".into())
    );
    let refund = |shop: &mut Shop, amount: &str| {
        let id = shop.sent.len() as u64 + 100;
        let mut outs = Vec::new();
        let p = Purchase {
            id,
            amount: Money::parse(amount).unwrap(),
            refund: true,
            presentation: Presentation::Swipe,
        };
        shop.term.start(shop.now, p, &mut Slot(&mut shop.card), &mut outs);
        let mut pins = vec!["7070"];
        shop.drive(outs, &mut pins).pop().unwrap()
    };
    // Nothing bought yet: refused.
    assert_eq!(refund(&mut shop, "5.00").response, Some(ResponseCode::InvalidTransaction));
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    assert_eq!(refund(&mut shop, "10.00").response, Some(ResponseCode::Approved));
    // What was bought has been refunded: another refund is refused.
    assert_eq!(refund(&mut shop, "1.00").response, Some(ResponseCode::InvalidTransaction));
}

#[test]
fn the_host_says_whether_a_mac_is_missing_or_wrong() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    let spec = Spec::iso87_ascii();
    let mut m = spec.decode(&shop.sent[0]).unwrap();
    m.remove(64).set_stan(501).set(37, "600000000501");
    let bare = spec.encode(&m).unwrap();
    let r = shop.host.handle(shop.now, &bare);
    assert_eq!(
        (r.decision.response, r.decision.reason.as_ref()),
        (Some(ResponseCode::SecurityViolation), "no MAC")
    );
    let wrong = {
        m.set_stan(502).set(37, "600000000502");
        possim::protocol::iso8583::encode_with_mac(&spec, &mut m, &key("tpk")).unwrap()
    };
    let r = shop.host.handle(shop.now, &wrong);
    assert!(r.decision.reason.contains("does not verify"), "{}", r.decision.reason);
}

#[test]
fn a_newer_transmission_under_an_old_stan_is_remembered_for_its_own_window() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    let first = shop.sent[0].clone();
    // Twenty hours later the same STAN comes round with another RRN.
    let later = remac(&first, |m| {
        m.set(37, "622222222222");
    });
    let t20 = shop.now + Duration::from_secs(20 * 3600);
    assert_ne!(shop.host.handle(t20, &later).decision.response, Some(ResponseCode::Duplicate));
    // At 25 hours the first one's window has passed, the second's has not.
    let t25 = shop.now + Duration::from_secs(25 * 3600);
    let again = shop.host.handle(t25, &later);
    assert_eq!(again.decision.response, Some(ResponseCode::Duplicate), "{}", again.decision.reason);
}

#[test]
fn the_host_forgets_approvals_after_reversal_keep_and_a_later_reversal_releases_nothing() {
    let mut shop = shop(magstripe_only(), "7070");
    shop.buy("10.00", Presentation::Swipe, &["7070"]);
    let spent = shop.available();
    let spec = Spec::iso87_ascii();
    let req = spec.decode(&shop.sent[0]).unwrap();
    let reversal = reversal_of(&shop.sent[0], req.get_str(7).unwrap());
    // Six hours is what the host keeps (reversal_keep); seven is past it.
    let late = shop.host.handle(shop.now + Duration::from_secs(7 * 3600), &reversal);
    assert_eq!(late.decision.ledger, LedgerEffect::None, "{}", late.decision.reason);
    assert_eq!(shop.available(), spent);
}

#[test]
fn an_advice_of_an_offline_approval_is_cleared_on_its_cryptogram_even_while_the_issuer_is_down() {
    // The card's cryptogram from a real session, reported as an advice
    // (0220) while the issuer is unreachable: the goods are gone already,
    // so availability, funds and PIN are not asked; the cryptogram is.
    let down = vec![(SimTime(0), SimTime(600_000_000))];
    let mut shop = shop_with(chip(Cvm::OnlinePin), "7070", 0x10, down);
    let c = shop.buy("20.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.response, Some(ResponseCode::IssuerUnavailable));
    let spec = Spec::iso87_ascii();
    let m = spec.decode(&shop.sent[0]).unwrap();
    let mut advice = possim::protocol::iso8583::Message::new(Mti::ADVICE);
    for n in [3, 4, 7, 12, 13, 22, 23, 25, 35, 41, 42, 49, 55] {
        if let Some(v) = m.get(n) {
            advice.set(n, v);
        }
    }
    advice.set_stan(777).set(37, "632815000777");
    let wire = possim::protocol::iso8583::encode_with_mac(&spec, &mut advice, &key("tak")).unwrap();
    let out = shop.host.handle(SimTime(1_000_000), &wire);
    assert_eq!(
        (out.decision.response, out.decision.ledger),
        (Some(ResponseCode::Approved), LedgerEffect::Debit),
        "{}",
        out.decision.reason
    );
    let answer = spec.decode(&out.response.unwrap()).unwrap();
    assert_eq!(answer.mti(), Mti::ADVICE_RESPONSE);
    assert!(answer.get(55).is_none(), "no issuer authentication for a card long gone");
    assert_eq!(shop.available(), Money::parse("980.00").unwrap());
    // The same advice with its cryptogram broken is refused: not paid.
    let mut bad = advice.clone();
    let mut icc = bad.get(55).unwrap().to_vec();
    let at = icc.windows(2).position(|w| w == [0x9F, 0x26]).unwrap() + 3;
    icc[at] ^= 0xFF;
    bad.set(55, icc).set_stan(778).set(37, "632815000778");
    bad.remove(64);
    let wire = possim::protocol::iso8583::encode_with_mac(&spec, &mut bad, &key("tak")).unwrap();
    let out = shop.host.handle(SimTime(2_000_000), &wire);
    assert_eq!(
        (out.decision.response, out.decision.ledger),
        (Some(ResponseCode::SecurityViolation), LedgerEffect::None)
    );
    assert_eq!(shop.available(), Money::parse("980.00").unwrap());
}

#[test]
fn an_approval_arriving_hours_after_the_decline_is_still_reversed() {
    // The terminal remembers what it concluded without approval for the
    // host's duplicate window (24 h), not an hour.
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.drop_responses = true;
    let mut outs = vec![];
    let p = Purchase {
        id: 9,
        amount: Money::parse("50.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    shop.drop_responses = false;
    let request = shop.sent.last().unwrap().clone();
    let mut outs = vec![];
    shop.term.receive(shop.now, &answer(&request, "91"), &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec![]);
    // Five hours on, another customer is declined too (the terminal
    // forgets what is older than it must remember when it remembers more).
    shop.now = SimTime(shop.now.0 + 5 * 3_600_000_000);
    shop.drop_responses = true;
    let mut outs = vec![];
    let next = Purchase { id: 10, ..p };
    shop.term.start(shop.now, next, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    shop.drop_responses = false;
    let second = shop.sent.last().unwrap().clone();
    let mut outs = vec![];
    shop.term.receive(shop.now, &answer(&second, "91"), &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec![]);
    let mut outs = vec![];
    shop.term.receive(shop.now, &answer(&request, "00"), &mut Slot(&mut shop.card), &mut outs);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Note(Note::LateApprovalReversed { purchase: 9, .. }))),
        "{outs:?}"
    );
}

#[test]
fn a_terminal_busy_with_one_customer_ignores_the_next_until_it_is_done() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.drop_responses = true;
    let mut outs = vec![];
    let first = Purchase {
        id: 1,
        amount: Money::parse("20.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), first, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    assert!(shop.term.busy(), "awaiting the host's answer");
    let mut outs = vec![];
    let second = Purchase { id: 2, ..first };
    shop.term.start(shop.now, second, &mut Slot(&mut shop.card), &mut outs);
    assert!(outs.is_empty(), "the second customer is not served yet: {outs:?}");
}

#[test]
fn a_terminal_is_signed_on_only_once_the_host_approves_its_sign_on() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    assert!(shop.term.signed_on(), "a terminal that never signs on needs no approval");
    let mut outs = vec![];
    shop.term.sign_on(SimTime(0), &mut outs);
    assert!(!shop.term.signed_on());
    let Some(Output::Send(sign_on)) = outs.iter().find(|o| matches!(o, Output::Send(_))) else {
        panic!("no sign-on sent: {outs:?}")
    };
    // It carries the device's serial number for the host's inventory.
    let m = Spec::iso87_ascii().decode(&sign_on.bytes).unwrap();
    assert_eq!(m.get_str(62), Some("1234567890"));
    let reply = shop.host.handle(SimTime(1), &sign_on.bytes);
    let mut outs = vec![];
    shop.term.receive(SimTime(2), &reply.response.unwrap(), &mut Slot(&mut shop.card), &mut outs);
    assert!(shop.term.signed_on());
}

fn with_floor_limit(mut shop: Shop, limit: &str) -> Shop {
    let mut cfg = shop.term.config().clone();
    cfg.floor_limit = Money::parse(limit).unwrap();
    shop.term = TerminalCore::new(cfg, Stream::derive(1, "TERM0001"));
    shop
}

/// Starts a purchase with `card` behind a yes-card device (typing 0000 when
/// asked for the PIN), then drives what it sends.
fn pay_with_yes_card(shop: &mut Shop, card: &mut Card, amount: &str) -> Vec<Completion> {
    let amount = Money::parse(amount).unwrap();
    let p = Purchase { id: 5, amount, refund: false, presentation: Presentation::Insert };
    let mut taps: Vec<Box<dyn possim::terminal::CardTap>> = vec![Box::new(possim::attack::YesCard)];
    let now = shop.now;
    let mut outs = vec![];
    possim::terminal::through_taps(&mut taps, &mut Slot(card), |c| {
        shop.term.start(now, p, c, &mut outs);
        if outs.iter().any(|o| matches!(o, Output::RequestPin { .. })) {
            shop.term.pin_entered(now, Some("0000"), c, &mut outs);
        }
    });
    outs.retain(|o| !matches!(o, Output::RequestPin { .. }));
    let mut done: Vec<Completion> = outs
        .iter()
        .filter_map(|o| if let Output::Completed(c) = o { Some(c.clone()) } else { None })
        .collect();
    done.extend(shop.drive(outs, &mut vec![]));
    done
}

#[test]
fn under_the_floor_limit_a_tc_is_an_offline_approval_and_its_advice_is_refused_at_clearing() {
    let mut shop = with_floor_limit(shop(chip(Cvm::OnlinePin), "7070"), "200.00");
    let track = shop.card.data.track2_equivalent().to_field35();
    let mut clone = Card::chip_clone(&track, key("tak")).unwrap();
    let done = pay_with_yes_card(&mut shop, &mut clone, "150.00");
    assert_eq!(done[0].outcome, Outcome::ApprovedOffline, "{done:?}");
    assert_eq!((done[0].stan.is_some(), done[0].rrn.is_some()), (true, true));
    // The advice went to the host, which refused it: nothing moved.
    let advice = Spec::iso87_ascii().decode(shop.sent.last().unwrap()).unwrap();
    assert_eq!(advice.mti(), Mti::ADVICE);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
    assert!(
        shop.notes.iter().any(|n| matches!(
            n,
            Note::AdviceAnswered { response: Some(ResponseCode::SecurityViolation), .. }
        )),
        "{:?}",
        shop.notes
    );
    assert_eq!(shop.term.pending_reversals(), 0, "answered: no longer stored");
    // At the limit the terminal asks for an ARQC, and a TC in answer is no card's.
    let done = pay_with_yes_card(&mut shop, &mut clone, "200.00");
    assert_eq!(done[0].outcome, Outcome::DeclinedOffline);
    assert!(done[0].reason.contains("(TC)"), "{}", done[0].reason);
    assert_eq!((done[0].stan, done[0].rrn.as_deref()), (None, None), "nothing went online");
}

#[test]
fn a_genuine_card_under_the_floor_limit_still_goes_online() {
    // possim's cards answer every first GENERATE AC with an ARQC.
    let mut shop = with_floor_limit(shop(chip(Cvm::OnlinePin), "7070"), "200.00");
    let c = shop.buy("50.00", Presentation::Insert, &["7070"]);
    assert_eq!((c.outcome, c.response), (Outcome::Approved, Some(ResponseCode::Approved)));
    let icc = icc_of(&shop.sent[0]);
    // Field 55 names the application once, and the CVM results once.
    let count = |tag: u32| icc.iter().filter(|(t, _)| *t == tag).count();
    assert_eq!((count(0x84), count(0x9F34)), (1, 1));
    let aid = icc.iter().find(|(t, _)| *t == 0x84).unwrap().1.clone();
    assert_eq!(aid, possim::card::VISA_AID.to_vec());
    // The issuer application data: Visa CVN 10, its CVR starting 03 (the
    // CVR's length) and "first AC an ARQC, second not yet requested".
    let iad = icc.iter().find(|(t, _)| *t == 0x9F10).unwrap().1.clone();
    assert_eq!(iad.get(..5), Some(&[0x06, 0x01, 0x0A, 0x03, 0xA0][..]), "{iad:02X?}");
}

#[test]
fn a_refused_sign_on_leaves_the_terminal_unable_to_trade() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let mut outs = vec![];
    shop.term.sign_on(SimTime(0), &mut outs);
    let Some(Output::Send(sign_on)) = outs.iter().find(|o| matches!(o, Output::Send(_))) else {
        panic!("no sign-on")
    };
    let reply = answer(&sign_on.bytes, "58");
    let mut outs = vec![];
    shop.term.receive(SimTime(1), &reply, &mut Slot(&mut shop.card), &mut outs);
    assert!(!shop.term.signed_on());
    let c = shop.buy("10.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.outcome, Outcome::DeclinedOffline);
    assert_eq!(c.reason, "terminal not signed on to the host");
}

#[test]
fn a_counting_terminal_uses_the_numbers_a_watcher_expects() {
    // What pre-play relies on: with a counter, next_uns says exactly which
    // unpredictable numbers the terminal will put in its next purchases.
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let mut cfg = shop.term.config().clone();
    cfg.un = UnpredictableNumber::Counter;
    shop.term = TerminalCore::new(cfg, Stream::derive(1, "TERM0001"));
    let expected = shop.term.next_uns(2);
    assert_eq!(expected, vec![[0, 0, 0, 1], [0, 0, 0, 2]]);
    shop.buy("10.00", Presentation::Insert, &["7070"]);
    let un = |req: &[u8]| icc_of(req).into_iter().find(|(t, _)| *t == 0x9F37).unwrap().1;
    assert_eq!(un(&shop.sent[0]), expected[0].to_vec());
    assert_eq!(shop.term.next_uns(1), vec![expected[1]]);
}

#[test]
fn a_swapped_device_signs_on_with_its_own_serial() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let real = shop.term.swap_serial("9999999999".into());
    assert_eq!(real, "1234567890");
    let mut outs = vec![];
    shop.term.sign_on(SimTime(0), &mut outs);
    let Some(Output::Send(sign_on)) = outs.iter().find(|o| matches!(o, Output::Send(_))) else {
        panic!("no sign-on")
    };
    let m = Spec::iso87_ascii().decode(&sign_on.bytes).unwrap();
    assert_eq!(m.get_str(62), Some("9999999999"));
    // The host watches it (and with the inventory rule on, refuses it).
    let out = shop.host.handle(SimTime(1), &sign_on.bytes);
    assert_eq!(out.decision.checks.device, possim::host::Verdict::Invalid);
}

#[test]
fn a_stored_reversal_goes_out_before_the_next_purchase_which_waits_for_its_answer() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    shop.drop_responses = true;
    let mut outs = vec![];
    let p = Purchase {
        id: 9,
        amount: Money::parse("5.00").unwrap(),
        refund: false,
        presentation: Presentation::Insert,
    };
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    for _ in 0..4 {
        shop.fire_timers();
    }
    assert_eq!(shop.term.pending_reversals(), 1, "stored after its immediate tries");
    // The line is back; the next customer comes before the reversal's retry.
    shop.drop_responses = false;
    shop.timers.clear();
    let sent_before = shop.sent.len();
    let c = shop.buy("7.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.outcome, Outcome::Approved);
    // First the reversal, then (after its answer) the purchase.
    let spec = Spec::iso87_ascii();
    let mtis: Vec<Mti> =
        shop.sent[sent_before..].iter().map(|b| spec.decode(b).unwrap().mti()).collect();
    assert_eq!(mtis.first(), Some(&Mti::REVERSAL), "{mtis:?}");
    assert!(mtis.contains(&Mti::REQUEST));
    assert_eq!(shop.term.pending_reversals(), 0);
    assert_eq!(shop.available(), Money::parse("993.00").unwrap(), "5.00 released, 7.00 charged");
}

/// A reversal of the shop's first request, naming its STAN and the given
/// transmission time (field 7 of the original) in field 90.
fn reversal_of_first(shop: &Shop, time: &str) -> Vec<u8> {
    use possim::protocol::iso8583::{Message, encode_with_mac};
    let spec = Spec::iso87_ascii();
    let req = spec.decode(&shop.sent[0]).unwrap();
    let mut m = Message::new(Mti::parse("0400").unwrap());
    for n in [3u8, 4, 7, 22, 25, 35, 37, 41, 42, 49] {
        if let Some(v) = req.get(n) {
            m.set(n, v);
        }
    }
    m.set(11, "000777");
    m.set(90, format!("0200{}{time}{}", req.get_str(11).unwrap(), "0".repeat(22)));
    encode_with_mac(&spec, &mut m, &key("tak")).unwrap()
}

#[test]
fn a_reversal_must_name_the_originals_transmission_time_as_well_as_its_stan() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    assert_eq!(shop.buy("35.00", Presentation::Insert, &["7070"]).outcome, Outcome::Approved);
    let time = Spec::iso87_ascii().decode(&shop.sent[0]).unwrap().get_str(7).unwrap().to_string();
    // Same STAN, another transmission: another purchase, so nothing is released.
    let wrong =
        if time.ends_with('0') { format!("{}1", &time[..9]) } else { format!("{}0", &time[..9]) };
    let out = shop.host.handle(shop.now, &reversal_of_first(&shop, &wrong));
    assert_eq!(out.decision.ledger, LedgerEffect::None, "{}", out.decision.reason);
    // Not this purchase: remembered, so an original of that time cannot post later.
    assert!(
        out.decision.reason.starts_with("original not approved here"),
        "{}",
        out.decision.reason
    );
    assert_eq!(shop.available(), Money::parse("965.00").unwrap());
    // The right one releases the funds, once.
    let out = shop.host.handle(shop.now, &reversal_of_first(&shop, &time));
    assert_eq!(out.decision.ledger, LedgerEffect::Release);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
    let again = shop.host.handle(shop.now, &reversal_of_first(&shop, &time));
    assert_eq!(again.decision.ledger, LedgerEffect::None);
    assert!(again.decision.reason.starts_with("already reversed"), "{}", again.decision.reason);
    assert_eq!(shop.available(), Money::parse("1000.00").unwrap());
    // A 0410 echoes the reversal's own fields, not the purchase's date fields.
    let spec = Spec::iso87_ascii();
    let answer = spec.decode(again.response.as_deref().unwrap()).unwrap();
    assert_eq!(answer.get_str(11), Some("000777"));
    assert!(!answer.has(12) && !answer.has(13) && !answer.has(22));
}

#[test]
fn card_records_and_links_say_what_they_are_without_card_data() {
    let rec = CardRecord::new("00", "3306", "201", "1", "1234", 0);
    let shown = format!("{rec:?}");
    assert!(shown.contains("CardRecord(exp 3306 sc 201)"), "{shown}");
    assert!(!shown.contains("1234"), "no PVV in Debug: {shown}");
    let spec = Arc::new(Spec::iso87_ascii());
    let params = possim::link::LinkParams {
        latency: Duration::from_millis(7),
        ..possim::link::LinkParams::default()
    };
    let link = possim::link::LinkCore::new("uplink#3", 1, params.clone(), vec![], spec);
    assert_eq!(link.id(), "uplink#3");
    assert_eq!(link.params().latency, params.latency);
    assert!(link.rules().is_empty());
}

#[test]
fn each_direction_of_a_link_keeps_its_own_order_and_queue() {
    use possim::link::{Dir, LinkCore, LinkParams, Meta};
    let spec = Arc::new(Spec::iso87_ascii());
    // 1,000 bytes a second: a 946-byte frame (with 54 bytes of overhead) takes a second to send.
    let params = LinkParams {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        bandwidth: Some(1000),
        queue: 2000,
        ..LinkParams::default()
    };
    let mut link = LinkCore::new("l", 1, params, vec![], spec);
    let meta = |dir| Meta { dir, mti: None, terminal: None };
    let frame = vec![0u8; 946];
    let up1 = link.send(SimTime(0), meta(Dir::Up), frame.clone());
    let up2 = link.send(SimTime(0), meta(Dir::Up), frame.clone());
    let down = link.send(SimTime(0), meta(Dir::Down), frame.clone());
    assert_eq!(up1.deliveries[0].at, SimTime(1_000_000));
    assert_eq!(up2.queued, Duration::from_secs(1), "behind the first, in its direction");
    assert_eq!(up2.deliveries[0].at, SimTime(2_000_000));
    assert_eq!(down.queued, Duration::ZERO, "the other direction has its own line");
    assert_eq!(down.deliveries[0].at, SimTime(1_000_000));
    // A third frame would need 3,000 bytes of queue: dropped at the tail.
    let up3 = link.send(SimTime(0), meta(Dir::Up), frame.clone());
    assert!(up3.dropped(), "{up3:?}");
    // Exactly at the queue's size still fits (1,000 waiting + 1,000 = 2,000).
    let mut link = LinkCore::new(
        "m",
        1,
        LinkParams { queue: 2000, ..link.params().clone() },
        vec![],
        Arc::new(Spec::iso87_ascii()),
    );
    link.send(SimTime(0), meta(Dir::Up), frame.clone());
    assert!(!link.send(SimTime(0), meta(Dir::Up), vec![0u8; 1000]).dropped());
}

#[test]
fn issue_8_a_terminal_whose_batch_totals_cannot_hold_a_sale_declines_it_offline() {
    // See: issue 8, 4f: totals used to saturate, so settlement compared wrong figures.
    let mut shop = with_floor_limit(shop(chip(Cvm::OnlinePin), "7070"), "92233720368547758.07");
    let track = shop.card.data.track2_equivalent().to_field35();
    let mut clone = Card::chip_clone(&track, key("tak")).unwrap();
    let half = "46116860184273879.04";
    let done = pay_with_yes_card(&mut shop, &mut clone, half);
    assert_eq!(done[0].outcome, Outcome::ApprovedOffline, "{done:?}");
    let counted = shop.term.totals();
    assert_eq!((counted.purchases, counted.purchase_amount), (1, Money::parse(half).unwrap()));
    // One cent more than an i64 of minor units holds: refused, totals untouched.
    let done = pay_with_yes_card(&mut shop, &mut clone, half);
    assert_eq!(done[0].outcome, Outcome::DeclinedOffline, "{done:?}");
    assert!(done[0].reason.contains("batch totals are full"), "{}", done[0].reason);
    assert_eq!((done[0].stan, done[0].rrn.as_deref()), (None, None), "nothing went online");
    assert_eq!(shop.term.totals(), counted);
}
