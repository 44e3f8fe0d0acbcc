//! `possim sweep`: runs scenarios over many seeds in parallel and lists
//! every failing seed with the exact `possim run` line that replays it.
//! A sweep can be split into shards (`--shard 2/4`) that run on different
//! machines and merge back into one report (`--merge`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use possim::report::RunReport;
use possim::scenario::Scenario;
use possim::sim::{self, Options, Pacing, Plan};
use possim::time::Duration;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use super::{Failure, Outcome, pool, print};

/// The most seeds one sweep takes.
const MAX_SEEDS: u64 = 1_000_000;

#[derive(Debug, clap::Args)]
#[command(after_help = "Seeds: `1..500` (both ends included), `7`, or a list `1,5,9`.
Shards: `--shard I/N` runs the I-th of N interleaved slices (1 <= I <= N) of the
(file, seed) runs; `possim sweep --merge shard-*.json --json all.json --junit all.xml`
joins the shards' reports into one.

Exit codes: 0 every run passed, 1 a run failed, 2 invalid scenario or command line
(nothing runs), 3 I/O failure.")]
pub(crate) struct Args {
    /// Scenario files (RON); with --merge, shard reports (JSON) to join.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The seeds to run each scenario with.
    #[arg(long, default_value = "1..100", value_parser = parse_seeds, value_name = "SEEDS")]
    seeds: Seeds,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Run only the I-th of N shards.
    #[arg(long, value_parser = parse_shard, value_name = "I/N")]
    shard: Option<Shard>,
    /// Join shard reports (the FILEs) instead of running.
    #[arg(long)]
    merge: bool,
    /// Write the sweep report (JSON).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write JUnit XML: one test suite per scenario, one test case per seed.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// For every failing seed, write its link traffic to DIR/<file>-seed<N>.pcap
    /// (the seed is run once more, with the capture: the same run).
    #[arg(long, value_name = "DIR")]
    pcap: Option<PathBuf>,
    /// Print only the failures and the last line.
    #[arg(long, short)]
    quiet: bool,
    /// Virtual time per update of the world (results do not depend on it).
    #[arg(long, default_value = "60s", value_parser = Duration::parse, value_name = "DURATION")]
    slice: Duration,
}

/// Which seeds to run, as written and as a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seeds {
    spec: String,
    list: Vec<u64>,
}

fn parse_seeds(s: &str) -> Result<Seeds, String> {
    let num = |t: &str| {
        t.trim().parse::<u64>().map_err(|_| format!("{t:?} is not a seed (a whole number)"))
    };
    let list: Vec<u64> = if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (num(a)?, num(b.strip_prefix('=').unwrap_or(b))?);
        if a > b {
            return Err(format!("the range {s} is empty: {a} is after {b}"));
        }
        if b - a >= MAX_SEEDS {
            return Err(format!("at most {MAX_SEEDS} seeds in one sweep"));
        }
        (a..=b).collect()
    } else {
        let list = s.split(',').map(num).collect::<Result<Vec<_>, _>>()?;
        if list.len() as u64 > MAX_SEEDS {
            return Err(format!("at most {MAX_SEEDS} seeds in one sweep"));
        }
        list
    };
    Ok(Seeds { spec: s.to_string(), list })
}

/// One of N slices of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Shard {
    /// Which (1-based).
    index: u32,
    /// Of how many.
    count: u32,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("a shard is I/N with 1 <= I <= N, like 2/4; found {s:?}");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count) =
        (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if count == 0 || index == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// One run of the sweep, as reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunResult {
    file: String,
    scenario: String,
    seed: u64,
    passed: bool,
    /// The expectations that failed, with their evidence.
    failures: Vec<FailedExpectation>,
    /// What stopped the run, if it could not finish (I/O, setup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Invariants violated that the scenario does not list (those it lists
    /// are among `failures`): shown, and failing nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    violated: Vec<FailedExpectation>,
    /// How often each fault and attack acted in this seed's run ("fault
    /// loss", "attack 2 skimmer"); those `chance` left out are absent.
    #[serde(default)]
    fired: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FailedExpectation {
    expectation: String,
    evidence: String,
    events: Vec<u64>,
}

/// The JSON report of a sweep or of one shard of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SweepReport {
    files: Vec<String>,
    seeds: String,
    /// The shards this report covers (all of them once merged).
    shards: Vec<Shard>,
    shard_count: u32,
    runs: u64,
    failed: u64,
    results: Vec<RunResult>,
}

