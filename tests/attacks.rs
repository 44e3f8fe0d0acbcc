//! The attack catalogue: each scenario reaches its designed outcome, and the
//! same run with its key defence switched off shows the damage the defence
//! prevented.

use crate::util::{lines_of, run_text, scenario};
use possim::money::Money;
use possim::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// The scenario with one issuer rule taken out of its `rules: [...]`.
fn without_rule(text: &str, rule: &str) -> String {
    let out = text.replacen(&format!("{rule}, "), "", 1).replacen(&format!(", {rule}"), "", 1);
    assert_ne!(out, text, "{rule} was not in the scenario's rules");
    out
}

fn attack<'a>(r: &'a possim::RunReport, name: &str) -> &'a possim::report::AttackRow {
    r.attacks.iter().find(|a| a.attack == name).unwrap_or_else(|| panic!("no attack {name}"))
}

#[test]
fn a_skimmer_copies_swiped_cards_and_only_the_chipless_copies_are_cashed_out() {
    let (r, journal) = run_text(&scenario("skimmer-magstripe.ron"), None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let skim = attack(&r, "skimmer");
    let cash = attack(&r, "cash_out");
    assert!(skim.fired > 0 && cash.fired == 20, "{:?}", r.attacks);
    // Copies of chip cards fall back to the stripe and are refused (05).
    assert!(cash.declined > 0, "{cash:?}");
    // Copies of magstripe-only cards go through: that is the loss.
    assert!(cash.approved > 0 && cash.loss == Money(18_000 * cash.approved as i64), "{cash:?}");
    assert_eq!(r.fraud_loss, cash.loss);
    // Every theft happened at the fitted terminal, inside the window.
    let stolen = lines_of(&journal, "stolen");
    assert!(!stolen.is_empty());
    for s in &stolen {
        assert_eq!(s["terminal"], "TERM0001", "{s}");
        let t = s["t_us"].as_u64().unwrap();
        assert!((3_600_000_000..5 * 3_600_000_000).contains(&t), "{s}");
        // Card data stays masked in the journal, and no PIN is written.
        assert!(s["pan"].as_str().unwrap().contains('*'), "{s}");
        assert!(s.get("pin").is_none(), "{s}");
    }
    assert!(stolen.iter().any(|s| s["what"] == "pin"), "the camera films PINs");
    // One swipe is one read of the stripe: the skimmer takes a card's track
    // once for each time it is swiped (a card session: the first try, or a
    // retry after a wrong PIN), however the terminal decides chip or stripe.
    let mut tracks = std::collections::BTreeMap::new();
    for s in stolen.iter().filter(|s| s["what"] == "track2") {
        *tracks.entry(s["purchase"].as_u64().unwrap()).or_insert(0) += 1;
    }
    // A chip that fails is swiped once more (fallback).
    let mut swipes = std::collections::BTreeMap::new();
    for s in lines_of(&journal, "card_session").into_iter().chain(
        lines_of(&journal, "terminal_note").into_iter().filter(|n| n["note"] == "chip_failed"),
    ) {
        *swipes.entry(s["purchase"].as_u64().unwrap()).or_insert(0) += 1;
    }
    assert!(!tracks.is_empty());
    for (p, n) in &tracks {
        assert!(*n <= swipes[p], "purchase {p}: {n} reads in {} swipes", swipes[p]);
    }
    // The cash-out purchases are made at the other terminal with fallback.
    for c in lines_of(&journal, "cash_out") {
        assert_eq!(c["terminal"], "TERM0002", "{c}");
    }
    // The loot in the report is masked.
    assert!(!r.loot.is_empty() && r.loot.iter().all(|l| l.pan.contains('*')));
}

#[test]
fn without_fallback_refusal_the_skimmed_chip_cards_cost_money_too() {
    let text = scenario("skimmer-magstripe.ron");
    let (on, _) = run_text(&text, None, MINUTE);
    let (off, _) = run_text(&without_rule(&text, "RefuseFallbackForChipCards"), None, MINUTE);
    let (a, b) = (attack(&on, "cash_out"), attack(&off, "cash_out"));
    assert!(b.approved > a.approved, "on {a:?}, off {b:?}");
    assert!(off.fraud_loss > on.fraud_loss, "{} vs {}", off.fraud_loss, on.fraud_loss);
    assert!(off.expectations.iter().any(|e| !e.passed), "the scenario says the defence mattered");
}

#[test]
fn a_shimmer_copies_chip_data_and_the_icvv_gives_every_copy_away() {
    let (r, journal) = run_text(&scenario("shimmer-chip.ron"), None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let cash = attack(&r, "cash_out");
    assert_eq!((cash.approved, cash.loss), (0, Money::ZERO), "{cash:?}");
    assert!(cash.declined > 0);
    // What the shim took is tag 57, and PINs only from offline-PIN cards.
    let stolen = lines_of(&journal, "stolen");
    assert!(stolen.iter().any(|s| s["what"] == "tag57"));
    assert!(stolen.iter().any(|s| s["what"] == "pin"), "plaintext offline PINs in VERIFY");
    assert!(stolen.iter().all(|s| s["what"] != "track2"));
    // The host says why: the CVV is the chip's iCVV.
    let refused =
        lines_of(&journal, "host_decision").into_iter().filter(|d| d["response"] == "63").count();
    assert!(refused as u64 >= cash.declined);
}

#[test]
fn without_the_cvv_check_the_shimmed_copies_are_cashed_out() {
    let text = scenario("shimmer-chip.ron");
    let (off, _) = run_text(&without_rule(&text, "VerifyCvv"), None, MINUTE);
    let cash = attack(&off, "cash_out");
    assert!(cash.approved > 0 && off.fraud_loss > Money::ZERO, "{cash:?}");
    assert!(!off.passed);
}

#[test]
fn a_pin_alone_buys_nothing_but_with_a_skimmer_it_does() {
    let text = scenario("pin-pad-overlay.ron");
    let (r, _) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let cash = attack(&r, "cash_out");
    assert_eq!(cash.came_to_nothing, cash.fired);
    assert!(r.loot.iter().all(|l| l.what == ["pin"]));
    // The same overlay with a skimmer beside it: the PINs unlock the copies.
    let both = text.replace(
        "PinPadOverlay(terminal: \"TERM0001\", from: \"1h\", until: \"5h\"),",
        "PinPadOverlay(terminal: \"TERM0001\", from: \"1h\", until: \"5h\"),\n        Skimmer(terminal: \"TERM0001\", from: \"1h\", until: \"5h\"),",
    );
    let both = both
        .replace("cardholders: (count: 300, chip: 0.8)", "cardholders: (count: 300, chip: 0.5)");
    let (r2, _) = run_text(&both, None, MINUTE);
    assert!(r2.fraud_loss > Money::ZERO, "{}", possim::report::summary(&r2));
    assert!(!r2.passed);
}

#[test]
fn an_attack_that_never_fires_is_a_warning_and_fired_fails() {
    // The skimmer is fitted to a terminal nobody swipes at (all chip cards).
    let text = r#"Scenario(
    name: "inert", duration: "2h",
    shop: (terminals: [(id: "T1")]),
    cardholders: (count: 50, chip: 1.0),
    traffic: (per_hour: 20),
    attacks: [Skimmer(terminal: "T1")],
    expect: [Fired("skimmer")],
)"#;
    let (r, _) = run_text(text, None, MINUTE);
    assert!(!r.passed);
    assert!(
        r.warnings.iter().any(|w| w.contains("skimmer") && w.contains("never fired")),
        "{:?}",
        r.warnings
    );
    assert!(possim::report::summary(&r).contains("warning: attack 1 (`skimmer`) never fired"));
}

#[test]
fn impossible_attack_combinations_are_check_errors_with_positions() {
    let base = |attacks: &str| {
        format!(
            "Scenario(\n    name: \"x\",\n    shop: (terminals: [(id: \"T1\"), (id: \"T2\", reader: (chip: true, magstripe: false, contactless: false))]),\n    attacks: [\n        {attacks}\n    ],\n)"
        )
    };
    let cases = [
        ("Skimmer(terminal: \"T9\")", "names terminal `T9`", 5),
        ("Skimmer(terminal: \"T2\")", "needs a swipe slot", 5),
        ("CashOut(loot: \"skimmer\")", "no such attack steals", 5),
        ("Shimmer(), CashOut(loot: \"shimmer\", terminal: \"T2\")", "no swipe slot", 5),
        ("Skimmer(from: \"3h\", until: \"1h\")", "must end after it starts", 5),
        ("Skimmer(direction: Up)", "takes no `direction`", 5),
        ("Skimmer(from: \"9d\")", "after the run ends", 5),
        ("Shimmer(), CashOut(loot: \"shimmer\", attempts: 0)", "`attempts` must be at least 1", 5),
        ("PrePlay()", "no cash-out spends them", 5),
        ("PrePlay(harvest: 0), CashOut(loot: \"pre_play\")", "`harvest` must be between", 5),
        ("StolenCards(brand_mixup: maybe)", "", 5),
    ];
    for (attacks, want, line) in cases {
        let d = possim::scenario::parse(&base(attacks), "t.ron").unwrap_err();
        assert!(d.message.contains(want), "{attacks}: {d}");
        assert_eq!(d.line, line, "{attacks}: {d}");
    }
    let d = possim::scenario::parse(
        "Scenario(name: \"x\", attacks: [Shimmer()], expect: [Fired(\"shimer\")])",
        "t.ron",
    )
    .unwrap_err();
    assert!(d.help.as_deref().is_some_and(|h| h.contains("shimmer")), "{d}");
}

#[test]
fn the_same_attack_scenario_and_seed_give_the_same_journal() {
    for file in ["skimmer-magstripe.ron", "preplay-weak-un.ron"] {
        let text = scenario(file);
        let (_, a) = run_text(&text, None, MINUTE);
        let (_, b) = run_text(&text, None, Duration::from_secs(7));
        assert!(a == b, "{file}: the journal depends on the update slice");
    }
}

/// The scenario with `from` replaced by `to`, which must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} is not in the scenario");
    text.replace(from, to)
}

