//! The Bevy world, headless: determinism, slice independence, the schedule,
//! faults that must not move money, and frames through the bridge.

use std::sync::Arc;

use bevy::ecs::schedule::{LogLevel, ScheduleBuildSettings};
use bevy::prelude::*;
use possim::protocol::crypto::TdesKey;
use possim::protocol::iso8583::{MacCheck, Spec, verify_mac};
use possim::sim::{self, Bridge, Cardholder, Inbound, Link, Options, Pacing, Plan, Terminal};
use possim::time::Duration;

use crate::util::{lines_of, run_text, s, scenario, unhex, vector};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn the_same_seed_gives_a_byte_identical_journal_and_another_seed_does_not() {
    let text = scenario("baseline.ron");
    let (a, ja) = run_text(&text, None, MINUTE);
    let (b, jb) = run_text(&text, None, MINUTE);
    assert!(ja.lines().count() > 1000, "a real day happened");
    assert_eq!(ja, jb, "same scenario and seed, same journal");
    assert_eq!(a, b);
    let (_, jc) = run_text(&text, Some(7), MINUTE);
    assert_ne!(ja, jc, "another seed, another day");
}

#[test]
fn the_slice_size_does_not_change_the_journal() {
    let text = scenario("baseline.ron");
    let (_, fine) = run_text(&text, None, Duration::from_millis(250));
    let (_, coarse) = run_text(&text, None, Duration::from_secs(3 * 3600));
    assert_eq!(fine, coarse);
}

#[test]
fn the_baseline_is_green_and_its_journal_re_checks() {
    let (r, journal) = run_text(&scenario("baseline.ron"), None, MINUTE);
    assert!(r.passed, "{:#?}", r.expectations);
    assert!(r.counts.purchases > 200, "a few hundred customers: {}", r.counts.purchases);
    // Every frame in the journal is raw: the requests' MACs verify again.
    let spec = Spec::iso87_ascii();
    let sent = lines_of(&journal, "frame_sent");
    assert!(sent.iter().all(|f| !f["bytes"].as_str().unwrap().is_empty()));
    let times: Vec<u64> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["t_us"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "virtual-time order");
    let decided: Vec<_> =
        lines_of(&journal, "host_decision").into_iter().filter(|d| d["mti"] == "0200").collect();
    assert!(
        decided.iter().all(|d| d["checks"]["mac"] == "valid" && d["checks"]["arqc"] != "invalid")
    );
    let first_0200 = sent.iter().find(|f| f["mti"] == "0200").unwrap();
    let bytes = unhex(first_0200["bytes"].as_str().unwrap());
    assert!(spec.decode(&bytes).is_ok());
    // Card data in the journal outside raw frames is masked.
    for d in &decided {
        let pan = d["pan"].as_str().unwrap();
        assert!(pan.contains("******"), "{pan}");
    }
}

fn test_app(text: &str) -> App {
    let s = possim::scenario::parse(text, "test.ron").unwrap();
    let plan = Arc::new(Plan::new(&s, None).unwrap());
    sim::build_app(
        plan,
        None,
        Pacing::Headless { slice: MINUTE },
        Options { apdus: false, frames: false, stay_open: false },
    )
}

#[test]
fn one_update_builds_the_shop() {
    let mut app = test_app(
        r#"Scenario(name: "tiny", shop: (terminals: [(id: "T", count: 3)]), cardholders: (count: 25))"#,
    );
    app.update();
    let world = app.world_mut();
    let ids: Vec<String> =
        world.query::<&Terminal>().iter(world).map(|t| t.id.to_string()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&"T0001".to_string()) && ids.contains(&"T0003".to_string()));
    assert_eq!(world.query::<&Cardholder>().iter(world).count(), 25);
    assert_eq!(world.query::<&Link>().iter(world).count(), 1);
    assert!(world.get_resource::<possim::sim::Host>().is_some());
}

#[test]
fn the_schedule_has_no_ambiguous_system_order() {
    let mut app = test_app(r#"Scenario(name: "tiny", duration: "1h")"#);
    let strict = |s: &mut Schedule| {
        s.set_build_settings(ScheduleBuildSettings {
            ambiguity_detection: LogLevel::Error,
            ..default()
        });
    };
    app.edit_schedule(Update, strict);
    app.edit_schedule(Startup, strict);
    // Building the schedules with ambiguity detection set to error fails on any ambiguity.
    let report = sim::run_to_end(&mut app, "tiny");
    assert!(report.counts.customers > 0);
}

fn keyed_scenario(extra: &str) -> String {
    let k = vector("keys.json");
    format!(
        r#"Scenario(
    name: "vector keys",
    start: "2026-11-24T10:15:00",
    duration: "1h",
    issuer: (keys: (imk_ac: "{}", cvk: "{}", pvk: "{}")),
    shop: (terminals: [(id: "TERM0001", keys: (tak: "{}", tpk: "{}"))]),
    cardholders: (count: 0, cards: [(pan: "4073662585178123", pin: "7070", expiry: "3306", balance: "1000.00")]),
    traffic: (per_hour: 0.001),
    {extra}
)"#,
        s(&k, "imk_ac"),
        s(&k, "cvk"),
        s(&k, "pvk"),
        s(&k, "tak"),
        s(&k, "tpk"),
    )
}

