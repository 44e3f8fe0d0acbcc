//! The terminal core at its edges: how long it remembers a decline (so a
//! late approval can be undone), what a policy that never reverses does
//! with one, how often a stored reversal is announced, which stored item an
//! advice answer settles, what the card is told when the host never
//! answers, how a stale timer leaves the sign-on schedule alone, and how it
//! reads a card: the TTQ a tap sends, the interface it uses, the AFL and its
//! bounds, the CVM list rule by rule, the relay bound, and card taps that
//! change nothing.

use possim::card::{Cvm, Interface};
use possim::money::Money;
use possim::protocol::iso8583::{Mti, Spec};
use possim::rng::Stream;
use possim::terminal::{
    CardChannel, Entry, Note, Outcome, Output, Presentation, Purchase, Purpose, TerminalConfig,
    TerminalCore, TimeoutPolicy,
};
use possim::time::{Duration, SimTime};

use crate::cores::{Shop, Slot, answer_as as answer, chip, magstripe_only, shop};

const SEC: u64 = 1_000_000;
const DAY: u64 = 24 * 3_600 * SEC;

/// Gives `bytes` to the terminal at `at` and drives what follows.
fn deliver(shop: &mut Shop, at: SimTime, bytes: &[u8]) -> Vec<Output> {
    shop.now = at;
    let mut outs = vec![];
    shop.term.receive(at, bytes, &mut Slot(&mut shop.card), &mut outs);
    let seen = outs.clone();
    shop.drive(outs, &mut vec![]);
    seen
}

/// Starts purchase `id` (`amount`, chip and PIN) at `at`; the host gets
/// it but its answer is lost. Returns the request.
fn unanswered(shop: &mut Shop, id: u64, amount: &str, at: SimTime) -> Vec<u8> {
    shop.now = at;
    shop.drop_responses = true;
    let p = purchase(id, amount, Presentation::Insert);
    let mut outs = vec![];
    shop.term.start(at, p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    shop.drop_responses = false;
    shop.sent.last().unwrap().clone()
}

/// Purchase `id` of 50.00, started at `start`: the host posts it, its
/// answer is lost, and at `answered` the terminal gets a 91 for it and
/// declines. Returns the request the host posted.
fn declined(shop: &mut Shop, id: u64, start: SimTime, answered: SimTime) -> Vec<u8> {
    let request = unanswered(shop, id, "50.00", start);
    assert!(shop.now <= answered);
    deliver(shop, answered, &answer(&request, Mti::RESPONSE, "91"));
    request
}

fn late_approval_reversed(outs: &[Output], id: u64) -> bool {
    outs.iter().any(|o| matches!(o, Output::Note(Note::LateApprovalReversed { purchase, .. }) if *purchase == id))
}

#[test]
fn a_decline_is_remembered_for_a_full_day_so_its_late_approval_is_still_reversed() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let first = declined(&mut shop, 9, SimTime(0), SimTime(SEC * 10));
    // The next decline, exactly a day on, makes the terminal tidy its memory.
    declined(&mut shop, 10, SimTime(DAY), SimTime(DAY + SEC * 10));
    let now = shop.now;
    let outs = deliver(&mut shop, now, &answer(&first, Mti::RESPONSE, "00"));
    assert!(late_approval_reversed(&outs, 9), "{outs:?}");
    assert!(
        outs.iter().any(
            |o| matches!(o, Output::Send(f) if f.mti == Mti::REVERSAL && f.purchase == Some(9))
        ),
        "a 0400 for #9: {outs:?}"
    );
}

#[test]
fn a_decline_older_than_a_day_is_forgotten() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let first = declined(&mut shop, 9, SimTime(0), SimTime(SEC * 10));
    declined(&mut shop, 10, SimTime(DAY), SimTime(DAY + SEC * 10 + 1));
    let now = shop.now;
    let outs = deliver(&mut shop, now, &answer(&first, Mti::RESPONSE, "00"));
    assert!(!late_approval_reversed(&outs, 9), "{outs:?}");
    assert!(
        outs.iter().any(|o| matches!(o, Output::Note(Note::ResponseIgnored { .. }))),
        "{outs:?}"
    );
}

