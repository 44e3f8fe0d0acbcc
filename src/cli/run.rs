//! `possim run`: run scenarios headless and report; a scenario with a real
//! terminal in it (`stack: External`) runs in real time instead.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use possim::report::{RunReport, junit_xml_with_errors, summary};
use possim::sim::{self, Clock, Journal, Options, Pacing, Plan};
use possim::time::Duration;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 every expectation held, 1 an expectation failed, 2 invalid scenario or command line, 3 I/O failure.

With several files, --journal names a directory (one <name>.jsonl per scenario) and --json
writes an array of reports."
)]
pub(crate) struct Args {
    /// Scenario files (RON); several run in parallel.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the journal (JSON lines, one per event, virtual-time order).
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Write the link traffic as a pcap (Wireshark: decode port 8583 as
    /// iso8583, big-endian length); with several files, a directory.
    #[arg(long, value_name = "PATH")]
    pcap: Option<PathBuf>,
    /// Leave APDU exchanges out of the journal (smaller files).
    #[arg(long)]
    no_apdus: bool,
    /// Write the machine-readable report.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write JUnit XML, one test case per expectation.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write a self-contained HTML report (timeline, expectations with their
    /// evidence, terminals, decoded frames); with several files, a directory.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Print only failures.
    #[arg(long, short)]
    quiet: bool,
    /// Print the scenario's lesson after its summary even when it passes
    /// (a failing scenario always gets it).
    #[arg(long)]
    lesson: bool,
    /// Language of the lessons: en or zh-CN.
    #[arg(long, default_value = "en", value_parser = parse_lang, value_name = "LANG")]
    lang: possim::lesson::Lang,
    /// Virtual time per update of the world (the journal does not depend on
    /// it; a real-time run, with a real terminal in it, keeps wall time instead).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    slice: Duration,
}

pub(crate) fn parse_lang(s: &str) -> Result<possim::lesson::Lang, String> {
    possim::lesson::Lang::parse(s).ok_or_else(|| format!("`{s}`: the languages are en and zh-CN"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    Duration::parse(s)
}

struct Job {
    file: String,
    plan: Arc<Plan>,
    journal: Option<PathBuf>,
    pcap: Option<PathBuf>,
    html: Option<PathBuf>,
}

/// Where a scenario's journal goes: the path itself for one file; for several,
/// `<stem>.jsonl` in that directory (`<stem>-2.jsonl` and so on when stems repeat).
fn journal_path(
    base: Option<&PathBuf>,
    ext: &str,
    file: &Path,
    many: bool,
    taken: &mut Vec<PathBuf>,
) -> Option<PathBuf> {
    let j = base?;
    if !many {
        return Some(j.clone());
    }
    let stem =
        file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let mut path = j.join(format!("{stem}.{ext}"));
    let mut n = 1;
    while taken.contains(&path) {
        n += 1;
        path = j.join(format!("{stem}-{n}.{ext}"));
    }
    taken.push(path.clone());
    Some(path)
}

fn run_one(
    job: &Job,
    slice: Duration,
    apdus: bool,
    bar: &ProgressBar,
) -> Result<RunReport, String> {
    let journal = match &job.journal {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| format!("cannot write journal {}: {e}", p.display()))?;
            Some(Journal::to(Box::new(BufWriter::with_capacity(1 << 20, f))))
        }
        None => None,
    };
    // Made before the run, like the pcap: a path that cannot be written
    // fails now.
    let html = super::html_page(job.html.as_deref()).map_err(|e| match e {
        Failure::Io(m) | Failure::Invalid(m) => m,
    })?;
    if job.plan.has_external_terminals() {
        return run_real_time(job, journal, apdus, bar, html);
    }
    // The pcap file is made before the run: a path that cannot be written
    // fails now, not after hours of simulation.
    let pcap = match &job.pcap {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| format!("cannot write pcap {}: {e}", p.display()))?;
            let base = job.plan.start.unix();
            Some(possim::report::pcap::PcapWriter::new(
                Box::new(BufWriter::with_capacity(1 << 20, f)),
                base,
            ))
        }
        None => None,
    };
    let frames = journal.is_some() || pcap.is_some() || html.is_some();
    let options = Options { apdus: apdus && journal.is_some(), frames, stay_open: false };
    let mut app = sim::build_app(job.plan.clone(), journal, Pacing::Headless { slice }, options);
    let pcap_error = pcap.map(|(w, err)| {
        app.world_mut().resource_mut::<sim::Subscribers>().add(Box::new(w));
        err
    });
    let html = html.map(|(file, collector, seen)| {
        app.world_mut().resource_mut::<sim::Subscribers>().add(Box::new(collector));
        (file, seen)
    });
    let total = job.plan.duration.micros().max(1);
    loop {
        app.update();
        let clock = app.world().resource::<Clock>();
        bar.set_position((clock.now.0.min(total) * 1000 / total).min(1000));
        if clock.finished {
            break;
        }
    }
    if let Some(e) = &app.world().resource::<Journal>().error {
        // A journal cut short is not evidence: remove it, say why.
        // Only a regular file is removed: never a device or a pipe.
        if let Some(p) = &job.journal
            && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
        {
            let _ = std::fs::remove_file(p);
        }
        return Err(format!("writing journal {} for {}: {e}", display(&job.journal), job.file));
    }
    if let Some(e) = pcap_error.and_then(|e| e.lock().ok().and_then(|e| e.clone())) {
        if let Some(p) = &job.pcap
            && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
        {
            let _ = std::fs::remove_file(p);
        }
        return Err(format!("writing pcap {} for {}: {e}", display(&job.pcap), job.file));
    }
    bar.finish_and_clear();
    let report = sim::report(&mut app, &job.file);
    super::write_html(html, job.html.as_deref(), &report).map_err(|e| match e {
        Failure::Io(m) | Failure::Invalid(m) => m,
    })?;
    Ok(report)
}