#[test]
fn a_frame_from_outside_enters_the_world_and_its_answer_leaves_it() {
    let sc = possim::scenario::parse(&keyed_scenario(""), "bridge.ron").unwrap();
    let plan = Arc::new(Plan::new(&sc, None).unwrap());
    let mut app = sim::build_app(
        plan,
        None,
        Pacing::Headless { slice: MINUTE },
        Options { apdus: false, frames: false, stay_open: true },
    );
    let (bridge, to_world, from_world) = Bridge::new();
    app.insert_resource(bridge);
    app.update();
    // The pyiso8583/pyemv/psec purchase vector, as a real terminal would send it.
    let request = unhex(s(&vector("iso8583_ascii.json")["messages"][0], "encoded"));
    to_world.send(Inbound { conn: 7, bytes: request }).unwrap();
    for _ in 0..3 {
        app.update();
    }
    let out = from_world.try_recv().expect("a response left the world");
    assert_eq!(out.conn, 7);
    let spec = Spec::iso87_ascii();
    let resp = spec.decode(&out.bytes).unwrap();
    assert_eq!(resp.get_str(39), Some("00"), "possim's host approves the independent vector");
    let tak = TdesKey::from_hex(s(&vector("keys.json"), "tak")).unwrap();
    assert_eq!(verify_mac(&spec, &out.bytes, &resp, &tak), MacCheck::Valid);
    assert_eq!(resp.icc_data().map(|d| d.len()), Some(12), "tag 91 with the ARPC");
}

#[test]
fn corrupted_frames_are_refused_and_never_move_money() {
    let text = keyed_scenario(
        r#"links: [(id: "uplink", faults: [Corrupt(p: 0.3)])],
    expect: [LedgerBalanced, NoDoubleCharge, NoLostTransaction, AtLeast(1, FrameCorrupted)],"#,
    )
    .replace("per_hour: 0.001", "per_hour: 120")
    .replace("count: 0,", "count: 40,");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.faults.get("corrupt").copied().unwrap_or(0) > 5, "{:?}", r.faults);
    for d in lines_of(&journal, "host_decision") {
        let rc = d["response"].as_str().unwrap_or("none");
        if matches!(rc, "30" | "63") || d["response"].is_null() {
            assert_eq!(d["ledger"], "none", "{d}");
        }
    }
    assert!(
        r.responses.get("63").copied().unwrap_or(0) + r.responses.get("30").copied().unwrap_or(0)
            > 0
    );
    assert!(r.passed, "{:#?}", r.expectations);
}

#[test]
fn a_link_outage_times_out_reverses_and_loses_nothing() {
    let text = r#"Scenario(
    name: "outage",
    duration: "3h",
    links: [(id: "uplink", faults: [Outage(from: "1h", until: "1h20m")])],
    traffic: (per_hour: 60),
    expect: [NoLostTransaction, NoDoubleCharge, LedgerBalanced, AtLeast(1, Timeout), AtLeast(1, Reversal), AlertWithin(LinkDown, "10m")],
)"#;
    let (r, journal) = run_text(text, None, MINUTE);
    assert!(r.passed, "{:#?}", r.expectations);
    assert!(
        !lines_of(&journal, "frame_fault").is_empty()
            || !lines_of(&journal, "frame_lost").is_empty()
    );
}

#[test]
fn a_terminal_that_resends_as_new_transactions_double_charges_and_the_run_says_so() {
    let text = r#"Scenario(
    name: "buggy firmware",
    duration: "2h",
    issuer: (rules: [VerifyMac, VerifyPin, VerifyCvv, RefuseFallbackForChipCards, DuplicateWindow("24h")]),
    shop: (terminals: [(id: "TERM0001", on_timeout: ResendNewStan)]),
    links: [(id: "uplink", faults: [Loss(p: 0.5, direction: Down, mti: "0210", from: "30m", until: "1h")])],
    traffic: (per_hour: 60),
    expect: [NoDoubleCharge],
)"#;
    let (r, _) = run_text(text, None, MINUTE);
    assert!(!r.passed);
    let e = &r.expectations[0];
    assert!(e.evidence.contains("charged more than once"), "{}", e.evidence);
    assert!(!e.events.is_empty(), "the evidence names journal events");
}

