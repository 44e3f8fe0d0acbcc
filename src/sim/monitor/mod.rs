//! The monitor: reads every record as it happens, keeps the counters, raises
//! alerts, tracks each purchase from request to settlement, and at the end
//! judges the expectations with the evidence (journal event ids).
//!
//! The invariants come from how distributed-systems checkers prove nothing
//! was lost: every approval ends settled exactly once or reversed, nobody is
//! charged twice, nobody pays without goods, the terminals' totals equal the
//! host's.

use std::collections::{BTreeMap, VecDeque};

use bevy::prelude::{App, Resource};
use serde::{Deserialize, Serialize};

mod judge;

use super::plan::Plan;
use super::record::Record;
use crate::host::LedgerEffect;
use crate::link::Effect;
use crate::money::Money;
use crate::protocol::response::ResponseCode;
use crate::report::{AlertRow, Counts, SettlementRow};
use crate::scenario::{AlertKind, Expectation, MonitorSpec};
use crate::terminal::{Note, Outcome};
use crate::time::{Duration, SimTime};
use crate::window::Window;

/// What a piece of evidence (a journal event id) is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Evidence {
    /// A purchase charged more than once.
    Double,
    /// An approval neither settled nor reversed, or a charge without goods.
    Lost,
    /// A magstripe fallback.
    Fallback,
    /// A terminal whose totals differ from the host's.
    Unbalanced,
    /// A frame dropped on a link.
    Dropped,
    /// A frame delayed, in order.
    Delayed,
    /// A frame held back out of order.
    Held,
    /// A frame duplicated.
    Duplicated,
    /// A frame whose bytes were changed.
    Replaced,
    /// A frame a rule injected.
    Injected,
    /// A frame that passed through a man in the middle's hands.
    Intercepted,
    /// The run stopped with frames in flight or reversals undelivered.
    Unsettled,
    /// An attack took card data or a PIN.
    Stolen,
    /// A purchase with a copied card was approved.
    CashOutApproved,
    /// A purchase with a copied card was refused.
    CashOutDeclined,
    /// An offline approval the issuer refused to pay for at clearing.
    OfflineUnpaid,
    /// Money moved that no attack explains.
    Unaccounted,
    /// A purchase approved online.
    Approved,
    /// A purchase declined by the host.
    Declined,
    /// A purchase declined offline.
    DeclinedOffline,
    /// A purchase approved offline.
    ApprovedOffline,
    /// A purchase timed out.
    Timeout,
    /// A reversal acknowledged.
    Reversal,
    /// A reversal abandoned.
    ReversalAbandoned,
}

impl Evidence {
    /// How many event ids are kept: every violation of an invariant (up to
    /// a bound), the first few of anything else.
    fn keep(self) -> usize {
        match self {
            Self::Double | Self::Lost | Self::Unaccounted | Self::Unbalanced | Self::Unsettled => {
                MAX_VIOLATION_EVENTS
            }
            _ => 5,
        }
    }
}

