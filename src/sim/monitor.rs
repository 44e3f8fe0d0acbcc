//! The monitor: reads every record as it happens, keeps the counters, raises
//! alerts, tracks each purchase from request to settlement, and at the end
//! judges the expectations with the evidence (journal event ids).
//!
//! The invariants come from how distributed-systems checkers prove nothing
//! was lost: every approval ends settled exactly once or reversed, nobody is
//! charged twice, nobody pays without goods, the terminals' totals equal the
//! host's.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap as HashMap;

use bevy::prelude::{App, Resource};

use super::plan::Plan;
use super::record::Record;
use crate::host::LedgerEffect;
use crate::money::Money;
use crate::protocol::response::ResponseCode;
use crate::report::{AlertRow, Counts, ExpectationResult, Latency, RunReport, SettlementRow};
use crate::scenario::{AlertKind, EventKind, Expectation, MonitorSpec};
use crate::terminal::{Note, Outcome, Purpose};
use crate::time::{Duration, SimTime};

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    done_at: SimTime,
    approvals: u16,
    releases: u16,
    outcome: Option<Outcome>,
    amount: i64,
    completed_at: u64,
    first_event: u64,
}

#[derive(Debug, Default)]
struct Burst {
    times: VecDeque<SimTime>,
    raised: bool,
}

/// The run's observer and judge.
#[derive(Resource, Debug)]
pub struct Monitor {
    spec: MonitorSpec,
    expect: Vec<Expectation>,
    terminals: BTreeMap<String, u64>,
    counts: Counts,
    responses: BTreeMap<ResponseCode, u64>,
    faults: BTreeMap<String, u64>,
    /// Frames by what was done to them ("dropped", "delayed", ...).
    effects: BTreeMap<&'static str, u64>,
    alerts: Vec<AlertRow>,
    alert_counts: BTreeMap<AlertKind, u64>,
    first_cause: BTreeMap<AlertKind, SimTime>,
    stan_to_purchase: HashMap<u64, u64>,
    purchases: HashMap<u64, Track>,
    round_trips: Vec<u64>,
    timeouts_in_row: BTreeMap<super::record::Name, u32>,
    bursts: BTreeMap<AlertKind, Burst>,
    settlement: Vec<SettlementRow>,
    ledger: (Money, Money, bool),
    evidence: BTreeMap<&'static str, Vec<u64>>,
    pending: Vec<Record>,
    last_seq: u64,
    end_us: u64,
    completions: VecDeque<(SimTime, u64)>,
    stan_times: VecDeque<(SimTime, u64)>,
    /// A purchase is judged and forgotten this long after it completed: no
    /// frame or stored reversal outlives it, and memory stays flat.
    settle_after: Duration,
    rc_evidence: BTreeMap<ResponseCode, Vec<u64>>,
    double: Vec<(u64, u64, i64)>,
    double_count: u64,
    lost: Vec<(u64, u64, bool)>,
    lost_count: u64,
}

/// Installs the monitor for the plan in the app.
pub(super) fn plugin(app: &mut App) {
    let plan = app.world().resource::<super::PlanRes>().0.clone();
    app.insert_resource(Monitor::new(&plan));
}

fn key(tid: u64, stan: u32) -> u64 {
    (tid << 32) | u64::from(stan)
}

impl Monitor {
    /// A monitor for a plan's terminals, thresholds and expectations.
    pub fn new(plan: &Plan) -> Self {
        let terminals = plan
            .terminals
            .iter()
            .enumerate()
            .map(|(i, t)| (t.config.tid.clone(), i as u64))
            .collect();
        let mut first_cause = BTreeMap::new();
        for l in &plan.links {
            for (fault, scope) in &l.faults {
                let kinds = fault.alerts();
                // A window that starts somewhere is a cause; a fault that is
                // there all along is not (its first effect is).
                let Some(at) = scope.from else { continue };
                for k in kinds {
                    let e = first_cause.entry(*k).or_insert(at);
                    *e = (*e).min(at);
                }
            }
        }
        Self {
            spec: plan.monitor.clone(),
            expect: plan.expect.clone(),
            terminals,
            counts: Counts::default(),
            responses: BTreeMap::new(),
            faults: BTreeMap::new(),
            effects: BTreeMap::new(),
            alerts: Vec::new(),
            alert_counts: BTreeMap::new(),
            first_cause,
            stan_to_purchase: HashMap::default(),
            purchases: HashMap::default(),
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
            stan_times: VecDeque::new(),
            settle_after: plan.settle_after,
            rc_evidence: BTreeMap::new(),
            double: Vec::new(),
            double_count: 0,
            lost: Vec::new(),
            lost_count: 0,
        }
    }

