//! The host's named checks, each at its edges: what it refuses, what it lets
//! through, and the moment or amount where one turns into the other. The
//! requests are real ones from the terminal core, changed where a test says
//! so and MACed again, judged by a fresh host unless the test says otherwise.

use possim::card::{CardProfile, Cvm, MASTERCARD_AID};
use possim::host::{CardRecord, Check, LedgerEffect, Rules, TerminalRecord, Verdict};
use possim::money::Money;
use possim::protocol::iso8583::{Message, Spec};
use possim::protocol::response::ResponseCode as Rc;
use possim::protocol::tlv;
use possim::terminal::Presentation;
use possim::time::{Duration, SimTime};

use crate::cores::{
    Shop, chip, icc_of, key, magstripe_only, remac, shop, shop_with, shop_with_rules,
};

const PAN: &str = "4073662585178123";

/// The first request a fresh shop's terminal sends for this purchase.
fn request(
    profile: CardProfile,
    presentation: Presentation,
    amount: &str,
    pins: &[&str],
) -> Vec<u8> {
    let mut s = shop(profile, "7070");
    s.buy(amount, presentation, pins);
    s.sent[0].clone()
}

/// A swiped magstripe purchase of 10.00 with its online PIN.
fn swipe() -> Vec<u8> {
    request(magstripe_only(), Presentation::Swipe, "10.00", &["7070"])
}

/// A chip and online PIN purchase of 10.00.
fn insert() -> Vec<u8> {
    request(chip(Cvm::OnlinePin), Presentation::Insert, "10.00", &["7070"])
}

/// What `s`'s host decides on `wire` at `at`: the code, the reason, the checks.
fn judge(s: &mut Shop, at: SimTime, wire: &[u8]) -> (Option<Rc>, String, possim::host::Checks) {
    let r = s.host.handle(at, wire);
    (r.decision.response, r.decision.reason.to_string(), r.decision.checks)
}

/// What a fresh host with the chip card answers to `wire`.
fn fresh(wire: &[u8]) -> (Option<Rc>, String, possim::host::Checks) {
    judge(&mut shop(chip(Cvm::OnlinePin), "7070"), at(0), wire)
}

/// The answer `s`'s host sends to `wire` at `at`, decoded.
fn answer(s: &mut Shop, at: SimTime, wire: &[u8]) -> Message {
    let r = s.host.handle(at, wire);
    Spec::iso87_ascii().decode(r.response.as_deref().expect("an answer")).unwrap()
}

fn at(secs: u64) -> SimTime {
    SimTime(0) + Duration::from_secs(secs)
}

/// `wire` under a new STAN and RRN: a new transmission to the host.
fn restamp(wire: &[u8], stan: u32) -> Vec<u8> {
    remac(wire, |m| {
        m.set_stan(stan).set(37, format!("{:012}", 600_000_000 + stan));
    })
}

/// `wire` turned into a refund of the same amount, under a new STAN.
fn as_refund(wire: &[u8], stan: u32) -> Vec<u8> {
    remac(&restamp(wire, stan), |m| {
        m.set(3, "200000");
    })
}

/// `wire` with field 55's `tag` set to `value`.
fn with_tag(wire: &[u8], tag: u32, value: &[u8]) -> Vec<u8> {
    let mut tags = icc_of(wire);
    match tags.iter_mut().find(|(t, _)| *t == tag) {
        Some((_, v)) => *v = value.to_vec(),
        None => tags.push((tag, value.to_vec())),
    }
    let mut f55 = Vec::new();
    for (t, v) in &tags {
        tlv::write(&mut f55, *t, v);
    }
    remac(wire, |m| {
        m.set(55, &f55);
    })
}

fn tag(wire: &[u8], tag: u32) -> Vec<u8> {
    icc_of(wire).into_iter().find(|(t, _)| *t == tag).map(|(_, v)| v).expect("tag in field 55")
}

