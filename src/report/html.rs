//! `--html PATH`: one self-contained page (no scripts, no fetches) for the
//! people who were not at the terminal: the scenario and its lesson in both
//! languages, an SVG timeline of traffic, attacks, alerts and losses, the
//! expectations and invariants linked to their evidence events, per-terminal
//! tables, and the events themselves, each frame openable in a decoded view
//! with card data masked.
//!
//! [`Collector`] is a subscriber to the record stream (in a run, or fed by
//! `possim replay`); [`render`] joins what it saw with the run's report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::RunReport;
use crate::host::LedgerEffect;
use crate::lesson::{self, Lang};
use crate::link::Effect;
use crate::protocol::iso8583::Spec;
use crate::sim::{Record, Subscriber};
use crate::terminal::Outcome;
use crate::time::SimTime;

/// Events listed with their details (after these, only the ones a reader
/// looks for: alerts, attacks, settlement).
const MAX_EVENTS: usize = 3000;
/// Those kept past [`MAX_EVENTS`]: what a reader looks for, and a few of
/// each kind of event not yet seen often (a late timeout, a rare response).
const MAX_LATE_EVENTS: usize = 2000;
/// Past [`MAX_EVENTS`], events of a kind listed this often already are left out.
const PER_CLASS: u32 = 20;
/// Markers on the timeline (alerts, losses, finds).
const MAX_MARKERS: usize = 2000;
/// Per-minute bins kept (about two years of virtual time).
const MAX_MINUTES: usize = 1 << 20;
/// Columns of the timeline.
const COLUMNS: usize = 120;

/// Traffic in one minute of virtual time.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    approved: u32,
    declined: u32,
    timeouts: u32,
    frames: u32,
    faulted: u32,
}

/// What the timeline marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// An alert fired.
    Alert,
    /// Money paid out to an attacker, or goods handed over on a forged approval.
    Loss,
    /// A tamper check found a device.
    Found,
    /// A man in the middle changed, made up or answered a frame.
    Altered,
}

#[derive(Debug, Clone)]
struct Marker {
    t: u64,
    seq: u64,
    mark: Mark,
    title: String,
    /// Money moved for a frame of no purchase: a loss where possim's own
    /// terminals sent everything, ordinary traffic from a real terminal
    /// (drawn only where the report could account for losses).
    no_purchase: bool,
}

#[derive(Debug, Clone)]
struct Window {
    /// The attack's index in the scenario.
    attack: usize,
    name: String,
    from: u64,
    until: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct TerminalRow {
    purchases: u64,
    approved: u64,
    declined: u64,
    timeouts: u64,
    other: u64,
    alerts: u64,
}

#[derive(Debug, Clone)]
struct EventRow {
    seq: u64,
    t: u64,
    kind: String,
    text: String,
    /// The frame decoded (card data masked), for frames.
    frame: Option<String>,
}

/// What the page needs from the record stream.
#[derive(Debug, Default)]
pub struct Collected {
    /// The scenario as the run knew it: description, faults as drawn,
    /// attacks, expectations.
    scenario: Option<Value>,
    dialect: Option<Spec>,
    /// Why frames are not decoded, if they are not.
    dialect_note: Option<String>,
    /// Recent purchases' last outcome (terminal, minute, outcome): a PIN
    /// retry completes a purchase again and replaces its earlier outcome.
    recent: BTreeMap<u64, (String, u64, Outcome)>,
    bins: Vec<Bin>,
    windows: Vec<Window>,
    markers: Vec<Marker>,
    markers_left_out: u64,
    terminals: BTreeMap<String, TerminalRow>,
    events: Vec<EventRow>,
    late_events: usize,
    events_seen: u64,
    events_left_out: u64,
    /// Purchases an attacker made (cash-outs, insiders' refunds).
    fraud: BTreeSet<u64>,
    /// Purchases whose frames a man in the middle altered.
    attacked: BTreeSet<u64>,
    /// Of which, answered in the bank's place (forged approvals).
    answered: BTreeSet<u64>,
    /// The attacks seen starting.
    attack_names: BTreeSet<&'static str>,
    /// Events listed, by kind and outcome (looked up, never iterated).
    classes: rustc_hash::FxHashMap<(std::mem::Discriminant<Record>, String), u32>,
    /// The sequence numbers listed.
    listed: BTreeSet<u64>,
}

/// The subscriber that collects for the page; the run keeps the other half
/// ([`Collected`] behind the mutex) to render at the end.
pub struct Collector(Arc<Mutex<Collected>>);

impl Collector {
    /// A collector and the handle to read what it collected.
    pub fn new() -> (Self, Arc<Mutex<Collected>>) {
        let shared = Arc::new(Mutex::new(Collected::default()));
        (Self(shared.clone()), shared)
    }
}

impl Subscriber for Collector {
    fn on_record(&mut self, seq: u64, at: SimTime, record: &Record) {
        if let Ok(mut c) = self.0.lock() {
            c.record(seq, at.0, record);
        }
    }
}

/// Purchases remembered for a PIN retry (which follows at once).
const RECENT_PURCHASES: usize = 10_000;

/// The minute of virtual time `t` falls in.
fn bin(bins: &mut Vec<Bin>, t: u64) -> &mut Bin {
    let m = usize::try_from(t / 60_000_000).unwrap_or(usize::MAX).min(MAX_MINUTES - 1);
    if bins.len() <= m {
        bins.resize(m + 1, Bin::default());
    }
    &mut bins[m]
}

impl Collected {
    fn mark(&mut self, t: u64, seq: u64, mark: Mark, title: String) {
        self.push_marker(Marker { t, seq, mark, title, no_purchase: false });
    }

