//! The human summary of a run: what happened, the expectations with their
//! evidence, and how to replay a failure.

use std::fmt::Write;

use super::RunReport;
use crate::protocol::response::ResponseCode;
use crate::time::SimTime;

fn pct(n: u64, of: u64) -> String {
    if of == 0 { "-".into() } else { format!("{:.1}%", n as f64 * 100.0 / of as f64) }
}

/// " [events #12 #40]", or nothing; the first ten of more ("... 27 in
/// all": the JSON report has them all).
fn events(ids: &[u64]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let shown = ids.iter().take(10).map(|x| format!("#{x}")).collect::<Vec<_>>().join(" ");
    let more = if ids.len() > 10 { format!(" ... {} in all", ids.len()) } else { String::new() };
    format!(" [events {shown}{more}]")
}

/// The summary printed by `possim run`.
pub fn summary(r: &RunReport) -> String {
    let mut s = String::new();
    let c = &r.counts;
    let _ = writeln!(
        s,
        "{}  ({}, seed {}, {} virtual, {} events)",
        r.scenario,
        r.file,
        r.seed,
        SimTime(r.virtual_us).clock(),
        r.events
    );
    let _ = writeln!(
        s,
        "  purchases {}: approved {} ({}), declined {}, declined offline {}, timed out {}, unreadable {}",
        c.purchases,
        c.approved,
        pct(c.approved, c.purchases),
        c.declined,
        c.declined_offline,
        c.timeouts,
        c.unreadable
    );
    if c.approved_offline > 0 {
        let _ = writeln!(
            s,
            "  approved offline {} under the floor limit: {} cleared, {} refused at clearing (the merchant is not paid)",
            c.approved_offline,
            c.approved_offline - c.offline_unpaid.min(c.approved_offline),
            c.offline_unpaid
        );
    }
    let _ = writeln!(
        s,
        "  customers {}, attempts {}, fallbacks {}, reversals {} (abandoned {})",
        c.customers, c.attempts, c.fallbacks, c.reversals, c.reversals_abandoned
    );
    if !r.responses.is_empty() {
        let codes: Vec<String> = r
            .responses
            .iter()
            .map(|(k, v)| format!("{k} {} {v}", ResponseCode::from_code(k).meaning()))
            .collect();
        let _ = writeln!(s, "  host answers: {}", codes.join(" | "));
    }
    let _ = writeln!(s, "  frames {} sent, {} delivered", c.frames_sent, c.frames_delivered);
    if !r.coverage.is_empty() {
        // Every fault and attack set up, with how often it acted: a zero
        // says the run did not exercise it.
        let rows: Vec<String> = r
            .coverage
            .iter()
            .map(|c| match (c.what, c.present) {
                ("attack", true) => format!("attack {} {} {}", c.index, c.name, c.fired),
                ("attack", false) => {
                    format!("attack {} {} (not in this seed's run)", c.index, c.name)
                }
                _ => format!("{} {} {}", c.what, c.name, c.fired),
            })
            .collect();
        let _ = writeln!(s, "  fired: {}", rows.join(", "));
    }
    if c.frames_queued > 0 {
        let _ = writeln!(
            s,
            "  queueing: {} frames waited for the bandwidth, longest {:.1} ms",
            c.frames_queued,
            c.max_queue_us as f64 / 1000.0
        );
    }
    if c.in_flight_at_end > 0 || c.pending_reversals_at_end > 0 {
        let _ = writeln!(
            s,
            "  NOT SETTLED: {} frames still in flight and {} reversals undelivered when the run stopped",
            c.in_flight_at_end, c.pending_reversals_at_end
        );
    }
    if let Some(l) = &r.latency {
        let _ = writeln!(
            s,
            "  round trip: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.samples
        );
    }
    if r.attacks.is_empty() {
        // Say so, rather than print a 0.00 that reads like a measurement.
        let _ = writeln!(s, "  fraud loss: not measured (no attack in this scenario)");
    } else {
        let _ = writeln!(s, "  fraud loss: {}", r.fraud_loss);
        for (i, a) in r.attacks.iter().enumerate() {
            let mut paid = if a.approved + a.declined > 0 {
                format!("; {} paid out, {} refused, loss {}", a.approved, a.declined, a.loss)
            } else {
                String::new()
            };
            if a.came_to_nothing > 0 {
                paid.push_str(&format!("; {} tries came to nothing", a.came_to_nothing));
            }
            if !a.present {
                let _ = writeln!(s, "    attack {} {}: not in this seed's run", i + 1, a.attack);
                continue;
            }
            let _ = writeln!(s, "    attack {} {}: fired {}{paid}", i + 1, a.attack, a.fired);
        }
        if !r.loot.is_empty() {
            let copies = r.loot.iter().filter(|l| l.what.iter().any(|w| *w != "pin")).count();
            let pins = r.loot.iter().filter(|l| l.what.contains(&"pin")).count();
            let _ = writeln!(
                s,
                "  loot: {} cards seen by attackers: {copies} can be copied onto a blank, {pins} PINs",
                r.loot.len(),
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    if r.alerts.is_empty() {
        let _ = writeln!(s, "  alerts: none");
    } else {
        let _ = writeln!(s, "  alerts: {}", r.alerts.len());
        for a in r.alerts.iter().take(10) {
            let _ = writeln!(
                s,
                "    #{} {} {:?}{}: {}",
                a.event,
                SimTime(a.t_us).clock(),
                a.alert,
                a.terminal.as_ref().map(|t| format!(" {t}")).unwrap_or_default(),
                a.detail
            );
        }
    }
    match r.settlement.iter().find_map(|x| x.only) {
        None => {
            let unbalanced = r.settlement.iter().filter(|x| !x.balanced).count();
            let _ = writeln!(
                s,
                "  settlement: {} terminals, {} balanced; cardholders paid {}, merchants owed {}",
                r.settlement.len(),
                r.settlement.len() - unbalanced,
                r.ledger.0,
                r.ledger.1
            );
        }
        Some(side) => {
            // The other party is real software: only possim's side is known.
            let (label, pick): (&str, fn(&super::SettlementRow) -> crate::money::Totals) =
                match side {
                    super::Side::Host => ("host side only", |x| x.host_totals),
                    super::Side::Terminal => ("terminal side only", |x| x.terminal_totals),
                };
            let _ = if side == super::Side::Host {
                writeln!(
                    s,
                    "  settlement ({label}): cardholders paid {}, merchants owed {}",
                    r.ledger.0, r.ledger.1
                )
            } else {
                writeln!(s, "  settlement ({label}): the real host keeps the books")
            };
            let busy: Vec<&super::SettlementRow> =
                r.settlement.iter().filter(|x| pick(x).purchases + pick(x).refunds > 0).collect();
            for x in busy.iter().take(10) {
                let t = pick(x);
                let _ = writeln!(
                    s,
                    "    {}: {} purchases {}, {} refunds {}",
                    x.terminal, t.purchases, t.purchase_amount, t.refunds, t.refund_amount
                );
            }
            if busy.len() > 10 {
                let _ =
                    writeln!(s, "    ... and {} more terminals (all in --json)", busy.len() - 10);
            }
        }
    }
    let held = r.invariants.iter().filter(|i| i.held).count();
    let unseen = r.invariants.iter().filter(|i| !i.evaluated).count();
    let _ = writeln!(
        s,
        "invariants: {held}/{} held{}",
        r.invariants.len(),
        if unseen > 0 { format!(", {unseen} not evaluated") } else { String::new() }
    );
    for i in r.invariants.iter().filter(|i| !i.held) {
        let _ = writeln!(
            s,
            "  {} {}{}: {}{}",
            if i.evaluated { "VIOLATED" } else { "NOT EVALUATED" },
            i.invariant,
            if i.required { "" } else { " (not required by this scenario)" },
            i.evidence,
            events(&i.events)
        );
    }
    if !r.expectations.is_empty() {
        let _ = writeln!(s, "expectations");
        for e in &r.expectations {
            let _ = writeln!(
                s,
                "  {} {}: {}{}",
                if e.passed { "PASS" } else { "FAIL" },
                e.expectation,
                e.evidence,
                events(&e.events)
            );
        }
    }
    let passed = r.expectations.iter().filter(|e| e.passed).count();
    if r.passed {
        let _ = writeln!(s, "result: PASS ({passed}/{} expectations)", r.expectations.len());
    } else {
        let _ = writeln!(
            s,
            "result: FAIL ({passed}/{} expectations); replay with: {}",
            r.expectations.len(),
            r.replay_hint()
        );
    }
    s
}