/// The card on file again, expiring at `yymm`.
fn expiring(s: &mut Shop, yymm: &str) {
    let rec = *s.host.card(PAN).unwrap();
    let again = CardRecord::new(
        rec.psn(),
        yymm,
        rec.service_code(),
        rec.pvki(),
        rec.pvv(),
        rec.account as usize,
    );
    s.host.add_card(PAN, again);
}

#[test]
fn the_issuer_is_unreachable_from_the_start_of_its_outage_until_just_before_its_end() {
    let wire = swipe();
    let mut s = shop_with(magstripe_only(), "7070", 0x10, vec![(at(100), at(200))]);
    let down = Some(Rc::IssuerUnavailable);
    let cases = [(0, Some(Rc::Approved)), (99, Some(Rc::Approved)), (100, down), (199, down)];
    for (i, (t, want)) in cases.into_iter().chain([(200, Some(Rc::Approved))]).enumerate() {
        let (rc, why, _) = judge(&mut s, at(t), &restamp(&wire, 300 + i as u32));
        assert_eq!(rc, want, "at {t} s: {why}");
    }
}

#[test]
fn the_single_transaction_limit_allows_its_own_amount_and_refuses_a_cent_more() {
    let rules = Rules { max_amount: Money::parse("10.00").unwrap(), ..Rules::default() };
    let mut s = shop_with_rules(magstripe_only(), "7070", 0x10, vec![], rules);
    assert_eq!(s.buy("10.00", Presentation::Swipe, &["7070"]).response, Some(Rc::Approved));
    assert_eq!(s.buy("10.01", Presentation::Swipe, &["7070"]).response, Some(Rc::InvalidAmount));
}

#[test]
fn expiry_is_read_from_track_2_and_a_card_is_good_through_its_expiry_month() {
    // The shop's calendar starts on 2026-11-24.
    let wire = swipe();
    let track = Spec::iso87_ascii().decode(&wire).unwrap().get_str(35).unwrap().to_string();
    let sep = track.find(['=', 'D']).unwrap();
    assert_eq!(&track[sep + 1..sep + 5], "3306");
    // Track 2 says January 2024: refused 54 on the card's word, though the
    // record on file still says 3306.
    let old = format!("{}2401{}", &track[..=sep], &track[sep + 5..]);
    let mut s = shop(magstripe_only(), "7070");
    let (rc, why, _) = judge(
        &mut s,
        at(0),
        &remac(&wire, |m| {
            m.set(35, &old);
        }),
    );
    assert_eq!((rc, why.as_str()), (Some(Rc::ExpiredCard), "card expired"));
    // Keyed in, the record decides: good through November 2026, not after.
    let keyed = |stan: u32| {
        remac(&restamp(&wire, stan), |m| {
            m.remove(35).set(2, PAN).set(22, "012");
        })
    };
    expiring(&mut s, "2611");
    assert_eq!(judge(&mut s, at(0), &keyed(1)).0, Some(Rc::Approved));
    expiring(&mut s, "2610");
    assert_eq!(judge(&mut s, at(0), &keyed(2)).0, Some(Rc::ExpiredCard));
}

#[test]
fn a_chip_read_carries_the_icvv_and_is_approved_on_it_while_a_stripe_carrying_it_is_a_copy() {
    let chip_wire = insert();
    let (rc, why, checks) = fresh(&chip_wire);
    assert_eq!((rc, checks.cvv), (Some(Rc::Approved), Verdict::Valid), "{why}");
    // The chip's track 2 equivalent data on a swipe: a magstripe made from chip data.
    let t2 = Spec::iso87_ascii().decode(&chip_wire).unwrap().get_str(35).unwrap().to_string();
    let swiped = remac(&swipe(), |m| {
        m.set(35, &t2);
    });
    let mut s = shop(chip(Cvm::OnlinePin), "7070");
    s.host.set_check("fallback", false);
    let (rc, why, checks) = judge(&mut s, at(0), &swiped);
    assert_eq!((rc, checks.cvv), (Some(Rc::SecurityViolation), Verdict::Invalid));
    assert!(why.contains("iCVV"), "{why}");
}