#[test]
fn under_a_policy_that_never_reverses_a_late_approval_is_not_reversed_either() {
    // The firmware bug the catalogue shows: the customer leaves declined,
    // the host keeps the money.
    let mut shop =
        configured(shop(chip(Cvm::OnlinePin), "7070"), |c| c.on_timeout = TimeoutPolicy::Nothing);
    let first = declined(&mut shop, 9, SimTime(0), SimTime(SEC * 10));
    let now = shop.now;
    let outs = deliver(&mut shop, now, &answer(&first, Mti::RESPONSE, "00"));
    assert!(!late_approval_reversed(&outs, 9), "{outs:?}");
    assert_eq!(shop.term.pending_reversals(), 0);
    assert_eq!(shop.available(), Money::parse("950.00").unwrap(), "the money the bug loses");
}

#[test]
fn a_stored_reversal_is_announced_once_however_often_it_is_retried() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    unanswered(&mut shop, 1, "5.00", SimTime(0));
    shop.drop_responses = true;
    let mut rounds = 0;
    while !shop.timers.is_empty() && rounds < 50 {
        shop.fire_timers();
        rounds += 1;
    }
    let count = |f: fn(&Note) -> bool| shop.notes.iter().filter(|n| f(n)).count();
    assert_eq!(count(|n| matches!(n, Note::ReversalStored { .. })), 1, "{:?}", shop.notes);
    assert_eq!(count(|n| matches!(n, Note::ReversalAbandoned { .. })), 1, "{:?}", shop.notes);
    let reversals = shop
        .sent
        .iter()
        .filter(|b| Spec::iso87_ascii().decode(b).unwrap().mti() == Mti::REVERSAL)
        .count();
    assert_eq!(reversals, 10, "reversal_max_attempts sends, then given up");
}

#[test]
fn an_advice_answer_settles_no_reversal_even_with_the_same_stan() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    unanswered(&mut shop, 1, "5.00", SimTime(0));
    shop.drop_responses = true;
    shop.fire_timers();
    assert_eq!(shop.term.pending_reversals(), 1);
    let reversal = shop.sent.last().unwrap().clone();
    assert_eq!(Spec::iso87_ascii().decode(&reversal).unwrap().mti(), Mti::REVERSAL);
    shop.drop_responses = false;
    let at = shop.now;
    deliver(&mut shop, at, &answer(&reversal, Mti::ADVICE_RESPONSE, "00"));
    assert_eq!(shop.term.pending_reversals(), 1, "a 0230 is no answer to a 0400");
}

/// A card slot that records every command APDU, every interface powered
/// and every swipe, each of which takes a millisecond of virtual time.
struct Probe<'a> {
    slot: Slot<'a>,
    commands: Vec<Vec<u8>>,
    powered: Vec<Interface>,
    swipes: u32,
}

impl<'a> Probe<'a> {
    fn new(slot: Slot<'a>) -> Self {
        Self { slot, commands: vec![], powered: vec![], swipes: 0 }
    }
}

impl CardChannel for Probe<'_> {
    fn power_on(&mut self, i: Interface) -> Vec<u8> {
        self.powered.push(i);
        self.slot.power_on(i)
    }
    fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
        self.commands.push(c.to_vec());
        self.slot.transmit(c)
    }
    fn swipe(&mut self) -> Option<String> {
        self.swipes += 1;
        self.slot.swipe()
    }
    fn elapsed(&self) -> Duration {
        Duration::from_millis(
            (self.commands.len() + self.powered.len()) as u64 + u64::from(self.swipes),
        )
    }
}

/// A purchase for `amount`, paid as `presentation`.
fn purchase(id: u64, amount: &str, presentation: Presentation) -> Purchase {
    Purchase { id, amount: Money::parse(amount).unwrap(), refund: false, presentation }
}

/// The shop with its terminal built again from a changed configuration.
fn configured(mut shop: Shop, change: impl FnOnce(&mut TerminalConfig)) -> Shop {
    let mut cfg = shop.term.config().clone();
    change(&mut cfg);
    shop.term = TerminalCore::new(cfg, Stream::derive(1, "TERM0001"));
    shop
}

/// The commands the card gets when the response timer of a purchase paid
/// with `presentation` fires with no answer from the host.
fn commands_on_timeout(mut shop: Shop, presentation: Presentation) -> Vec<Vec<u8>> {
    shop.drop_responses = true;
    let p = purchase(3, "5.00", presentation);
    let mut outs = vec![];
    shop.term.start(SimTime(0), p, &mut Slot(&mut shop.card), &mut outs);
    shop.drive(outs, &mut vec!["7070"]);
    let (token, at) = shop.timers.remove(0);
    let mut rec = Probe::new(Slot(&mut shop.card));
    let mut outs = vec![];
    shop.term.timer(at, token, &mut rec, &mut outs);
    assert!(
        outs.iter().any(|o| matches!(o, Output::Completed(c) if c.outcome == Outcome::Timeout)),
        "{outs:?}"
    );
    rec.commands
}