/// A scenario with real terminals in it runs in real time: each external
/// terminal's address is printed, and trading lasts the scenario's duration
/// in wall time (Ctrl-C ends it early; what is in flight still completes).
fn run_real_time(
    job: &Job,
    journal: Option<Journal>,
    apdus: bool,
    bar: &ProgressBar,
    html: Option<super::HtmlPage>,
) -> Result<RunReport, String> {
    let (mut subscribers, pcap_slot) = match &job.pcap {
        Some(p) => {
            let (w, slot) = super::pcap_writer(p, &job.plan).map_err(|e| match e {
                Failure::Io(m) | Failure::Invalid(m) => m,
            })?;
            (vec![w], Some(slot))
        }
        None => (Vec::new(), None),
    };
    let html = html.map(|(file, collector, seen)| {
        subscribers.push(Box::new(collector) as Box<dyn possim::sim::Subscriber>);
        (file, seen)
    });
    let run = possim::net::external::ExternalRun::start_with(
        (*job.plan).clone(),
        journal,
        subscribers,
        apdus,
        &job.file,
    )
    .map_err(|e| e.to_string())?;
    let stopper = run.stopper();
    let notice = "no new customers; what is in flight completes".to_string();
    super::host::stop_on_signal(move || stopper.stop(), None, notice);
    for (tid, addr) in run.addrs() {
        // Printed whatever the progress bar does: scripts wait for this line.
        bar.suspend(|| {
            eprintln!(
                "{}: terminal {tid} is a real one: connect it to {addr} ({} of real time)",
                job.file, job.plan.duration
            );
        });
    }
    let (report, _) = run.wait().map_err(|e| e.to_string())?;
    super::pcap_check(job.pcap.as_deref(), pcap_slot.as_ref()).map_err(|e| match e {
        Failure::Io(m) | Failure::Invalid(m) => m,
    })?;
    super::write_html(html, job.html.as_deref(), &report).map_err(|e| match e {
        Failure::Io(m) | Failure::Invalid(m) => m,
    })?;
    bar.finish_and_clear();
    Ok(report)
}

/// A run's summary (unless quiet and passed), and its lesson when asked
/// for or when the run failed: what went wrong, in the shop owner's words.
pub(crate) fn summary_text(
    r: &RunReport,
    quiet: bool,
    lesson: bool,
    lang: possim::lesson::Lang,
) -> String {
    let mut text = String::new();
    if !quiet || !r.passed {
        text.push_str(&summary(r));
    }
    if (lesson || !r.passed)
        && let Some(l) = r.lesson.as_deref().and_then(|k| possim::lesson::lesson(k, lang))
    {
        text.push_str(&possim::lesson::render(l, lang));
    }
    text
}

fn display(p: &Option<PathBuf>) -> String {
    p.as_ref().map_or_else(String::new, |p| p.display().to_string())
}

/// Writes --json (one object for one scenario, else an array) and --junit:
/// every report, and each file that could not run (`errors`: file, why) as
/// a failed entry; the messages of what could not be written.
fn write_reports(
    args: &Args,
    reports: &[RunReport],
    errors: &[(String, String)],
    many: bool,
) -> Vec<String> {
    let mut write_errors = Vec::new();
    if let Some(p) = &args.json {
        let mut all: Vec<serde_json::Value> = reports.iter().map(RunReport::to_json).collect();
        all.extend(
            errors
                .iter()
                .map(|(file, e)| serde_json::json!({"file": file, "passed": false, "error": e})),
        );
        let v = if many || all.len() != 1 {
            serde_json::Value::Array(all)
        } else {
            all.pop().unwrap_or_default()
        };
        let body = serde_json::to_string_pretty(&v).unwrap_or_default();
        if let Err(e) = std::fs::write(p, body + "\n") {
            write_errors.push(format!("cannot write the --json report {}: {e}", p.display()));
        }
    }
    if let Some(p) = &args.junit
        && let Err(e) = std::fs::write(p, junit_xml_with_errors(reports, errors))
    {
        write_errors.push(format!("cannot write the --junit report {}: {e}", p.display()));
    }
    write_errors
}

