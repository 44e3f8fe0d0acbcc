//! What a run produced, and its renderings: the human summary, the JSON
//! report and JUnit XML (one test case per expectation).

pub mod diff;
pub mod html;
pub mod journal;
mod junit;
pub mod pcap;
pub mod replay;
mod summary;

use std::collections::BTreeMap;

use serde::Serialize;

pub use junit::{junit_xml, junit_xml_with_errors};
pub use summary::summary;

use crate::host::Totals as HostTotals;
use crate::money::Money;
use crate::scenario::AlertKind;
use crate::terminal::Totals;

/// Counts of what happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Customers who arrived.
    pub customers: u64,
    /// Purchases that reached an outcome.
    pub purchases: u64,
    /// Of which approved.
    pub approved: u64,
    /// Declined by the host.
    pub declined: u64,
    /// Declined offline (card or terminal).
    pub declined_offline: u64,
    /// Approved offline by the card under a floor limit.
    pub approved_offline: u64,
    /// Of which the issuer refused to pay for at clearing (or never heard of).
    pub offline_unpaid: u64,
    /// Timed out.
    pub timeouts: u64,
    /// Card unreadable.
    pub unreadable: u64,
    /// Attempts (PIN retries count again).
    pub attempts: u64,
    /// Reversals acknowledged.
    pub reversals: u64,
    /// Reversals abandoned.
    pub reversals_abandoned: u64,
    /// Magstripe fallbacks.
    pub fallbacks: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames delivered.
    pub frames_delivered: u64,
    /// Frames that waited for the bandwidth of their link.
    pub frames_queued: u64,
    /// The longest such wait, in microseconds.
    pub max_queue_us: u64,
    /// Frames still in flight when the run stopped (0 when it settled).
    pub in_flight_at_end: u64,
    /// Reversals the terminals had not delivered when the run stopped.
    pub pending_reversals_at_end: u64,
}

/// Request round-trip percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub samples: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// An alert that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    /// Journal event id.
    pub event: u64,
    /// Virtual time, microseconds.
    pub t_us: u64,
    /// Kind.
    pub alert: AlertKind,
    /// Terminal, if one.
    pub terminal: Option<String>,
    /// Detail.
    pub detail: String,
}

/// What one attack did in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackRow {
    /// Its name ("skimmer").
    pub attack: String,
    /// Whether it was there in this seed's run (see `chance`).
    pub present: bool,
    /// How often it acted: pieces of data taken, or cards the attacker paid with.
    pub fired: u64,
    /// Tries that came to nothing before the host: no card to copy (a
    /// cash-out), no password to be had (an insider).
    pub came_to_nothing: u64,
    /// Purchases it made money from: copies the host approved (a cash-out),
    /// or purchases charged other than their receipt says (a man in the
    /// middle who changed or replayed them).
    pub approved: u64,
    /// Purchases with copied cards that were refused (a cash-out).
    pub declined: u64,
    /// Money it cost: approved purchases with copied cards, and the
    /// difference between what the host charged and the receipts for
    /// purchases whose frames were changed or replayed; net of reversals.
    pub loss: Money,
}

/// One card in the attackers' hands at the end, masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LootRow {
    /// The card, masked (first 6, last 4).
    pub pan: String,
    /// What they hold: "track2", "tag57", "pin".
    pub what: Vec<&'static str>,
    /// The attacks that took it.
    pub by: Vec<String>,
}

/// One terminal's settlement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettlementRow {
    /// Terminal id.
    pub terminal: String,
    /// What the terminal approved.
    pub terminal_totals: Totals,
    /// What the host settles.
    pub host_totals: HostTotals,
    /// Whether they agree.
    pub balanced: bool,
    /// Set when the other party is real software on a socket: only this
    /// side's totals are known, so there is nothing to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<Side>,
}

/// Which side of a settlement possim knows when the other is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// `possim host`: the host's totals; the real terminal keeps its own.
    Host,
    /// `possim terminal --connect`: the terminal's totals; the real host
    /// keeps its own.
    Terminal,
}

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectationResult {
    /// The expectation as written.
    pub expectation: String,
    /// Whether it held.
    pub passed: bool,
    /// The evidence, in words.
    pub evidence: String,
    /// Journal event ids behind the evidence.
    pub events: Vec<u64>,
}