#[test]
fn when_the_host_never_answers_the_chip_is_told_so_and_declines() {
    let commands = commands_on_timeout(shop(chip(Cvm::OnlinePin), "7070"), Presentation::Insert);
    assert_eq!(commands.len(), 1, "{commands:02X?}");
    let c = &commands[0];
    assert_eq!((c[1], c[2]), (0xAE, 0x00), "GENERATE AC asking for an AAC: {c:02X?}");
    assert!(c.windows(2).any(|w| w == b"Z3"), "ARC Z3, unable to go online: {c:02X?}");
}

#[test]
fn when_the_host_never_answers_a_swiped_card_is_left_alone() {
    let commands = commands_on_timeout(shop(magstripe_only(), "7070"), Presentation::Swipe);
    assert!(commands.is_empty(), "{commands:02X?}");
}

#[test]
fn a_stale_timer_does_not_hurry_the_next_sign_on() {
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    // A purchase done: its response timer is still set, and now stale.
    assert_eq!(shop.buy("5.00", Presentation::Insert, &["7070"]).outcome, Outcome::Approved);
    // The terminal signs on again and the host is unreachable.
    shop.drop_responses = true;
    let mut outs = vec![];
    shop.term.sign_on(shop.now, &mut outs);
    let sign_on_timeout = shop.now + shop.term.config().response_timeout;
    shop.drive(outs, &mut vec![]);
    let sign_ons = |shop: &Shop| {
        shop.sent
            .iter()
            .filter(|b| Spec::iso87_ascii().decode(b).unwrap().mti() == Mti::NETWORK)
            .count()
    };
    // The stale timer, then the sign-on's own timeout: the terminal waits
    // `reversal_retry` before it tries again.
    shop.fire_timers();
    assert_eq!(sign_ons(&shop), 1);
    assert_eq!(shop.timers.len(), 1, "{:?}", shop.timers);
    let retry = shop.term.config().reversal_retry;
    assert_eq!(shop.timers[0].1, sign_on_timeout + retry);
    shop.fire_timers();
    assert_eq!(sign_ons(&shop), 2);
    assert!(!shop.term.signed_on());
}

#[test]
fn a_tap_tells_the_card_what_the_reader_can_do() {
    // TTQ 36 00 40 00: qVSDC and contact chip supported, online PIN and
    // signature supported, consumer device CVM supported. A real card reads
    // it to choose its path and its CVM; zeros would say none of this.
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let p = purchase(4, "5.00", Presentation::Tap);
    let mut rec = Probe::new(Slot(&mut shop.card));
    let mut outs = vec![];
    shop.term.start(SimTime(0), p, &mut rec, &mut outs);
    let gpo = rec.commands.iter().find(|c| c[1] == 0xA8).expect("a GET PROCESSING OPTIONS");
    // CLA INS P1 P2 Lc, then the command template 83 with the PDOL data.
    assert_eq!(gpo[5], 0x83, "{gpo:02X?}");
    assert_eq!(&gpo[7..11], &[0x36, 0x00, 0x40, 0x00], "{gpo:02X?}");
}

#[test]
fn a_terminal_without_contactless_reads_a_tapped_card_by_contact() {
    let mut shop = configured(shop(chip(Cvm::OnlinePin), "7070"), |c| c.contactless = false);
    let p = purchase(4, "5.00", Presentation::Tap);
    let mut rec = Probe::new(Slot(&mut shop.card));
    let mut outs = vec![];
    shop.term.start(SimTime(0), p, &mut rec, &mut outs);
    assert_eq!(rec.powered, [Interface::Contact], "no field raised");
    let done = shop.drive(outs, &mut vec!["7070"]);
    assert_eq!((done[0].outcome, done[0].entry), (Outcome::Approved, Some(Entry::Chip)));
}

#[test]
fn a_retried_reversal_goes_out_labelled_as_a_0400() {
    // Links filter faults by the label (a rule on 0400s must see the retries).
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    unanswered(&mut shop, 1, "5.00", SimTime(0));
    shop.drop_responses = true;
    shop.fire_timers();
    let (token, at) = shop.timers.remove(0);
    let mut outs = vec![];
    shop.term.timer(at, token, &mut Slot(&mut shop.card), &mut outs);
    let sends: Vec<_> = outs
        .iter()
        .filter_map(|o| if let Output::Send(f) = o { Some((f.mti, f.purpose)) } else { None })
        .collect();
    assert_eq!(sends, [(Mti::REVERSAL, Purpose::Reversal)], "{outs:?}");
}