impl RunResult {
    fn of(file: &str, seed: u64, r: &RunReport) -> Self {
        Self {
            file: file.to_string(),
            scenario: r.scenario.clone(),
            seed,
            passed: r.passed,
            failures: r
                .expectations
                .iter()
                .filter(|e| !e.passed)
                .map(|e| FailedExpectation {
                    expectation: e.expectation.clone(),
                    evidence: e.evidence.clone(),
                    events: e.events.clone(),
                })
                .collect(),
            error: None,
            violated: r
                .invariants
                .iter()
                .filter(|i| !i.held && i.evaluated && !i.required)
                .map(|i| FailedExpectation {
                    expectation: i.invariant.clone(),
                    evidence: i.evidence.clone(),
                    events: i.events.clone(),
                })
                .collect(),
            fired: r
                .coverage
                .iter()
                .filter(|c| c.present)
                .map(|c| match c.what {
                    "attack" => (format!("attack {} {}", c.index, c.name), c.fired),
                    _ => (format!("{} {}", c.what, c.name), c.fired),
                })
                .collect(),
        }
    }

    fn replay(&self) -> String {
        possim::report::rerun_command(&self.file, self.seed)
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn run_seed(plan: &Plan, file: &str, slice: Duration) -> RunReport {
    let options = Options { apdus: false, frames: false, stay_open: false };
    let mut app = sim::build_app(Arc::new(plan.clone()), None, Pacing::Headless { slice }, options);
    sim::run_to_end(&mut app, file)
}

/// Runs a failing seed again with its traffic captured to `dir`; the path
/// written, or why not.
fn capture_seed(plan: &Plan, file: &str, slice: Duration, dir: &Path) -> Result<PathBuf, String> {
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let path = dir.join(format!("{stem}-seed{}.pcap", plan.seed));
    let (w, slot) = super::pcap_writer(&path, plan).map_err(|e| match e {
        Failure::Io(m) | Failure::Invalid(m) => m,
    })?;
    let options = Options { apdus: false, frames: true, stay_open: false };
    let mut app = sim::build_app(Arc::new(plan.clone()), None, Pacing::Headless { slice }, options);
    app.world_mut().resource_mut::<sim::Subscribers>().add(w);
    let _ = sim::run_to_end(&mut app, file);
    drop(app);
    super::pcap_check(Some(&path), Some(&slot)).map_err(|e| match e {
        Failure::Io(m) | Failure::Invalid(m) => m,
    })?;
    Ok(path)
}

pub(crate) fn run(args: Args) -> Outcome {
    let inputs: Vec<&std::path::Path> = args.files.iter().map(PathBuf::as_path).collect();
    super::distinct_files(
        &inputs,
        &[("--json", args.json.as_deref()), ("--junit", args.junit.as_deref())],
    )?;
    if args.merge {
        return merge(&args);
    }
    if let Some(dir) = &args.pcap {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Every file must validate before any seed runs.
    let loaded = super::load_all(&args.files)?;
    for (f, s) in &loaded {
        super::no_real_terminals(f, s, "a sweep")?;
    }
    let scenarios: Vec<(String, Scenario)> =
        loaded.into_iter().map(|(f, s)| (f.display().to_string(), s)).collect();
    let shard = args.shard.unwrap_or(Shard { index: 1, count: 1 });
    let mut items = Vec::new();
    let mut k = 0u64;
    for (fi, _) in scenarios.iter().enumerate() {
        for &seed in &args.seeds.list {
            if k % u64::from(shard.count) == u64::from(shard.index - 1) {
                items.push((fi, seed));
            }
            k += 1;
        }
    }
    let bar = ProgressBar::with_draw_target(
        Some(items.len() as u64),
        if args.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    bar.set_style(
        ProgressStyle::with_template("sweep [{bar:30}] {pos}/{len} runs, {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let failed = std::sync::atomic::AtomicU64::new(0);
    let workers = args.jobs.map_or_else(pool::cores, usize::from);
    let started = std::time::Instant::now();
    let results = pool::parallel(&items, workers, |_, &(fi, seed)| {
        let Some((file, s)) = scenarios.get(fi) else {
            return RunResult {
                file: String::new(),
                scenario: String::new(),
                seed,
                passed: false,
                failures: vec![],
                error: Some("no such scenario".into()),
                violated: vec![],
                fired: Default::default(),
            };
        };
        let r = match Plan::new(s, Some(seed)) {
            Ok(plan) => {
                // A bug that panics on one seed is that seed's failure, with
                // its replay line, not the end of the sweep.
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_seed(&plan, file, args.slice)
                }));
                match run {
                    Ok(report) => {
                        let mut r = RunResult::of(file, seed, &report);
                        if !r.passed
                            && let Some(dir) = &args.pcap
                            && let Err(e) = capture_seed(&plan, file, args.slice, dir)
                        {
                            r.error = Some(format!(
                                "the seed failed, and its pcap could not be written: {e}"
                            ));
                        }
                        r
                    }
                    Err(panic) => RunResult {
                        file: file.clone(),
                        scenario: s.name.clone(),
                        seed,
                        passed: false,
                        failures: vec![],
                        error: Some(format!("possim panicked (a bug): {}", panic_text(&panic))),
                        violated: vec![],
                        fired: Default::default(),
                    },
                }
            }
            Err(e) => RunResult {
                file: file.clone(),
                scenario: s.name.clone(),
                seed,
                passed: false,
                failures: vec![],
                error: Some(e.to_string()),
                violated: vec![],
                fired: Default::default(),
            },
        };
        if !r.passed {
            let n = failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            bar.set_message(format!("{n} failed"));
        }
        bar.inc(1);
        r
    });
    bar.finish_and_clear();
    let report = SweepReport {
        files: scenarios.iter().map(|(f, _)| f.clone()).collect(),
        seeds: args.seeds.spec.clone(),
        shards: vec![shard],
        shard_count: shard.count,
        runs: results.len() as u64,
        failed: results.iter().filter(|r| !r.passed).count() as u64,
        results,
    };
    let wall = started.elapsed().as_secs_f64();
    finish(&args, &report, Some(wall))
}

/// Prints the failures and the totals, writes the reports, picks the exit code.
fn finish(args: &Args, report: &SweepReport, wall: Option<f64>) -> Outcome {
    let mut text = String::new();
    for r in report.results.iter().filter(|r| !r.passed) {
        text.push_str(&format!("FAIL {} seed {}\n", r.file, r.seed));
        if let Some(e) = &r.error {
            text.push_str(&format!("  error: {e}\n"));
        }
        for f in &r.failures {
            text.push_str(&format!("  {}: {}\n", f.expectation, f.evidence));
        }
        text.push_str(&format!("  replay: {}\n", r.replay()));
    }
    let shards = if report.shard_count > 1 {
        let mut have: Vec<String> =
            report.shards.iter().map(|s| format!("{}/{}", s.index, s.count)).collect();
        have.sort();
        format!(", shards {}", have.join(" "))
    } else {
        String::new()
    };
    // Per file: how many seeds each fault and attack acted in, and the
    // invariants violated where the scenario did not ask for them.
    for file in &report.files {
        let runs: Vec<&RunResult> =
            report.results.iter().filter(|r| &r.file == file && r.error.is_none()).collect();
        let mut fired: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
        let mut violated: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
        for r in &runs {
            for (name, n) in &r.fired {
                let e = fired.entry(name).or_default();
                e.0 += 1;
                e.1 += u64::from(*n > 0);
            }
            for v in &r.violated {
                violated.entry(&v.expectation).or_default().push(r.seed);
            }
        }
        if !fired.is_empty() {
            let rows: Vec<String> = fired
                .iter()
                .map(|(name, (there, acted))| format!("{name} in {acted}/{there}"))
                .collect();
            text.push_str(&format!(
                "{file}: fired (seeds where each acted): {}\n",
                rows.join(", ")
            ));
        }
        for (inv, seeds) in &violated {
            let shown: Vec<String> = seeds.iter().take(10).map(u64::to_string).collect();
            text.push_str(&format!(
                "{file}: invariant {inv} violated (not required by the scenario) in {} seeds: {}{}\n",
                seeds.len(),
                shown.join(" "),
                if seeds.len() > 10 { " ..." } else { "" }
            ));
        }
    }
    let timing = wall.map_or_else(String::new, |w| format!(" in {w:.1} s"));
    text.push_str(&format!(
        "sweep: {} runs ({} file(s), seeds {}{shards}), {} passed, {} failed{timing}\n",
        report.runs,
        report.files.len(),
        report.seeds,
        report.runs - report.failed,
        report.failed
    ));
    print(&text)?;
    let mut io_errors = Vec::new();
    if let Some(p) = &args.json {
        let body = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(p, body) {
            io_errors.push(format!("cannot write the --json report {}: {e}", p.display()));
        }
    }
    if let Some(p) = &args.junit
        && let Err(e) = std::fs::write(p, junit(report))
    {
        io_errors.push(format!("cannot write the --junit report {}: {e}", p.display()));
    }
    if !io_errors.is_empty() {
        for e in &io_errors {
            eprintln!("possim: {e}");
        }
        return Err(Failure::Io(String::new()));
    }
    Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// JUnit XML: one suite per scenario file, one case per seed.
fn junit(report: &SweepReport) -> String {
    let mut out = Report::new("possim sweep");
    for file in &report.files {
        let mut suite = TestSuite::new(file.clone());
        for r in report.results.iter().filter(|r| &r.file == file) {
            let status = if r.passed {
                TestCaseStatus::success()
            } else {
                let kind =
                    if r.error.is_some() { NonSuccessKind::Error } else { NonSuccessKind::Failure };
                let mut s = TestCaseStatus::non_success(kind);
                let what: Vec<String> = r
                    .failures
                    .iter()
                    .map(|f| format!("{}: {}", f.expectation, f.evidence))
                    .chain(r.error.iter().cloned())
                    .collect();
                s.set_message(what.join("; "));
                s.set_description(format!("{}\nreplay: {}", what.join("\n"), r.replay()));
                s
            };
            let mut case = TestCase::new(format!("seed {}", r.seed), status);
            case.set_classname(file.clone());
            // What acted, and invariants broken where the scenario allows it.
            let mut out: Vec<String> =
                r.fired.iter().map(|(name, n)| format!("fired: {name} {n}")).collect();
            out.extend(r.violated.iter().map(|v| {
                format!(
                    "invariant {} VIOLATED (not required by this scenario): {} events {:?}",
                    v.expectation, v.evidence, v.events
                )
            }));
            if !out.is_empty() {
                case.set_system_out(out.join("\n"));
            }
            suite.add_test_case(case);
        }
        out.add_test_suite(suite);
    }
    out.to_string().unwrap_or_default()
}

/// Joins shard reports: same files, same seeds, each shard once, all there.
fn merge(args: &Args) -> Outcome {
    let mut parts = Vec::new();
    for p in &args.files {
        let text = possim::file::read_text(p, 256 << 20)
            .map_err(|e| Failure::Io(format!("cannot read {}: {e}", p.display())))?;
        let part: SweepReport = serde_json::from_str(&text)
            .map_err(|e| Failure::Invalid(format!("{}: not a sweep report: {e}", p.display())))?;
        parts.push((p.as_path(), part));
    }
    let Some((_, first)) = parts.first() else {
        return Err(Failure::Invalid("nothing to merge".into()));
    };
    let (files, seeds, count) = (first.files.clone(), first.seeds.clone(), first.shard_count);
    let mut shards: Vec<Shard> = Vec::new();
    let mut results = Vec::new();
    for (p, part) in &parts {
        if part.files != files || part.seeds != seeds || part.shard_count != count {
            return Err(Failure::Invalid(format!(
                "{}: a shard of another sweep (files, seeds or shard count differ from {})",
                p.display(),
                display(parts.first().map(|x| x.0))
            )));
        }
        for s in &part.shards {
            if shards.contains(s) {
                return Err(Failure::Invalid(format!(
                    "{}: shard {}/{} is given twice",
                    p.display(),
                    s.index,
                    s.count
                )));
            }
            shards.push(*s);
        }
        results.extend(part.results.iter().cloned());
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !shards.iter().any(|s| s.index == *i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::Invalid(format!(
            "shards missing: {} (a merged report must cover the whole sweep)",
            missing.join(", ")
        )));
    }
    shards.sort_by_key(|s| s.index);
    let order = |r: &RunResult| (files.iter().position(|f| *f == r.file), r.seed);
    results.sort_by_key(order);
    let report = SweepReport {
        runs: results.len() as u64,
        failed: results.iter().filter(|r| !r.passed).count() as u64,
        files,
        seeds,
        shards,
        shard_count: count,
        results,
    };
    finish(args, &report, None)
}

fn display(p: Option<&Path>) -> String {
    p.map_or_else(String::new, |p| p.display().to_string())
}