/// An invariant of SCENARIOS.md, judged in every run whether or not the
/// scenario asks for it: a report that is silent about lost money is not
/// evidence that none was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvariantResult {
    /// Its name, as an expectation would spell it ("NoDoubleCharge").
    pub invariant: String,
    /// Whether it held (never, when it could not be evaluated).
    pub held: bool,
    /// False when possim cannot see what it needs: the other side is real
    /// software that keeps its own books or receipts.
    pub evaluated: bool,
    /// Whether the scenario lists it among its expectations (only then does
    /// a violation fail the run: a scenario may show a bug on purpose).
    pub required: bool,
    /// The evidence, in words.
    pub evidence: String,
    /// Journal event ids behind a violation.
    pub events: Vec<u64>,
}

/// How often one fault or attack the scenario set up acted in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageRow {
    /// "fault" or "attack".
    pub what: &'static str,
    /// Its place among the scenario's faults or attacks, from 1 (two
    /// attacks may share a name). Faults of one name on several links are
    /// one row: the first one's place.
    pub index: usize,
    /// Its name ("loss", "skimmer").
    pub name: String,
    /// Times it acted (0: the run did not exercise it).
    pub fired: u64,
    /// False when `chance` left it out of this seed's run.
    pub present: bool,
}

/// Everything a run produced, for the summary and the reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// Seed used.
    pub seed: u64,
    /// Virtual time at the end, microseconds.
    pub virtual_us: u64,
    /// Journal events.
    pub events: u64,
    /// Counts.
    pub counts: Counts,
    /// Host answers by response code.
    pub responses: BTreeMap<String, u64>,
    /// Faults that fired, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Round trips.
    pub latency: Option<Latency>,
    /// Money lost to fraud: purchases approved for copied cards, net of reversals.
    pub fraud_loss: Money,
    /// Each attack of the scenario and what it did.
    pub attacks: Vec<AttackRow>,
    /// The cards in the attackers' hands at the end (the first 1000), masked.
    pub loot: Vec<LootRow>,
    /// What the run did not do that it was set up to do (an attack or fault
    /// that never fired): a green run is not an inert one.
    pub warnings: Vec<String>,
    /// The scenario's lesson key.
    pub lesson: Option<String>,
    /// Alerts.
    pub alerts: Vec<AlertRow>,
    /// Settlement per terminal.
    pub settlement: Vec<SettlementRow>,
    /// Double entry: (cardholder outflow, merchant position).
    pub ledger: (Money, Money),
    /// Expectations.
    pub expectations: Vec<ExpectationResult>,
    /// The invariants every run is checked against.
    pub invariants: Vec<InvariantResult>,
    /// Each fault and attack set up, and how often it acted.
    pub coverage: Vec<CoverageRow>,
    /// All expectations held.
    pub passed: bool,
}

/// The command that runs `file` again with `seed`, the file quoted for a
/// POSIX shell so that a name with spaces, quotes or `$` pastes back as the
/// same file.
pub fn rerun_command(file: &str, seed: u64) -> String {
    // A NUL byte cannot be in a path, so try_quote's one error cannot
    // arise from a real file name; such a name is shown as it is.
    let file = shlex::try_quote(file).unwrap_or(std::borrow::Cow::Borrowed(file));
    format!("possim run {file} --seed {seed}")
}

impl RunReport {
    /// The JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// How to see this run again: the same scenario and seed, or, where
    /// real software took part (`possim host`, `possim terminal`, a real
    /// terminal in the scenario), its journal, since the seed alone does
    /// not say what the real side did.
    pub fn replay_hint(&self) -> String {
        if self.settlement.iter().any(|s| s.only.is_some()) {
            "possim replay of the run's journal, if it kept one with --journal (real software took part: the seed alone does not reproduce it)"
                .to_string()
        } else {
            rerun_command(&self.file, self.seed)
        }
    }
}
