//! `possim pki`: make the test PKI for TLS runs.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(after_help = "Writes PEM files: ca.pem, host.pem (localhost, 127.0.0.1, ::1), one
terminal-<ID>.pem per --terminal, and rogue-ca.pem with rogue-host.pem (a forged host
certificate for man-in-the-middle runs). Private keys (*-key.pem) are mode 0600.

Exit codes: 0 written, 2 bad command line, 3 I/O failure.")]
pub(crate) struct Args {
    /// Directory to write to (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A terminal to make a client certificate for (mutual TLS); repeatable.
    #[arg(long = "terminal", value_name = "ID", default_value = "terminal")]
    terminals: Vec<String>,
    /// Replace files that are already there.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args) -> Outcome {
    use possim::net::pki::{PkiError, generate};
    let written = generate(&args.out, &args.terminals, args.force).map_err(|e| match e {
        PkiError::BadTerminalId(_) | PkiError::Exists(_) => Failure::Invalid(e.to_string()),
        _ => Failure::Io(e.to_string()),
    })?;
    let mut text = String::new();
    for p in &written {
        text.push_str(&format!("wrote {}\n", p.display()));
    }
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}
