//! The trainer view's model: a subscriber to the record stream that keeps
//! what the window draws. It must agree with the run's own report.

use std::sync::Arc;

use possim::sim::{self, Options, Pacing, Plan, Subscribers};
use possim::time::SimTime;
use possim::view::{Marker, Spot, Switch, Verdict, ViewFeed, Worlds, exercise};

use crate::util::root;

/// A headless app for a catalogue scenario, with a view kept beside it.
fn app_with_view(file: &str) -> (bevy::app::App, ViewFeed) {
    let s = possim::scenario::load(&root().join("scenarios").join(file)).unwrap();
    let plan = Plan::new(&s, None).unwrap();
    let feed = ViewFeed::default();
    let mut app = sim::build_app(
        Arc::new(plan),
        None,
        Pacing::Headless { slice: sim::HEADLESS_SLICE },
        Options { apdus: false, frames: false, stay_open: false },
    );
    app.world_mut().resource_mut::<Subscribers>().add(Box::new(feed.clone()));
    (app, feed)
}

#[test]
fn the_view_counts_what_the_report_counts_and_marks_attacks_alerts_and_losses() {
    let (mut app, feed) = app_with_view("insider-refund.ron");
    let report = sim::run_to_end(&mut app, "insider-refund.ron");
    let v = feed.0.lock().unwrap().clone();
    let c = &report.counts;
    assert_eq!(v.approved, c.approved + c.approved_offline);
    assert_eq!(v.timeouts, c.timeouts);
    assert_eq!(v.declined, c.declined + c.declined_offline + c.unreadable, "{c:?}");
    assert!(report.fraud_loss.0 > 0);
    assert_eq!(v.fraud_loss, report.fraud_loss, "money taken, as the monitor counts it");
    assert_eq!(v.alerts.len(), report.alerts.len());
    assert!(
        v.markers
            .iter()
            .any(|(_, m)| matches!(m, Marker::AttackStarted(n) if n == "insider_refund"))
    );
    assert!(v.markers.iter().any(|(_, m)| matches!(m, Marker::Alert(_))));
    assert!(v.markers.iter().any(|(_, m)| matches!(m, Marker::MoneyLost(_))));
    assert!(!v.samples.is_empty());
    assert!(v.packets.len() <= possim::view::View::PACKETS);
}

#[test]
fn a_device_shows_on_its_terminal_while_fitted_and_goes_when_removed() {
    let (mut app, feed) = app_with_view("skimmer-magstripe.ron");
    let mut fitted = false;
    loop {
        app.update();
        let v = feed.0.lock().unwrap().clone();
        if v.devices.get("TERM0001").is_some_and(|d| d.iter().any(|n| n == "skimmer")) {
            fitted = true;
        }
        if app.world().resource::<sim::Clock>().finished {
            assert!(fitted, "the skimmer was shown while it was fitted");
            assert!(
                !v.devices.get("TERM0001").is_some_and(|d| d.iter().any(|n| n == "skimmer")),
                "and gone once removed: {:?}",
                v.devices
            );
            assert!(v.stolen > 0);
            break;
        }
    }
}

fn plan_of(file: &str) -> Arc<Plan> {
    let s = possim::scenario::load(&root().join("scenarios").join(file)).unwrap();
    Arc::new(Plan::new(&s, None).unwrap())
}