    fn push_marker(&mut self, m: Marker) {
        if self.markers.len() < MAX_MARKERS {
            self.markers.push(m);
        } else {
            self.markers_left_out += 1;
        }
    }

    fn record(&mut self, seq: u64, t: u64, r: &Record) {
        self.events_seen += 1;
        let mut frame_bytes: Option<&[u8]> = None;
        // Only the facts a reader looks for are kept past the first events.
        let mut important = false;
        let mut listed = true;
        match r {
            Record::RunStarted { dialect, dialect_file, .. } => {
                self.scenario = serde_json::to_value(r).ok();
                // A dialect file is read again (it may be another machine's).
                let name = dialect_file.as_deref().unwrap_or(dialect);
                match Spec::load(name) {
                    Ok(s) => self.dialect = Some(s),
                    Err(e) => self.dialect_note = Some(format!("frames are not decoded: {e}")),
                }
                important = true;
            }
            Record::FrameSent { bytes, .. } => {
                bin(&mut self.bins, t).frames += 1;
                frame_bytes = Some(bytes);
            }
            Record::FrameDelivered { bytes, .. } => match bytes {
                // Shown where a fault changed it: the frame as it arrived.
                Some(b) => frame_bytes = Some(b),
                None => listed = false,
            },
            Record::FrameFault { fired, frame, purchase, .. } => {
                bin(&mut self.bins, t).faulted += 1;
                // A man in the middle changing, making up or answering frames.
                let moves_money = matches!(
                    fired.effect,
                    Effect::Replaced { .. } | Effect::Injected { .. } | Effect::Answered
                );
                if moves_money && self.attack_names.contains(fired.fault) {
                    let title = format!("{} {:?} frame {frame}", fired.fault, fired.effect);
                    self.mark(t, seq, Mark::Altered, title);
                    if let Some(p) = purchase {
                        self.attacked.insert(*p);
                        if fired.effect == Effect::Answered {
                            self.answered.insert(*p);
                        }
                    }
                    important = true;
                }
            }
            Record::CardSession { .. } | Record::PinEntered { .. } => listed = false,
            Record::HostDecision { ledger, purchase, amount, terminal, response, .. } => {
                let fraud = purchase.is_some_and(|p| self.fraud.contains(&p));
                let attacked = purchase.is_some_and(|p| self.attacked.contains(&p));
                let moved = matches!(ledger, LedgerEffect::Debit | LedgerEffect::Credit);
                if moved && (fraud || attacked || purchase.is_none()) {
                    let who = if fraud {
                        "an attacker's purchase"
                    } else if attacked {
                        "a purchase whose frames an attacker altered"
                    } else {
                        "a frame of no purchase"
                    };
                    let title = format!(
                        "money out: {} for {who} at {} ({})",
                        amount.unwrap_or_default(),
                        terminal.as_deref().unwrap_or("?"),
                        response.map(|r| r.code()).unwrap_or_default()
                    );
                    let no_purchase = purchase.is_none();
                    self.push_marker(Marker { t, seq, mark: Mark::Loss, title, no_purchase });
                    important = !no_purchase;
                }
            }
            Record::Completed { terminal, outcome, purchase, amount, .. } => {
                // Goods handed over on an approval the bank never gave.
                if *outcome == Outcome::Approved && self.answered.contains(purchase) {
                    let title = format!("{amount} of goods on a forged approval at {terminal}");
                    self.mark(t, seq, Mark::Loss, title);
                    important = true;
                }
                // A PIN retry completes the purchase again: its last outcome counts.
                if let Some((tid, minute, was)) = self.recent.remove(purchase) {
                    self.count(&tid, minute * 60_000_000, was, -1);
                }
                self.count(terminal, t, *outcome, 1);
                self.recent.insert(*purchase, (terminal.to_string(), t / 60_000_000, *outcome));
                while self.recent.len() > RECENT_PURCHASES {
                    self.recent.pop_first();
                }
            }
            Record::AttackStarted { attack, name, terminals } => {
                self.attack_names.insert(name);
                let at = terminals.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
                let name =
                    if at.is_empty() { (*name).to_string() } else { format!("{name} ({at})") };
                self.windows.push(Window { attack: *attack, name, from: t, until: None });
                important = true;
            }
            Record::AttackEnded { attack, .. } => {
                if let Some(w) =
                    self.windows.iter_mut().rev().find(|w| w.until.is_none() && w.attack == *attack)
                {
                    w.until = Some(t);
                }
                important = true;
            }
            Record::CashOut { purchase: Some(p), .. }
            | Record::InsiderRefund { purchase: Some(p), .. } => {
                self.fraud.insert(*p);
            }
            Record::TamperFound { terminal, device, .. } => {
                self.mark(t, seq, Mark::Found, format!("a {device} found on {terminal}"));
                important = true;
            }
            Record::Alert { alert, terminal, detail } => {
                if let Some(tid) = terminal {
                    self.terminals.entry(tid.clone()).or_default().alerts += 1;
                }
                self.mark(t, seq, Mark::Alert, format!("{alert:?}: {detail}"));
                important = true;
            }
            Record::Settlement { .. }
            | Record::Ledger { .. }
            | Record::RunFinished { .. }
            | Record::SetupFailed { .. }
            | Record::CommandApplied { .. } => important = true,
            _ => {}
        }
        if !listed {
            return;
        }
        // Past the first events, each kind and outcome is listed a few times
        // (decided without serialising the record: this runs for every one).
        let keep = self.events.len() < MAX_EVENTS
            || (self.late_events < MAX_LATE_EVENTS
                && (important || self.classes.get(&class(r)).copied().unwrap_or(0) < PER_CLASS)
                && {
                    self.late_events += 1;
                    true
                });
        if !keep {
            self.events_left_out += 1;
            return;
        }
        let v = serde_json::to_value(r).unwrap_or_default();
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("?").to_string();
        *self.classes.entry(class(r)).or_default() += 1;
        self.listed.insert(seq);
        let frame = frame_bytes.and_then(|b| self.decoded(b));
        self.events.push(EventRow { seq, t, kind, text: describe(&v), frame });
    }

