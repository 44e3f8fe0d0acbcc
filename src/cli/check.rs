//! `possim check`: validate scenario files without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use possim::scenario;
use possim::sim::Plan;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 every file is valid, 2 a file is invalid, 3 a file could not be read."
)]
pub(crate) struct Args {
    /// Scenario files (RON).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

pub(crate) fn run(args: Args) -> Outcome {
    let mut worst = 0u8;
    let mut out = String::new();
    for f in &args.files {
        match scenario::load(f) {
            Ok(s) => match Plan::new(&s, None) {
                Ok(p) => out.push_str(&format!(
                    "{}: ok: \"{}\", {} terminals, {} cardholders, {} links, {} expectations, {} virtual\n",
                    f.display(),
                    s.name,
                    p.terminals.len(),
                    p.card_count(),
                    p.links.len(),
                    s.expect.len(),
                    s.duration
                )),
                Err(e) => {
                    eprintln!("possim: {}: {e}", f.display());
                    worst = worst.max(2);
                }
            },
            Err(e) => {
                eprintln!("possim: {e}");
                worst = worst.max(e.exit_code());
            }
        }
    }
    print(&out)?;
    match worst {
        0 => Ok(ExitCode::SUCCESS),
        3 => Err(Failure::Io(String::new())),
        _ => Err(Failure::Invalid(String::new())),
    }
}
