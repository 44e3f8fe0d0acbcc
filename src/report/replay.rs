//! `possim replay JOURNAL`: the report rebuilt from a journal alone, without
//! running the world again. The journal's `run_started` carries what the
//! monitor judges by (thresholds, expectations, the faults and attacks as
//! the seed ran them); a fresh monitor reads the same records again and
//! must raise the same alerts at the same places, so an edited or truncated
//! journal is caught, line by line.

use std::collections::VecDeque;
use std::io::BufRead;

use serde::Deserialize;

use super::RunReport;
use super::journal::{LineError, next_line};
use crate::sim::{Monitor, Record, Subscriber};
use crate::time::SimTime;

/// Why a journal could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A line is wrong: not a journal event, out of order, or not what the
    /// records before it imply.
    #[error("{file}:{line}: {why}")]
    BadLine {
        /// The journal.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Reading failed.
    #[error("{file}: {why}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        why: String,
    },
}

/// One journal line: `{"seq":N,"t_us":T,"kind":...}`.
#[derive(Deserialize)]
struct Line {
    seq: u64,
    t_us: u64,
    #[serde(flatten)]
    record: Record,
}

/// Reads one journal line back: its sequence number, virtual time and record.
pub fn read_event(line: &str) -> Result<(u64, SimTime, Record), serde_json::Error> {
    let Line { seq, t_us, record } = serde_json::from_str(line)?;
    Ok((seq, SimTime(t_us), record))
}

/// The run being rebuilt, once `run_started` has been read.
struct Run {
    monitor: Monitor,
    scenario: String,
    file: String,
    seed: u64,
}

/// Rebuilds the report of the run `journal` recorded; `name` names it in
/// errors. Every record also goes to `subscribers`, as in the run (an HTML
/// report, a pcap).
pub fn replay(
    mut journal: impl BufRead,
    name: &str,
    subscribers: &mut [&mut dyn Subscriber],
) -> Result<RunReport, ReplayError> {
    let bad = |line: usize, why: String| ReplayError::BadLine { file: name.into(), line, why };
    let mut buf = String::new();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut run: Option<Run> = None;
    let mut alerts: VecDeque<Record> = VecDeque::new();
    let (mut line, mut last_t, mut finished) = (0usize, 0u64, false);
    loop {
        line += 1;
        let text = match next_line(&mut journal, &mut buf) {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(LineError::Io(e)) => {
                return Err(ReplayError::Io { file: name.into(), why: e.to_string() });
            }
            Err(LineError::Bad(why)) => return Err(bad(line, why)),
        };
        let (seq, SimTime(t_us), record) = read_event(text).map_err(|e| {
            // A journal of another version of possim starts as one does.
            let hint = if line == 1 && text.contains("\"kind\":\"run_started\"") {
                " (a journal from another version of possim? replay it with that version)"
            } else {
                ""
            };
            bad(line, format!("not a journal event: {e}{hint}"))
        })?;
        if finished {
            return Err(bad(line, "an event after run_finished".into()));
        }
        if seq != line as u64 {
            return Err(bad(line, format!("event {seq} where event {line} belongs")));
        }
        if t_us < last_t {
            return Err(bad(
                line,
                format!(
                    "time {t_us} us is before line {}'s ({last_t} us): one of the two is wrong",
                    line - 1
                ),
            ));
        }
        last_t = t_us;
        let r = match (&mut run, &record) {
            (None, Record::RunStarted { scenario, seed, file, monitor, .. }) => run.insert(Run {
                monitor: Monitor::from_setup(monitor),
                scenario: scenario.clone(),
                file: file.clone(),
                seed: *seed,
            }),
            (None, _) => return Err(bad(line, "a journal begins with run_started".into())),
            (Some(_), Record::RunStarted { .. }) => {
                return Err(bad(line, "a second run_started: one journal holds one run".into()));
            }
            (Some(r), _) => r,
        };
        // The monitor's alerts follow the record that raised them, in order.
        match (&record, alerts.pop_front()) {
            (Record::Alert { .. }, Some(expected)) if expected == record => {}
            (Record::Alert { .. }, Some(expected)) => {
                return Err(bad(
                    line,
                    format!("the records above raise {}, not this alert", describe(&expected)),
                ));
            }
            (Record::Alert { .. }, None) => {
                return Err(bad(line, "an alert the records above do not raise".into()));
            }
            (_, Some(expected)) => {
                return Err(bad(
                    line,
                    format!("the records above raise {}, missing here", describe(&expected)),
                ));
            }
            (_, None) => {}
        }
        consistent(&record).map_err(|why| bad(line, why))?;
        if let Record::RunFinished { digest: written, .. } = &record {
            let lines = hex::encode(digest.clone().finish());
            match written {
                Some(w) if *w == lines => {}
                Some(_) => {
                    return Err(bad(
                        line,
                        "the lines above do not hash to the digest written when the run ended: the journal was changed after the run".into(),
                    ));
                }
                None => {
                    return Err(bad(
                        line,
                        "run_finished carries no digest of the lines above".into(),
                    ));
                }
            }
            finished = true;
        }
        digest.update(text.as_bytes());
        digest.update(b"\n");
        r.monitor.observe(SimTime(t_us), seq, &record);
        alerts.extend(r.monitor.take_alerts());
        for s in subscribers.iter_mut() {
            s.on_record(seq, SimTime(t_us), &record);
        }
    }
    // The last line read, where the file ends too soon.
    let last = (line - 1).max(1);
    if let Some(expected) = alerts.front() {
        return Err(bad(last, format!("the journal ends here, before {}", describe(expected))));
    }
    let Some(mut r) = run else {
        return Err(bad(last, "an empty journal: no run_started".into()));
    };
    if !finished {
        return Err(bad(
            last,
            "the journal ends here, before run_finished: it was cut short (the run was killed, or the file truncated)".into(),
        ));
    }
    for s in subscribers.iter_mut() {
        s.on_finish();
    }
    Ok(r.monitor.report(&r.scenario, &r.file, r.seed))
}

/// A record that contradicts itself (a hand edit of one value).
fn consistent(r: &Record) -> Result<(), String> {
    match r {
        Record::Settlement { terminal_totals, host_totals, balanced, only: None, .. }
            if *balanced != (terminal_totals == host_totals) =>
        {
            Err(format!(
                "settlement says balanced: {balanced}, but the terminal's and the host's totals {}",
                if terminal_totals == host_totals { "agree" } else { "differ" }
            ))
        }
        Record::Ledger { cardholder_outflow, merchant_position, balanced }
            if *balanced != (cardholder_outflow == merchant_position) =>
        {
            Err(format!(
                "ledger says balanced: {balanced}, but cardholders paid {cardholder_outflow} and merchants are owed {merchant_position}"
            ))
        }
        _ => Ok(()),
    }
}

fn describe(r: &Record) -> String {
    match r {
        Record::Alert { alert, detail, .. } => format!("the alert {alert:?} ({detail})"),
        _ => "another record".into(),
    }
}
