//! `possim replay JOURNAL`: a run's report rebuilt from its journal alone.

use std::path::PathBuf;

use possim::report::replay::{ReplayError, replay};

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Rebuilds the report of the run a journal recorded (possim run --journal, possim
host --journal, possim terminal --journal) without running the world again: the summary,
--json and --junit are those of the run itself (a host's or terminal's JSON without its
`connections`, which only the live process knew). The journal carries the scenario's text,
seed and mode, so nothing else is needed.

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
    let journal = super::open_journal(&args.journal)?;
    let report = replay(journal, &name, &mut []).map_err(|e| match e {
        ReplayError::BadLine { .. } => Failure::Invalid(e.to_string()),
        ReplayError::Io { .. } => Failure::Io(e.to_string()),
    })?;
    print(&super::run::summary_text(&report, args.quiet, args.lesson, args.lang))?;
    super::write_report(&report, None, args.json.as_deref(), args.junit.as_deref())
}
