//! `possim replay JOURNAL`: a run's report rebuilt from its journal alone.

use std::path::PathBuf;

use possim::report::replay::{ReplayError, replay};

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Rebuilds the report of the run a journal recorded (possim run --journal, possim
host --journal, possim terminal --journal) without running the world again: the summary,
--json and --junit are those of the run itself (a host's or terminal's JSON without its
`connections`, which only the live process knew). The journal's run_started carries what the
run was judged by (thresholds, expectations, faults and attacks as the seed ran them), so
nothing else is needed.

Every line is checked: events in order, each alert where the records before it raise it,
the journal ending with run_finished. An edited or truncated journal is named by file:line.

Exit codes: 0 every expectation held, 1 an expectation failed, 2 a line of the journal is
wrong (file:line), 3 a file cannot be read or written."
)]
pub(crate) struct Args {
    /// The journal (JSON lines).
    journal: PathBuf,
    /// Write the machine-readable report.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write JUnit XML, one test case per expectation.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write the self-contained HTML report, as `possim run --html` does.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Print only a failure.
    #[arg(long, short)]
    quiet: bool,
    /// Print the scenario's lesson after the summary even when it passes.
    #[arg(long)]
    lesson: bool,
    /// Language of the lesson: en or zh-CN.
    #[arg(long, default_value = "en", value_parser = super::run::parse_lang, value_name = "LANG")]
    lang: possim::lesson::Lang,
}

pub(crate) fn run(args: Args) -> Outcome {
    let name = args.journal.display().to_string();
    super::distinct_files(
        &[&args.journal],
        &[
            ("--json", args.json.as_deref()),
            ("--junit", args.junit.as_deref()),
            ("--html", args.html.as_deref()),
        ],
    )?;
    let journal = super::open_journal(&args.journal)?;
    // The page is written only once the journal has been read through: a
    // journal that is not one leaves an earlier page as it was.
    let html_existed = args.html.as_ref().is_some_and(|p| p.exists());
    if let Some(p) = &args.html {
        // Fail now if it cannot be written, without truncating it yet.
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(p)
            .map_err(|e| Failure::Io(format!("cannot write HTML report {}: {e}", p.display())))?;
    }
    let (mut collector, seen) = match args.html {
        Some(_) => {
            let (c, seen) = possim::report::html::Collector::new();
            (Some(c), Some(seen))
        }
        None => (None, None),
    };
    let mut subscribers: Vec<&mut dyn possim::sim::Subscriber> = Vec::new();
    if let Some(c) = collector.as_mut() {
        subscribers.push(c);
    }
    let report = replay(journal, &name, &mut subscribers).map_err(|e| match e {
        ReplayError::BadLine { .. } => Failure::Invalid(e.to_string()),
        ReplayError::Io { .. } => Failure::Io(e.to_string()),
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            // Leave nothing behind that was not there.
            if let Some(p) = args.html.as_ref().filter(|_| !html_existed)
                && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0)
            {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    if let (Some(p), Some(seen)) = (&args.html, seen) {
        let f = std::fs::File::create(p)
            .map_err(|e| Failure::Io(format!("cannot write HTML report {}: {e}", p.display())))?;
        super::write_html(Some((f, seen)), Some(p), &report)?;
    }
    print(&super::run::summary_text(&report, args.quiet, args.lesson, args.lang))?;
    super::write_report(&report, None, args.json.as_deref(), args.junit.as_deref())
}
