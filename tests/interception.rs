//! The seams faults and attacks plug into: frame rules on links, taps on the
//! card channel, host checks switched by name, commands into a running
//! world, and faults declared once as kind + window + filter.

use std::sync::{Arc, Mutex};

use possim::card::Interface;
use possim::link::{Draw, Frame, Rule, Scope, Verdict};
use possim::protocol::iso8583::Mti;
use possim::sim::Command;
use possim::terminal::{CardChannel, CardTap};
use possim::time::SimTime;

use crate::util::{lines_of, run_steered};

/// A short day at one terminal, every customer inserting a chip card or
/// swiping a magstripe-only one.
fn small_shop(rules: &str) -> String {
    format!(
        r#"Scenario(
    name: "small shop",
    duration: "1h",
    issuer: ({rules}),
    shop: (terminals: [(id: "TERM0001")]),
    cardholders: (count: 40, contactless: 0.0, offline_pin: 0.0, pin_typo: 0.0),
    traffic: (per_hour: 30),
)"#
    )
}

/// A MITM that raises field 4 of every 0200 by 100.00, re-encoding the frame
/// under the dialect: what a tampering attack will do.
#[derive(Debug)]
struct RaiseAmount;

impl Rule for RaiseAmount {
    fn name(&self) -> &'static str {
        "raise_amount"
    }
    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut Draw<'_>) -> Verdict {
        let Ok(mut m) = frame.spec.decode(frame.bytes) else { return Verdict::Pass };
        let Some(amount) = m.amount() else { return Verdict::Pass };
        m.set(4, format!("{:012}", amount + 10_000));
        frame.spec.encode(&m).map_or(Verdict::Pass, Verdict::Replace)
    }
}

fn install_raise() -> Command {
    Command::InstallRule {
        link: "uplink".into(),
        rule: Box::new(RaiseAmount),
        scope: Scope { mti: Some(Mti::REQUEST), ..Scope::default() },
    }
}

#[test]
fn a_rule_written_outside_the_crate_that_raises_field_4_is_caught_by_the_mac_check() {
    let (r, journal) = run_steered(&small_shop(""), vec![install_raise()], vec![]);
    let decided: Vec<_> =
        lines_of(&journal, "host_decision").into_iter().filter(|d| d["mti"] == "0200").collect();
    assert!(decided.len() > 10, "customers came: {}", decided.len());
    // Every altered request is refused for its MAC: 63, nothing charged.
    assert!(decided.iter().all(|d| d["response"] == "63" && d["checks"]["mac"] == "invalid"));
    assert_eq!(r.counts.approved, 0);
    assert_eq!(r.ledger.0.0, 0, "no money moved");
    let faults = lines_of(&journal, "frame_fault");
    assert!(faults.iter().all(|f| f["fault"] == "raise_amount" && f["effect"] == "replaced"));
    assert_eq!(r.faults.get("raise_amount").copied(), Some(decided.len() as u64));
}

#[test]
fn with_the_mac_and_arqc_checks_switched_off_the_raised_amount_is_charged() {
    // The scenario lists the defences it keeps: not MAC, not ARQC. The same
    // tampering now goes through, and the books no longer balance.
    let text = small_shop("rules: [VerifyPin, VerifyCvv, DuplicateWindow(\"24h\")]");
    let (r, journal) = run_steered(&text, vec![install_raise()], vec![]);
    assert!(r.counts.approved > 10, "{:?}", r.counts);
    let approved: Vec<_> = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["mti"] == "0200" && d["response"] == "00")
        .collect();
    assert!(approved.iter().all(|d| d["checks"]["mac"] == "invalid"));
    // The host charged 100.00 more for every approval than the terminal
    // printed on the receipt: the books show exactly the raised amounts.
    let row = &r.settlement[0];
    assert!(!row.balanced);
    assert_eq!(row.host_totals.purchases, row.terminal_totals.purchases);
    let extra = row.host_totals.purchase_amount.0 - row.terminal_totals.purchase_amount.0;
    assert_eq!(extra, 10_000 * row.host_totals.purchases as i64, "{row:?}");
}

