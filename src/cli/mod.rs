//! Subcommands and the mapping from outcomes to exit codes.
//!
//! Exit codes are API: 0 success, 1 an expectation failed, 2 invalid input
//! or command line, 3 an I/O failure.

mod assess;
mod cards;
mod check;
mod diff;
#[cfg(feature = "gui")]
mod gui;
mod host;
mod inspect;
mod list;
mod load;
mod pki;
mod pool;
mod proxy;
mod replay;
mod run;
mod script;
mod spec;
mod sweep;
mod terminal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// possim: a hardware-in-the-loop point-of-sale simulator.
#[derive(Debug, Parser)]
#[command(name = "possim", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios and report (journal, pcap, JSON, JUnit); headless unless a real terminal takes part.
    Run(run::Args),
    /// Run scenarios over many seeds in parallel; list every failing seed.
    Sweep(sweep::Args),
    /// Validate scenario files.
    Check(check::Args),
    /// List the scenario catalogue, one line each, with its lesson.
    List(list::Args),
    /// Decode an ISO 8583 frame, explain every field, check MAC, PIN and ARQC.
    Inspect(inspect::Args),
    /// Print a built-in ISO 8583 dialect as RON, or check a dialect file.
    Spec(spec::Args),
    /// Serve the scenario's acquirer/issuer to real terminals over TCP or TLS.
    Host(host::Args),
    /// Make a test PKI: root CA, host and terminal certificates, a rogue CA.
    Pki(pki::Args),
    /// Run the scenario's emulated terminals and customers against a real host.
    Terminal(terminal::Args),
    /// Load-test a host (possim's own or another) with real, signed purchases.
    Load(load::Args),
    /// Put the scenario's link faults and attacks between a real terminal and a real host.
    Proxy(proxy::Args),
    /// Run scripted cases (messages and per-field expectations) against a host under test.
    Script(script::Args),
    /// Name the first event where two journals part, field by field for frames.
    Diff(diff::Args),
    /// Rebuild a run's report (summary, JSON, JUnit, HTML) from its journal alone.
    Replay(replay::Args),
    /// List the scenario's test cards, or present them to a real PC/SC stack through vpcd.
    Cards(cards::Args),
    /// Is my shop's POS safe? Run the catalogue against a shop profile, in the owner's language.
    Assess(assess::Args),
    /// The trainer view: the shop floor, the frames, the timeline and the lesson, in a window (feature `gui`).
    #[cfg(feature = "gui")]
    Gui(gui::Args),
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad input or command line: exit 2.
    Invalid(String),
    /// A file or socket failed: exit 3.
    Io(String),
}

pub(crate) type Outcome = Result<ExitCode, Failure>;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Check(a) => check::run(a),
        Command::List(a) => list::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Spec(a) => spec::run(a),
        Command::Host(a) => host::run(a),
        Command::Pki(a) => pki::run(a),
        Command::Terminal(a) => terminal::run(a),
        Command::Load(a) => load::run(a),
        Command::Proxy(a) => proxy::run(a),
        Command::Script(a) => script::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Cards(a) => cards::run(a),
        Command::Assess(a) => assess::run(a),
        #[cfg(feature = "gui")]
        Command::Gui(a) => gui::run(a),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Invalid(msg)) => {
            if !msg.is_empty() {
                eprintln!("possim: {msg}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Io(msg)) => {
            if !msg.is_empty() {
                eprintln!("possim: {msg}");
            }
            ExitCode::from(3)
        }
    }
}

/// Loads and checks every scenario file before anything runs; prints each
/// error, and fails with the worst exit code (3 for I/O, else 2).
pub(crate) fn load_all(files: &[std::path::PathBuf]) -> Result<Loaded, Failure> {
    load_each(files).map_err(|(f, _)| f)
}

/// Scenarios by the file they came from.
pub(crate) type Loaded = Vec<(std::path::PathBuf, possim::scenario::Scenario)>;

/// Files that would not load: each one's name and why.
pub(crate) type Unloaded = Vec<(String, String)>;