#[test]
fn a_terminal_started_afresh_continues_the_stans_it_is_told_of() {
    let stan_of_next = |last: u32| {
        let mut shop = shop(chip(Cvm::OnlinePin), "7070");
        shop.term.continue_stans_after(last);
        assert_eq!(shop.buy("5.00", Presentation::Insert, &["7070"]).outcome, Outcome::Approved);
        Spec::iso87_ascii().decode(&shop.sent[0]).unwrap().stan()
    };
    assert_eq!(stan_of_next(41), Some(42));
    assert_eq!(stan_of_next(999_999), Some(1), "STANs run 000001 to 999999");
}

/// A chip purchase of 5.00 whose card answers GET PROCESSING OPTIONS in
/// format 1 with its own AIP and this AFL (and has empty records past its
/// own two); the completion and the notes.
fn paid_with_afl(afl: &[u8]) -> (possim::terminal::Completion, Vec<Note>) {
    struct Afl<'a>(Slot<'a>, Vec<u8>);
    impl CardChannel for Afl<'_> {
        fn power_on(&mut self, i: Interface) -> Vec<u8> {
            self.0.power_on(i)
        }
        fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
            // Records past the card's own two are empty templates.
            if c.get(1) == Some(&0xB2) && c.get(2).is_some_and(|&rec| rec > 2) {
                return vec![0x70, 0x00, 0x90, 0x00];
            }
            let r = self.0.transmit(c);
            if c.get(1) != Some(&0xA8) {
                return r;
            }
            let aip = possim::protocol::tlv::find_deep(&r[..r.len() - 2], 0x82).unwrap().to_vec();
            let body = [aip, self.1.clone()].concat();
            [vec![0x80, body.len() as u8], body, vec![0x90, 0x00]].concat()
        }
        fn swipe(&mut self) -> Option<String> {
            self.0.swipe()
        }
    }
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let p = purchase(6, "5.00", Presentation::Insert);
    let mut outs = vec![];
    shop.term.start(SimTime(0), p, &mut Afl(Slot(&mut shop.card), afl.to_vec()), &mut outs);
    let mut done = shop.drive(outs, &mut vec!["7070"]);
    assert_eq!(done.len(), 1, "{done:?}");
    (done.remove(0), shop.notes)
}

#[test]
fn a_card_whose_afl_names_one_record_per_entry_is_read_by_chip() {
    let (c, notes) = paid_with_afl(&[0x08, 0x01, 0x01, 0x00, 0x08, 0x02, 0x02, 0x00]);
    assert_eq!((c.outcome, c.entry), (Outcome::Approved, Some(Entry::Chip)), "{c:?} {notes:?}");
}

#[test]
fn a_malformed_afl_makes_the_terminal_give_up_the_chip_and_fall_back() {
    for afl in [
        &[0x08, 0x01, 0x02, 0x00, 0x00][..], // not whole entries
        &[0x08, 0x01, 0x02, 0x00, 0x08, 0x03, 0x02, 0x00], // last before first
        &[0x08, 0x00, 0x02, 0x00],           // record 0
        &[],                                 // nothing to read
    ] {
        let (c, notes) = paid_with_afl(afl);
        assert_eq!(c.entry, Some(Entry::Fallback), "{afl:02X?}: {c:?}");
        assert!(notes.iter().any(|n| matches!(n, Note::ChipFailed { .. })), "{afl:02X?}");
    }
}

#[test]
fn a_chip_card_swiped_on_a_chip_terminal_is_read_by_chip_and_an_inserted_one_is_never_swiped() {
    let entry_and_swipes = |presentation, chip_reader: bool| {
        let mut shop = configured(shop(chip(Cvm::OnlinePin), "7070"), |c| c.chip = chip_reader);
        let p = purchase(8, "5.00", presentation);
        let mut rec = Probe::new(Slot(&mut shop.card));
        let mut outs = vec![];
        shop.term.start(SimTime(0), p, &mut rec, &mut outs);
        let swipes = rec.swipes;
        let done = shop.drive(outs, &mut vec!["7070"]);
        (done[0].entry, swipes)
    };
    // Swiped: the stripe says chip, so the terminal asks for the chip.
    assert_eq!(entry_and_swipes(Presentation::Swipe, true), (Some(Entry::Chip), 1));
    // Inserted: the stripe is never read.
    assert_eq!(entry_and_swipes(Presentation::Insert, true), (Some(Entry::Chip), 0));
    // A terminal without a chip reader takes the stripe.
    assert_eq!(entry_and_swipes(Presentation::Swipe, false).0, Some(Entry::Magstripe));
}