impl Evidence {
    fn of(effect: &Effect) -> Self {
        match effect {
            Effect::Dropped => Self::Dropped,
            Effect::Delayed { .. } => Self::Delayed,
            Effect::Held { .. } => Self::Held,
            Effect::Duplicated => Self::Duplicated,
            Effect::Replaced { .. } => Self::Replaced,
            Effect::Injected { .. } | Effect::Answered => Self::Injected,
            Effect::Intercepted => Self::Intercepted,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    refund: bool,
    done_at: SimTime,
    approvals: u16,
    releases: u16,
    outcome: Option<Outcome>,
    amount: i64,
    completed_at: u64,
    first_event: u64,
    /// The cash-out attack that made it, if an attacker paid.
    fraud: Option<u32>,
    /// The attack on the line that touched its frames, if any.
    attacked: Option<u32>,
    /// The amount on the customer's receipt.
    receipt: i64,
}

#[derive(Debug, Default)]
struct Burst {
    times: VecDeque<SimTime>,
    raised: bool,
}

/// How many cards of loot a report lists.
const MAX_LOOT_ROWS: usize = 1000;

/// How many event ids a report keeps behind an invariant's violations.
const MAX_VIOLATION_EVENTS: usize = 1000;

/// How many alert rows a report keeps.
const MAX_ALERT_ROWS: usize = 1000;

/// The run's observer and judge.
#[derive(Resource, Debug)]
pub struct Monitor {
    spec: MonitorSpec,
    expect: Vec<Expectation>,
    counts: Counts,
    responses: BTreeMap<ResponseCode, u64>,
    faults: BTreeMap<String, u64>,
    /// How many of each piece of evidence there were (frames by what was
    /// done to them, fallbacks, double charges, lost transactions).
    tally: BTreeMap<Evidence, u64>,
    alerts: Vec<AlertRow>,
    alert_counts: BTreeMap<AlertKind, u64>,
    first_cause: BTreeMap<AlertKind, SimTime>,
    purchases: Window<Track>,
    round_trips: Vec<u64>,
    timeouts_in_row: BTreeMap<super::record::Name, u32>,
    bursts: BTreeMap<AlertKind, Burst>,
    settlement: Vec<SettlementRow>,
    ledger: (Money, Money, bool),
    evidence: BTreeMap<Evidence, Vec<u64>>,
    pending: Vec<Record>,
    last_seq: u64,
    end_us: u64,
    completions: VecDeque<(SimTime, u64)>,
    /// A purchase is judged and forgotten this long after it completed: no
    /// frame or stored reversal outlives it, and memory stays flat.
    settle_after: Duration,
    rc_evidence: BTreeMap<ResponseCode, Vec<u64>>,
    /// The first double charges: purchase, event, amount charged too much.
    double: Vec<(u64, u64, i64)>,
    /// The first lost transactions: purchase, event, approved at the
    /// terminal, a refund.
    lost: Vec<(u64, u64, bool, bool)>,
    /// Purchases with frames still in flight when the run stopped.
    unsettled_purchases: Vec<u64>,
    /// What could not be built (the run fails).
    setup_failures: Vec<String>,
    /// Each attack: its name and what it did.
    attacks: Vec<crate::report::AttackRow>,
    /// The cards the attackers took, by masked PAN, in the order first seen.
    loot: Vec<crate::report::LootRow>,
    /// Each configured fault's name, to warn about those that never fired.
    fault_names: Vec<String>,
    lesson: Option<String>,
    /// Terminals already caught sending data out of the shop.
    egress_seen: std::collections::BTreeSet<super::record::Name>,
    /// Terminals where a device not on the inventory signed on.
    unknown_devices: std::collections::BTreeSet<String>,
    /// The first losses no attack explains, in words.
    unaccounted: Vec<String>,
    /// Terminals already reported for counting unpredictable numbers.
    un_flagged: std::collections::BTreeSet<String>,
    /// Terminals whose supervisor functions already locked.
    locked_seen: std::collections::BTreeSet<super::record::Name>,
    /// Whether each attack is there in this seed's run.
    present: Vec<bool>,
}

/// Installs the monitor for the plan in the app.
pub(super) fn plugin(app: &mut App) {
    let plan = app.world().resource::<super::PlanRes>().0.clone();
    app.insert_resource(Monitor::new(&plan));
}

/// What the monitor takes from a plan, and all it takes. The journal's
/// `run_started` carries it, so `possim replay` judges a journal with
/// exactly the run's thresholds and expectations; it holds no key, PIN or
/// card number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Alert thresholds.
    pub thresholds: MonitorSpec,
    /// The expectations, in the scenario's order.
    pub expect: Vec<Expectation>,
    /// How long after its completion a purchase is judged for good.
    pub settle_after: Duration,
    /// The scenario's lesson key.
    pub lesson: Option<String>,
    /// Each attack, in the scenario's order.
    pub attacks: Vec<AttackSetup>,
    /// Each link fault, as this seed runs it.
    pub faults: Vec<FaultSetup>,
}

/// One attack, as the monitor knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSetup {
    /// Its name ("skimmer").
    pub name: String,
    /// Whether it is there in this seed's run.
    pub present: bool,
    /// When it starts: the cause of the alerts it should provoke.
    pub from: Duration,
    /// The alerts it should provoke.
    pub alerts: Vec<AlertKind>,
}