/// Every scenario loaded, or the failure to exit with and, for each file
/// that would not load, its name and why (each also printed).
pub(crate) fn load_each(files: &[std::path::PathBuf]) -> Result<Loaded, (Failure, Unloaded)> {
    let mut scenarios = Vec::new();
    let mut bad = Vec::new();
    let mut worst = None;
    for f in files {
        match possim::scenario::load(f) {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(e) => {
                eprintln!("possim: {e}");
                bad.push((f.display().to_string(), e.to_string()));
                worst = Some(worst.map_or(e.exit_code(), |w: u8| w.max(e.exit_code())));
            }
        }
    }
    match worst {
        Some(3) => Err((Failure::Io(String::new()), bad)),
        Some(_) => Err((Failure::Invalid(String::new()), bad)),
        None => Ok(scenarios),
    }
}

/// A dialect that cannot be read is an I/O failure (3); one that is wrong is
/// invalid input (2).
pub(crate) fn spec_failure(e: possim::protocol::iso8583::SpecError) -> Failure {
    match e {
        possim::protocol::iso8583::SpecError::Io { .. } => Failure::Io(e.to_string()),
        other => Failure::Invalid(other.to_string()),
    }
}

/// Refuses a scenario with a real terminal in it (`stack: External`) where
/// only possim's own terminals make sense.
pub(crate) fn no_real_terminals(
    file: &std::path::Path,
    s: &possim::scenario::Scenario,
    what: &str,
) -> Result<(), Failure> {
    let real = s
        .shop
        .terminals
        .iter()
        .find(|t| matches!(t.stack, possim::scenario::Stack::External { .. }));
    match real {
        Some(t) => Err(Failure::Invalid(format!(
            "{}: terminal `{}` is a real one (stack: External): {what} runs possim's own terminals only; run the scenario with `possim run`",
            file.display(),
            t.id
        ))),
        None => Ok(()),
    }
}

/// The pcap writer for `path` (made now, so a path that cannot be written
/// fails before anything runs) and the slot its first write error lands in.
pub(crate) type PcapSlot = std::sync::Arc<std::sync::Mutex<Option<String>>>;

pub(crate) fn pcap_writer(
    path: &std::path::Path,
    plan: &possim::sim::Plan,
) -> Result<(Box<dyn possim::sim::Subscriber>, PcapSlot), Failure> {
    let f = std::fs::File::create(path)
        .map_err(|e| Failure::Io(format!("cannot write pcap {}: {e}", path.display())))?;
    let out = Box::new(std::io::BufWriter::with_capacity(1 << 20, f));
    let (w, slot) = possim::report::pcap::PcapWriter::new(out, plan.start.unix());
    Ok((Box::new(w), slot))
}

/// After a run: a pcap that could not be written is removed and reported.
pub(crate) fn pcap_check(
    path: Option<&std::path::Path>,
    slot: Option<&PcapSlot>,
) -> Result<(), Failure> {
    let (Some(path), Some(slot)) = (path, slot) else { return Ok(()) };
    match slot.lock().ok().and_then(|e| e.clone()) {
        None => Ok(()),
        Some(e) => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(path);
            }
            Err(Failure::Io(format!("writing pcap {}: {e}", path.display())))
        }
    }
}