#[test]
fn a_card_is_read_up_to_32_records_and_no_further() {
    // SFI 1, records 1 to 32: read. To 33: a card that never stops is cut off.
    let (c, notes) = paid_with_afl(&[0x08, 0x01, 32, 0x00]);
    assert_eq!((c.outcome, c.entry), (Outcome::Approved, Some(Entry::Chip)), "{c:?} {notes:?}");
    let (c, notes) = paid_with_afl(&[0x08, 0x01, 33, 0x00]);
    assert_eq!(c.entry, Some(Entry::Fallback), "{c:?}");
    assert!(notes.iter().any(|n| matches!(n, Note::ChipFailed { .. })));
}

#[test]
fn a_chip_request_carries_the_cards_sequence_number_whether_inserted_or_tapped() {
    for presentation in [Presentation::Insert, Presentation::Tap] {
        let mut shop = shop(chip(Cvm::OnlinePin), "7070");
        assert_eq!(shop.buy("5.00", presentation, &["7070"]).outcome, Outcome::Approved);
        let request = Spec::iso87_ascii().decode(&shop.sent[0]).unwrap();
        assert_eq!(request.get_str(23), Some("000"), "PAN sequence number 00 (5F34)");
    }
}

/// A tap that overrides nothing: every default passes through.
#[derive(Debug)]
struct Glass;

impl possim::terminal::CardTap for Glass {
    fn name(&self) -> &'static str {
        "glass"
    }
}

#[test]
fn a_tap_that_overrides_nothing_changes_nothing() {
    use possim::terminal::{CardTap, through_taps};
    for (profile, presentation, entry) in [
        (chip(Cvm::OnlinePin), Presentation::Insert, Entry::Chip),
        (chip(Cvm::OnlinePin), Presentation::Tap, Entry::Contactless),
        (magstripe_only(), Presentation::Swipe, Entry::Magstripe),
    ] {
        let mut shop = shop(profile, "7070");
        let p = purchase(2, "5.00", presentation);
        let mut taps: Vec<Box<dyn CardTap>> = vec![Box::new(Glass), Box::new(Glass)];
        let mut outs = vec![];
        let mut card = Probe::new(Slot(&mut shop.card));
        let elapsed = through_taps(&mut taps, &mut card, |c| {
            shop.term.start(SimTime(0), p, c, &mut outs);
            c.elapsed()
        });
        assert!(card.elapsed() > Duration::ZERO);
        assert_eq!(elapsed, card.elapsed(), "a tap adds no time");
        let done = shop.drive(outs, &mut vec!["7070"]);
        assert_eq!((done[0].outcome, done[0].entry), (Outcome::Approved, Some(entry)), "{done:?}");
        let glass = &mut taps[0];
        assert_eq!((glass.owner(), glass.take().len(), glass.added()), (None, 0, Duration::ZERO));
        assert!(glass.as_any_mut().is_none());
    }
}

/// The CVM the terminal chooses for a chip purchase of `amount` when the
/// card's CVM list (8E) is `list`: X and Y (4 bytes each), then the rules.
fn cvm_chosen(list: &[u8], amount: &str) -> Option<possim::terminal::CvmPerformed> {
    use possim::protocol::tlv;
    /// Gives the card's records with this CVM list in place of its own.
    struct CvmList<'a>(Slot<'a>, Vec<u8>);
    impl CardChannel for CvmList<'_> {
        fn power_on(&mut self, i: Interface) -> Vec<u8> {
            self.0.power_on(i)
        }
        fn transmit(&mut self, c: &[u8]) -> Vec<u8> {
            let r = self.0.transmit(c);
            let (data, sw) = r.split_at(r.len() - 2);
            let Some(record) = tlv::find(data, 0x70).filter(|_| c.get(1) == Some(&0xB2)) else {
                return r;
            };
            let mut body = Vec::new();
            for item in tlv::iter(record) {
                let (tag, v) = item.unwrap();
                tlv::write(&mut body, tag, if tag == 0x8E { &self.1 } else { v });
            }
            let mut out = Vec::new();
            tlv::write(&mut out, 0x70, &body);
            [out, sw.to_vec()].concat()
        }
        fn swipe(&mut self) -> Option<String> {
            self.0.swipe()
        }
    }
    let mut shop = shop(chip(Cvm::OnlinePin), "7070");
    let p = purchase(7, amount, Presentation::Insert);
    let mut outs = vec![];
    shop.term.start(SimTime(0), p, &mut CvmList(Slot(&mut shop.card), list.to_vec()), &mut outs);
    let done = shop.drive(outs, &mut vec!["7070"]);
    assert_eq!(done.len(), 1, "{done:?}");
    done[0].cvm
}