    /// Counts (`n` = 1) or takes back (`n` = -1) an outcome at `t`.
    fn count(&mut self, terminal: &str, t: u64, outcome: Outcome, n: i32) {
        let add = |x: &mut u32| *x = x.saturating_add_signed(n);
        let add64 = |x: &mut u64| *x = x.saturating_add_signed(i64::from(n));
        let b = bin(&mut self.bins, t);
        let row = self.terminals.entry(terminal.to_string()).or_default();
        add64(&mut row.purchases);
        match outcome {
            Outcome::Approved | Outcome::ApprovedOffline => {
                add(&mut b.approved);
                add64(&mut row.approved);
            }
            Outcome::Declined | Outcome::DeclinedOffline => {
                add(&mut b.declined);
                add64(&mut row.declined);
            }
            Outcome::Timeout => {
                add(&mut b.timeouts);
                add64(&mut row.timeouts);
            }
            Outcome::CardUnreadable => add64(&mut row.other),
        }
    }

    /// A frame decoded with the run's dialect, card data masked.
    fn decoded(&self, bytes: &[u8]) -> Option<String> {
        if bytes.is_empty() {
            return None;
        }
        let spec = self.dialect.as_ref()?;
        Some(match crate::inspect::inspect(spec, bytes, &crate::keys::KeySet::default()) {
            Ok(i) => i.render_fields(),
            Err(e) => format!("does not decode as {}: {e} ({} bytes)", spec.name(), bytes.len()),
        })
    }
}

/// A record's kind, and its outcome where it has one (a response code, a
/// receipt's outcome, a fault's effect, an alert, an MTI).
fn class(r: &Record) -> (std::mem::Discriminant<Record>, String) {
    let detail = match r {
        Record::HostDecision { response, .. } => response.map(|c| c.code()).unwrap_or_default(),
        Record::Completed { outcome, .. } => format!("{outcome:?}"),
        Record::FrameFault { fired, .. } => format!("{:?}", std::mem::discriminant(&fired.effect)),
        Record::Alert { alert, .. } => format!("{alert:?}"),
        Record::FrameSent { mti, .. } => mti.map(|m| m.as_str().to_string()).unwrap_or_default(),
        Record::TerminalNote { note, .. } => format!("{:?}", std::mem::discriminant(note)),
        _ => String::new(),
    };
    (std::mem::discriminant(r), detail)
}

/// A record in one line: its fields, but never frame bytes or the
/// scenario's text (card data in records is already masked).
fn describe(v: &Value) -> String {
    let Some(o) = v.as_object() else { return String::new() };
    let mut parts = Vec::new();
    for (k, x) in o {
        if matches!(k.as_str(), "kind" | "bytes" | "monitor" | "description" | "apdus" | "digest")
            || x.is_null()
        {
            continue;
        }
        parts.push(format!("{k}: {}", flat(x)));
    }
    if let Some(a) = o.get("apdus").and_then(Value::as_array) {
        parts.push(format!("{} APDUs", a.len()));
    }
    parts.join(", ")
}

fn flat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(flat).collect::<Vec<_>>().join(" "),
        Value::Object(o) => o
            .iter()
            .filter(|(_, x)| !matches!(x.as_str(), Some("skipped")))
            .map(|(k, x)| format!("{k} {}", flat(x)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Text made safe for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clock(us: u64) -> String {
    SimTime(us).clock()
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,'Noto Sans CJK SC','Noto Sans',sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#1d2430}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d5dae1;padding-bottom:.2em}
.pass{background:#1f8f4e;color:#fff;padding:.1em .5em;border-radius:3px}.fail{background:#c62828;color:#fff;padding:.1em .5em;border-radius:3px}
.skip{background:#b26a00;color:#fff;padding:.1em .5em;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border-bottom:1px solid #e4e7ec;padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.lessons{display:flex;gap:1em;flex-wrap:wrap}.lesson{flex:1 1 320px;background:#f6f8fb;border-left:4px solid #3a6ea5;padding:.5em 1em}
pre{background:#f6f8fb;padding:.6em;overflow:auto;font-size:12px}details>summary{cursor:pointer}
svg text{font:11px system-ui,sans-serif;fill:#3c4654}.muted{color:#6b7585}
tr:target{background:#fff3c4}a{color:#2457a6}
";

/// The page: the report and what the collector saw.
pub fn render(report: &RunReport, c: &Collected) -> String {
    let mut h = String::with_capacity(1 << 16);
    let verdict =
        if report.passed { "<span class=pass>PASS</span>" } else { "<span class=fail>FAIL</span>" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{} - possim report</title><style>{STYLE}</style></head><body>\n",
        esc(&report.scenario)
    );
    let _ = writeln!(
        h,
        "<h1>{} {verdict}</h1><p class=muted>{} · seed {} · {} of virtual time · {} events</p>",
        esc(&report.scenario),
        esc(&report.file),
        report.seed,
        clock(report.virtual_us),
        report.events
    );
    let co = &report.counts;
    let _ = writeln!(
        h,
        "<p>{} purchases: {} approved, {} declined, {} declined offline, {} timed out; \
         fraud loss <b>{}</b>; {} alerts. Replay: <code>{}</code></p>",
        co.purchases,
        co.approved,
        co.declined,
        co.declined_offline,
        co.timeouts,
        report.fraud_loss,
        report.alerts.len(),
        esc(&report.replay_hint()),
    );
    lessons(&mut h, report);
    timeline(&mut h, report, c);
    verdicts(&mut h, report, c);
    terminals(&mut h, report, c);
    attacks_and_alerts(&mut h, report, c);
    events(&mut h, c);
    scenario(&mut h, report, c);
    h.push_str("<p class=muted>Written by possim. Card numbers are masked (first 6, last 4); keys and PINs are never written.</p>\n</body></html>\n");
    h
}

/// The scenario as this seed ran it: what it is about, the faults with the
/// values drawn, the attacks and their windows, the expectations.
fn scenario(h: &mut String, report: &RunReport, c: &Collected) {
    let Some(v) = &c.scenario else { return };
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    h.push_str("<h2 id=scenario>The scenario</h2>");
    if !text("description").is_empty() {
        let _ = write!(h, "<p>{}</p>", esc(&text("description")));
    }
    let _ = writeln!(
        h,
        "<table><tr><th>file</th><td>{}</td></tr><tr><th>seed</th><td>{}</td></tr>\
         <tr><th>trading</th><td>{} from {}</td></tr><tr><th>dialect</th><td>{}</td></tr>\
         <tr><th>shop</th><td>{} terminals, {} cardholders</td></tr>",
        esc(&report.file),
        report.seed,
        esc(&text("duration")),
        esc(&text("start")),
        esc(&text("dialect")),
        v.get("terminals").and_then(Value::as_u64).unwrap_or(0),
        v.get("cardholders").and_then(Value::as_u64).unwrap_or(0)
    );
    let setup: Option<crate::sim::MonitorSetup> =
        v.get("monitor").and_then(|m| serde_json::from_value(m.clone()).ok());
    let faults = v
        .get("faults")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|i| esc(&flat(i))).collect::<Vec<_>>().join("<br>"))
        .unwrap_or_default();
    let attacks = setup
        .iter()
        .flat_map(|s| &s.attacks)
        .map(|a| {
            let absent = if a.present { "" } else { " (not in this seed's run)" };
            format!("{} from {}{absent}", esc(&a.name), a.from)
        })
        .collect::<Vec<_>>()
        .join("<br>");
    let expect = setup
        .iter()
        .flat_map(|s| &s.expect)
        .map(|e| format!("<code>{}</code>", esc(&format!("{e:?}"))))
        .collect::<Vec<_>>()
        .join("<br>");
    let _ = writeln!(
        h,
        "<tr><th>faults (values as drawn for this seed)</th><td>{faults}</td></tr>\
         <tr><th>attacks</th><td>{attacks}</td></tr><tr><th>expectations</th><td>{expect}</td></tr></table>"
    );
}

fn lessons(h: &mut String, report: &RunReport) {
    let Some(key) = report.lesson.as_deref() else { return };
    h.push_str("<h2 id=lesson>Lesson · 案例讲解</h2><div class=lessons>\n");
    for (lang, code, labels) in [
        (Lang::En, "en", ["What happened", "Why", "What a shop does about it"]),
        (Lang::ZhCn, "zh-CN", ["发生了什么", "为什么", "店家该怎么做"]),
    ] {
        if let Some(l) = lesson::lesson(key, lang) {
            let _ = writeln!(
                h,
                "<div class=lesson lang={code}><h3>{}</h3><p><b>{}</b>: {}</p><p><b>{}</b>: {}</p><p><b>{}</b>: {}</p></div>",
                esc(&l.title),
                labels[0],
                esc(&l.happened),
                labels[1],
                esc(&l.why),
                labels[2],
                esc(&l.defend)
            );
        }
    }
    h.push_str("</div>\n");
}

/// The SVG timeline: outcomes per column (stacked), faulted frames, attack
/// windows, and markers for alerts, losses and finds, each linked to its
/// event.
fn timeline(h: &mut String, report: &RunReport, c: &Collected) {
    let end = report.virtual_us.max(1);
    let (w, left, right) = (1000.0_f64, 60.0_f64, 990.0_f64);
    let span = right - left;
    let x = |t: u64| left + span * (t.min(end) as f64 / end as f64);
    let mut cols = vec![Bin::default(); COLUMNS];
    for (m, b) in c.bins.iter().enumerate() {
        let t = (m as u64).saturating_mul(60_000_000);
        let i = ((t as f64 / end as f64) * COLUMNS as f64) as usize;
        let col = &mut cols[i.min(COLUMNS - 1)];
        col.approved += b.approved;
        col.declined += b.declined;
        col.timeouts += b.timeouts;
        col.frames += b.frames;
        col.faulted += b.faulted;
    }
    let top = cols.iter().map(|b| b.approved + b.declined + b.timeouts).max().unwrap_or(0).max(1);
    let ftop = cols.iter().map(|b| b.faulted).max().unwrap_or(0).max(1);
    let lanes = c.windows.len() as f64;
    let (bars_y, bars_h) = (20.0, 120.0);
    let (fault_y, fault_h) = (160.0, 40.0);
    let attack_y = 220.0;
    let marks_y = attack_y + lanes * 18.0 + 10.0;
    let height = marks_y + 90.0;
    let _ = writeln!(
        h,
        "<h2 id=timeline-h>Timeline</h2><svg id=timeline role=img viewBox='0 0 {w} {height}' width='100%' \
         xmlns='http://www.w3.org/2000/svg'><title>Traffic, faults, attacks, alerts and losses over virtual time</title>"
    );
    let cw = span / COLUMNS as f64;
    let _ = write!(h, "<text x=4 y={}>purchases</text>", bars_y + 10.0);
    for (i, b) in cols.iter().enumerate() {
        let x0 = left + cw * i as f64;
        let mut y = bars_y + bars_h;
        for (n, colour, what) in [
            (b.approved, "#2e9d5b", "approved"),
            (b.declined, "#e0a030", "declined"),
            (b.timeouts, "#d84343", "timed out"),
        ] {
            if n == 0 {
                continue;
            }
            let hgt = bars_h * f64::from(n) / f64::from(top);
            y -= hgt;
            let _ = write!(
                h,
                "<rect x='{x0:.1}' y='{y:.1}' width='{:.1}' height='{hgt:.1}' fill='{colour}'><title>{} {what}</title></rect>",
                (cw - 0.5).max(0.5),
                n
            );
        }
        if b.faulted > 0 {
            let hgt = fault_h * f64::from(b.faulted) / f64::from(ftop);
            let _ = write!(
                h,
                "<rect x='{x0:.1}' y='{:.1}' width='{:.1}' height='{hgt:.1}' fill='#7b4fc9'><title>{} frames faulted of {} sent</title></rect>",
                fault_y + fault_h - hgt,
                (cw - 0.5).max(0.5),
                b.faulted,
                b.frames
            );
        }
    }
    let _ = write!(h, "<text x=4 y={}>faults</text>", fault_y + 12.0);
    for (i, win) in c.windows.iter().enumerate() {
        let y = attack_y + 18.0 * i as f64;
        let (x0, x1) = (x(win.from), x(win.until.unwrap_or(end)));
        let _ = write!(
            h,
            "<rect x='{x0:.1}' y='{y:.1}' width='{:.1}' height='14' fill='#f2c4c4' stroke='#c62828'><title>{} from {} to {}</title></rect>\
             <text x='{:.1}' y='{:.1}'>{}</text>",
            (x1 - x0).max(2.0),
            esc(&win.name),
            clock(win.from),
            win.until.map_or_else(|| "the end".into(), clock),
            x0 + 3.0,
            y + 11.0,
            esc(&win.name)
        );
    }
    if !c.windows.is_empty() {
        let _ = write!(h, "<text x=4 y={}>attacks</text>", attack_y + 11.0);
    }
    let _ = write!(h, "<text x=4 y={}>alerts</text>", marks_y + 12.0);
    let _ = write!(h, "<text x=4 y={}>altered</text>", marks_y + 32.0);
    let _ = write!(h, "<text x=4 y={}>losses</text>", marks_y + 52.0);
    // Money for frames of no purchase is a loss only where possim could
    // account for losses: from a real terminal, it is its ordinary traffic.
    let accountable =
        report.invariants.iter().any(|i| i.invariant == "LossesAccounted" && i.evaluated);
    for m in c.markers.iter().filter(|m| accountable || !m.no_purchase) {
        let cx = x(m.t);
        let shape = match m.mark {
            Mark::Alert => {
                format!("<path d='M{:.1} {:.1} l6 11 h-12 z' fill='#e07b00'/>", cx, marks_y + 2.0)
            }
            Mark::Found => format!(
                "<rect x='{:.1}' y='{:.1}' width='9' height='9' fill='#2457a6'/>",
                cx - 4.5,
                marks_y + 3.0
            ),
            Mark::Altered => format!(
                "<path d='M{cx:.1} {:.1} l5 5 l-5 5 l-5 -5 z' fill='#7b4fc9'/>",
                marks_y + 23.0
            ),
            Mark::Loss => {
                format!("<circle cx='{cx:.1}' cy='{:.1}' r='4.5' fill='#c62828'/>", marks_y + 48.0)
            }
        };
        let title = format!("<title>{} {}</title>", clock(m.t), esc(&m.title));
        let _ = if c.listed.contains(&m.seq) {
            write!(h, "<a href='#e{}'>{shape}{title}</a>", m.seq)
        } else {
            write!(h, "<g>{shape}{title}</g>")
        };
    }
    // The time axis.
    let axis_y = height - 20.0;
    let _ =
        write!(h, "<line x1='{left}' x2='{right}' y1='{axis_y}' y2='{axis_y}' stroke='#8a94a3'/>");
    for k in 0..=6u64 {
        let t = end / 6 * k;
        // The first label starts at its tick, the last ends at it.
        let anchor = match k {
            0 => "start",
            6 => "end",
            _ => "middle",
        };
        let _ = write!(
            h,
            "<line x1='{0:.1}' x2='{0:.1}' y1='{axis_y}' y2='{1}' stroke='#8a94a3'/><text x='{0:.1}' y='{2}' text-anchor='{anchor}'>{3}</text>",
            x(t),
            axis_y + 4.0,
            axis_y + 16.0,
            clock(t)
        );
    }
    h.push_str("</svg>\n<p class=muted>Bars: purchases ending in each slice of time (green approved, amber declined, red timed out); purple: frames a fault or attack acted on. Bands: attacks, from fitting to removal. Triangles: alerts; squares: devices found; purple diamonds: frames a man in the middle changed, made up or answered; red dots: money paid out to an attacker, or goods handed over on a forged approval. Each marker links to its event.</p>\n");
    if c.markers_left_out > 0 {
        let _ = writeln!(
            h,
            "<p class=muted>{} more markers are not drawn (the journal has them).</p>",
            c.markers_left_out
        );
    }
}

/// Links to the events listed below; the others are named (the journal
/// has them).
fn event_links(ids: &[u64], c: &Collected) -> String {
    ids.iter()
        .map(|i| {
            if c.listed.contains(i) {
                format!("<a href='#e{i}'>#{i}</a>")
            } else {
                format!("<span title='not listed here: see the journal'>#{i}</span>")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn verdicts(h: &mut String, report: &RunReport, c: &Collected) {
    h.push_str("<h2 id=expectations>Expectations</h2><table><tr><th></th><th>expectation</th><th>evidence</th><th>events</th></tr>\n");
    for e in &report.expectations {
        let badge =
            if e.passed { "<span class=pass>PASS</span>" } else { "<span class=fail>FAIL</span>" };
        let _ = writeln!(
            h,
            "<tr><td>{badge}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&e.expectation),
            esc(&e.evidence),
            event_links(&e.events, c)
        );
    }
    h.push_str("</table>\n<h2 id=invariants>Invariants</h2><p class=muted>Judged in every run; only those the scenario lists decide its verdict.</p><table><tr><th></th><th>invariant</th><th>evidence</th><th>events</th></tr>\n");
    for i in &report.invariants {
        let badge = match (i.held, i.evaluated, i.required) {
            (true, _, _) => "<span class=pass>held</span>",
            (false, false, _) => "<span class=skip>not evaluated</span>",
            (false, true, true) => "<span class=fail>VIOLATED</span>",
            (false, true, false) => "<span class=skip>VIOLATED (not required)</span>",
        };
        let _ = writeln!(
            h,
            "<tr><td>{badge}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&i.invariant),
            esc(&i.evidence),
            event_links(&i.events, c)
        );
    }
    h.push_str("</table>\n");
    if !report.coverage.is_empty() {
        h.push_str("<h2 id=coverage>Faults and attacks: how often each acted</h2><table><tr><th>what</th><th>name</th><th>fired</th></tr>\n");
        for c in &report.coverage {
            let fired =
                if c.present { c.fired.to_string() } else { "not in this seed's run".into() };
            let _ = writeln!(
                h,
                "<tr><td>{} {}</td><td>{}</td><td class=n>{fired}</td></tr>",
                c.what,
                c.index,
                esc(&c.name)
            );
        }
        h.push_str("</table>\n");
    }
    for w in &report.warnings {
        let _ = writeln!(h, "<p><span class=skip>warning</span> {}</p>", esc(w));
    }
}

fn terminals(h: &mut String, report: &RunReport, c: &Collected) {
    h.push_str("<h2 id=terminals>Terminals</h2><table><tr><th>terminal</th><th>purchases</th><th>approved</th><th>declined</th><th>timed out</th><th>unreadable</th><th>alerts</th><th>terminal's totals</th><th>host's totals</th><th>balanced</th></tr>\n");
    let names: BTreeSet<&String> =
        c.terminals.keys().chain(report.settlement.iter().map(|s| &s.terminal)).collect();
    for name in names {
        let row = c.terminals.get(name).cloned().unwrap_or_default();
        let s = report.settlement.iter().find(|s| &s.terminal == name);
        let totals = |t: &crate::money::Totals| {
            format!(
                "{} × {} / {} refunds {}",
                t.purchases, t.purchase_amount, t.refunds, t.refund_amount
            )
        };
        let (tt, ht, bal) = match s {
            Some(s) => match s.only {
                // The other side is real software: its totals are its own.
                Some(super::Side::Host) => (
                    "(the real terminal's own)".to_string(),
                    totals(&s.host_totals),
                    "one side is real software".to_string(),
                ),
                Some(super::Side::Terminal) => (
                    totals(&s.terminal_totals),
                    "(the real host's books)".to_string(),
                    "one side is real software".to_string(),
                ),
                None => (
                    totals(&s.terminal_totals),
                    totals(&s.host_totals),
                    if s.balanced {
                        "<span class=pass>yes</span>".into()
                    } else {
                        "<span class=fail>no</span>".into()
                    },
                ),
            },
            None => (String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{tt}</td><td>{ht}</td><td>{bal}</td></tr>",
            esc(name),
            row.purchases,
            row.approved,
            row.declined,
            row.timeouts,
            row.other,
            row.alerts
        );
    }
    let _ = writeln!(
        h,
        "</table><p>Ledger: cardholders paid {}, merchants are owed {}.</p>",
        report.ledger.0, report.ledger.1
    );
}

fn attacks_and_alerts(h: &mut String, report: &RunReport, c: &Collected) {
    if !report.attacks.is_empty() {
        h.push_str("<h2 id=attacks>Attacks</h2><table><tr><th>attack</th><th>in this run</th><th>fired</th><th>paid out</th><th>refused</th><th>came to nothing</th><th>loss</th></tr>\n");
        for a in &report.attacks {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                esc(&a.attack),
                if a.present { "yes" } else { "no (chance)" },
                a.fired,
                a.approved,
                a.declined,
                a.came_to_nothing,
                a.loss
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2 id=alerts>Alerts</h2>");
    if report.alerts.is_empty() {
        h.push_str("<p>None fired.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>event</th><th>time</th><th>alert</th><th>terminal</th><th>detail</th></tr>\n");
    for a in &report.alerts {
        let _ = writeln!(
            h,
            "<tr><td>{0}</td><td>{1}</td><td>{2:?}</td><td>{3}</td><td>{4}</td></tr>",
            event_links(&[a.event], c),
            clock(a.t_us),
            a.alert,
            esc(a.terminal.as_deref().unwrap_or("")),
            esc(&a.detail)
        );
    }
    h.push_str("</table>\n");
}

fn events(h: &mut String, c: &Collected) {
    let _ = write!(
        h,
        "<h2 id=events>Events</h2><p class=muted>{} of {} events listed (APDU exchanges, PIN entries and unchanged deliveries are in the journal); {}.{}</p>\n<table><tr><th>#</th><th>time</th><th>kind</th><th>detail</th></tr>\n",
        c.events.len(),
        c.events_seen,
        match &c.dialect_note {
            None => "open a frame to see it decoded, card data masked".to_string(),
            Some(n) => esc(n),
        },
        if c.events_left_out > 0 {
            format!(
                " {} later events are left out here: the journal holds them all.",
                c.events_left_out
            )
        } else {
            String::new()
        }
    );
    for e in &c.events {
        let detail = match &e.frame {
            Some(f) => format!(
                "<details><summary>{}</summary><pre>{}</pre></details>",
                esc(&e.text),
                esc(f)
            ),
            None => esc(&e.text),
        };
        let _ = writeln!(
            h,
            "<tr id=e{}><td>{}</td><td>{}</td><td>{}</td><td>{detail}</td></tr>",
            e.seq,
            e.seq,
            clock(e.t),
            esc(&e.kind)
        );
    }
    h.push_str("</table>\n");
}