/// The report of a real-time run: JSON (with the socket counters under
/// `connections`) and JUnit where asked; the exit code from its verdict.
pub(crate) fn write_report(
    report: &possim::report::RunReport,
    connections: Option<serde_json::Value>,
    json: Option<&std::path::Path>,
    junit: Option<&std::path::Path>,
) -> Outcome {
    let mut errors = Vec::new();
    if let Some(p) = json {
        let mut v = report.to_json();
        if let (Some(o), Some(c)) = (v.as_object_mut(), connections) {
            o.insert("connections".into(), c);
        }
        let body = serde_json::to_string_pretty(&v).unwrap_or_default();
        if let Err(e) = std::fs::write(p, body + "\n") {
            errors.push(format!("cannot write the --json report {}: {e}", p.display()));
        }
    }
    if let Some(p) = junit {
        let xml = possim::report::junit_xml_with_errors(std::slice::from_ref(report), &[]);
        if let Err(e) = std::fs::write(p, xml) {
            errors.push(format!("cannot write the --junit report {}: {e}", p.display()));
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("possim: {e}");
        }
        return Err(Failure::Io(String::new()));
    }
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// An HTML report on its way: the file (made before the run, so a path
/// that cannot be written fails first), the collector to subscribe, and
/// what it will have seen.
pub(crate) type HtmlPage = (
    std::fs::File,
    possim::report::html::Collector,
    std::sync::Arc<std::sync::Mutex<possim::report::html::Collected>>,
);

/// Makes the HTML report's file, if one is asked for (exit 3 if it cannot be).
pub(crate) fn html_page(path: Option<&std::path::Path>) -> Result<Option<HtmlPage>, Failure> {
    let Some(p) = path else { return Ok(None) };
    let f = std::fs::File::create(p)
        .map_err(|e| Failure::Io(format!("cannot write HTML report {}: {e}", p.display())))?;
    let (collector, seen) = possim::report::html::Collector::new();
    Ok(Some((f, collector, seen)))
}

/// Writes the HTML report at the end of a run.
pub(crate) fn write_html(
    page: Option<(
        std::fs::File,
        std::sync::Arc<std::sync::Mutex<possim::report::html::Collected>>,
    )>,
    path: Option<&std::path::Path>,
    report: &possim::report::RunReport,
) -> Result<(), Failure> {
    use std::io::Write;
    let Some((mut f, seen)) = page else { return Ok(()) };
    let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = possim::report::html::render(report, &seen);
    f.write_all(text.as_bytes()).and_then(|()| f.flush()).map_err(|e| {
        let shown = path.map(|p| p.display().to_string()).unwrap_or_default();
        Failure::Io(format!("writing HTML report {shown}: {e}"))
    })
}

/// Refuses a command line that would write over its own input or write two
/// outputs to one file (`replay j.jsonl --html j.jsonl` would destroy the
/// journal). Devices (`/dev/null`) may be named any number of times.
pub(crate) fn distinct_files(
    inputs: &[&std::path::Path],
    outputs: &[(&str, Option<&std::path::Path>)],
) -> Result<(), Failure> {
    let outs: Vec<(&str, &std::path::Path)> =
        outputs.iter().filter_map(|(flag, p)| p.map(|p| (*flag, p))).collect();
    for (i, (flag, out)) in outs.iter().enumerate() {
        for input in inputs {
            if same_file(out, input) {
                return Err(Failure::Invalid(format!(
                    "{flag} {} is an input of this command: it would be overwritten",
                    out.display()
                )));
            }
        }
        for (other, p) in &outs[..i] {
            if same_file(out, p) {
                return Err(Failure::Invalid(format!(
                    "{other} and {flag} both name {}: give each its own file",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

/// Two paths to the same regular file (or to where one would be made).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.is_file() && x.dev() == y.dev() && x.ino() == y.ino(),
        (Err(_), Err(_)) => {
            std::path::absolute(a).ok().is_some_and(|x| std::path::absolute(b).ok() == Some(x))
        }
        _ => false,
    }
}

/// The journal to write, if asked for (a path that cannot be written is
/// exit 3, before anything runs).
pub(crate) fn journal_writer(
    path: Option<&std::path::Path>,
) -> Result<Option<possim::sim::Journal>, Failure> {
    let Some(p) = path else { return Ok(None) };
    let f = std::fs::File::create(p)
        .map_err(|e| Failure::Io(format!("cannot write journal {}: {e}", p.display())))?;
    Ok(Some(possim::sim::Journal::to(Box::new(std::io::BufWriter::with_capacity(1 << 16, f)))))
}

/// Opens a journal to read: a regular file, or exit 3.
pub(crate) fn open_journal(
    p: &std::path::Path,
) -> Result<std::io::BufReader<std::fs::File>, Failure> {
    let meta = std::fs::metadata(p)
        .map_err(|e| Failure::Io(format!("cannot read {}: {e}", p.display())))?;
    if !meta.is_file() {
        return Err(Failure::Io(format!("cannot read {}: not a regular file", p.display())));
    }
    std::fs::File::open(p)
        .map(std::io::BufReader::new)
        .map_err(|e| Failure::Io(format!("cannot read {}: {e}", p.display())))
}

/// Writes to stdout, treating a closed pipe (`possim ... | head`) as success.
pub(crate) fn print(text: &str) -> Outcome {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::Io(format!("writing output: {e}"))),
    }
}
