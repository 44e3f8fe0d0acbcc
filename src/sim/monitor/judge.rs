//! The end of a run: every purchase still open is judged, the latency
//! percentiles are taken, and each expectation is decided with its evidence.

use super::{Evidence, Monitor};
use crate::money::Money;
use crate::protocol::response::ResponseCode;
use crate::report::{
    CoverageRow, ExpectationResult, InvariantResult, Latency, RunReport, SettlementRow,
};
use crate::scenario::{EventKind, Expectation};
use crate::time::{Duration, SimTime};

impl Monitor {
    fn tallied(&self, e: Evidence) -> u64 {
        self.tally.get(&e).copied().unwrap_or(0)
    }

    fn count(&self, k: &EventKind) -> u64 {
        match k {
            EventKind::Approved => self.counts.approved,
            EventKind::Declined => self.counts.declined,
            EventKind::DeclinedOffline => self.counts.declined_offline,
            EventKind::ApprovedOffline => self.counts.approved_offline,
            EventKind::OfflineUnpaid => self.counts.offline_unpaid,
            EventKind::Timeout => self.counts.timeouts,
            EventKind::Reversal => self.counts.reversals,
            EventKind::ReversalAbandoned => self.counts.reversals_abandoned,
            EventKind::DoubleCharge => self.tallied(Evidence::Double),
            EventKind::LostTransaction => self.tallied(Evidence::Lost),
            EventKind::Fallback => self.counts.fallbacks,
            EventKind::FrameDropped => self.tallied(Evidence::Dropped),
            EventKind::FrameDuplicated => self.tallied(Evidence::Duplicated),
            EventKind::FrameCorrupted => self.tallied(Evidence::Replaced),
            EventKind::FrameDelayed => self.tallied(Evidence::Delayed),
            EventKind::FrameReordered => self.tallied(Evidence::Held),
            EventKind::Response(code) => {
                self.responses.get(&ResponseCode::from_code(code)).copied().unwrap_or(0)
            }
            EventKind::Alert(a) => self.alert_counts.get(a).copied().unwrap_or(0),
            EventKind::Stolen => self.tallied(Evidence::Stolen),
            EventKind::CashOutApproved => self.tallied(Evidence::CashOutApproved),
            EventKind::CashOutDeclined => self.tallied(Evidence::CashOutDeclined),
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
            EventKind::DoubleCharge => Evidence::Double,
            EventKind::LostTransaction => Evidence::Lost,
            EventKind::Fallback => Evidence::Fallback,
            EventKind::FrameCorrupted => Evidence::Replaced,
            EventKind::FrameDuplicated => Evidence::Duplicated,
            EventKind::FrameDropped => Evidence::Dropped,
            EventKind::FrameDelayed => Evidence::Delayed,
            EventKind::FrameReordered => Evidence::Held,
            EventKind::Stolen => Evidence::Stolen,
            EventKind::CashOutApproved => Evidence::CashOutApproved,
            EventKind::CashOutDeclined => Evidence::CashOutDeclined,
            EventKind::OfflineUnpaid => Evidence::OfflineUnpaid,
            EventKind::Approved => Evidence::Approved,
            EventKind::Declined => Evidence::Declined,
            EventKind::DeclinedOffline => Evidence::DeclinedOffline,
            EventKind::ApprovedOffline => Evidence::ApprovedOffline,
            EventKind::Timeout => Evidence::Timeout,
            EventKind::Reversal => Evidence::Reversal,
            EventKind::ReversalAbandoned => Evidence::ReversalAbandoned,
            EventKind::Alert(a) => {
                return self
                    .alerts
                    .iter()
                    .filter(|r| r.alert == *a)
                    .map(|r| r.event)
                    .take(5)
                    .collect();
            }
        };
        self.evidence.get(&key).cloned().unwrap_or_default()
    }