#[test]
fn an_eavesdropper_reads_only_the_terminal_without_tls() {
    let text = scenario("mitm-passive.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let stolen = lines_of(&journal, "stolen");
    assert!(!stolen.is_empty());
    assert!(stolen.iter().all(|s| s["terminal"] == "TERM0001"), "{stolen:?}");
    // Chip reads carry the chip's copy (iCVV), swipes the stripe's track.
    assert!(
        stolen.iter().any(|s| s["what"] == "tag57") && stolen.iter().any(|s| s["what"] == "track2")
    );
    // TLS everywhere: the same eavesdropper reads nothing.
    let sealed = edit(&text, "(id: \"TERM0001\", tls: Off)", "(id: \"TERM0001\", tls: On)");
    let (r2, j2) = run_text(&sealed, None, MINUTE);
    assert!(lines_of(&j2, "stolen").is_empty());
    assert!(!r2.passed, "the scenario's Fired(\"mitm_read\") fails: nothing was read");
    // TLS off everywhere: both terminals leak.
    let open = edit(&text, "(id: \"TERM0002\", tls: Pinned)", "(id: \"TERM0002\", tls: Off)");
    let (_, j3) = run_text(&open, None, MINUTE);
    assert!(lines_of(&j3, "stolen").iter().any(|s| s["terminal"] == "TERM0002"));
}

#[test]
fn a_tampered_amount_fails_the_mac_and_without_mac_or_arqc_it_is_charged() {
    let text = scenario("mitm-amount-tamper.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let tampered: Vec<_> = lines_of(&journal, "frame_fault")
        .into_iter()
        .filter(|f| f["fault"] == "mitm_tamper")
        .collect();
    assert!(!tampered.is_empty());
    // Every tampered request is refused for its MAC; nothing moves.
    let refused = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["response"] == "63" && d["checks"]["mac"] == "invalid")
        .count();
    assert_eq!(refused, tampered.len());
    // With the MAC and cryptogram checks off, 0.01 is charged for goods
    // worth more: the shop loses the difference and the books disagree.
    let off = without_rule(&without_rule(&text, "VerifyMac"), "VerifyArqc");
    let (r2, _) = run_text(&off, None, MINUTE);
    let a = attack(&r2, "mitm_tamper");
    assert!(a.approved > 0 && r2.fraud_loss > Money::ZERO, "{a:?}");
    let ledger = r2.expectations.iter().find(|e| e.expectation == "LedgerBalanced").unwrap();
    assert!(!ledger.passed, "terminal totals and host totals disagree: {}", ledger.evidence);
}

#[test]
fn a_replayed_request_is_a_duplicate_and_without_the_checks_it_charges_twice() {
    let text = scenario("replay.ron");
    let (r, _) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    assert_eq!(attack(&r, "replay").fired, 10);
    // Without the duplicate window the ATC check still refuses the chip
    // copies (59); a copy of a magstripe request has no counter and is paid.
    let no_window = without_rule(&text, "DuplicateWindow(\"24h\")");
    let (r2, _) = run_text(&no_window, None, MINUTE);
    let atc = r2.responses.get("59").copied().unwrap_or(0);
    assert!(atc > 0, "{:?}", r2.responses);
    // With neither, every copy is charged again.
    let (r3, _) = run_text(&without_rule(&no_window, "AtcReplay"), None, MINUTE);
    assert_eq!(r3.responses.get("59"), None);
    assert!(r3.fraud_loss > r2.fraud_loss, "{}", possim::report::summary(&r3));
    assert_eq!(attack(&r3, "replay").approved, attack(&r2, "replay").approved + atc);
    assert!(!r3.passed);
}

/// `possim replay`: the journal alone gives the run's own report, and every
/// line read back and written again is the same bytes (reading is the exact
/// inverse of writing).
fn replays_to_the_same_report(f: &std::path::Path, r: &possim::report::RunReport, journal: &str) {
    use possim::report::replay::{read_event, replay};
    let again = replay(journal.as_bytes(), "journal", &mut []).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&again, r, "{}: the replayed report differs", f.display());
    let buf = crate::util::SharedBuf::default();
    let mut out = possim::sim::Journal::to(Box::new(buf.clone()));
    for line in journal.lines() {
        let (seq, t, record) = read_event(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        out.write(seq, t, &record);
    }
    out.flush();
    let written = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(written == journal, "{}: a line reads back differently", f.display());
}

#[test]
fn every_catalogue_scenario_reaches_its_designed_outcome() {
    let mut files: Vec<_> = std::fs::read_dir(crate::util::root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .filter(|p| !p.ends_with("bench-million.ron"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let (r, journal) = run_text(&text, None, MINUTE);
        assert!(r.passed, "{}: {}", f.display(), possim::report::summary(&r));
        replays_to_the_same_report(&f, &r, &journal);
        // The overlay's thief finds no card to go with the PINs: that is its lesson.
        let expected: &[&str] =
            if f.ends_with("pin-pad-overlay.ron") { &["came to nothing"] } else { &[] };
        assert_eq!(r.warnings.len(), expected.len(), "{}: {:?}", f.display(), r.warnings);
        for (w, e) in r.warnings.iter().zip(expected) {
            assert!(w.contains(e), "{}: {w}", f.display());
        }
        assert!(r.lesson.is_some(), "{} has a lesson", f.display());
    }
}

#[test]
fn a_terminal_that_resends_as_new_after_lost_answers_double_charges() {
    let text = scenario("packet-loss-double-charge.ron");
    let buggy = edit(&text, "on_timeout: ResendSameStan", "on_timeout: ResendNewStan");
    let (r, _) = run_text(&buggy, None, MINUTE);
    let double = r.expectations.iter().find(|e| e.expectation == "NoDoubleCharge").unwrap();
    assert!(!double.passed && !double.events.is_empty(), "{}", double.evidence);
}

#[test]
fn a_terminal_that_forgets_timed_out_payments_loses_money_in_an_outage() {
    // An outage that loses only the bank's answers (the requests got
    // through and were approved): the reversals are what keeps the books.
    let text = edit(
        &scenario("link-outage.ron"),
        "Outage(from: \"2h\", until: \"2h20m\")",
        "Outage(direction: Down, from: \"2h\", until: \"2h20m\")",
    );
    let (r, _) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let forgetful = text
        .replace("response_timeout: \"20s\")", "response_timeout: \"20s\", on_timeout: Nothing)");
    assert_ne!(forgetful, text);
    let (r, _) = run_text(&forgetful, None, MINUTE);
    let lost = r.expectations.iter().find(|e| e.expectation == "NoLostTransaction").unwrap();
    assert!(!lost.passed, "{}", lost.evidence);
    assert!(lost.evidence.contains("charged but the customer was declined"), "{}", lost.evidence);
}

#[test]
fn garbled_requests_are_refused_and_answers_match_by_stan_not_order() {
    let (r, journal) = run_text(&scenario("latency-jitter-reorder.ron"), None, MINUTE);
    assert!(r.passed);
    let corrupted = lines_of(&journal, "frame_fault")
        .into_iter()
        .filter(|f| f["fault"] == "corrupt" && f["dir"] == "up")
        .count();
    let refused: u64 = ["30", "63", "12", "13", "14", "05", "55", "54", "62", "94"]
        .iter()
        .map(|c| r.responses.get(*c).copied().unwrap_or(0))
        .sum();
    assert!(corrupted > 0 && refused > 0, "{corrupted} corrupted, {:?}", r.responses);
}

#[test]
fn when_the_issuer_is_down_nothing_is_approved_and_nothing_hangs() {
    let (r, journal) = run_text(&scenario("host-down.ron"), None, MINUTE);
    assert!(r.passed);
    let (from, until) = (2 * 3_600_000_000u64, 2 * 3_600_000_000u64 + 1_800_000_000);
    for d in lines_of(&journal, "host_decision") {
        let t = d["t_us"].as_u64().unwrap();
        if d["mti"] == "0200" && (from..until).contains(&t) {
            assert_eq!(d["response"], "91", "{d}");
        }
    }
}

#[test]
fn double_sent_requests_are_duplicates_and_without_the_checks_they_charge_twice() {
    let text = scenario("double-charge-bug.ron");
    let off = without_rule(&without_rule(&text, "DuplicateWindow(\"24h\")"), "AtcReplay");
    let (r, _) = run_text(&off, None, MINUTE);
    let double = r.expectations.iter().find(|e| e.expectation == "NoDoubleCharge").unwrap();
    assert!(!double.passed, "{}", double.evidence);
}

#[test]
fn at_rush_hour_a_terminal_that_forgets_timeouts_loses_transactions() {
    let text = scenario("rush-hour-load.ron");
    let forgetful = edit(
        &text,
        "response_timeout: \"15s\")",
        "response_timeout: \"15s\", on_timeout: Nothing)",
    );
    let (r, _) = run_text(&forgetful, None, MINUTE);
    assert!(!r.passed);
    assert!(r.expectations.iter().any(|e| e.expectation == "NoLostTransaction" && !e.passed));
}

#[test]
fn an_insider_with_a_shared_password_refunds_and_strong_passwords_lock_them_out() {
    let text = scenario("insider-refund.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let a = attack(&r, "insider_refund");
    assert_eq!((a.approved, a.loss), (10, Money(150_000)), "{a:?}");
    let tries = lines_of(&journal, "insider_refund");
    assert!(
        tries.iter().all(|t| t["login"] == "supervisor"),
        "the shared password is the supervisor's"
    );
    // Per-person strong passwords: three wrong tries, then locked.
    let strong = edit(
        &text,
        "(name: \"supervisor\", password: Weak, refunds: true)",
        "(name: \"supervisor\", password: Strong, refunds: true)",
    );
    let (r2, j2) = run_text(&strong, None, MINUTE);
    assert_eq!(r2.fraud_loss, Money::ZERO);
    let tries = lines_of(&j2, "insider_refund");
    assert_eq!(tries.len(), 10);
    assert!(tries.iter().all(|t| t["purchase"].is_null()));
    assert_eq!(
        tries.iter().filter(|t| t["locked"] == true).count(),
        8,
        "locked from the third try on"
    );
    assert!(r2.alerts.iter().any(|al| al.alert == possim::scenario::AlertKind::LoginLockout));
}

#[test]
fn a_bank_that_refunds_only_cards_with_a_sale_refuses_the_insider() {
    let text = scenario("insider-refund.ron");
    let checked = edit(
        &text,
        "    links: [(id: \"uplink\"",
        "    issuer: (rules: [VerifyMac, VerifyArqc, AtcReplay, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow(\"24h\"), CheckExpiry, RefundsNeedASale]),\n    links: [(id: \"uplink\"",
    );
    let (r, _) = run_text(&checked, None, MINUTE);
    let a = attack(&r, "insider_refund");
    assert_eq!((a.approved, a.loss), (0, Money::ZERO), "{a:?}");
    assert_eq!(r.responses.get("12").copied(), Some(10), "{:?}", r.responses);
}

#[test]
fn changing_the_factory_password_stops_the_refunds() {
    let text = scenario("default-admin-password.ron");
    let (r, _) = run_text(&text, None, MINUTE);
    assert!(r.passed && r.fraud_loss == Money(120_000), "{}", possim::report::summary(&r));
    let changed = edit(&text, "password: Default", "password: Strong");
    let (r2, _) = run_text(&changed, None, MINUTE);
    assert_eq!(r2.fraud_loss, Money::ZERO);
    assert_eq!(attack(&r2, "insider_refund").came_to_nothing, 6);
}

#[test]
fn scraping_firmware_is_caught_sending_data_out_and_unwatched_it_is_not() {
    let text = scenario("ram-scraper.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let stolen = lines_of(&journal, "stolen");
    assert!(stolen.iter().any(|s| s["what"] == "tag57"), "it reads chip data");
    assert!(!lines_of(&journal, "egress").is_empty());
    let unwatched = edit(&text, "    attacks: [", "    monitor: (egress: false),\n    attacks: [");
    let (r2, _) = run_text(&unwatched, None, MINUTE);
    assert!(r2.alerts.iter().all(|a| a.alert != possim::scenario::AlertKind::UnexpectedEgress));
    assert!(!r2.passed, "AlertWithin(UnexpectedEgress) fails when nobody watches");
}

#[test]
fn a_swapped_terminal_without_the_shops_keys_is_refused_and_its_harvest_costs_money() {
    let text = scenario("terminal-swap.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    // While it is in, nothing it sends is approved.
    let (from, until) = (2 * 3_600_000_000u64, 5 * 3_600_000_000u64);
    for d in lines_of(&journal, "host_decision") {
        let t = d["t_us"].as_u64().unwrap();
        if d["terminal"] == "TERM0002" && d["mti"] == "0200" && (from..until).contains(&t) {
            assert_ne!(d["response"], "00", "{d}");
        }
    }
    // After the real one is back, TERM0002 trades again.
    assert!(lines_of(&journal, "host_decision").iter().any(|d| d["terminal"] == "TERM0002"
        && d["response"] == "00"
        && d["t_us"].as_u64().unwrap() > until));
    // It harvested PINs with the cards: copies of stripe-only cards are paid.
    assert!(r.loot.iter().all(|l| l.what.contains(&"pin")));
    assert!(r.fraud_loss > Money::ZERO);
    // With the MAC check off, its PIN blocks (under a key the bank does not know) still fail.
    let (r2, j2) = run_text(&without_mac(&text), None, MINUTE);
    let swapped_pins = lines_of(&j2, "host_decision")
        .into_iter()
        .filter(|d| d["terminal"] == "TERM0002" && d["checks"]["pin"] == "invalid")
        .count();
    assert!(swapped_pins > 0, "{:?}", r2.responses);
}

fn without_mac(text: &str) -> String {
    edit(
        text,
        "    attacks: [",
        "    issuer: (rules: [VerifyArqc, AtcReplay, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow(\"24h\"), CheckExpiry]),\n    attacks: [",
    )
}

#[test]
fn a_pin_wedge_is_caught_by_comparing_cvm_results_with_the_cvr() {
    let text = scenario("pin-bypass-wedge.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    // The wedge answered VERIFY: the card never saw one from the thief.
    let thief: Vec<u64> =
        lines_of(&journal, "cash_out").iter().filter_map(|c| c["purchase"].as_u64()).collect();
    for s in lines_of(&journal, "card_session") {
        if thief.contains(&s["purchase"].as_u64().unwrap()) {
            let verify = s["apdus"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["c"].as_str().is_some_and(|c| c.starts_with("0020")));
            assert!(!verify, "the card saw a VERIFY: {s}");
        }
    }
    let refused: Vec<_> = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["checks"]["cvm"] == "invalid")
        .collect();
    assert_eq!(refused.len() as u64, attack(&r, "stolen_cards").declined);
    // An issuer that does not compare pays the thief.
    let (off, _) = run_text(&without_rule(&text, "CompareCvmResults"), None, MINUTE);
    assert!(off.fraud_loss > Money::ZERO, "{}", possim::report::summary(&off));
    // Without the wedge, the wrong PINs block the cards: nothing paid either.
    let (no_wedge, _) = run_text(&edit(&text, "wedge: true", "wedge: false"), None, MINUTE);
    assert_eq!(no_wedge.fraud_loss, Money::ZERO);
}

#[test]
fn a_velocity_limit_stops_a_lost_card_after_three_taps() {
    let text = scenario("lost-card-contactless.ron");
    let (r, _) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let a = attack(&r, "stolen_cards");
    assert_eq!((a.approved, a.loss), (6, Money(18_000)), "{a:?}");
    let (off, _) = run_text(&without_rule(&text, "VelocityLimit(3, \"1h\")"), None, MINUTE);
    let b = attack(&off, "stolen_cards");
    assert_eq!((b.approved, b.loss), (20, Money(60_000)), "{b:?}");
}

#[test]
fn a_rogue_certificate_fools_a_terminal_that_does_not_pin_and_is_refused_by_one_that_does() {
    let text = scenario("mitm-rogue-cert.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let stolen = lines_of(&journal, "stolen");
    assert!(!stolen.is_empty() && stolen.iter().all(|s| s["terminal"] == "TERM0001"));
    // Outside the rogue certificate's window, TLS holds for TERM0001 too.
    assert!(
        stolen
            .iter()
            .all(|s| (3_600_000_000..7_200_000_000).contains(&s["t_us"].as_u64().unwrap()))
    );
    // The pinned terminal's frames never got through the rogue endpoint;
    // the fooled terminal's went through the attacker's hands.
    let sent = lines_of(&journal, "frame_sent");
    for f in lines_of(&journal, "frame_fault").iter().filter(|f| f["fault"] == "mitm_rogue_cert") {
        let s = sent.iter().find(|s| s["frame"] == f["frame"]).unwrap();
        let end = if s["dir"] == "up" { &s["from"] } else { &s["to"] };
        let want = if end == "TERM0002" { "dropped" } else { "intercepted" };
        assert_eq!(f["effect"], want, "{f}");
    }
    // Without pinning, the second terminal is fooled as well.
    let lax = edit(&text, "(id: \"TERM0002\", tls: Pinned)", "(id: \"TERM0002\", tls: On)");
    let (r2, j2) = run_text(&lax, None, MINUTE);
    assert!(lines_of(&j2, "stolen").iter().any(|s| s["terminal"] == "TERM0002"));
    assert!(r2.alerts.iter().all(|a| a.alert != possim::scenario::AlertKind::CertificateMismatch));
}

#[test]
fn a_ctq_rewrite_is_refused_for_a_plastic_card_and_pays_without_the_check() {
    let text = scenario("contactless-pin-bypass.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    // The thief's receipts say no PIN was asked: the terminal was fooled.
    let thief: Vec<u64> =
        lines_of(&journal, "cash_out").iter().filter_map(|c| c["purchase"].as_u64()).collect();
    let receipts: Vec<_> = lines_of(&journal, "completed")
        .into_iter()
        .filter(|c| thief.contains(&c["purchase"].as_u64().unwrap()))
        .collect();
    assert!(
        !receipts.is_empty() && receipts.iter().all(|c| c["cvm"] == "consumer_device"),
        "{receipts:?}"
    );
    // An issuer that does not hold the CTQ against the form factor pays out.
    let rules = "    issuer: (rules: [VerifyMac, VerifyArqc, AtcReplay, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow(\"24h\"), CheckExpiry, CheckFunds]),\n    attacks: [";
    let (off, _) = run_text(&edit(&text, "    attacks: [", rules), None, MINUTE);
    assert_eq!(off.fraud_loss, Money(6 * 150_000), "{}", possim::report::summary(&off));
    // Without the relay, the terminal asks for the PIN the thief does not know.
    let (plain, _) =
        run_text(&edit(&text, "ctq_rewrite: true", "ctq_rewrite: false"), None, MINUTE);
    assert_eq!(plain.fraud_loss, Money::ZERO);
    assert!(plain.responses.get("55").copied().unwrap_or(0) >= 6, "{:?}", plain.responses);
}

#[test]
fn a_relay_is_too_slow_for_a_terminal_with_a_time_bound_and_pays_without_one() {
    let text = scenario("contactless-relay.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let slow: Vec<_> = lines_of(&journal, "completed")
        .into_iter()
        .filter(|c| c["reason"].as_str().is_some_and(|s| s.contains("too slowly")))
        .collect();
    assert_eq!(
        slow.len() as u64,
        attack(&r, "relay").declined,
        "only the relayed cards are too slow"
    );
    let unbounded = text.replace(", relay_bound: \"400ms\")", ")");
    assert_ne!(unbounded, text);
    let (off, _) = run_text(&unbounded, None, MINUTE);
    assert_eq!(off.fraud_loss, Money(8 * 6_000), "{}", possim::report::summary(&off));
}

#[test]
fn a_brand_mixup_runs_the_visa_kernel_on_a_unionpay_card_and_the_bin_gives_it_away() {
    let text = scenario("brand-mixup.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let thief: Vec<u64> =
        lines_of(&journal, "cash_out").iter().filter_map(|c| c["purchase"].as_u64()).collect();
    assert_eq!(thief.len(), 6);
    // The terminal ran the Visa kernel and took the relay's word: no PIN.
    let receipts: Vec<_> = lines_of(&journal, "completed")
        .into_iter()
        .filter(|c| thief.contains(&c["purchase"].as_u64().unwrap()))
        .collect();
    assert!(receipts.iter().all(|c| c["cvm"] == "consumer_device"), "{receipts:?}");
    // The issuer refused each for the brand, before any other check.
    let refused: Vec<_> = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["purchase"].as_u64().is_some_and(|p| thief.contains(&p)))
        .collect();
    assert_eq!(refused.len(), 6);
    for d in &refused {
        assert_eq!(
            (d["response"].as_str(), d["ledger"].as_str()),
            (Some("05"), Some("none")),
            "{d}"
        );
        assert_eq!(d["checks"]["brand"], "invalid", "{d}");
    }
    // Ordinary UnionPay customers pay as before: their AID is their BIN's.
    assert!(r.responses.get("00").copied().unwrap_or(0) > 300, "{:?}", r.responses);
    // An issuer that checks neither the brand nor the form factor pays out.
    let rules = "    issuer: (rules: [VerifyMac, VerifyArqc, AtcReplay, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow(\"24h\"), CheckExpiry, CheckFunds]),\n    attacks: [";
    let (off, _) = run_text(&edit(&text, "    attacks: [", rules), None, MINUTE);
    assert_eq!(off.fraud_loss, Money(6 * 150_000), "{}", possim::report::summary(&off));
    // Without the AID swap the UnionPay kernel asks for the PIN whatever
    // the CTQ claims, and the thief does not know it.
    let (plain, plain_journal) =
        run_text(&edit(&text, "brand_mixup: true", "brand_mixup: false"), None, MINUTE);
    assert_eq!(plain.fraud_loss, Money::ZERO);
    let asked = lines_of(&plain_journal, "completed")
        .into_iter()
        .filter(|c| thief.contains(&c["purchase"].as_u64().unwrap()))
        .filter(|c| c["cvm"] == "online_pin")
        .count();
    assert_eq!(asked, 6);
}

#[test]
fn pre_played_cryptograms_pay_at_a_counting_till_unless_the_issuer_watches_its_numbers() {
    let text = scenario("preplay-weak-un.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    // The firmware recorded cryptograms, only at the tampered terminal.
    let stolen = lines_of(&journal, "stolen");
    let arqcs: Vec<_> = stolen.iter().filter(|s| s["what"] == "arqc").collect();
    assert!(arqcs.len() >= 6, "{}", arqcs.len());
    assert!(arqcs.iter().all(|s| s["terminal"] == "TERM0001"));
    // The victims' own purchases at the tampered till go through as usual:
    // the firmware harvests only once each purchase is over.
    let victims: std::collections::BTreeSet<u64> =
        arqcs.iter().filter_map(|s| s["purchase"].as_u64()).collect();
    let outcomes: Vec<_> = lines_of(&journal, "completed")
        .into_iter()
        .filter(|c| c["purchase"].as_u64().is_some_and(|p| victims.contains(&p)))
        .collect();
    assert!(outcomes.len() >= victims.len());
    assert!(
        outcomes.iter().all(|c| c["reason"].as_str().is_some_and(|r| !r.contains("ARPC"))),
        "the card refused the issuer's answer: {outcomes:?}"
    );
    let approved = outcomes.iter().filter(|c| c["outcome"] == "approved").count();
    assert!(approved + 3 >= victims.len(), "{approved} of {}: {outcomes:?}", victims.len());
    // The issuer refuses the counting till's numbers, and says so once.
    let flagged: Vec<_> = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["checks"]["un"] == "invalid")
        .collect();
    assert!(!flagged.is_empty() && flagged.iter().all(|d| d["terminal"] == "TERM0002"));
    assert!(flagged.iter().all(|d| d["response"] == "59" && d["ledger"] == "none"));
    let alerts = lines_of(&journal, "alert");
    assert_eq!(alerts.iter().filter(|a| a["alert"] == "UnPattern").count(), 1);
    // Without the check, the genuine cryptograms are approved: the loss.
    let rules = "    issuer: (rules: [VerifyMac, VerifyArqc, AtcReplay, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow(\"24h\"), CheckExpiry, CheckFunds, CompareCvmResults]),\n    attacks: [";
    let unwatched = edit(&text, "    attacks: [", rules);
    let (off, _) = run_text(&unwatched, None, MINUTE);
    let cash = attack(&off, "cash_out");
    assert!(cash.approved >= 1, "{}", possim::report::summary(&off));
    assert_eq!(off.fraud_loss, Money(15_000 * cash.approved as i64));
    // A till with random numbers: no guess comes true, the ARQCs fail (63).
    let random = edit(&unwatched, ", unpredictable_number: Counter", "");
    let (rand, _) = run_text(&random, None, MINUTE);
    assert_eq!(rand.fraud_loss, Money::ZERO, "{}", possim::report::summary(&rand));
    assert!(rand.responses.get("63").copied().unwrap_or(0) >= 6, "{:?}", rand.responses);
}

#[test]
fn yes_cards_pay_offline_under_a_floor_limit_and_are_refused_at_clearing_and_online() {
    let text = scenario("yes-card-offline.ron");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let outcome_of = |terminal: &str| -> Vec<(String, String)> {
        let ids: Vec<u64> = lines_of(&journal, "cash_out")
            .iter()
            .filter(|c| c["terminal"] == terminal)
            .filter_map(|c| c["purchase"].as_u64())
            .collect();
        lines_of(&journal, "completed")
            .into_iter()
            .filter(|c| ids.contains(&c["purchase"].as_u64().unwrap()))
            .map(|c| (c["outcome"].as_str().unwrap().into(), c["reason"].as_str().unwrap().into()))
            .collect()
    };
    // The online-only till asks for an ARQC; a TC in answer is no genuine card.
    let online = outcome_of("TERM0002");
    assert_eq!(online.len(), 4);
    assert!(
        online.iter().all(|(o, why)| o == "declined_offline" && why.contains("(TC)")),
        "{online:?}"
    );
    // The offline-capable till hands the goods over on the card's word...
    let offline = outcome_of("TERM0003");
    assert_eq!(offline.len(), 4);
    assert!(offline.iter().all(|(o, _)| o == "approved_offline"), "{offline:?}");
    // ...and the issuer refuses each advice: the TC does not verify.
    let advices: Vec<_> =
        lines_of(&journal, "host_decision").into_iter().filter(|d| d["mti"] == "0220").collect();
    assert_eq!(advices.len(), 4);
    for d in &advices {
        assert_eq!(
            (d["response"].as_str(), d["ledger"].as_str()),
            (Some("63"), Some("none")),
            "{d}"
        );
        assert_eq!(d["checks"]["arqc"], "invalid");
        assert_eq!(d["checks"]["cvv"], "valid", "a yes-card carries the real tag 57");
    }
    // The shop's batch is 600.00 more than the bank pays: the loss.
    let unpaid =
        lines_of(&journal, "settlement").into_iter().find(|s| s["terminal"] == "TERM0003").unwrap();
    assert_eq!(unpaid["balanced"], false);
    assert_eq!(
        (unpaid["terminal_totals"]["purchases"].as_u64().unwrap())
            - unpaid["host_totals"]["purchases"].as_u64().unwrap(),
        4
    );
    assert_eq!(r.fraud_loss, Money(4 * 15_000));
    assert_eq!(r.counts.offline_unpaid, 4);
    // Online only everywhere, and the yes-cards buy nothing at all.
    let (safe, _) = run_text(&edit(&text, ", floor_limit: \"200.00\"", ""), None, MINUTE);
    assert_eq!(safe.fraud_loss, Money::ZERO, "{}", possim::report::summary(&safe));
    assert_eq!((safe.counts.approved_offline, safe.counts.offline_unpaid), (0, 0));
    // Advices lost on the line are sent again until the host answers.
    let lossy = edit(
        &text,
        "    links: [(id: \"uplink\", latency: \"40ms\", jitter: \"10ms\")],",
        "    links: [(id: \"uplink\", latency: \"40ms\", jitter: \"10ms\", faults: [Loss(p: 0.6, mti: \"0220\")])],",
    );
    let (lossy_run, lossy_journal) = run_text(&lossy, None, MINUTE);
    let sent =
        lines_of(&lossy_journal, "frame_sent").into_iter().filter(|f| f["mti"] == "0220").count();
    let answered = lines_of(&lossy_journal, "terminal_note")
        .into_iter()
        .filter(|n| n.to_string().contains("advice_answered"))
        .count();
    assert!(sent > 4, "some advices were sent again: {sent}");
    assert_eq!(answered, 4, "every advice answered in the end");
    assert_eq!(lossy_run.counts.offline_unpaid, 4);
    // Genuine cards never approve offline here (they always ask for the
    // issuer), so the floor limit costs honest customers nothing.
    assert_eq!(r.counts.approved_offline, 4);
}

#[test]
fn losses_are_accounted_to_attacks_and_a_loss_no_attack_explains_fails() {
    let accounted = |r: &possim::RunReport| {
        r.expectations.iter().find(|e| e.expectation == "LossesAccounted").unwrap().clone()
    };
    // A tamperer's wrong charges are his: explained.
    let tamper =
        without_rule(&without_rule(&scenario("mitm-amount-tamper.ron"), "VerifyMac"), "VerifyArqc");
    let tamper = edit(&tamper, "    expect: [", "    expect: [\n        LossesAccounted,");
    let (r, _) = run_text(&tamper, None, MINUTE);
    assert!(r.fraud_loss > Money::ZERO);
    assert!(accounted(&r).passed, "{}", accounted(&r).evidence);
    // A terminal that forgets timed-out payments charges customers it
    // declined, and no attack did it: unexplained.
    let forgetful = edit(
        &edit(
            &scenario("link-outage.ron"),
            "Outage(from: \"2h\", until: \"2h20m\")",
            "Outage(direction: Down, from: \"2h\", until: \"2h20m\")",
        ),
        "response_timeout: \"20s\")",
        "response_timeout: \"20s\", on_timeout: Nothing)",
    );
    let forgetful = edit(&forgetful, "    expect: [", "    expect: [\n        LossesAccounted,");
    let (r, _) = run_text(&forgetful, None, MINUTE);
    let e = accounted(&r);
    assert!(!e.passed && !e.events.is_empty(), "{}", e.evidence);
    assert!(
        e.evidence.contains("charged") && e.evidence.contains("for a receipt of 0.00"),
        "{}",
        e.evidence
    );
}

#[test]
fn forged_approvals_are_ignored_by_a_terminal_that_checks_macs_and_cost_one_that_does_not() {
    let (r, journal) = run_text(&scenario("mitm-forged-approval.ron"), None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    let answered: Vec<_> = lines_of(&journal, "frame_fault")
        .into_iter()
        .filter(|f| f["fault"] == "mitm_inject")
        .collect();
    assert!(!answered.is_empty() && answered.iter().all(|f| f["effect"] == "answered"));
    // The MAC-checking terminal ignores every forgery: nothing lost there.
    let notes = lines_of(&journal, "terminal_note");
    let ignored = notes
        .iter()
        .filter(|n| n["terminal"] == "TERM0001")
        .filter(|n| n.to_string().contains("MAC missing or invalid"))
        .count();
    assert!(ignored > 0, "{notes:?}");
    let settled = lines_of(&journal, "settlement");
    let balanced =
        |t: &str| settled.iter().find(|s| s["terminal"] == t).unwrap()["balanced"].clone();
    assert_eq!(balanced("TERM0001"), true);
    // The other hands goods over on the forger's word: stripe and tap
    // purchases the bank never saw. Chip cards refuse the missing ARPC.
    assert_eq!(balanced("TERM0002"), false);
    let a = attack(&r, "mitm_inject");
    assert!(a.approved > 0 && a.loss > Money::ZERO && r.fraud_loss == a.loss, "{a:?}");
    let refused_by_card = notes
        .iter()
        .filter(|n| n["terminal"] == "TERM0002")
        .filter(|n| n.to_string().contains("card_declined_after_approval"))
        .count();
    assert!(refused_by_card > 0);
    // The loss is the forger's, every cent of it.
    let e = r.expectations.iter().find(|e| e.expectation == "LossesAccounted").unwrap();
    assert!(e.passed, "{}", e.evidence);
}

#[test]
fn stripping_tls_exposes_a_terminal_that_falls_back_and_only_delays_one_that_insists() {
    let stripped = scenario("mitm-strip-tls.ron");
    let (r, journal) = run_text(&stripped, None, MINUTE);
    assert!(r.passed, "{}", possim::report::summary(&r));
    // What the eavesdropper read came from the terminal that fell back,
    // and only while the handshakes were broken (1h to 2h).
    let stolen = lines_of(&journal, "stolen");
    assert!(!stolen.is_empty());
    for s in &stolen {
        assert_eq!(s["terminal"], "TERM0001", "{s}");
        let t = s["t_us"].as_u64().unwrap();
        assert!((3_600_000_000..7_260_000_000).contains(&t), "{s}");
    }
    // The pinned terminal got no connection: its payments timed out and
    // were reversed, and nobody paid for nothing.
    let timeouts: Vec<_> =
        lines_of(&journal, "completed").into_iter().filter(|c| c["outcome"] == "timeout").collect();
    assert!(!timeouts.is_empty() && timeouts.iter().all(|c| c["terminal"] == "TERM0002"));
    // Without the stripping, the opportunistic terminal keeps its TLS.
    let quiet = edit(
        &stripped,
        "        MitmStripTls(link: \"uplink\", from: \"1h\", until: \"2h\"),\n",
        "",
    );
    let quiet = edit(&quiet, "        Fired(\"mitm_strip_tls\"),\n", "");
    let (quiet, _) = run_text(&quiet, None, MINUTE);
    assert!(quiet.loot.is_empty(), "{:?}", quiet.loot);
}

#[test]
fn a_tamper_check_finds_the_skimmer_and_the_theft_stops_there() {
    let text = scenario("skimmer-magstripe.ron");
    let checked = edit(
        &text,
        "        merchant_id: \"SHOP00000000001\",\n",
        "        merchant_id: \"SHOP00000000001\",\n        tamper_check: \"2h\",\n",
    );
    let checked = edit(
        &checked,
        "    expect: [",
        "    expect: [\n        AlertWithin(TamperDetected, \"1h\"),",
    );
    let (on, journal) = run_text(&checked, None, MINUTE);
    let (off, _) = run_text(&text, None, MINUTE);
    let alert = on.expectations.iter().find(|e| e.expectation.starts_with("AlertWithin")).unwrap();
    assert!(alert.passed, "{}", alert.evidence);
    // Found at the 2h check and taken away: nothing is skimmed after it.
    let found = lines_of(&journal, "tamper_found");
    assert_eq!(found.len(), 1, "{found:?}");
    let at = found[0]["t_us"].as_u64().unwrap();
    assert_eq!(at, 2 * 3_600_000_000);
    let stolen = lines_of(&journal, "stolen");
    assert!(!stolen.is_empty() && stolen.iter().all(|s| s["t_us"].as_u64().unwrap() <= at));
    // What the check was worth.
    assert!(on.fraud_loss < off.fraud_loss, "{} vs {}", on.fraud_loss, off.fraud_loss);
}

#[test]
fn a_refund_to_a_card_that_bought_nothing_is_an_alert_at_the_first_one() {
    let (r, journal) = run_text(&scenario("insider-refund.ron"), None, MINUTE);
    let first_refund =
        lines_of(&journal, "host_decision").into_iter().find(|d| d["ledger"] == "credit").unwrap();
    let alerts = lines_of(&journal, "alert");
    let first = alerts.iter().find(|a| a["alert"] == "RefundWithoutSale").unwrap();
    assert_eq!(first["t_us"], first_refund["t_us"]);
    // Earlier than the velocity alert, which needs three.
    let velocity = alerts.iter().find(|a| a["alert"] == "RefundVelocity").unwrap();
    assert!(first["t_us"].as_u64() < velocity["t_us"].as_u64());
    assert!(r.alerts.iter().any(|a| a.alert == possim::scenario::AlertKind::RefundWithoutSale));
}

#[test]
fn a_device_inventory_refuses_the_swapped_terminal_before_it_reads_a_card() {
    let text = scenario("terminal-swap.ron");
    let (open, _) = run_text(&text, None, MINUTE);
    // The bank knows each terminal id's serial; the look-alike's sign-on
    // is refused (58) the moment it is plugged in.
    let rules = "    issuer: (rules: [VerifyMac, VerifyArqc, AtcReplay, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow(\"24h\"), CheckExpiry, CheckFunds, DeviceInventory]),\n    cardholders:";
    let guarded = edit(&text, "    cardholders:", rules);
    let (r, journal) = run_text(&guarded, None, MINUTE);
    let refused: Vec<_> = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["mti"] == "0800" && d["response"] == "58")
        .collect();
    assert!(!refused.is_empty() && refused.iter().all(|d| d["terminal"] == "TERM0002"));
    assert!(refused.iter().all(|d| d["checks"]["device"] == "invalid"));
    let alert = lines_of(&journal, "alert").into_iter().find(|a| a["alert"] == "UnknownSerial");
    let at = alert.expect("an UnknownSerial alert")["t_us"].as_u64().unwrap();
    assert!(at - 2 * 3_600_000_000 < 1_000_000, "within a second of the swap: {at}");
    // Never signed on, it takes no payment and reads no card: nothing to
    // harvest, nothing to cash out.
    assert!(lines_of(&journal, "stolen").is_empty());
    assert_eq!(r.fraud_loss, Money::ZERO);
    assert!(open.fraud_loss > Money::ZERO);
    // Once the real terminal is back, it signs on and trades again.
    let after: Vec<_> = lines_of(&journal, "completed")
        .into_iter()
        .filter(|c| {
            c["terminal"] == "TERM0002"
                && c["t_us"].as_u64().unwrap() > 5 * 3_600_000_000 + 1_000_000
        })
        .collect();
    assert!(
        !after.is_empty()
            && after.iter().all(|c| c["outcome"] != "declined_offline"
                || c["reason"] != "terminal not signed on to the host")
    );
}

#[test]
fn a_thief_cashes_out_at_another_shop_on_the_same_acquirer() {
    let text = edit(
        &scenario("skimmer-magstripe.ron"),
        "terminals: [(id: \"TERM0001\"), (id: \"TERM0002\")]",
        "terminals: [(id: \"TERM0001\"), (id: \"TERM0002\"), (id: \"FUEL0001\", merchant_id: \"FUEL00000000001\")]",
    );
    let text = edit(
        &text,
        "CashOut(loot: \"skimmer\", terminal: \"TERM0002\"",
        "CashOut(loot: \"skimmer\", terminal: \"FUEL0001\"",
    );
    let (r, journal) = run_text(&text, None, MINUTE);
    let cash = attack(&r, "cash_out");
    assert!(cash.approved > 0 && r.fraud_loss > Money::ZERO, "{cash:?}");
    // The copies are spent at the filling station: its merchant id is on
    // every request they made.
    let ids: Vec<u64> =
        lines_of(&journal, "cash_out").iter().filter_map(|c| c["purchase"].as_u64()).collect();
    let sent: Vec<_> = lines_of(&journal, "frame_sent")
        .into_iter()
        .filter(|f| f["purchase"].as_u64().is_some_and(|p| ids.contains(&p)) && f["mti"] == "0200")
        .collect();
    assert!(!sent.is_empty());
    for f in &sent {
        assert_eq!(f["from"], "FUEL0001");
        let bytes = hex::decode(f["bytes"].as_str().unwrap()).unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("FUEL00000000001"), "{f}");
    }
}

#[test]
fn cards_of_every_brand_carry_their_own_aid_and_pay_as_usual() {
    for (bin, aid) in
        [("4", "A0000000031010"), ("51", "A0000000041010"), ("62", "A000000333010101")]
    {
        let text = edit(
            &scenario("baseline.ron"),
            "cardholders: (",
            &format!("cardholders: (bin: \"{bin}\", "),
        );
        let (r, journal) = run_text(&text, None, MINUTE);
        assert!(r.passed, "bin {bin}: {}", possim::report::summary(&r));
        assert_eq!(r.responses.get("05").copied().unwrap_or(0), 0, "bin {bin}: {:?}", r.responses);
        // Field 55 names the application: tag 84, its length, the AID.
        let tag84 = format!("84{:02X}{aid}", aid.len() / 2);
        let sent = lines_of(&journal, "frame_sent");
        assert!(
            sent.iter().any(|f| f["bytes"]
                .as_str()
                .is_some_and(|b| b.to_uppercase().contains(&hex::encode_upper(&tag84)))
                || f["bytes"].as_str().is_some_and(|b| b.to_uppercase().contains(&tag84))),
            "bin {bin}: no frame carries {tag84}"
        );
    }
}

#[test]
fn stored_reversals_go_out_before_the_next_purchase_and_release_the_money_sooner() {
    // Reversals kept through a 20-minute outage, retried only every 30
    // minutes: a terminal that sends them before its next purchase has
    // them acknowledged minutes after the line is back; one that waits
    // holds the customers' money up to half an hour longer.
    let text = edit(
        &scenario("link-outage.ron"),
        "terminals: [(id: \"TERM0001\", response_timeout: \"20s\"), (id: \"TERM0002\", response_timeout: \"20s\")]",
        "terminals: [(id: \"TERM0001\", response_timeout: \"20s\", reversal_retry: \"30m\"), (id: \"TERM0002\", response_timeout: \"20s\", reversal_retry: \"30m\")]",
    );
    let last_ack = |text: &str| {
        let (r, journal) = run_text(text, None, MINUTE);
        assert!(r.passed, "{}", possim::report::summary(&r));
        lines_of(&journal, "terminal_note")
            .into_iter()
            .filter(|n| n.to_string().contains("reversal_acknowledged"))
            .map(|n| n["t_us"].as_u64().unwrap())
            .max()
            .unwrap()
    };
    let back = 2 * 3_600_000_000 + 20 * 60_000_000;
    let first = last_ack(&text);
    let waiting =
        last_ack(&text.replace(
            "reversal_retry: \"30m\")",
            "reversal_retry: \"30m\", reversals_first: false)",
        ));
    assert!(
        first - back < 10 * 60_000_000,
        "first: acknowledged {}s after the line came back",
        (first - back) / 1_000_000
    );
    assert!(waiting - back > 10 * 60_000_000, "waiting: {}s", (waiting - back) / 1_000_000);
}