#[test]
fn a_bad_cryptogram_in_a_purchase_is_refused_as_an_arqc_that_does_not_verify() {
    let wire = insert();
    let mut ac = tag(&wire, 0x9F26);
    ac[0] ^= 1;
    let (rc, why, checks) = fresh(&with_tag(&wire, 0x9F26, &ac));
    assert_eq!((rc, why.as_str()), (Some(Rc::SecurityViolation), "ARQC does not verify"));
    assert_eq!(checks.arqc, Verdict::Invalid);
}

#[test]
fn a_chip_request_naming_another_brands_application_is_refused_05() {
    let wire = insert();
    let (rc, _, checks) = fresh(&wire);
    assert_eq!((rc, checks.brand), (Some(Rc::Approved), Verdict::Valid));
    let (rc, why, checks) = fresh(&with_tag(&wire, 0x84, &MASTERCARD_AID));
    assert_eq!((rc, checks.brand), (Some(Rc::DoNotHonour), Verdict::Invalid), "{why}");
    assert!(why.contains("another brand"), "{why}");
}

/// A shop whose terminal counts its unpredictable numbers (1, 2, 3, ...).
fn counting_shop() -> Shop {
    let mut s = shop(chip(Cvm::OnlinePin), "7070");
    let mut cfg = s.term.config().clone();
    cfg.un = possim::terminal::UnpredictableNumber::Counter;
    s.term = possim::terminal::TerminalCore::new(cfg, possim::rng::Stream::derive(1, "TERM0001"));
    s
}

#[test]
fn unpredictable_numbers_that_count_up_twice_in_a_row_are_refused_59() {
    let mut s = counting_shop();
    assert_eq!(s.buy("1.00", Presentation::Insert, &["7070"]).response, Some(Rc::Approved));
    // One step up could be chance: approved.
    assert_eq!(s.buy("1.00", Presentation::Insert, &["7070"]).response, Some(Rc::Approved));
    let third = s.buy("1.00", Presentation::Insert, &["7070"]);
    assert_eq!(third.response, Some(Rc::SuspectedFraud), "{}", third.reason);
}

#[test]
fn a_switched_off_un_check_remembers_nothing_it_saw() {
    let mut s = counting_shop();
    s.host.set_check("un_freshness", false);
    for _ in 0..3 {
        assert_eq!(s.buy("1.00", Presentation::Insert, &["7070"]).response, Some(Rc::Approved));
    }
    // Switched on now, it has seen one number (4), not a run of them.
    s.host.set_check("un_freshness", true);
    let c = s.buy("1.00", Presentation::Insert, &["7070"]);
    assert_eq!(c.response, Some(Rc::Approved), "{}", c.reason);
}

#[test]
fn a_resent_request_under_its_own_stan_is_no_new_unpredictable_number() {
    let mut s = counting_shop();
    s.host.set_check("duplicates", false);
    s.host.set_check("atc", false);
    s.buy("1.00", Presentation::Insert, &["7070"]);
    s.buy("1.00", Presentation::Insert, &["7070"]);
    // The second request again (UN 2 after UN 2, same STAN): no count.
    let again = s.sent[s.sent.len() - 1].clone();
    let now = s.now;
    let (rc, why, _) = judge(&mut s, now, &again);
    assert_eq!(rc, Some(Rc::Approved), "{why}");
}