    /// Money lost to attacks so far, as the report will count it: each
    /// purchase is counted when it is judged (once nothing more can happen
    /// to it), so this lags the live view by up to the settling time.
    pub fn fraud_loss(&self) -> Money {
        self.attacks.iter().fold(Money::ZERO, |sum, a| sum.saturating_add(a.loss))
    }

    /// How often the attack or fault `name` acted.
    fn fired(&self, name: &str) -> u64 {
        let attacks: u64 = self.attacks.iter().filter(|a| a.attack == name).map(|a| a.fired).sum();
        attacks + self.faults.get(name).copied().unwrap_or(0)
    }

    /// Attacks and faults set up that never acted.
    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for (i, a) in self.attacks.iter().enumerate() {
            if !self.present.get(i).copied().unwrap_or(true) {
                continue;
            }
            if a.fired == 0 {
                w.push(format!(
                    "attack {} (`{}`) never fired: the run did not exercise it",
                    i + 1,
                    a.attack
                ));
            } else if a.came_to_nothing == a.fired {
                w.push(format!(
                    "attack {} (`{}`) came to nothing on all {} tries (no card to use, no password to be had)",
                    i + 1,
                    a.attack,
                    a.fired
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.fault_names {
            if seen.insert(f) && self.faults.get(f).copied().unwrap_or(0) == 0 {
                w.push(format!("fault `{f}` never fired: the run did not exercise it"));
            }
        }
        w
    }

    /// Judges the run and builds the report.
    pub fn report(&mut self, scenario: &str, file: &str, seed: u64) -> RunReport {
        // Purchases still open: judge them now, in id order.
        let mut ids = self.purchases.ids();
        ids.sort_unstable();
        for id in ids {
            if let Some(tr) = self.purchases.remove(id) {
                self.finalize(id, tr);
            }
        }
        self.completions.clear();
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
            results.push(self.judge(e, &double, &lost, latency.as_ref()));
        }
        for what in &self.setup_failures {
            results.insert(
                0,
                ExpectationResult {
                    expectation: "WorldBuilt".into(),
                    passed: false,
                    evidence: what.clone(),
                    events: vec![],
                },
            );
        }
        let passed = results.iter().all(|r| r.passed);
        let invariants = INVARIANTS
            .iter()
            .map(|inv| {
                let r = self.judge(inv, &double, &lost, latency.as_ref());
                InvariantResult {
                    evaluated: !r.evidence.starts_with(NOT_EVALUATED),
                    invariant: r.expectation,
                    held: r.passed,
                    required: self.expect.contains(inv),
                    evidence: r.evidence,
                    events: r.events,
                }
            })
            .collect();
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
            fraud_loss: self.fraud_loss(),
            attacks: self.attacks.clone(),
            loot: self.loot.clone(),
            warnings: self.warnings(),
            lesson: self.lesson.clone(),
            alerts: self.alerts.clone(),
            settlement: self.settlement.clone(),
            ledger: (self.ledger.0, self.ledger.1),
            expectations: results,
            invariants,
            coverage: self.coverage(),
            passed,
        }
    }

    /// Every fault and attack set up (in the scenario's order), and faults
    /// that fired without being set up (installed by a command).
    fn coverage(&self) -> Vec<CoverageRow> {
        let mut rows = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in self.fault_names.iter().enumerate() {
            if seen.insert(f.as_str()) {
                let fired = self.faults.get(f).copied().unwrap_or(0);
                let (what, index, name, present) = ("fault", i + 1, f.clone(), true);
                rows.push(CoverageRow { what, index, name, fired, present });
            }
        }
        for (name, n) in &self.faults {
            if !seen.contains(name.as_str()) {
                let (what, index, name, fired, present) = ("fault", 0, name.clone(), *n, true);
                rows.push(CoverageRow { what, index, name, fired, present });
            }
        }
        for (i, a) in self.attacks.iter().enumerate() {
            rows.push(CoverageRow {
                what: "attack",
                index: i + 1,
                name: a.attack.clone(),
                fired: a.fired,
                present: self.present.get(i).copied().unwrap_or(true),
            });
        }
        rows
    }

    fn judge(
        &self,
        e: &Expectation,
        double: &[(u64, u64, i64)],
        lost: &[(u64, u64, bool, bool)],
        latency: Option<&Latency>,
    ) -> ExpectationResult {
        let name = format!("{e:?}");
        let ok = |passed: bool, evidence: String, events: Vec<u64>| ExpectationResult {
            expectation: name.clone(),
            passed,
            evidence,
            events,
        };
        let host_is_real =
            self.settlement.iter().any(|s| s.only == Some(crate::report::Side::Terminal));
        if host_is_real
            && matches!(
                e,
                Expectation::NoDoubleCharge
                    | Expectation::LossesAccounted
                    | Expectation::NoLostTransaction
                    | Expectation::FraudLossAtMost(_)
            )
        {
            // These read the host's books, which a real host keeps to itself:
            // an expectation that cannot be evaluated never passes.
            return ok(
                false,
                format!("{NOT_EVALUATED}the host is real software and keeps its own books"),
                vec![],
            );
        }
        let terminals_are_real =
            self.settlement.iter().any(|s| s.only == Some(crate::report::Side::Host));
        if terminals_are_real
            && matches!(
                e,
                Expectation::NoDoubleCharge
                    | Expectation::LossesAccounted
                    | Expectation::NoLostTransaction
            )
        {
            // Purchases and receipts are the real terminals' own: a verdict
            // over none of them would be a false green.
            return ok(
                false,
                format!(
                    "{NOT_EVALUATED}the terminals are real software and keep their own receipts"
                ),
                vec![],
            );
        }
        let blind = if terminals_are_real && reads_the_terminals(e) {
            // Receipts, timeouts, round trips and the terminals' own alerts
            // happen inside the real terminals: none of them reaches possim.
            let approved = self.responses.get(&ResponseCode::Approved).copied().unwrap_or(0);
            let answered: u64 = self.responses.values().sum();
            Some(format!(
                "the terminals are real software and keep their own receipts (the host approved {approved} of the {answered} requests it answered)"
            ))
        } else if host_is_real && reads_the_host(e) {
            // Response codes and the alerts raised from the host's checks
            // are the real host's: it does not say why it answered as it did.
            Some("the host is real software and keeps its own decisions".to_string())
        } else {
            None
        };
        let seen = self.judge_seen(e, double, lost, latency);
        let Some(why) = blind else { return seen };
        // What possim saw of it (possim's own terminals beside a real one)
        // decides only when it already settles the verdict: a count that
        // reached an AtLeast, or one that broke a Never or an AtMost.
        let conclusive = match e {
            Expectation::AtLeast(..) => seen.passed,
            Expectation::Never(_) | Expectation::AtMost(..) => !seen.passed,
            _ => false,
        };
        if conclusive {
            return seen;
        }
        ok(false, format!("{NOT_EVALUATED}{why}"), vec![])
    }

    /// The verdict on what the monitor saw, as if it saw everything.
    fn judge_seen(
        &self,
        e: &Expectation,
        double: &[(u64, u64, i64)],
        lost: &[(u64, u64, bool, bool)],
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
                let n = self.count(k);
                ok(n == 0, format!("{n} × {k:?}"), self.events_for(k))
            }
            Expectation::AtLeast(min, k) => {
                let n = self.count(k);
                ok(n >= *min, format!("{n} × {k:?} (at least {min})"), self.events_for(k))
            }
            Expectation::AtMost(max, k) => {
                let n = self.count(k);
                ok(n <= *max, format!("{n} × {k:?} (at most {max})"), self.events_for(k))
            }
            Expectation::LedgerBalanced => {
                let bad: Vec<&SettlementRow> =
                    self.settlement.iter().filter(|s| !s.balanced && s.only.is_none()).collect();
                let one_sided = self.settlement.iter().filter_map(|s| s.only).next();
                let (out, merch, de) = self.ledger;
                let mut all = crate::money::Totals::default();
                for s in &self.settlement {
                    // With a real host, the terminals' side is the one known.
                    let t = if one_sided == Some(crate::report::Side::Terminal) {
                        s.terminal_totals
                    } else {
                        s.host_totals
                    };
                    // A tally for the evidence text, not a compared total.
                    all.purchases = all.purchases.saturating_add(t.purchases);
                    all.purchase_amount = all.purchase_amount.saturating_add(t.purchase_amount);
                    all.refunds = all.refunds.saturating_add(t.refunds);
                    all.refund_amount = all.refund_amount.saturating_add(t.refund_amount);
                }
                if self.settlement.is_empty() {
                    ok(false, "no settlement took place".into(), vec![])
                } else if bad.is_empty() && de && one_sided == Some(crate::report::Side::Host) {
                    ok(
                        true,
                        format!(
                            "real terminals, the host's side only ({}); cardholders paid {out} = merchants owed {merch}",
                            totals_text(&all)
                        ),
                        vec![],
                    )
                } else if one_sided == Some(crate::report::Side::Terminal) {
                    // The books are the real host's: possim cannot see them.
                    ok(
                        false,
                        format!(
                            "{NOT_EVALUATED}the host is real software and keeps its own books (the terminals approved {})",
                            totals_text(&all)
                        ),
                        vec![],
                    )
                } else if bad.is_empty() && de {
                    ok(
                        true,
                        format!(
                            "{} terminals' totals equal the host's ({}); cardholders paid {out} = merchants owed {merch}",
                            self.settlement.len(),
                            totals_text(&all)
                        ),
                        vec![],
                    )
                } else {
                    let detail: Vec<String> = bad
                        .iter()
                        .map(|s| {
                            format!(
                                "{}: terminal {} vs host {}",
                                s.terminal,
                                totals_text(&s.terminal_totals),
                                totals_text(&s.host_totals)
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
                        self.evidence.get(&Evidence::Unbalanced).cloned().unwrap_or_default(),
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
                            self.tallied(Evidence::Double),
                            ids.join(", ")
                        ),
                        double.iter().map(|d| d.1).collect(),
                    )
                }
            }
            Expectation::LossesAccounted => {
                let n = self.tallied(Evidence::Unaccounted);
                let ev = self.evidence.get(&Evidence::Unaccounted).cloned().unwrap_or_default();
                if n == 0 {
                    ok(
                        true,
                        "every purchase was charged what its receipt says, or the difference is an attack's".into(),
                        vec![],
                    )
                } else {
                    ok(false, format!("{n} unexplained: {}", self.unaccounted.join("; ")), ev)
                }
            }
            Expectation::NoLostTransaction => {
                let c = &self.counts;
                if c.in_flight_at_end > 0 || c.pending_reversals_at_end > 0 {
                    return ok(
                        false,
                        format!(
                            "the run stopped unsettled: {} frames in flight (purchases {:?}) and {} reversals undelivered",
                            c.in_flight_at_end,
                            self.unsettled_purchases,
                            c.pending_reversals_at_end
                        ),
                        self.evidence.get(&Evidence::Unsettled).cloned().unwrap_or_default(),
                    );
                }
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
                        .map(|&(id, _, approved, refund)| match (approved, refund) {
                            (true, false) => {
                                format!("purchase {id} approved at the terminal but not settled")
                            }
                            (true, true) => {
                                format!("refund {id} approved at the terminal but not credited")
                            }
                            (false, false) => {
                                format!("purchase {id} charged but the customer was declined")
                            }
                            (false, true) => {
                                format!("refund {id} credited but declined at the terminal")
                            }
                        })
                        .collect();
                    ok(
                        false,
                        format!("{} lost: {}", self.tallied(Evidence::Lost), ids.join("; ")),
                        lost.iter().map(|l| l.1).collect(),
                    )
                }
            }
            Expectation::FraudLossAtMost(max) => {
                let loss = self.fraud_loss();
                let by: Vec<String> = self
                    .attacks
                    .iter()
                    .filter(|a| a.loss.0 > 0)
                    .map(|a| format!("{} {} ({} approved)", a.attack, a.loss, a.approved))
                    .collect();
                let detail =
                    if by.is_empty() { String::new() } else { format!(": {}", by.join(", ")) };
                ok(
                    loss <= *max,
                    format!("fraud loss {loss} (at most {max}){detail}"),
                    self.evidence.get(&Evidence::CashOutApproved).cloned().unwrap_or_default(),
                )
            }
            Expectation::Fired(name) => {
                let n = self.fired(name);
                ok(n >= 1, format!("`{name}` fired {n} times"), vec![])
            }
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

/// Whether judging `e` needs what happens inside the terminals (their
/// receipts, timeouts, round trips, reversals and their own alerts).
fn reads_the_terminals(e: &Expectation) -> bool {
    use crate::scenario::AlertKind as A;
    let alert = |a: &A| {
        matches!(
            a,
            A::LinkDown
                | A::ReversalAbandoned
                | A::LoginLockout
                | A::UnexpectedEgress
                | A::CertificateMismatch
                | A::TamperDetected
        )
    };
    match e {
        Expectation::Never(k) | Expectation::AtLeast(_, k) | Expectation::AtMost(_, k) => match k {
            EventKind::Approved
            | EventKind::Declined
            | EventKind::DeclinedOffline
            | EventKind::ApprovedOffline
            | EventKind::OfflineUnpaid
            | EventKind::Timeout
            | EventKind::Reversal
            | EventKind::ReversalAbandoned
            | EventKind::Fallback
            // Judged against the terminals' receipts.
            | EventKind::DoubleCharge
            | EventKind::LostTransaction => true,
            EventKind::Alert(a) => alert(a),
            _ => false,
        },
        Expectation::AlertWithin(a, _) => alert(a),
        Expectation::ApprovalRateAtLeast(_) | Expectation::LatencyP99Below(_) => true,
        _ => false,
    }
}

/// Whether judging `e` needs the host's decisions (its response codes and
/// the alerts raised from its checks).
fn reads_the_host(e: &Expectation) -> bool {
    use crate::scenario::AlertKind as A;
    let alert = |a: &A| {
        matches!(
            a,
            A::SecurityViolations
                | A::FormatErrors
                | A::Duplicates
                | A::AtcReplay
                | A::PinBlocked
                | A::RefundVelocity
                | A::CvmMismatch
                | A::CardVelocity
                | A::UnPattern
                | A::RefundWithoutSale
                | A::UnknownSerial
        )
    };
    match e {
        Expectation::Never(k) | Expectation::AtLeast(_, k) | Expectation::AtMost(_, k) => match k {
            // Judged against the host's books.
            EventKind::Response(_) | EventKind::DoubleCharge | EventKind::LostTransaction => true,
            EventKind::Alert(a) => alert(a),
            _ => false,
        },
        Expectation::AlertWithin(a, _) => alert(a),
        _ => false,
    }
}

/// How the evidence of a verdict possim cannot reach begins (such a
/// verdict is a failure, never a pass).
const NOT_EVALUATED: &str = "not evaluated: ";

/// The invariants of SCENARIOS.md every run is judged against.
const INVARIANTS: [Expectation; 4] = [
    Expectation::NoDoubleCharge,
    Expectation::NoLostTransaction,
    Expectation::LedgerBalanced,
    Expectation::LossesAccounted,
];

/// "3 purchases 105.00, 1 refund 20.00".
fn totals_text(t: &crate::money::Totals) -> String {
    let plural =
        |n: u64, one: &str, many: &str| if n == 1 { one.to_string() } else { many.to_string() };
    format!(
        "{} {} {}, {} {} {}",
        t.purchases,
        plural(t.purchases, "purchase", "purchases"),
        t.purchase_amount,
        t.refunds,
        plural(t.refunds, "refund", "refunds"),
        t.refund_amount
    )
}
