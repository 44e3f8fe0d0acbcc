//! The trainer view's model: a subscriber to the record stream that keeps
//! what the window draws. It must agree with the run's own report.

use std::sync::Arc;

use possim::sim::{self, Options, Pacing, Plan, Subscribers};
use possim::view::{Marker, ViewFeed};

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

#[test]
fn the_views_words_are_all_there_in_both_languages() {
    use std::collections::BTreeMap;
    let text = std::fs::read_to_string(root().join("assets/gui.ron")).unwrap();
    let words: BTreeMap<String, possim::assess::text::Tr> = ron::from_str(&text).unwrap();
    for (k, w) in &words {
        assert!(!w.en.is_empty() && !w.zh_cn.is_empty(), "{k}");
    }
    // Every key the window asks for, literally.
    let src = std::fs::read_to_string(root().join("src/gui/mod.rs")).unwrap();
    let mut used = Vec::new();
    for (i, _) in src.match_indices("word(\"") {
        let rest = &src[i + 6..];
        used.push(rest[..rest.find('"').unwrap()].to_string());
    }
    for (i, _) in src.match_indices("(\"") {
        let rest = &src[i + 2..];
        let key = &rest[..rest.find('"').unwrap_or(0)];
        if key.starts_with("legend.") || key.starts_with("marker.") {
            used.push(key.to_string());
        }
    }
    assert!(used.len() > 15, "{used:?}");
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