#[test]
fn a_terminal_claiming_the_card_verified_the_pin_when_the_card_says_otherwise_is_refused_05() {
    // An online-PIN card: its CVR says no offline PIN was performed.
    let wire = insert();
    let claims = [
        ([0x41, 0x00, 0x02], Some(Rc::DoNotHonour)), // plaintext PIN by the card, succeeded
        ([0x01, 0x00, 0x02], Some(Rc::DoNotHonour)),
        ([0x44, 0x00, 0x02], Some(Rc::DoNotHonour)), // enciphered PIN by the card
        ([0x41, 0x00, 0x01], Some(Rc::Approved)),    // ... said to have failed
        ([0x42, 0x00, 0x02], Some(Rc::Approved)),    // online PIN
        ([0x1E, 0x00, 0x02], Some(Rc::Approved)),    // signature
    ];
    for (cvm, want) in claims {
        let (rc, why, checks) = fresh(&with_tag(&wire, 0x9F34, &cvm));
        assert_eq!(rc, want, "9F34 {cvm:02X?}: {why}");
        if want == Some(Rc::DoNotHonour) {
            assert_eq!(checks.cvm, Verdict::Invalid);
            assert!(why.contains("(9F34)"), "{why}");
        }
    }
    // A card that did verify the PIN offline backs the same claim.
    let honest = request(chip(Cvm::OfflinePin), Presentation::Insert, "10.00", &["7070"]);
    assert_eq!(tag(&honest, 0x9F34)[2], 0x02);
    let (rc, why, checks) = judge(&mut shop(chip(Cvm::OfflinePin), "7070"), at(0), &honest);
    assert_eq!((rc, checks.cvm), (Some(Rc::Approved), Verdict::Valid), "{why}");
}

#[test]
fn without_a_verified_cryptogram_the_cvr_proves_nothing_and_the_cvm_check_stays_silent() {
    // ARQC switched off and the cryptogram broken: the CVR it would have
    // covered is just bytes, so a claim of offline PIN is not held against it.
    let wire = insert();
    let mut ac = tag(&wire, 0x9F26);
    ac[0] ^= 1;
    let forged = with_tag(&with_tag(&wire, 0x9F26, &ac), 0x9F34, &[0x41, 0x00, 0x02]);
    let mut s = shop(chip(Cvm::OnlinePin), "7070");
    s.host.set_check("arqc", false);
    let (rc, why, checks) = judge(&mut s, at(0), &forged);
    assert_eq!(
        (rc, checks.arqc, checks.cvm),
        (Some(Rc::Approved), Verdict::Invalid, Verdict::Skipped),
        "{why}"
    );
}

#[test]
fn consumer_device_verification_claimed_for_a_plastic_card_is_refused_05() {
    let wire = request(chip(Cvm::OnlinePin), Presentation::Tap, "10.00", &[]);
    assert_eq!(tag(&wire, 0x9F6E)[0] & 0x1F, 0, "a plastic card");
    let mut ctq = tag(&wire, 0x9F6C);
    ctq[1] |= 0x80;
    let claimed = with_tag(&wire, 0x9F6C, &ctq);
    let (rc, why, _) = fresh(&claimed);
    assert_eq!(rc, Some(Rc::DoNotHonour), "{why}");
    assert!(why.contains("plastic"), "{why}");
    // The same claim from a phone (form factor: mobile phone) stands.
    let mut form = tag(&wire, 0x9F6E);
    form[0] = (form[0] & 0xE0) | 0x01;
    let (rc, why, _) = fresh(&with_tag(&claimed, 0x9F6E, &form));
    assert_eq!(rc, Some(Rc::Approved), "{why}");
    assert_eq!(fresh(&wire).0, Some(Rc::Approved));
}

#[test]
fn velocity_counts_approved_purchases_in_the_window_and_never_refunds() {
    let mut rules = Rules { velocity: (2, Duration::from_secs(3600)), ..Rules::default() };
    rules.set(Check::Velocity, true);
    let mut s = shop_with_rules(magstripe_only(), "7070", 0x10, vec![], rules);
    let wire = swipe();
    let mut stan = 0;
    let mut at_ = |s: &mut Shop, t: u64, refund: bool| {
        stan += 1;
        let w = if refund { as_refund(&wire, stan) } else { restamp(&wire, stan) };
        judge(s, at(t), &w).0
    };
    assert_eq!(at_(&mut s, 0, false), Some(Rc::Approved));
    assert_eq!(at_(&mut s, 5, true), Some(Rc::Approved), "a refund is no use");
    assert_eq!(at_(&mut s, 10, false), Some(Rc::Approved));
    assert_eq!(at_(&mut s, 20, false), Some(Rc::ExceedsFrequency));
    assert_eq!(at_(&mut s, 30, true), Some(Rc::Approved), "refunds are never limited");
    // The first use still counts exactly an hour later, not a second after.
    assert_eq!(at_(&mut s, 3600, false), Some(Rc::ExceedsFrequency));
    assert_eq!(at_(&mut s, 3601, false), Some(Rc::Approved));
}