/// One link fault, as the monitor knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSetup {
    /// Its name ("loss").
    pub name: String,
    /// When its window opens, if it has one (a fault there all along causes
    /// nothing by starting: its first effect does).
    pub from: Option<Duration>,
    /// The alerts it should provoke.
    pub alerts: Vec<AlertKind>,
}

impl Setup {
    /// The monitor's part of a plan.
    pub fn of(plan: &Plan) -> Self {
        Self {
            thresholds: plan.monitor.clone(),
            expect: plan.expect.clone(),
            settle_after: plan.settle_after,
            lesson: plan.lesson.clone(),
            attacks: plan
                .attacks
                .iter()
                .map(|a| AttackSetup {
                    name: a.name().into(),
                    present: a.present,
                    from: a.from,
                    alerts: a.kind.alerts().to_vec(),
                })
                .collect(),
            faults: plan
                .links
                .iter()
                .flat_map(|l| &l.faults)
                .map(|(fault, scope)| FaultSetup {
                    name: crate::scenario::Kind::name(fault).into(),
                    from: scope.from.map(|t| Duration(t.0)),
                    alerts: fault.alerts().to_vec(),
                })
                .collect(),
        }
    }
}

impl Monitor {
    /// A monitor for a plan's terminals, thresholds and expectations.
    pub fn new(plan: &Plan) -> Self {
        Self::from_setup(&Setup::of(plan))
    }

    /// A monitor for what a journal's `run_started` says.
    pub fn from_setup(setup: &Setup) -> Self {
        let mut first_cause = BTreeMap::new();
        for a in &setup.attacks {
            for k in &a.alerts {
                let at = SimTime(a.from.micros());
                let e = first_cause.entry(*k).or_insert(at);
                *e = (*e).min(at);
            }
        }
        for f in &setup.faults {
            // A window that starts somewhere is a cause; a fault that is
            // there all along is not (its first effect is).
            let Some(from) = f.from else { continue };
            let at = SimTime(from.micros());
            for k in &f.alerts {
                let e = first_cause.entry(*k).or_insert(at);
                *e = (*e).min(at);
            }
        }
        Self {
            spec: setup.thresholds.clone(),
            expect: setup.expect.clone(),
            counts: Counts::default(),
            responses: BTreeMap::new(),
            faults: BTreeMap::new(),
            tally: BTreeMap::new(),
            alerts: Vec::new(),
            alert_counts: BTreeMap::new(),
            first_cause,
            purchases: Window::default(),
            round_trips: Vec::new(),
            timeouts_in_row: BTreeMap::new(),
            bursts: BTreeMap::new(),
            settlement: Vec::new(),
            ledger: (Money::ZERO, Money::ZERO, true),
            evidence: BTreeMap::new(),
            pending: Vec::new(),
            last_seq: 0,
            end_us: 0,
            completions: VecDeque::new(),
            settle_after: setup.settle_after,
            rc_evidence: BTreeMap::new(),
            double: Vec::new(),
            lost: Vec::new(),
            unsettled_purchases: Vec::new(),
            setup_failures: Vec::new(),
            attacks: setup
                .attacks
                .iter()
                .map(|a| crate::report::AttackRow {
                    attack: a.name.clone(),
                    present: a.present,
                    fired: 0,
                    came_to_nothing: 0,
                    approved: 0,
                    declined: 0,
                    loss: Money::ZERO,
                })
                .collect(),
            loot: Vec::new(),
            fault_names: setup.faults.iter().map(|f| f.name.clone()).collect(),
            lesson: setup.lesson.clone(),
            egress_seen: std::collections::BTreeSet::new(),
            un_flagged: std::collections::BTreeSet::new(),
            unaccounted: Vec::new(),
            unknown_devices: std::collections::BTreeSet::new(),
            locked_seen: std::collections::BTreeSet::new(),
            present: setup.attacks.iter().map(|a| a.present).collect(),
        }
    }