/// The trainer's side-by-side: the scenario's world and the same seed with
/// one defence flipped. The scenario's side is the run `possim run` makes;
/// the other side is what the defence changes.
#[test]
fn a_defence_switched_beside_the_scenario_shows_what_it_was_worth() {
    let plan = plan_of("insider-refund.ron");
    let mut app = sim::build_app(
        plan.clone(),
        None,
        Pacing::Headless { slice: sim::HEADLESS_SLICE },
        Options { apdus: false, frames: false, stay_open: false },
    );
    let report = sim::run_to_end(&mut app, "insider-refund.ron");
    assert!(report.fraud_loss.0 > 0);

    let refunds = Switch::from_name("refund_sale").unwrap();
    assert!(!refunds.is_on(&plan), "off in the scenario");
    let mut w = Worlds::new(plan.clone());
    w.compare(refunds, true);
    // Stepped as the window steps them: a few virtual minutes at a time.
    let mut t = SimTime(0);
    while !(w.main.finished() && w.compare.as_ref().unwrap().2.finished()) {
        t = t + possim::time::Duration::from_secs(300);
        w.advance_to(t);
        assert!(t.0 < 86_400_000_000 * 3, "the worlds never finished");
    }
    let main = w.main.view();
    let c = &report.counts;
    assert_eq!(
        main.approved,
        c.approved + c.approved_offline,
        "the scenario's side is `possim run`"
    );
    assert_eq!(w.main.loss(&main), report.fraud_loss);
    let (_, on, other) = w.compare.as_ref().unwrap();
    assert!(*on);
    let theirs = other.view();
    let (before, after) = (w.main.loss(&main), other.loss(&theirs));
    assert_eq!(after.0, 0, "refunds only to cards that bought here stop the insider");
    assert_eq!(Verdict::of((before, main.stolen), (after, theirs.stolen)), Verdict::Stopped);
    // Honest customers still pay: the defence is not a switch that refuses everything.
    assert!(theirs.approved > c.approved / 2, "{} of {}", theirs.approved, c.approved);

    // A defence that has nothing to do with refunds changes nothing.
    let mut w2 = Worlds::new(plan.clone());
    w2.compare(Switch::Tls, true);
    w2.seek(SimTime(u64::MAX / 4));
    let (m, o) = (w2.main.view(), w2.compare.as_ref().unwrap().2.view());
    assert_eq!(w2.main.loss(&m), report.fraud_loss);
    assert_eq!(w2.compare.as_ref().unwrap().2.loss(&o), report.fraud_loss);
    assert_eq!(Verdict::of((report.fraud_loss, 0), (report.fraud_loss, 0)), Verdict::NoDifference);
}

/// Going back on the timeline reruns the same seed: the view at a moment
/// is the same whether reached straight or after going past it and back.
#[test]
fn seeking_back_shows_the_same_moment_as_playing_to_it() {
    let plan = plan_of("skimmer-magstripe.ron");
    let at = SimTime(3 * 3_600_000_000);
    let mut straight = Worlds::new(plan.clone());
    straight.advance_to(at);
    let mut back = Worlds::new(plan.clone());
    back.seek(SimTime(6 * 3_600_000_000));
    let later = back.main.view();
    back.seek(at);
    assert_eq!(back.main.now(), at);
    let (a, b) = (straight.main.view(), back.main.view());
    assert!(later.approved > b.approved, "went past it first");
    assert_eq!((a.approved, a.declined, a.stolen), (b.approved, b.declined, b.stolen));
    assert_eq!(a.markers, b.markers);
    assert_eq!(a.packets, b.packets, "the same frames, byte for byte");
    assert!(
        a.packets.iter().all(|p| !p.bytes.is_empty()),
        "frames keep their bytes for the inspector"
    );
}

/// Spot the skimmer: before anything is fitted every pick is "nothing
/// yet"; once the skimmer is on TERM0001 that pick is right and the other
/// terminal is clean.
#[test]
fn spot_the_skimmer_knows_which_terminal_has_it() {
    let plan = plan_of("skimmer-magstripe.ron");
    let mut w = Worlds::new(plan.clone());
    w.advance_to(SimTime(60_000_000));
    assert_eq!(exercise::spot(&w.main.view(), "TERM0001"), Spot::NothingFitted);
    let mut t = SimTime(0);
    loop {
        t = t + possim::time::Duration::from_secs(600);
        w.advance_to(t);
        let v = w.main.view();
        if let Spot::Right(d) = exercise::spot(&v, "TERM0001") {
            assert_eq!(d, ["skimmer"]);
            assert_eq!(exercise::spot(&v, "TERM0002"), Spot::Clean);
            break;
        }
        assert!(!w.main.finished(), "the skimmer was never found on TERM0001");
    }
    // Once the thief has taken it away, a pick says so (and not "nothing yet").
    w.seek(SimTime(u64::MAX / 4));
    assert_eq!(exercise::spot(&w.main.view(), "TERM0001"), Spot::Gone);
}