#[test]
fn funds_may_be_spent_to_the_last_cent_and_a_refund_needs_none() {
    let mut s = shop(magstripe_only(), "7070");
    let wire = swipe();
    let all = remac(&wire, |m| {
        m.set(4, "000000100000");
    });
    assert_eq!(judge(&mut s, at(0), &all).0, Some(Rc::Approved));
    assert_eq!(s.available(), Money::ZERO);
    assert_eq!(judge(&mut s, at(1), &restamp(&wire, 2)).0, Some(Rc::InsufficientFunds));
    let big = remac(&as_refund(&wire, 3), |m| {
        m.set(4, "000000150000");
    });
    let r = s.host.handle(at(2), &big);
    assert_eq!(
        (r.decision.response, r.decision.ledger),
        (Some(Rc::Approved), LedgerEffect::Credit)
    );
    assert_eq!(s.available(), Money::parse("1500.00").unwrap());
    assert_eq!(
        s.host.ledger().double_entry(),
        (Money::parse("-500.00").unwrap(), Money::parse("-500.00").unwrap())
    );
}

/// `s` with its card moved to a new account opened with `balance`; returns the account.
fn rich(s: &mut Shop, balance: Money) -> usize {
    let mut rec = *s.host.card(PAN).unwrap();
    let account = s.host.open_account(balance);
    rec.account = account as u32;
    s.host.add_card(PAN, rec);
    account
}

/// The host's books: double entry, the terminal's totals, postings made.
fn books(s: &Shop) -> ((Money, Money), possim::money::Totals, u64) {
    let l = s.host.ledger();
    (l.double_entry(), l.terminal_totals(0), l.postings())
}

#[test]
fn issue_8_a_refund_that_would_overflow_the_account_is_declined_96_and_changes_nothing() {
    // See: issue 8, 4f: money used to saturate, so the balance came out wrong.
    let mut s = shop(magstripe_only(), "7070");
    let full = Money(i64::MAX - 999);
    let account = rich(&mut s, full);
    let before = books(&s);
    let r = s.host.handle(at(0), &as_refund(&swipe(), 2));
    assert_eq!(
        (r.decision.response, r.decision.ledger),
        (Some(Rc::SystemMalfunction), LedgerEffect::None),
        "{}",
        r.decision.reason
    );
    assert!(r.decision.reason.contains("range money is kept in"), "{}", r.decision.reason);
    assert_eq!((s.host.ledger().available(account), books(&s)), (full, before));
    // A purchase still goes through, and the books balance to the cent.
    assert_eq!(judge(&mut s, at(1), &restamp(&swipe(), 3)).0, Some(Rc::Approved));
    assert_eq!(s.host.ledger().available(account), Money(i64::MAX - 1999));
    assert_eq!(s.host.ledger().double_entry(), (Money(1000), Money(1000)));
}

#[test]
fn issue_8_a_reversal_that_would_overflow_the_account_is_refused_and_honoured_when_retried() {
    // See: issue 8, 4f.
    let mut s = shop(magstripe_only(), "7070");
    let account = rich(&mut s, Money(i64::MAX - 500));
    let bought = restamp(&swipe(), 2);
    assert_eq!(judge(&mut s, at(0), &bought).0, Some(Rc::Approved));
    assert_eq!(judge(&mut s, at(1), &as_refund(&swipe(), 3)).0, Some(Rc::Approved));
    // Releasing the 10.00 now would take the account past the largest amount.
    let f7 = Spec::iso87_ascii().decode(&bought).unwrap().get_str(7).unwrap().to_string();
    let reversal = crate::cores::reversal_of(&bought, &f7);
    let before = books(&s);
    let (rc, why, _) = judge(&mut s, at(2), &reversal);
    assert_eq!(rc, Some(Rc::SystemMalfunction), "{why}");
    assert_eq!((s.host.ledger().available(account), books(&s)), (Money(i64::MAX - 500), before));
    // Once a purchase makes room, the same reversal releases it, once.
    assert_eq!(judge(&mut s, at(3), &restamp(&swipe(), 4)).0, Some(Rc::Approved));
    let r = s.host.handle(at(4), &reversal);
    assert_eq!(
        (r.decision.response, r.decision.ledger),
        (Some(Rc::Approved), LedgerEffect::Release)
    );
    assert_eq!(s.host.ledger().available(account), Money(i64::MAX - 500));
    let (out, owed) = s.host.ledger().double_entry();
    assert_eq!((out, owed), (Money(0), Money(0)), "one purchase left, one refund");
}