/// Writes --json and --junit for a run stopped by files that would not
/// load: each such file an error, so a pipeline reading the reports sees
/// why nothing ran rather than no report at all.
fn report_unloaded(args: &Args, bad: &[(String, String)]) {
    // Never over an input, nor both reports to one file.
    let inputs: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    let outputs = [("--json", args.json.as_deref()), ("--junit", args.junit.as_deref())];
    if let Err(Failure::Io(e) | Failure::Invalid(e)) = super::distinct_files(&inputs, &outputs) {
        eprintln!("possim: no --json or --junit written: {e}");
        return;
    }
    for e in write_reports(args, &[], bad, args.files.len() > 1) {
        eprintln!("possim: {e}");
    }
}

pub(crate) fn run(args: Args) -> Outcome {
    // Check every file before running any; one that cannot be read or is
    // invalid stops them all, and is still an error in --json and --junit.
    let scenarios = match super::load_each(&args.files) {
        Ok(s) => s,
        Err((failure, bad)) => {
            report_unloaded(&args, &bad);
            return Err(failure);
        }
    };
    let many = scenarios.len() > 1;
    let inputs: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    // With several files, --journal, --pcap and --html are directories.
    fn one(p: &Option<PathBuf>, many: bool) -> Option<&Path> {
        p.as_deref().filter(|_| !many)
    }
    super::distinct_files(
        &inputs,
        &[
            ("--journal", one(&args.journal, many)),
            ("--pcap", one(&args.pcap, many)),
            ("--html", one(&args.html, many)),
            ("--json", args.json.as_deref()),
            ("--junit", args.junit.as_deref()),
        ],
    )?;
    for dir in [&args.journal, &args.pcap, &args.html].into_iter().flatten().filter(|_| many) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut jobs = Vec::new();
    let mut taken = Vec::new();
    let mut taken_pcap = Vec::new();
    let mut taken_html = Vec::new();
    for (f, s) in &scenarios {
        let plan = Plan::new(s, args.seed)
            .map_err(|e| Failure::Invalid(format!("{}: {e}", f.display())))?;
        jobs.push(Job {
            file: f.display().to_string(),
            plan: Arc::new(plan),
            journal: journal_path(args.journal.as_ref(), "jsonl", f, many, &mut taken),
            pcap: journal_path(args.pcap.as_ref(), "pcap", f, many, &mut taken_pcap),
            html: journal_path(args.html.as_ref(), "html", f, many, &mut taken_html),
        });
    }

    let multi = MultiProgress::with_draw_target(if args.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let style = ProgressStyle::with_template("{prefix:>24} [{bar:30}] {percent:>3}% {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bars: Vec<ProgressBar> = jobs
        .iter()
        .map(|j| {
            let b = multi.add(ProgressBar::new(1000));
            b.set_style(style.clone());
            b.set_prefix(
                Path::new(&j.file)
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            );
            b
        })
        .collect();
    let apdus = !args.no_apdus;
    let started = std::time::Instant::now();
    let results = super::pool::parallel(&jobs, super::pool::cores(), |i, job| {
        let bar = bars.get(i).cloned().unwrap_or_else(ProgressBar::hidden);
        run_one(job, args.slice, apdus, &bar)
    });
    let wall = started.elapsed();
    let mut reports = Vec::new();
    let mut io_errors = Vec::new();
    for (job, r) in jobs.iter().zip(results) {
        match r {
            Ok(r) => reports.push(r),
            Err(e) => io_errors.push((job.file.clone(), e)),
        }
    }
    let mut text = String::new();
    for r in &reports {
        text.push_str(&summary_text(r, args.quiet, args.lesson, args.lang));
    }
    if !args.quiet {
        text.push_str(&format!(
            "{} scenario(s) in {:.2} s wall time\n",
            reports.len(),
            wall.as_secs_f64()
        ));
    }
    print(&text)?;
    // A run that could not finish is reported as failed in every output,
    // never left out (an empty suite would read as green).
    let write_errors = write_reports(&args, &reports, &io_errors, many);
    if !io_errors.is_empty() || !write_errors.is_empty() {
        for (_, e) in &io_errors {
            eprintln!("possim: {e}");
        }
        for e in &write_errors {
            eprintln!("possim: {e}");
        }
        return Err(Failure::Io(String::new()));
    }
    Ok(if reports.iter().all(|r| r.passed) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