/// What would have stopped it, asked of two defences. Staff checking the
/// readers every two hours find the skimmer and end the copying: fewer
/// cards taken, less money lost with the copies. The bank's MAC check,
/// switched off, lets the man in the middle's changed amounts through: the
/// scenario's side is the one with the defence, and it is the one without
/// the loss.
#[test]
fn what_would_have_stopped_it_is_judged_on_both_runs() {
    let plan = plan_of("skimmer-magstripe.ron");
    assert!(!Switch::Inspection.is_on(&plan));
    let mut w = Worlds::new(plan.clone());
    w.compare(Switch::Inspection, true);
    w.seek(SimTime(u64::MAX / 4));
    let other = &w.compare.as_ref().unwrap().2;
    assert!(w.main.finished() && other.finished());
    let (m, o) = (w.main.view(), other.view());
    let (l0, l1) = (w.main.loss(&m), other.loss(&o));
    assert!(m.stolen > 0 && l0.0 > 0, "the skimmer's copies were used");
    assert!(
        o.stolen < m.stolen,
        "found sooner, fewer cards copied: {} then {}",
        m.stolen,
        o.stolen
    );
    assert!(o.alerts.iter().any(|a| format!("{:?}", a.1) == "TamperDetected"), "{:?}", o.alerts);
    let v = Verdict::of((l0, m.stolen), (l1, o.stolen));
    assert!(
        matches!(v, Verdict::Stopped | Verdict::SavedTheMoney | Verdict::Reduced),
        "{v:?}: {l0:?} and {} stolen against {l1:?} and {}",
        m.stolen,
        o.stolen
    );

    let plan = plan_of("mitm-amount-tamper.ron");
    let mac = Switch::from_name("mac").unwrap();
    assert!(mac.is_on(&plan));
    let mut w = Worlds::new(plan.clone());
    w.compare(mac, false);
    w.seek(SimTime(u64::MAX / 4));
    let other = &w.compare.as_ref().unwrap().2;
    let (m, o) = (w.main.view(), other.view());
    let (with, without) = (w.main.loss(&m), other.loss(&o));
    assert_eq!(with.0, 0, "the MAC refuses every changed message");
    assert!(without.0 > 0, "without it the changed amounts are charged");
    assert_eq!(Verdict::of((without, o.stolen), (with, m.stolen)), Verdict::Stopped);
}

/// Time to detect: the insider's refunds start at 3h and the refund
/// alert must come within the hour (the scenario expects it); before the
/// attack there is nothing to detect; a skimmer nobody checks for is
/// never detected.
#[test]
fn time_to_detect_runs_from_the_first_attack_to_the_first_alert_after_it() {
    use possim::time::Duration;
    use possim::view::Detection;
    let mut w = Worlds::new(plan_of("insider-refund.ron"));
    w.advance_to(SimTime(2 * 3_600_000_000));
    assert_eq!(w.main.view().detection(w.main.now()), Detection::NoAttack);
    w.seek(SimTime(u64::MAX / 4));
    let v = w.main.view();
    match v.detection(w.main.now()) {
        Detection::Detected(d) => {
            assert!(d.micros() > 0 && d <= Duration::from_secs(3600), "{d:?}");
            let start =
                v.markers.iter().find(|(_, m)| matches!(m, Marker::AttackStarted(_))).unwrap().0;
            assert_eq!(start, SimTime(3 * 3_600_000_000));
        }
        other => panic!("{other:?}"),
    }
    let mut w = Worlds::new(plan_of("skimmer-magstripe.ron"));
    w.seek(SimTime(u64::MAX / 4));
    let end = w.main.now();
    assert!(
        matches!(w.main.view().detection(end), Detection::NotYet(d) if d.micros() > 3_600_000_000)
    );
}

#[test]
fn verdicts_read_money_first_then_card_data() {
    use possim::money::Money;
    let m = Money;
    assert_eq!(Verdict::of((m(0), 0), (m(0), 0)), Verdict::NothingToStop);
    assert_eq!(Verdict::of((m(500), 3), (m(0), 0)), Verdict::Stopped);
    assert_eq!(Verdict::of((m(500), 3), (m(0), 2)), Verdict::SavedTheMoney);
    assert_eq!(Verdict::of((m(500), 3), (m(200), 3)), Verdict::Reduced);
    assert_eq!(Verdict::of((m(500), 3), (m(500), 1)), Verdict::Reduced, "less card data taken");
    assert_eq!(Verdict::of((m(0), 5), (m(0), 2)), Verdict::Reduced);
    assert_eq!(Verdict::of((m(500), 3), (m(500), 3)), Verdict::NoDifference);
    assert_eq!(Verdict::of((m(500), 3), (m(700), 3)), Verdict::Worse);
    assert_eq!(Verdict::of((m(0), 4), (m(0), 0)), Verdict::Stopped);
}