#[test]
fn the_bench_scenario_is_green_at_a_small_scale() {
    // The full million runs in the benchmark; here its shape is checked.
    let text = scenario("bench-million.ron")
        .replace("purchases: 1000000", "purchases: 3000")
        .replace("count: 100000", "count: 2000");
    let (r, _) = run_text(&text, None, MINUTE);
    assert_eq!(r.counts.purchases, 3000);
    assert!(r.passed, "{:#?}", r.expectations);
}

#[test]
fn a_paced_clock_follows_wall_time_times_the_speed() {
    let s =
        possim::scenario::parse(r#"Scenario(name: "paced", duration: "8h")"#, "paced.ron").unwrap();
    let plan = Arc::new(Plan::new(&s, None).unwrap());
    let mut app = sim::build_app(
        plan,
        None,
        Pacing::Paced { speed: 3600.0 },
        Options { apdus: false, frames: false, stay_open: false },
    );
    app.update();
    let t0 = app.world().resource::<sim::Clock>().now;
    std::thread::sleep(std::time::Duration::from_millis(100));
    app.update();
    let t1 = app.world().resource::<sim::Clock>().now;
    // 0.1 s of wall time at an hour per second is about 6 minutes of virtual
    // time; only the order of magnitude is asserted (machines are noisy).
    let advanced = t1.since(t0);
    assert!(advanced >= Duration::from_secs(60), "{advanced}");
    assert!(advanced <= Duration::from_secs(3 * 3600), "{advanced}");
    assert!(!app.world().resource::<sim::Clock>().finished);
}

#[test]
fn the_journal_keeps_card_numbers_and_pins_out_of_everything_but_raw_frames() {
    // An offline-PIN card: its VERIFY carries the PIN in clear on the card interface.
    let text = keyed_scenario("")
        .replace("balance: \"1000.00\")", "balance: \"1000.00\", offline_pin: true)")
        .replace("traffic: (per_hour: 0.001)", "traffic: (per_hour: 200, tap: 0.0)")
        .replace("duration: \"1h\"", "duration: \"2h\"");
    let (r, journal) = run_text(&text, None, MINUTE);
    assert!(r.counts.approved > 3, "{:?}", r.counts);
    let sessions = lines_of(&journal, "card_session");
    assert!(
        sessions.iter().any(|l| l.to_string().contains("407366******8123")),
        "masked PAN visible in APDUs"
    );
    assert!(
        sessions
            .iter()
            .any(|l| l.to_string().contains("00200080") && l.to_string().contains("****")),
        "VERIFY is starred"
    );
    for line in journal.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if matches!(v["kind"].as_str(), Some("frame_sent" | "frame_delivered")) {
            continue;
        }
        assert!(!line.contains("4073662585178123"), "full PAN outside a raw frame: {line}");
        assert!(!line.contains("247070"), "clear PIN block outside a raw frame: {line}");
    }
}

#[test]
fn the_evidence_does_not_depend_on_whether_a_journal_is_kept() {
    let text = r#"Scenario(
    name: "evidence",
    duration: "2h",
    links: [(id: "uplink", faults: [Corrupt(p: 0.2)])],
    traffic: (per_hour: 60),
    expect: [AtMost(0, Response("63")), AtLeast(1, FrameCorrupted)],
)"#;
    let s = possim::scenario::parse(text, "e.ron").unwrap();
    let run = |journal: bool| {
        let plan = Arc::new(Plan::new(&s, None).unwrap());
        let j = journal.then(|| sim::Journal::to(Box::new(std::io::sink())));
        let mut app = sim::build_app(
            plan,
            j,
            Pacing::Headless { slice: MINUTE },
            Options { apdus: journal, frames: journal, stay_open: false },
        );
        sim::run_to_end(&mut app, "e.ron")
    };
    let (without, with) = (run(false), run(true));
    assert!(!with.expectations[0].events.is_empty());
    assert_eq!(without.expectations, with.expectations, "the same event ids either way");
}

#[test]
fn duplicated_requests_and_lost_responses_do_not_charge_declined_customers() {
    // The link duplicates 0200s and loses some 0210s: a terminal can hear
    // the host's 94 for the copy and never the approval of the original.
    let text = r#"Scenario(
    name: "dup and loss",
    duration: "3h",
    links: [(id: "uplink", faults: [Duplicate(p: 0.5, direction: Up), Loss(p: 0.5, direction: Down, mti: "0210")])],
    traffic: (per_hour: 60),
    expect: [NoLostTransaction, NoDoubleCharge, LedgerBalanced, AtLeast(1, Response("94"))],
)"#;
    let (r, _) = run_text(text, None, MINUTE);
    assert!(r.passed, "{:#?}", r.expectations);
}
