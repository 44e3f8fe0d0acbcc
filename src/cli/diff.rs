//! `possim diff A B`: where two journals part.

use std::path::PathBuf;
use std::process::ExitCode;

use possim::report::diff::{Diff, DiffError, diff};

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Compares two journals (possim run --journal) event by event and names the first
event where they part: both events, the keys that differ, and for frames the ISO 8583 fields
that differ, decoded with the run's dialect (card data masked).

Exit codes: 0 the same, 1 they differ, 2 a line is not a journal event (file:line), 3 a
file cannot be read."
)]
pub(crate) struct Args {
    /// The first journal.
    a: PathBuf,
    /// The second journal.
    b: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    let (an, bn) = (args.a.display().to_string(), args.b.display().to_string());
    let d = diff(super::open_journal(&args.a)?, &an, super::open_journal(&args.b)?, &bn).map_err(
        |e| match e {
            DiffError::BadLine { .. } => Failure::Invalid(e.to_string()),
            DiffError::Io { .. } => Failure::Io(e.to_string()),
        },
    )?;
    if args.json {
        print(&format!("{}\n", serde_json::to_string_pretty(&d).unwrap_or_default()))?;
    } else {
        let text = match &d {
            Diff::Same { events } => format!("the same: {events} events\n"),
            Diff::Differ { line, a, b, keys, fields } => {
                let ev = |v: &Option<serde_json::Value>, name: &str| match v {
                    Some(v) => format!(
                        "  {name}: event {} at {} us, {}\n",
                        v["seq"],
                        v["t_us"],
                        v["kind"].as_str().unwrap_or("?")
                    ),
                    None => format!("  {name}: ended\n"),
                };
                let mut t = format!("they part at line {line}\n{}{}", ev(a, &an), ev(b, &bn));
                if !keys.is_empty() {
                    t.push_str("  differing:\n");
                    for k in keys {
                        let show = |v: &Option<serde_json::Value>| {
                            v.as_ref()
                                .and_then(|v| v.pointer(&format!("/{}", k.replace('.', "/"))))
                                .map_or("absent".to_string(), |x| x.to_string())
                        };
                        t.push_str(&format!("    {k}: {} -> {}\n", show(a), show(b)));
                    }
                }
                for f in fields {
                    t.push_str(&format!("    {f}\n"));
                }
                t
            }
        };
        print(&text)?;
    }
    Ok(match d {
        Diff::Same { .. } => ExitCode::SUCCESS,
        Diff::Differ { .. } => ExitCode::from(1),
    })
}