    fn note(&mut self, what: &'static str, seq: u64) {
        let v = self.evidence.entry(what).or_default();
        if v.len() < 5 {
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
        let window = self.spec.window;
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
            Record::FrameSent { dir, from, stan, purpose, purchase, .. } => {
                self.counts.frames_sent += 1;
                if let (
                    crate::link::Dir::Up,
                    Some(stan),
                    Some(p),
                    Some(Purpose::Request | Purpose::Resend | Purpose::Reversal),
                ) = (dir, stan, purchase, purpose)
                    && let Some(&tid) = self.terminals.get(&**from)
                {
                    self.stan_to_purchase.insert(key(tid, *stan), *p);
                    self.stan_times.push_back((t, key(tid, *stan)));
                }
            }
            Record::FrameDelivered { .. } => self.counts.frames_delivered += 1,
            Record::FrameFault { fired, .. } => {
                *self.faults.entry(fired.fault.to_string()).or_default() += 1;
                let effect = fired.effect.label();
                *self.effects.entry(effect).or_default() += 1;
                self.note(effect, seq);
            }
            Record::HostDecision {
                terminal,
                stan,
                response,
                ledger,
                reverses,
                amount,
                mti,
                ..
            } => {
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
                        ResponseCode::SuspectedFraud => {
                            self.cause(AlertKind::AtcReplay, t);
                            self.raise(
                                AlertKind::AtcReplay,
                                terminal.clone(),
                                format!("ATC replay or cloned chip at STAN {}", stan.unwrap_or(0)),
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
                let tid = terminal.as_ref().and_then(|t| self.terminals.get(t)).copied();
                let target = match ledger {
                    LedgerEffect::Debit | LedgerEffect::Credit => {
                        stan.zip(tid).map(|(s, t)| key(t, s))
                    }
                    LedgerEffect::Release => reverses.zip(tid).map(|(s, t)| key(t, s)),
                    LedgerEffect::None => None,
                };
                if let Some(p) = target.and_then(|k| self.stan_to_purchase.get(&k)).copied() {
                    let tr = self
                        .purchases
                        .entry(p)
                        .or_insert(Track { first_event: seq, ..Track::default() });
                    if *ledger == LedgerEffect::Release {
                        tr.releases += 1;
                    } else {
                        tr.approvals += 1;
                        tr.amount = amount.map_or(0, |a| a.0);
                    }
                }
            }
            Record::TerminalNote { terminal, note } => match note {
                Note::ChipFailed { .. } => {
                    self.counts.fallbacks += 1;
                    self.note("fallback", seq);
                }
                Note::ReversalAcknowledged { .. } => self.counts.reversals += 1,
                Note::ReversalAbandoned { purchase, .. } => {
                    self.counts.reversals_abandoned += 1;
                    self.cause(AlertKind::ReversalAbandoned, t);
                    self.raise(
                        AlertKind::ReversalAbandoned,
                        Some(terminal.to_string()),
                        format!("reversal of purchase {purchase} abandoned"),
                    );
                }
                _ => {}
            },
            Record::Completed { terminal, purchase, outcome, round_trip_us, .. } => {
                self.counts.attempts += 1;
                let tr = self
                    .purchases
                    .entry(*purchase)
                    .or_insert(Track { first_event: seq, ..Track::default() });
                tr.outcome = Some(*outcome);
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
                self.alerts.push(AlertRow {
                    event: seq,
                    t_us: t.0,
                    alert: *alert,
                    terminal: terminal.clone(),
                    detail: detail.clone(),
                });
            }
            Record::Settlement { terminal, terminal_totals, host_totals, balanced } => {
                self.settlement.push(SettlementRow {
                    terminal: terminal.to_string(),
                    terminal_totals: *terminal_totals,
                    host_totals: *host_totals,
                    balanced: *balanced,
                });
                if !balanced {
                    self.note("unbalanced", seq);
                }
            }
            Record::Ledger { cardholder_outflow, merchant_position, balanced } => {
                self.ledger = (*cardholder_outflow, *merchant_position, *balanced);
            }
            _ => {}
        }
    }

    fn count(&self, k: &EventKind, outcome_counts: &BTreeMap<&'static str, u64>) -> u64 {
        match k {
            EventKind::Approved => self.counts.approved,
            EventKind::Declined => self.counts.declined,
            EventKind::DeclinedOffline => self.counts.declined_offline,
            EventKind::Timeout => self.counts.timeouts,
            EventKind::Reversal => self.counts.reversals,
            EventKind::ReversalAbandoned => self.counts.reversals_abandoned,
            EventKind::DoubleCharge => outcome_counts.get("double").copied().unwrap_or(0),
            EventKind::LostTransaction => outcome_counts.get("lost").copied().unwrap_or(0),
            EventKind::Fallback => self.counts.fallbacks,
            EventKind::FrameDropped => self.effects.get("dropped").copied().unwrap_or(0),
            EventKind::FrameDuplicated => self.effects.get("duplicated").copied().unwrap_or(0),
            EventKind::FrameCorrupted => self.effects.get("replaced").copied().unwrap_or(0),
            EventKind::FrameDelayed => self.effects.get("delayed").copied().unwrap_or(0),
            EventKind::FrameReordered => self.effects.get("held").copied().unwrap_or(0),
            EventKind::Response(code) => {
                self.responses.get(&ResponseCode::from_code(code)).copied().unwrap_or(0)
            }
            EventKind::Alert(a) => self.alert_counts.get(a).copied().unwrap_or(0),
        }
    }

    fn events_for(&self, k: &EventKind) -> Vec<u64> {
        let key = match k {
            EventKind::Response(c) => {
                return self
                    .rc_evidence
                    .get(&ResponseCode::from_code(c))
                    .cloned()
                    .unwrap_or_default();
            }
            EventKind::DoubleCharge => "double",
            EventKind::LostTransaction => "lost",
            EventKind::Fallback => "fallback",
            EventKind::FrameCorrupted => "replaced",
            EventKind::FrameDuplicated => "duplicated",
            EventKind::FrameDropped => "dropped",
            EventKind::FrameDelayed => "delayed",
            EventKind::FrameReordered => "held",
            EventKind::Alert(a) => {
                return self
                    .alerts
                    .iter()
                    .filter(|r| r.alert == *a)
                    .map(|r| r.event)
                    .take(5)
                    .collect();
            }
            _ => "",
        };
        self.evidence.get(key).cloned().unwrap_or_default()
    }

    /// Judges one purchase for good.
    fn finalize(&mut self, id: u64, tr: Track) {
        let net = i32::from(tr.approvals) - i32::from(tr.releases);
        let c = &mut self.counts;
        match tr.outcome {
            Some(Outcome::Approved) => c.approved += 1,
            Some(Outcome::Declined) => c.declined += 1,
            Some(Outcome::DeclinedOffline) => c.declined_offline += 1,
            Some(Outcome::Timeout) => c.timeouts += 1,
            Some(Outcome::CardUnreadable) => c.unreadable += 1,
            None => {}
        }
        if tr.outcome.is_some() {
            c.purchases += 1;
        }
        let at = tr.completed_at.max(tr.first_event);
        if net >= 2 {
            self.double_count += 1;
            if self.double.len() < 5 {
                self.double.push((id, at, tr.amount * i64::from(net - 1)));
                self.note("double", at);
            }
        }
        let approved = tr.outcome == Some(Outcome::Approved);
        if (approved && net == 0) || (!approved && net >= 1) {
            self.lost_count += 1;
            if self.lost.len() < 5 {
                self.lost.push((id, at, approved));
                self.note("lost", at);
            }
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
            let latest = self.purchases.get(&id).is_some_and(|tr| tr.done_at == at);
            if latest && let Some(tr) = self.purchases.remove(&id) {
                self.finalize(id, tr);
            }
        }
        while let Some(&(at, k)) = self.stan_times.front() {
            if t.since(at) <= self.settle_after {
                break;
            }
            self.stan_times.pop_front();
            self.stan_to_purchase.remove(&k);
        }
    }

    /// Judges the run and builds the report.
    pub fn report(&mut self, scenario: &str, file: &str, seed: u64) -> RunReport {
        // Purchases still open: judge them now, in id order.
        let mut ids: Vec<u64> = self.purchases.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(tr) = self.purchases.remove(&id) {
                self.finalize(id, tr);
            }
        }
        self.completions.clear();
        let mut outcome_counts = BTreeMap::new();
        outcome_counts.insert("double", self.double_count);
        outcome_counts.insert("lost", self.lost_count);
        let (double, lost) = (self.double.clone(), self.lost.clone());

        self.round_trips.sort_unstable();
        let pct = |p: f64| -> f64 {
            let n = self.round_trips.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            self.round_trips.get(i).copied().unwrap_or(0) as f64 / 1000.0
        };
        let latency = (!self.round_trips.is_empty()).then(|| Latency {
            samples: self.round_trips.len() as u64,
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: self.round_trips.last().copied().unwrap_or(0) as f64 / 1000.0,
        });

        let mut results = Vec::new();
        for e in &self.expect.clone() {
            results.push(self.judge(e, &outcome_counts, &double, &lost, latency.as_ref()));
        }
        let passed = results.iter().all(|r| r.passed);
        RunReport {
            scenario: scenario.into(),
            file: file.into(),
            seed,
            virtual_us: self.end_us,
            events: self.last_seq,
            counts: self.counts.clone(),
            responses: self.responses.iter().map(|(k, v)| (k.code(), *v)).collect(),
            faults: self.faults.clone(),
            latency,
            fraud_loss: Money::ZERO,
            alerts: self.alerts.clone(),
            settlement: self.settlement.clone(),
            ledger: (self.ledger.0, self.ledger.1),
            expectations: results,
            passed,
        }
    }

    fn judge(
        &self,
        e: &Expectation,
        oc: &BTreeMap<&'static str, u64>,
        double: &[(u64, u64, i64)],
        lost: &[(u64, u64, bool)],
        latency: Option<&Latency>,
    ) -> ExpectationResult {
        let name = format!("{e:?}");
        let ok = |passed: bool, evidence: String, events: Vec<u64>| ExpectationResult {
            expectation: name.clone(),
            passed,
            evidence,
            events,
        };
        match e {
            Expectation::Never(k) => {
                let n = self.count(k, oc);
                ok(n == 0, format!("{n} × {k:?}"), self.events_for(k))
            }
            Expectation::AtLeast(min, k) => {
                let n = self.count(k, oc);
                ok(n >= *min, format!("{n} × {k:?} (at least {min})"), self.events_for(k))
            }
            Expectation::AtMost(max, k) => {
                let n = self.count(k, oc);
                ok(n <= *max, format!("{n} × {k:?} (at most {max})"), self.events_for(k))
            }
            Expectation::LedgerBalanced => {
                let bad: Vec<&SettlementRow> =
                    self.settlement.iter().filter(|s| !s.balanced).collect();
                let (out, merch, de) = self.ledger;
                let total: Money = self
                    .settlement
                    .iter()
                    .fold(Money::ZERO, |a, s| a + s.host_totals.purchase_amount);
                let n: u64 = self.settlement.iter().map(|s| s.host_totals.purchases).sum();
                if self.settlement.is_empty() {
                    ok(false, "no settlement took place".into(), vec![])
                } else if bad.is_empty() && de {
                    ok(
                        true,
                        format!(
                            "{} terminals' totals equal the host's ({n} purchases, {total}); cardholders paid {out} = merchants owed {merch}",
                            self.settlement.len()
                        ),
                        vec![],
                    )
                } else {
                    let detail: Vec<String> = bad
                        .iter()
                        .map(|s| {
                            format!(
                                "{}: terminal {} × {} vs host {} × {}",
                                s.terminal,
                                s.terminal_totals.purchases,
                                s.terminal_totals.purchase_amount,
                                s.host_totals.purchases,
                                s.host_totals.purchase_amount
                            )
                        })
                        .collect();
                    let de_text = if de {
                        String::new()
                    } else {
                        format!(
                            "; double entry broken: cardholders paid {out}, merchants owed {merch}"
                        )
                    };
                    ok(
                        false,
                        format!("{}{de_text}", detail.join("; ")),
                        self.evidence.get("unbalanced").cloned().unwrap_or_default(),
                    )
                }
            }
            Expectation::NoDoubleCharge => {
                if double.is_empty() {
                    ok(
                        true,
                        format!("{} purchases, none charged twice", self.counts.purchases),
                        vec![],
                    )
                } else {
                    let ids: Vec<String> = double
                        .iter()
                        .take(5)
                        .map(|d| format!("purchase {} (+{})", d.0, Money(d.2)))
                        .collect();
                    ok(
                        false,
                        format!(
                            "{} purchases charged more than once: {}",
                            self.double_count,
                            ids.join(", ")
                        ),
                        double.iter().take(5).map(|d| d.1).collect(),
                    )
                }
            }
            Expectation::NoLostTransaction => {
                if lost.is_empty() {
                    ok(
                        true,
                        format!(
                            "every approval settled once or reversed ({} purchases)",
                            self.counts.purchases
                        ),
                        vec![],
                    )
                } else {
                    let ids: Vec<String> = lost
                        .iter()
                        .take(5)
                        .map(|l| {
                            if l.2 {
                                format!("purchase {} approved at the terminal but not settled", l.0)
                            } else {
                                format!("purchase {} charged but the customer was declined", l.0)
                            }
                        })
                        .collect();
                    ok(
                        false,
                        format!("{} lost: {}", self.lost_count, ids.join("; ")),
                        lost.iter().take(5).map(|l| l.1).collect(),
                    )
                }
            }
            Expectation::FraudLossAtMost(max) => ok(
                Money::ZERO <= *max,
                format!("fraud loss {} (at most {max})", Money::ZERO),
                vec![],
            ),
            Expectation::AlertWithin(kind, within) => {
                let first = self.alerts.iter().find(|a| a.alert == *kind);
                match (first, self.first_cause.get(kind)) {
                    (None, _) => ok(false, format!("no {kind:?} alert fired"), vec![]),
                    (Some(a), cause) => {
                        let from = cause.copied().unwrap_or(SimTime(0));
                        let took = SimTime(a.t_us).since(from);
                        ok(
                            took <= *within,
                            format!(
                                "{kind:?} alert {took} after its cause at {} (within {within})",
                                from.clock()
                            ),
                            vec![a.event],
                        )
                    }
                }
            }
            Expectation::ApprovalRateAtLeast(rate) => {
                let n = self.counts.purchases.max(1);
                let r = self.counts.approved as f64 / n as f64;
                ok(
                    r >= *rate,
                    format!(
                        "{:.1}% approved ({} of {}), at least {:.1}%",
                        r * 100.0,
                        self.counts.approved,
                        self.counts.purchases,
                        rate * 100.0
                    ),
                    vec![],
                )
            }
            Expectation::LatencyP99Below(limit) => match latency {
                Some(l) => {
                    let p99 = Duration::from_secs_f64(l.p99_ms / 1000.0);
                    ok(
                        p99 < *limit,
                        format!("p99 {p99} over {} round trips (below {limit})", l.samples),
                        vec![],
                    )
                }
                None => ok(false, "no round trips measured".into(), vec![]),
            },
        }
    }
}