#[test]
fn a_defence_switched_off_by_name_in_the_scenario_lets_the_raised_amount_through() {
    // `off` names the defences to drop, with the names commands use; every
    // other stays on.
    let (r, journal) =
        run_steered(&small_shop(r#"off: ["mac", "arqc"]"#), vec![install_raise()], vec![]);
    assert!(r.counts.approved > 10, "{:?}", r.counts);
    let decided = lines_of(&journal, "host_decision");
    assert!(decided.iter().any(|d| d["checks"]["cvv"] == "valid"), "the other checks still run");
    assert!(!r.settlement[0].balanced, "the raised amounts were charged");
    // The same shop with every defence on refuses them all.
    let (r, _) = run_steered(&small_shop(""), vec![install_raise()], vec![]);
    assert_eq!(r.counts.approved, 0);
}

#[test]
fn a_misspelt_or_essential_check_in_off_is_a_check_error_at_its_position() {
    let text = "Scenario(\n    name: \"x\",\n    issuer: (off: [\"pin\", \"macc\"]),\n)";
    let d = check_error(text);
    assert_eq!((d.line, d.column), (3, 27), "{d}");
    assert!(d.message.contains("no defence named `macc`"), "{d}");
    assert!(d.to_string().contains("did you mean `mac`"), "{d}");
    let d = check_error(r#"Scenario(name: "x", issuer: (off: ["card"]))"#);
    assert!(d.message.contains("cannot be switched off"), "{d}");
}

/// Records every APDU and swipe that passes, unchanged.
#[derive(Debug, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl CardTap for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn power_on(&mut self, i: Interface, card: &mut dyn CardChannel) -> Vec<u8> {
        self.0.lock().unwrap().push(format!("power {i:?}"));
        card.power_on(i)
    }
    fn transmit(&mut self, capdu: &[u8], card: &mut dyn CardChannel) -> Vec<u8> {
        let r = card.transmit(capdu);
        self.0.lock().unwrap().push(format!("{} -> {}", hex::encode_upper(capdu), r.len()));
        r
    }
    fn swipe(&mut self, card: &mut dyn CardChannel) -> Option<String> {
        self.0.lock().unwrap().push("swipe".into());
        card.swipe()
    }
}

#[test]
fn a_tap_on_the_card_channel_sees_every_apdu_the_reader_logs() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap =
        Command::TapCards { terminal: "TERM0001".into(), tap: Box::new(Recorder(seen.clone())) };
    let (_, journal) = run_steered(&small_shop(""), vec![tap], vec![]);
    let logged: Vec<String> = lines_of(&journal, "card_session")
        .iter()
        .flat_map(|s| s["apdus"].as_array().unwrap().clone())
        .map(|a| a["c"].as_str().unwrap().to_string())
        .collect();
    let seen = seen.lock().unwrap();
    let apdus: Vec<&String> = seen.iter().filter(|s| s.contains(" -> ")).collect();
    assert!(apdus.len() > 100, "a day of chip sessions: {}", apdus.len());
    // The same commands in the same order (the journal stars out VERIFY data).
    assert_eq!(apdus.len(), logged.len());
    for (a, l) in apdus.iter().zip(&logged) {
        assert_eq!(a[..8], l[..8], "{a} vs {l}");
    }
    assert!(journal.contains(r#""command":"tap_cards","target":"TERM0001","applied":true"#));
}

#[test]
fn a_command_switches_a_defence_off_mid_run_and_the_outcome_changes_from_then_on() {
    let half = SimTime(30 * 60 * 1_000_000);
    let off = Command::SetDefence { check: "mac".into(), on: false };
    let arqc_off = Command::SetDefence { check: "arqc".into(), on: false };
    let (_, journal) =
        run_steered(&small_shop(""), vec![install_raise()], vec![(half, off), (half, arqc_off)]);
    let cmd = lines_of(&journal, "command_applied")
        .into_iter()
        .find(|c| c["command"] == "defence_off" && c["target"] == "mac")
        .expect("the command is journalled");
    assert_eq!(cmd["applied"], true);
    let switched_at = cmd["t_us"].as_u64().unwrap();
    let decided: Vec<_> =
        lines_of(&journal, "host_decision").into_iter().filter(|d| d["mti"] == "0200").collect();
    let (before, after): (Vec<_>, Vec<_>) =
        decided.iter().partition(|d| d["t_us"].as_u64().unwrap() < switched_at);
    assert!(!before.is_empty() && !after.is_empty());
    assert!(before.iter().all(|d| d["response"] == "63"));
    assert!(after.iter().any(|d| d["response"] == "00"), "the tampered requests now pass");
}

#[test]
fn a_command_disarms_a_fault_and_arms_it_again_mid_run() {
    // Every answer is lost while the fault is armed: disarmed at the start,
    // armed again at 30 minutes.
    let text = r#"Scenario(
    name: "small shop",
    duration: "1h",
    shop: (terminals: [(id: "TERM0001")]),
    links: [(id: "uplink", faults: [Loss(p: 1.0, direction: Down)])],
    cardholders: (count: 40, contactless: 0.0, offline_pin: 0.0, pin_typo: 0.0),
    traffic: (per_hour: 30),
)"#;
    let half = SimTime(30 * 60 * 1_000_000);
    let disarm = Command::ArmFault { name: "loss".into(), armed: false };
    let arm = Command::ArmFault { name: "loss".into(), armed: true };
    let (r, journal) = run_steered(text, vec![disarm], vec![(half, arm)]);
    let lost = lines_of(&journal, "frame_fault");
    assert!(!lost.is_empty(), "armed again, the fault fires");
    assert!(lost.iter().all(|f| f["fault"] == "loss" && f["t_us"].as_u64() >= Some(half.0)));
    let early_approvals = lines_of(&journal, "host_decision")
        .into_iter()
        .filter(|d| d["response"] == "00" && d["t_us"].as_u64() < Some(half.0))
        .count();
    assert!(early_approvals > 3, "disarmed, answers arrive: {early_approvals}");
    assert!(r.counts.approved > 3);
    for c in ["disarm_fault", "arm_fault"] {
        let applied = format!(r#""command":"{c}","target":"loss","applied":true"#);
        assert!(journal.contains(&applied), "{c}");
    }
}

#[test]
fn a_paused_world_stands_still_until_resumed() {
    use possim::sim::{self, Clock, Control, Options, Pacing, Plan};
    let s = possim::scenario::parse(&small_shop(""), "t.ron").unwrap();
    let plan = Arc::new(Plan::new(&s, None).unwrap());
    let slice = possim::time::Duration::from_secs(60);
    let options = Options { apdus: false, frames: false, stay_open: false };
    let mut app = sim::build_app(plan, None, Pacing::Headless { slice }, options);
    let (control, tx) = Control::new();
    app.insert_resource(control);
    for _ in 0..10 {
        app.update();
    }
    tx.send(Command::Pause(true)).unwrap();
    app.update();
    let paused_at = app.world().resource::<Clock>().now;
    for _ in 0..50 {
        app.update();
    }
    let clock = app.world().resource::<Clock>();
    assert!(clock.paused && !clock.finished);
    assert_eq!(clock.now, paused_at, "no virtual time passes while paused");
    tx.send(Command::Pause(false)).unwrap();
    let mut updates = 0;
    while !app.world().resource::<Clock>().finished {
        app.update();
        updates += 1;
        assert!(updates < 10_000, "the run ends once resumed");
    }
    assert!(app.world().resource::<Clock>().now > paused_at);
}

#[test]
fn a_command_naming_nothing_is_journalled_as_not_applied() {
    let bad = Command::SetDefence { check: "format".into(), on: false };
    let (_, journal) = run_steered(&small_shop(""), vec![bad], vec![]);
    assert!(journal.contains(r#""command":"defence_off","target":"format","applied":false"#));
}

fn check_error(text: &str) -> possim::scenario::Diagnostic {
    possim::scenario::parse(text, "t.ron").expect_err("must not validate")
}

#[test]
fn issue_8_a_range_error_in_a_fault_points_at_that_fault() {
    // See: issue 8, 5f (it used to point at the earlier fault's `p`).
    let text = "Scenario(\n    name: \"x\",\n    links: [(faults: [\n        Duplicate(p: 0.1),\n        BurstLoss(p: 0.1, r: 0.2, bad_loss: 1.5),\n    ])],\n)";
    let d = check_error(text);
    assert_eq!(d.line, 5, "{d}");
    assert!(d.message.contains("between 0.0 and 1.0"), "{d}");
}

#[test]
fn a_misspelt_window_field_in_a_fault_suggests_the_scope_field() {
    let text = r#"Scenario(name: "x", links: [(faults: [Loss(p: 0.1, untill: "1h")])])"#;
    let d = check_error(text);
    assert!(d.to_string().contains("did you mean `until`"), "{d}");
}

#[test]
fn a_fault_filter_that_can_never_match_is_a_check_error() {
    let unknown_terminal =
        r#"Scenario(name: "x", links: [(faults: [Loss(p: 0.1, terminal: "TERM0009")])])"#;
    let d = check_error(unknown_terminal);
    assert!(d.message.contains("TERM0009"), "{d}");
    assert_eq!(d.line, 1);
    assert!(d.column > 40, "points at the terminal: {d}");
    let no_such_mti = r#"Scenario(name: "x", links: [(faults: [Loss(p: 0.1, mti: "0100")])])"#;
    let d = check_error(no_such_mti);
    assert!(d.message.contains("0100"), "{d}");
    let not_an_mti = r#"Scenario(name: "x", links: [(faults: [Loss(p: 0.1, mti: "21")])])"#;
    assert!(check_error(not_an_mti).message.contains("4 digits"));
}

#[test]
fn issue_8_a_fault_that_does_nothing_is_a_check_error() {
    // See: issue 8, 5g: a zero gap or delay counted every frame as fired.
    for f in [r#"Reorder(p: 0.5, gap: "0s")"#, r#"Delay(extra: "0s")"#] {
        let text = format!(r#"Scenario(name: "x", links: [(faults: [{f}])])"#);
        assert!(check_error(&text).message.contains("more than 0s"), "{f}");
    }
}

#[test]
fn a_window_that_ends_before_it_starts_is_a_check_error() {
    let text = r#"Scenario(name: "x", links: [(faults: [Outage(from: "2h", until: "1h")])])"#;
    assert!(check_error(text).message.contains("must end after it starts"));
}

#[test]
fn delay_and_delay_past_timeout_are_counted_under_their_own_names() {
    // See: issue 8, 5g.
    let text = r#"Scenario(
    name: "x", duration: "30m",
    links: [(faults: [Delay(extra: "10ms", direction: Up), DelayPastTimeout(direction: Down)])],
)"#;
    let (r, _) = crate::util::run_text(text, None, possim::time::Duration::from_secs(60));
    assert!(r.faults.get("delay").copied().unwrap_or(0) > 0, "{:?}", r.faults);
    assert!(r.faults.get("delay_past_timeout").copied().unwrap_or(0) > 0, "{:?}", r.faults);
}

/// Keeps (seq, virtual time, kind) of every record it is handed.
struct Collect(Arc<Mutex<Vec<(u64, u64, String)>>>);

impl possim::sim::Subscriber for Collect {
    fn on_record(&mut self, seq: u64, at: SimTime, record: &possim::sim::Record) {
        let v = serde_json::to_value(record).unwrap();
        self.0.lock().unwrap().push((seq, at.0, v["kind"].as_str().unwrap().to_string()));
    }
}

#[test]
fn a_subscriber_sees_the_same_records_as_the_journal() {
    use possim::sim::{self, Journal, Options, Pacing, Plan, Subscribers};
    let s = possim::scenario::parse(&small_shop(""), "t.ron").unwrap();
    let plan = Arc::new(Plan::new(&s, None).unwrap());
    let buf = crate::util::SharedBuf::default();
    let mut app = sim::build_app(
        plan,
        Some(Journal::to(Box::new(buf.clone()))),
        Pacing::Headless { slice: possim::time::Duration::from_secs(60) },
        Options { apdus: true, frames: true, stay_open: false },
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    app.world_mut().resource_mut::<Subscribers>().add(Box::new(Collect(seen.clone())));
    sim::run_to_end(&mut app, "t.ron");
    let journal = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<(u64, u64, String)> = journal
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["seq"].as_u64().unwrap(),
                v["t_us"].as_u64().unwrap(),
                v["kind"].to_string().replace('"', ""),
            )
        })
        .collect();
    assert!(lines.len() > 100);
    assert_eq!(*seen.lock().unwrap(), lines, "same records, same order, same ids and times");
}

/// Answers every 0200 with a forged 0210 approval, injected towards the
/// terminal before the host has seen the request (no valid MAC).
#[derive(Debug)]
struct ForgeApproval;

impl Rule for ForgeApproval {
    fn name(&self) -> &'static str {
        "forge_approval"
    }
    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut Draw<'_>) -> Verdict {
        let Ok(req) = frame.spec.decode(frame.bytes) else { return Verdict::Pass };
        let mut m = possim::protocol::iso8583::Message::new(Mti::RESPONSE);
        for n in [3, 4, 11, 12, 13, 37, 41, 42, 49] {
            if let Some(v) = req.get(n) {
                m.set(n, v);
            }
        }
        m.set(39, "00");
        m.set(64, [0u8; 8]);
        let Ok(bytes) = frame.spec.encode(&m) else { return Verdict::Pass };
        Verdict::Inject {
            dir: possim::link::Dir::Down,
            bytes,
            after: possim::time::Duration::from_millis(1),
        }
    }
}