#[test]
fn issue_8_a_chip_posting_the_ledger_cannot_take_is_refused_96_and_an_advice_gets_no_arpc() {
    // See: issue 8, 4f. Funds are not checked, so only the range stops it.
    let overdrawn = |mti| {
        let mut rules = Rules::default();
        rules.set(Check::Funds, false);
        let mut s = shop_with_rules(chip(Cvm::OnlinePin), "7070", 0x10, vec![], rules);
        let account = rich(&mut s, Money(i64::MIN + 999));
        let wire = remac(&insert(), |m| m.set_mti(mti));
        let r = s.host.handle(at(0), &wire);
        let answer = Spec::iso87_ascii().decode(r.response.as_deref().unwrap()).unwrap();
        assert_eq!(s.host.ledger().available(account), Money(i64::MIN + 999));
        assert_eq!(s.host.ledger().double_entry(), (Money::ZERO, Money::ZERO));
        (r.decision.response, answer.get(55).is_some())
    };
    // The card is told the issuer's answer; an advice's card is long gone.
    assert_eq!(
        overdrawn(possim::protocol::iso8583::Mti::REQUEST),
        (Some(Rc::SystemMalfunction), true)
    );
    assert_eq!(
        overdrawn(possim::protocol::iso8583::Mti::ADVICE),
        (Some(Rc::SystemMalfunction), false)
    );
}

#[test]
fn each_approval_carries_the_next_approval_code() {
    let mut s = shop(magstripe_only(), "7070");
    let wire = swipe();
    let codes: Vec<String> = (1..=3)
        .map(|i| answer(&mut s, at(i), &restamp(&wire, i as u32)).get_str(38).unwrap().to_string())
        .collect();
    assert_eq!(codes, ["000001", "000002", "000003"]);
}

#[test]
fn a_refund_is_matched_against_sales_at_the_same_merchant_whichever_of_its_terminals() {
    let mut s = shop(magstripe_only(), "7070");
    s.host.set_check("refund_sale", true);
    for (tid, mid) in [("TERM0002", "SHOP00000000002"), ("TERM0003", "SHOP00000000001")] {
        let rec = TerminalRecord {
            tak: key("tak"),
            tpk: key("tpk"),
            mid: mid.into(),
            serial: "1234567890".into(),
        };
        s.host.add_terminal(tid, rec);
    }
    let from = |wire: &[u8], tid: &str, mid: &str| {
        remac(wire, |m| {
            m.set(41, tid).set(42, mid);
        })
    };
    let wire = swipe();
    assert_eq!(judge(&mut s, at(0), &wire).0, Some(Rc::Approved));
    let other = from(&as_refund(&wire, 2), "TERM0002", "SHOP00000000002");
    let (rc, why, checks) = judge(&mut s, at(1), &other);
    assert_eq!((rc, checks.sale), (Some(Rc::InvalidTransaction), Verdict::Invalid), "{why}");
    let same = from(&as_refund(&wire, 3), "TERM0003", "SHOP00000000001");
    let (rc, why, checks) = judge(&mut s, at(2), &same);
    assert_eq!((rc, checks.sale), (Some(Rc::Approved), Verdict::Valid), "{why}");
}