#[test]
fn the_terminal_takes_the_first_cvm_rule_whose_condition_holds() {
    use possim::terminal::CvmPerformed::{NoCvm, OnlinePin};
    // X = 10.00, Y = 50.00; one rule, "no CVM required" under a condition;
    // when it does not hold, the list is exhausted and online PIN is asked.
    let under = |condition: u8, amount: &str| {
        let list = [&[0, 0, 0x03, 0xE8, 0, 0, 0x13, 0x88][..], &[0x1F, condition]].concat();
        cvm_chosen(&list, amount)
    };
    // Always; not unattended cash, manual cash or cashback (a purchase is none).
    assert_eq!(under(0x00, "20.00"), Some(NoCvm));
    assert_eq!(under(0x02, "20.00"), Some(NoCvm));
    // Unattended cash, manual cash, cashback: never a purchase.
    for condition in [0x01, 0x04, 0x05] {
        assert_eq!(under(condition, "20.00"), Some(OnlinePin), "{condition:02X}");
    }
    // If the terminal supports the method.
    assert_eq!(under(0x03, "20.00"), Some(NoCvm));
    // Under X, over X, under Y, over Y: strictly, at the cent.
    assert_eq!(under(0x06, "9.99"), Some(NoCvm));
    assert_eq!(under(0x06, "10.00"), Some(OnlinePin));
    assert_eq!(under(0x06, "10.01"), Some(OnlinePin));
    assert_eq!(under(0x07, "10.00"), Some(OnlinePin));
    assert_eq!(under(0x07, "10.01"), Some(NoCvm));
    assert_eq!(under(0x07, "9.99"), Some(OnlinePin));
    assert_eq!(under(0x08, "49.99"), Some(NoCvm));
    assert_eq!(under(0x08, "50.00"), Some(OnlinePin));
    assert_eq!(under(0x08, "50.01"), Some(OnlinePin));
    assert_eq!(under(0x09, "50.00"), Some(OnlinePin));
    assert_eq!(under(0x09, "50.01"), Some(NoCvm));
    assert_eq!(under(0x09, "49.99"), Some(OnlinePin));
    // A condition code EMV reserves: never holds.
    assert_eq!(under(0x0A, "20.00"), Some(OnlinePin));
    // Rules are taken in order: the first that applies wins.
    let list = [&[0, 0, 0x03, 0xE8, 0, 0, 0x13, 0x88][..], &[0x02, 0x07, 0x1F, 0x00]].concat();
    assert_eq!(cvm_chosen(&list, "10.01"), Some(OnlinePin));
    assert_eq!(cvm_chosen(&list, "10.00"), Some(NoCvm));
}

#[test]
fn a_tap_slower_than_the_relay_bound_is_refused_and_one_within_it_is_not() {
    let tap = |bound: Option<Duration>| {
        let mut shop = configured(shop(chip(Cvm::OnlinePin), "7070"), |c| c.relay_bound = bound);
        let p = purchase(3, "5.00", Presentation::Tap);
        let mut card = Probe::new(Slot(&mut shop.card));
        let mut outs = vec![];
        shop.term.start(SimTime(0), p, &mut card, &mut outs);
        let took = card.elapsed();
        let done = shop.drive(outs, &mut vec!["7070"]);
        (done[0].clone(), took)
    };
    let (free, took) = tap(None);
    assert_eq!((free.outcome, free.entry), (Outcome::Approved, Some(Entry::Contactless)));
    assert!(took > Duration::ZERO);
    let (at_bound, _) = tap(Some(took));
    assert_eq!(at_bound.outcome, Outcome::Approved, "exactly the bound is within it");
    let (over, _) = tap(Some(Duration(took.micros() - 1)));
    assert_ne!(over.outcome, Outcome::Approved);
    assert!(over.reason.contains("relay"), "{over:?}");
}