#[test]
fn switches_flip_the_plan_or_send_a_command() {
    let plan = plan_of("mitm-passive.ron");
    assert!(!Switch::Tls.is_on(&plan), "TERM0001 has no TLS there");
    let sealed = Switch::Tls.apply_to_plan(&plan, true);
    assert!(Switch::Tls.is_on(&sealed));
    assert!(!Switch::Tls.is_on(&Switch::Tls.apply_to_plan(&sealed, false)));
    let inspected = Switch::Inspection.apply_to_plan(&plan, true);
    assert!(Switch::Inspection.is_on(&inspected) && !Switch::Inspection.is_on(&plan));
    let mac = Switch::from_name("mac").unwrap();
    assert!(mac.is_on(&plan));
    assert!(matches!(mac.command(false), Some(possim::sim::Command::SetDefence { on: false, .. })));
    assert!(Switch::Tls.command(true).is_none());
    for s in Switch::all() {
        assert_eq!(Switch::from_name(s.name()), Some(s));
    }
    assert_eq!(Switch::from_name("format"), None, "reading the message is not a defence");
}

#[test]
fn the_views_words_are_all_there_in_both_languages() {
    use std::collections::BTreeMap;
    let text = std::fs::read_to_string(root().join("assets/gui.ron")).unwrap();
    let words: BTreeMap<String, possim::assess::text::Tr> = ron::from_str(&text).unwrap();
    for (k, w) in &words {
        assert!(!w.en.is_empty() && !w.zh_cn.is_empty(), "{k}");
    }
    // Every key the window asks for, literally.
    let mut src = String::new();
    for f in ["mod.rs", "panels.rs", "floor.rs", "inspector.rs"] {
        src += &std::fs::read_to_string(root().join("src/gui").join(f)).unwrap();
    }
    let mut used = Vec::new();
    for (i, _) in src.match_indices("word(\"") {
        let rest = &src[i + 6..];
        used.push(rest[..rest.find('"').unwrap()].to_string());
    }
    for (i, _) in src.match_indices("(\"") {
        let rest = &src[i + 2..];
        let key = &rest[..rest.find('"').unwrap_or(0)];
        let prefixes = [
            "legend.",
            "marker.",
            "exercise.",
            "frames.",
            "comparing.",
            "compared.",
            "approved",
            "declined",
            "timeouts",
        ];
        if prefixes.iter().any(|p| key.starts_with(p))
            || [
                "with_it",
                "without_it",
                "fraud_loss",
                "stolen",
                "alerts_n",
                "time_to_detect",
                "span",
                "happened",
                "why",
                "defend",
                "device",
                "attacker_here",
            ]
            .contains(&key)
        {
            used.push(key.to_string());
        }
    }
    // And every dotted literal there ("inspector.changed", "frames.delayed"),
    // wherever it is written: in a match arm, an if, a tuple.
    for piece in src.split('"').skip(1).step_by(2) {
        let dotted = piece.contains('.')
            && piece
                .split('.')
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        if dotted {
            used.push(piece.to_string());
        }
    }
    assert!(used.len() > 50, "{used:?}");
    for s in Switch::all() {
        used.push(format!("defence.{}", s.name()));
    }
    for v in [
        Verdict::Stopped,
        Verdict::SavedTheMoney,
        Verdict::Reduced,
        Verdict::NoDifference,
        Verdict::Worse,
        Verdict::NothingToStop,
    ] {
        used.push(v.key().to_string());
    }
    for k in &used {
        assert!(words.contains_key(k), "`{k}` has no words in assets/gui.ron");
    }
    // Every attack kind has a name in both languages: the view's own, or
    // the assessment's.
    let assess = possim::assess::text::load().unwrap();
    for name in [
        "skimmer",
        "shimmer",
        "pin_pad_overlay",
        "cash_out",
        "mitm_read",
        "mitm_tamper",
        "replay",
        "insider_refund",
        "ram_scraper",
        "terminal_swap",
        "stolen_cards",
        "mitm_rogue_cert",
        "relay",
        "pre_play",
        "mitm_inject",
        "mitm_strip_tls",
    ] {
        let ours = words.contains_key(&format!("attack.{name}"));
        let theirs = assess.attacks.iter().any(|a| a.key == name);
        assert!(ours || theirs, "attack `{name}` has no name in the view");
    }
}