    /// Counts one piece of evidence and keeps the first few event ids.
    fn note(&mut self, what: Evidence, seq: u64) {
        *self.tally.entry(what).or_default() += 1;
        let v = self.evidence.entry(what).or_default();
        if v.len() < what.keep() {
            v.push(seq);
        }
    }

    fn cause(&mut self, kind: AlertKind, t: SimTime) {
        let e = self.first_cause.entry(kind).or_insert(t);
        *e = (*e).min(t);
    }

    fn raise(&mut self, alert: AlertKind, terminal: Option<String>, detail: String) {
        *self.alert_counts.entry(alert).or_default() += 1;
        self.pending.push(Record::Alert { alert, terminal, detail });
    }

    /// Customer transactions completed so far (PIN retries count again).
    pub fn attempts(&self) -> u64 {
        self.counts.attempts
    }

    /// Alerts raised by the last records, to be journaled after them.
    pub fn take_alerts(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.pending)
    }

    fn burst(&mut self, t: SimTime, kind: AlertKind, threshold: u32, what: &str) {
        let window = if kind == AlertKind::RefundVelocity {
            self.spec.refund_window
        } else {
            self.spec.window
        };
        let b = self.bursts.entry(kind).or_default();
        b.times.push_back(t);
        while b.times.front().is_some_and(|&f| t.since(f) > window) {
            b.times.pop_front();
        }
        if b.times.len() as u32 >= threshold && !b.raised {
            b.raised = true;
            let n = b.times.len();
            self.raise(kind, None, format!("{n} {what} within {window}"));
        } else if (b.times.len() as u32) < threshold {
            b.raised = false;
        }
    }

    /// Reads one record (journal event `seq` at virtual time `t`).
    pub fn observe(&mut self, t: SimTime, seq: u64, r: &Record) {
        self.last_seq = seq;
        self.end_us = t.0;
        match r {
            Record::CustomerArrived { .. } => self.counts.customers += 1,
            Record::FrameSent { .. } => self.counts.frames_sent += 1,
            Record::FrameDelivered { queued_us, .. } => {
                self.counts.frames_delivered += 1;
                if *queued_us > 0 {
                    self.counts.frames_queued += 1;
                    self.counts.max_queue_us = self.counts.max_queue_us.max(*queued_us);
                }
            }
            Record::FrameFault { fired, purchase, .. } => {
                self.note(Evidence::of(&fired.effect), seq);
                // A man in the middle is an attack, not a fault of the line.
                match self.attacks.iter().position(|a| a.attack == fired.fault) {
                    Some(i) => {
                        self.attacks[i].fired += 1;
                        // A pinned terminal refused the certificate (a fooled
                        // one raises nothing: that is the danger).
                        if fired.fault == "mitm_rogue_cert" && fired.effect == Effect::Dropped {
                            self.cause(AlertKind::CertificateMismatch, t);
                            self.burst(
                                t,
                                AlertKind::CertificateMismatch,
                                1,
                                "connection(s) refused: the certificate shown was not the host's pinned one",
                            );
                        }
                        // Only what can move money makes him answer for a
                        // purchase: a change, a copy, a made-up frame.
                        let moves_money = matches!(
                            fired.effect,
                            Effect::Replaced { .. }
                                | Effect::Injected { .. }
                                | Effect::Answered
                                | Effect::Duplicated
                        );
                        if let Some(p) = purchase.filter(|_| moves_money) {
                            let tr = self.purchases.get_or_insert_with(p, || Track {
                                first_event: seq,
                                ..Track::default()
                            });
                            // The first man in the middle to touch it answers for it.
                            tr.attacked = tr.attacked.or(u32::try_from(i).ok());
                        }
                    }
                    None => *self.faults.entry(fired.fault.to_string()).or_default() += 1,
                }
            }
            Record::HostDecision {
                terminal,
                stan,
                response,
                ledger,
                amount,
                mti,
                purchase,
                checks,
                pan,
                ..
            } => {
                if checks.cvm == crate::host::Verdict::Invalid {
                    self.cause(AlertKind::CvmMismatch, t);
                    self.raise(
                        AlertKind::CvmMismatch,
                        terminal.clone(),
                        format!(
                            "STAN {}: the terminal's and the card's accounts of the cardholder verification disagree",
                            stan.unwrap_or(0)
                        ),
                    );
                }
                if checks.device == crate::host::Verdict::Invalid
                    && self.unknown_devices.insert(terminal.clone().unwrap_or_default())
                {
                    self.cause(AlertKind::UnknownSerial, t);
                    self.raise(
                        AlertKind::UnknownSerial,
                        terminal.clone(),
                        "a device signed on whose serial is not the one on the inventory for this terminal".into(),
                    );
                }
                if checks.un == crate::host::Verdict::Invalid
                    && self.un_flagged.insert(terminal.clone().unwrap_or_default())
                {
                    self.cause(AlertKind::UnPattern, t);
                    self.raise(
                        AlertKind::UnPattern,
                        terminal.clone(),
                        format!(
                            "STAN {}: the terminal's unpredictable numbers (9F37) count up; its cryptograms can be made in advance",
                            stan.unwrap_or(0)
                        ),
                    );
                }
                // Network management (sign-ons) is not a payment answer.
                let network = mti.is_some_and(|m| m.class() == 8);
                if let (Some(rc), false) = (response, network) {
                    *self.responses.entry(*rc).or_default() += 1;
                    let ev = self.rc_evidence.entry(*rc).or_default();
                    if ev.len() < 5 {
                        ev.push(seq);
                    }
                    match rc {
                        ResponseCode::SecurityViolation => {
                            self.cause(AlertKind::SecurityViolations, t);
                            self.burst(
                                t,
                                AlertKind::SecurityViolations,
                                self.spec.security_violations,
                                "security violations (63)",
                            );
                        }
                        ResponseCode::FormatError => {
                            self.cause(AlertKind::FormatErrors, t);
                            self.burst(
                                t,
                                AlertKind::FormatErrors,
                                self.spec.format_errors,
                                "format errors (30)",
                            );
                        }
                        ResponseCode::Duplicate => {
                            self.cause(AlertKind::Duplicates, t);
                            self.burst(
                                t,
                                AlertKind::Duplicates,
                                self.spec.duplicates,
                                "duplicate transmissions (94)",
                            );
                        }
                        // A counting UN has its own alert (above).
                        ResponseCode::SuspectedFraud
                            if checks.un != crate::host::Verdict::Invalid =>
                        {
                            self.cause(AlertKind::AtcReplay, t);
                            self.raise(
                                AlertKind::AtcReplay,
                                terminal.clone(),
                                format!("ATC replay or cloned chip at STAN {}", stan.unwrap_or(0)),
                            );
                        }
                        ResponseCode::ExceedsFrequency => {
                            self.cause(AlertKind::CardVelocity, t);
                            self.raise(
                                AlertKind::CardVelocity,
                                terminal.clone(),
                                format!(
                                    "one card used too often (65) at STAN {}",
                                    stan.unwrap_or(0)
                                ),
                            );
                        }
                        ResponseCode::PinTriesExceeded => {
                            self.cause(AlertKind::PinBlocked, t);
                            self.raise(
                                AlertKind::PinBlocked,
                                terminal.clone(),
                                "card PIN-blocked after wrong PINs".into(),
                            );
                        }
                        _ => {}
                    }
                }
                if *ledger == LedgerEffect::Credit && checks.sale == crate::host::Verdict::Invalid {
                    self.cause(AlertKind::RefundWithoutSale, t);
                    self.raise(
                        AlertKind::RefundWithoutSale,
                        terminal.clone(),
                        format!(
                            "STAN {}: {} refunded to {} which bought less than that here",
                            stan.unwrap_or(0),
                            amount.unwrap_or_default(),
                            pan.as_deref().unwrap_or("a card")
                        ),
                    );
                }
                if *ledger == LedgerEffect::Credit {
                    self.cause(AlertKind::RefundVelocity, t);
                    self.burst(t, AlertKind::RefundVelocity, self.spec.refunds, "refunds approved");
                }
                // Money moved for a frame that belongs to no purchase (an
                // outsider's, or one a rule made up): nothing explains it.
                if matches!(*ledger, LedgerEffect::Debit | LedgerEffect::Credit)
                    && purchase.is_none()
                {
                    if self.unaccounted.len() < 5 {
                        self.unaccounted.push(format!(
                            "{} moved for a {} from {} that belongs to no purchase",
                            amount.unwrap_or_default(),
                            mti.map_or("frame".into(), |m| m.as_str().to_string()),
                            terminal.as_deref().unwrap_or("an unknown terminal")
                        ));
                    }
                    self.note(Evidence::Unaccounted, seq);
                }
                if *ledger != LedgerEffect::None
                    && let Some(p) = *purchase
                {
                    let tr = self
                        .purchases
                        .get_or_insert_with(p, || Track { first_event: seq, ..Track::default() });
                    if *ledger == LedgerEffect::Release {
                        tr.releases += 1;
                    } else {
                        tr.refund = *ledger == LedgerEffect::Credit;
                        tr.approvals += 1;
                        tr.amount = amount.map_or(0, |a| a.0);
                    }
                }
            }
            Record::TerminalNote { terminal, note } => match note {
                Note::ChipFailed { .. } => {
                    self.counts.fallbacks += 1;
                    self.note(Evidence::Fallback, seq);
                }
                Note::ReversalAcknowledged { .. } => {
                    self.counts.reversals += 1;
                    self.note(Evidence::Reversal, seq);
                }
                Note::ReversalAbandoned { purchase, .. } => {
                    self.counts.reversals_abandoned += 1;
                    self.note(Evidence::ReversalAbandoned, seq);
                    self.cause(AlertKind::ReversalAbandoned, t);
                    self.raise(
                        AlertKind::ReversalAbandoned,
                        Some(terminal.to_string()),
                        format!("reversal of purchase {purchase} abandoned"),
                    );
                }
                _ => {}
            },
            Record::Completed { terminal, purchase, outcome, round_trip_us, amount, .. } => {
                self.counts.attempts += 1;
                let tr = self.purchases.get_or_insert_with(*purchase, || Track {
                    first_event: seq,
                    ..Track::default()
                });
                tr.outcome = Some(*outcome);
                tr.receipt = amount.0;
                tr.completed_at = seq;
                tr.done_at = t;
                self.completions.push_back((t, *purchase));
                self.settle_until(t);
                if let Some(rt) = round_trip_us {
                    self.round_trips.push(*rt);
                }
                let streak = self.timeouts_in_row.entry(terminal.clone()).or_default();
                if *outcome == Outcome::Timeout {
                    *streak += 1;
                    let n = *streak;
                    self.cause(AlertKind::LinkDown, t);
                    if n == self.spec.link_down_after {
                        self.raise(
                            AlertKind::LinkDown,
                            Some(terminal.to_string()),
                            format!("{n} timeouts in a row: the link to the host looks down"),
                        );
                    }
                } else if round_trip_us.is_some() {
                    *streak = 0;
                }
            }
            Record::Alert { alert, terminal, detail } => {
                // The counts stay exact and the journal keeps every alert;
                // the report keeps the first ones, so memory stays flat.
                if self.alerts.len() >= MAX_ALERT_ROWS {
                    return;
                }
                self.alerts.push(AlertRow {
                    event: seq,
                    t_us: t.0,
                    alert: *alert,
                    terminal: terminal.clone(),
                    detail: detail.clone(),
                });
            }
            Record::Settlement { terminal, terminal_totals, host_totals, balanced, only } => {
                self.settlement.push(SettlementRow {
                    terminal: terminal.to_string(),
                    terminal_totals: *terminal_totals,
                    host_totals: *host_totals,
                    balanced: *balanced,
                    only: *only,
                });
                if !balanced && only.is_none() {
                    self.note(Evidence::Unbalanced, seq);
                }
            }
            Record::SetupFailed { what } => self.setup_failures.push(what.clone()),
            Record::Stolen { attack, name, pan, what, card, .. } => {
                if let Some(a) = self.attacks.get_mut(*attack) {
                    a.fired += 1;
                }
                self.note(Evidence::Stolen, seq);
                // Rows follow the attackers' own card numbering: two cards
                // can share a masked PAN.
                let row = match (*card < self.loot.len()).then_some(*card) {
                    Some(i) => Some(i),
                    None if self.loot.len() < MAX_LOOT_ROWS && *card == self.loot.len() => {
                        self.loot.push(crate::report::LootRow {
                            pan: pan.clone(),
                            what: Vec::new(),
                            by: Vec::new(),
                        });
                        Some(self.loot.len() - 1)
                    }
                    None => None,
                };
                if let Some(r) = row.and_then(|i| self.loot.get_mut(i)) {
                    if !r.what.contains(what) {
                        r.what.push(what);
                    }
                    if !r.by.iter().any(|b| b == name) {
                        r.by.push((*name).into());
                    }
                }
            }
            Record::CashOut { attack, purchase: Some(p), .. } => {
                if let Some(a) = self.attacks.get_mut(*attack) {
                    a.fired += 1;
                }
                let tr = self
                    .purchases
                    .get_or_insert_with(*p, || Track { first_event: seq, ..Track::default() });
                tr.fraud = u32::try_from(*attack).ok();
            }
            Record::TamperFound { terminal, device, .. } => {
                self.raise(
                    AlertKind::TamperDetected,
                    Some(terminal.to_string()),
                    format!("a tamper check found a {device} and removed it"),
                );
            }
            Record::Egress { terminal, items, .. }
                if self.spec.egress && !self.egress_seen.contains(terminal) =>
            {
                self.egress_seen.insert(terminal.clone());
                self.cause(AlertKind::UnexpectedEgress, t);
                self.raise(
                    AlertKind::UnexpectedEgress,
                    Some(terminal.to_string()),
                    format!(
                        "terminal {terminal} sent {items} items of card data to an unknown address"
                    ),
                );
            }
            Record::InsiderRefund { attack, terminal, purchase, failures, locked, .. } => {
                if let Some(a) = self.attacks.get_mut(*attack) {
                    a.fired += 1;
                    if purchase.is_none() {
                        a.came_to_nothing += 1;
                    }
                }
                if let Some(p) = purchase {
                    let tr = self
                        .purchases
                        .get_or_insert_with(*p, || Track { first_event: seq, ..Track::default() });
                    tr.fraud = u32::try_from(*attack).ok();
                }
                if *locked && self.locked_seen.insert(terminal.clone()) {
                    self.cause(AlertKind::LoginLockout, t);
                    self.raise(
                        AlertKind::LoginLockout,
                        Some(terminal.to_string()),
                        format!("{failures} wrong supervisor passwords: refunds locked"),
                    );
                }
            }
            // The attacker came, but had no card to copy: it acted, and failed.
            Record::CashOut { attack, purchase: None, .. } => {
                if let Some(a) = self.attacks.get_mut(*attack) {
                    a.fired += 1;
                    a.came_to_nothing += 1;
                }
            }
            Record::RunFinished { in_flight, in_flight_purchases, pending_reversals, .. } => {
                self.counts.in_flight_at_end = *in_flight;
                self.counts.pending_reversals_at_end = *pending_reversals;
                self.unsettled_purchases.clone_from(in_flight_purchases);
                if *in_flight > 0 || *pending_reversals > 0 {
                    self.note(Evidence::Unsettled, seq);
                }
            }
            Record::Ledger { cardholder_outflow, merchant_position, balanced } => {
                self.ledger = (*cardholder_outflow, *merchant_position, *balanced);
            }
            _ => {}
        }
    }

    /// Judges one purchase for good.
    fn finalize(&mut self, id: u64, tr: Track) {
        let net = i32::from(tr.approvals) - i32::from(tr.releases);
        let c = &mut self.counts;
        let what = match tr.outcome {
            Some(Outcome::Approved) => {
                c.approved += 1;
                Some(Evidence::Approved)
            }
            Some(Outcome::Declined) => {
                c.declined += 1;
                Some(Evidence::Declined)
            }
            Some(Outcome::DeclinedOffline) => {
                c.declined_offline += 1;
                Some(Evidence::DeclinedOffline)
            }
            Some(Outcome::ApprovedOffline) => {
                c.approved_offline += 1;
                Some(Evidence::ApprovedOffline)
            }
            Some(Outcome::Timeout) => {
                c.timeouts += 1;
                Some(Evidence::Timeout)
            }
            Some(Outcome::CardUnreadable) => {
                c.unreadable += 1;
                None
            }
            None => None,
        };
        if tr.outcome.is_some() {
            c.purchases += 1;
        }
        if let Some(what) = what {
            // The receipt is the evidence of an outcome.
            self.note(what, tr.completed_at);
        }
        let at = tr.completed_at.max(tr.first_event);
        if net >= 2 {
            if self.double.len() < MAX_VIOLATION_EVENTS {
                self.double.push((id, at, tr.amount.saturating_mul(i64::from(net - 1))));
            }
            self.note(Evidence::Double, at);
        }
        // Goods handed over on the card's word alone: the host hears of it
        // afterwards (0220), and pays the merchant only if it clears.
        let offline = tr.outcome == Some(Outcome::ApprovedOffline);
        if offline && net <= 0 {
            self.counts.offline_unpaid += 1;
            self.note(Evidence::OfflineUnpaid, at);
        }
        let approved = tr.outcome == Some(Outcome::Approved);
        if let Some(a) = tr.fraud.and_then(|i| self.attacks.get_mut(i as usize)) {
            let approved = approved || offline;
            // Offline, the goods are the loss, whoever ends up bearing it.
            let charged =
                if offline { tr.receipt } else { tr.amount.saturating_mul(i64::from(net.max(0))) };
            a.loss = Money(a.loss.0.saturating_add(charged));
            if approved {
                a.approved += 1;
            } else {
                a.declined += 1;
            }
            let what = if approved { Evidence::CashOutApproved } else { Evidence::CashOutDeclined };
            self.note(what, at);
        }
        // A purchase whose frames a man in the middle changed or replayed:
        // what the host charged against what the receipt says.
        // (A purchase an attacker made is counted once, as theirs, above.)
        if let Some(a) = tr.attacked.and_then(|i| self.attacks.get_mut(i as usize))
            && tr.fraud.is_none()
            && (net >= 1 || approved)
        {
            let charged = tr.amount.saturating_mul(i64::from(net));
            let fair = if approved { tr.receipt } else { 0 };
            let wrong = charged.saturating_sub(fair).saturating_abs();
            a.loss = Money(a.loss.0.saturating_add(wrong));
            if wrong > 0 {
                a.approved += 1;
            }
        }
        // What the card was charged against what the receipt says: a
        // difference an attack does not explain is a loss nobody accounts for.
        let charged = tr.amount.saturating_mul(i64::from(net.max(0)));
        // Goods handed over offline are owed to the merchant, paid or not.
        let fair = if approved || offline { tr.receipt } else { 0 };
        if charged != fair && tr.fraud.is_none() && tr.attacked.is_none() {
            if self.unaccounted.len() < 5 {
                self.unaccounted.push(format!(
                    "purchase {id}: charged {} for a receipt of {}",
                    Money(charged),
                    Money(fair)
                ));
            }
            self.note(Evidence::Unaccounted, at);
        }
        if (approved && net == 0) || (!approved && !offline && net >= 1) {
            if self.lost.len() < MAX_VIOLATION_EVENTS {
                self.lost.push((id, at, approved, tr.refund));
            }
            self.note(Evidence::Lost, at);
        }
    }

    /// Judges and forgets purchases that completed long enough before `t`.
    fn settle_until(&mut self, t: SimTime) {
        while let Some(&(at, id)) = self.completions.front() {
            if t.since(at) <= self.settle_after {
                break;
            }
            self.completions.pop_front();
            // A later completion of the same purchase (a PIN retry) decides.
            let latest = self.purchases.get(id).is_some_and(|tr| tr.done_at == at);
            if latest && let Some(tr) = self.purchases.remove(id) {
                self.finalize(id, tr);
            }
        }
    }
}
