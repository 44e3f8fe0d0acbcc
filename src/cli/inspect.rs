//! `possim inspect`: the message inspector a QA engineer points at a captured frame.

use std::path::PathBuf;

use possim::inspect::inspect;
use possim::keys::KeySet;
use possim::protocol::iso8583::{Spec, split_frame};

use super::{Failure, Outcome, print, spec_failure};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 decoded (whatever the checks say), 2 the input does not decode, 3 a file could not be read.

Examples:
  possim inspect 30323030...            hex of one message (spaces allowed)
  possim inspect --framed --file frame.bin
  possim inspect --keys keys.json --json 3032...
  possim inspect --detect --file capture.bin      which framing and dialect fit?"
)]
pub(crate) struct Args {
    /// The message in hex (whitespace and colons are ignored; "-" reads hex from stdin).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    hex: Option<String>,
    /// Read the raw message bytes from a file ("-" for stdin).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// ISO 8583 dialect: iso87-ascii, iso87-binary, or a dialect .ron file.
    #[arg(long, default_value = "iso87-ascii", value_name = "SPEC")]
    spec: String,
    /// Keys to check with: a JSON or RON map with any of tak, tpk, imk_ac, cvk, pvk (hex).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// The input starts with the 2-byte big-endian length header.
    #[arg(long)]
    framed: bool,
    /// Print one JSON object instead of the human view.
    #[arg(long)]
    json: bool,
    /// Show PAN and track data whole in --json (to compare a frame with a
    /// vector file); masked, first 6 and last 4, by default.
    #[arg(long, requires = "json")]
    reveal: bool,
    /// Find the framing and dialect: try every usual length header (none,
    /// 2-byte big- and little-endian, 4 ASCII digits), with and without a
    /// TPDU, against the built-in dialects and --spec, and say which decode
    /// the whole input and where the others fail.
    #[arg(long, conflicts_with_all = ["framed", "keys"])]
    detect: bool,
}

fn read_input(args: &Args) -> Result<Vec<u8>, Failure> {
    if let Some(path) = &args.file {
        let max = possim::file::MAX_SMALL;
        let r = if path.as_os_str() == "-" {
            possim::file::read_capped(std::io::stdin(), max)
        } else {
            possim::file::read_bounded(path, max)
        };
        return r.map_err(|e| Failure::Io(format!("cannot read {}: {e}", path.display())));
    }
    let mut text = args.hex.clone().unwrap_or_default();
    if text == "-" {
        text.clear();
        let bytes = possim::file::read_capped(std::io::stdin(), possim::file::MAX_SMALL)
            .map_err(|e| Failure::Io(format!("reading stdin: {e}")))?;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let clean: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    hex::decode(&clean).map_err(|e| Failure::Invalid(format!("input is not hex: {e}")))
}

/// `--detect`: every framing and dialect tried; exit 0 when one decodes.
fn detect(args: &Args, spec: Spec) -> Outcome {
    let input = read_input(args)?;
    let mut dialects: Vec<Spec> =
        Spec::BUILT_IN.iter().filter_map(|n| Spec::load(n).ok()).collect();
    if !Spec::BUILT_IN.contains(&args.spec.as_str()) {
        dialects.push(spec);
    }
    let attempts = possim::detect::detect(&input, &dialects);
    let clean: Vec<_> = attempts.iter().filter(|a| a.failure.is_none()).collect();
    let name = |a: &possim::detect::Attempt| {
        format!("{}, {}, {}", a.header.name(), if a.tpdu { "TPDU" } else { "no TPDU" }, a.dialect)
    };
    if args.json {
        let v = serde_json::json!({ "bytes": input.len(), "attempts": attempts });
        print(&format!("{v}\n"))?;
    } else {
        let mut text = format!("{} bytes\n", input.len());
        if clean.is_empty() {
            text.push_str("nothing decodes the whole input; where each combination fails:\n");
        } else {
            text.push_str("decodes cleanly:\n");
            for a in &clean {
                text.push_str(&format!("  {}: {}\n", name(a), a.decoded.as_deref().unwrap_or("")));
            }
            text.push_str("does not:\n");
        }
        for a in attempts.iter().filter(|a| a.failure.is_some()) {
            text.push_str(&format!("  {}: {}\n", name(a), a.failure.as_deref().unwrap_or("")));
        }
        print(&text)?;
    }
    if clean.is_empty() {
        return Err(Failure::Invalid(String::new()));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

pub(crate) fn run(args: Args) -> Outcome {
    let spec = Spec::load(&args.spec).map_err(spec_failure)?;
    if args.detect {
        return detect(&args, spec);
    }
    let keys = match &args.keys {
        None => KeySet::default(),
        Some(p) => {
            let text = possim::file::read_text(p, possim::file::MAX_SMALL)
                .map_err(|e| Failure::Io(format!("cannot read {}: {e}", p.display())))?;
            KeySet::parse(&text).map_err(|e| Failure::Invalid(format!("{}: {e}", p.display())))?
        }
    };
    let input = read_input(&args)?;
    let wire: &[u8] = if args.framed {
        match split_frame(&input) {
            Ok(Some((msg, []))) => msg,
            Ok(Some((msg, rest))) => {
                return Err(Failure::Invalid(format!(
                    "framing: the length header says {} bytes but {} more follow the frame",
                    msg.len(),
                    rest.len()
                )));
            }
            Ok(None) => {
                return Err(Failure::Invalid(format!(
                    "framing: {} bytes are fewer than the length header announces",
                    input.len()
                )));
            }
            Err(e) => return Err(Failure::Invalid(format!("framing: {e}"))),
        }
    } else {
        &input
    };
    let report = inspect(&spec, wire, &keys).map_err(|e| {
        let looks_framed = !args.framed
            && input.len() > 2
            && usize::from(u16::from_be_bytes([input[0], input[1]])) == input.len() - 2;
        let other = Spec::BUILT_IN
            .iter()
            .find(|&&n| n != spec.name() && Spec::load(n).is_ok_and(|s| s.decode(wire).is_ok()));
        let hint = if looks_framed {
            " (the first two bytes look like a length header: try --framed)".to_string()
        } else if let Some(name) = other {
            format!(" (it decodes under {name}: try --spec {name})")
        } else {
            String::new()
        };
        Failure::Invalid(format!("{}: {e}{hint}", spec.name()))
    })?;
    if args.json {
        print(&format!("{}\n", report.to_json(args.reveal)))
    } else {
        print(&report.render())
    }
}