#[test]
fn an_injected_forged_approval_is_refused_by_the_terminal_mac_check() {
    let forge = Command::InstallRule {
        link: "uplink".into(),
        rule: Box::new(ForgeApproval),
        scope: Scope { mti: Some(Mti::REQUEST), ..Scope::default() },
    };
    let (r, journal) = run_steered(&small_shop(""), vec![forge], vec![]);
    let injected = lines_of(&journal, "frame_fault")
        .into_iter()
        .filter(|f| f["fault"] == "forge_approval" && f["effect"] == "injected")
        .count();
    assert!(injected > 10, "{injected}");
    let ignored = lines_of(&journal, "terminal_note")
        .into_iter()
        .filter(|n| n["reason"] == "MAC missing or invalid")
        .count();
    assert_eq!(ignored, injected, "every forgery is ignored");
    // The real answers still decide, and the books balance.
    assert!(r.counts.approved > 10);
    assert!(r.settlement.iter().all(|s| s.balanced));
}

/// Replaces every request with malformed bytes, three ways in turn: nothing,
/// bytes that are not a frame at all, and the request cut short inside its
/// MAC (every field before it still readable).
#[derive(Debug)]
struct Garble;

impl Rule for Garble {
    fn name(&self) -> &'static str {
        "garble"
    }
    fn on_frame(&mut self, frame: &Frame<'_>, _: &mut Draw<'_>) -> Verdict {
        Verdict::Replace(match frame.index % 3 {
            0 => Vec::new(),
            1 => b"02\xff\x00junk".to_vec(),
            _ => {
                frame.bytes.get(..frame.bytes.len().saturating_sub(4)).unwrap_or_default().to_vec()
            }
        })
    }
}

#[test]
fn a_rule_that_returns_malformed_bytes_reaches_the_host_as_a_corrupted_frame() {
    let garble = Command::InstallRule {
        link: "uplink".into(),
        rule: Box::new(Garble),
        scope: Scope { direction: Some(possim::link::Dir::Up), ..Scope::default() },
    };
    let (r, journal) = run_steered(&small_shop(""), vec![garble], vec![]);
    let decided = lines_of(&journal, "host_decision");
    assert!(decided.len() > 10);
    // What cannot be read gets no answer; a frame whose header and fields
    // still read gets a format error (30) the terminal can match; never money.
    assert!(
        decided.iter().all(|d| d["response"].is_null() || d["response"] == "30"),
        "{decided:?}"
    );
    let unanswered = decided.iter().filter(|d| d["response"].is_null()).count();
    let format_errors = decided.iter().filter(|d| d["response"] == "30").count();
    assert!(unanswered > 3 && format_errors > 3, "{unanswered} unanswered, {format_errors} 30s");
    assert_eq!(r.counts.approved, 0);
    assert_eq!(r.ledger.0.0, 0);
}
