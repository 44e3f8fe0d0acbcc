//! `possim list`: the scenario catalogue, one line each.

use std::path::PathBuf;
use std::process::ExitCode;

use possim::lesson::{Lang, lesson};
use possim::scenario::Kind;

use super::{Failure, Outcome, print};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 listed, 2 a scenario in the directory is invalid, 3 I/O failure."
)]
pub(crate) struct Args {
    /// The directory of scenarios.
    #[arg(default_value = "scenarios", value_name = "DIR")]
    dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Language of the lesson titles: en or zh-CN.
    #[arg(long, default_value = "en", value_parser = super::run::parse_lang, value_name = "LANG")]
    lang: Lang,
}

pub(crate) fn run(args: Args) -> Outcome {
    let entries = std::fs::read_dir(&args.dir)
        .map_err(|e| Failure::Io(format!("cannot read {}: {e}", args.dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron") && p.is_file())
        .collect();
    files.sort();
    // Scripts (`Script(`) and shop profiles (`Shop(`) share the folder with
    // scenarios in examples/: they are other commands' files, not errors.
    let mut others = Vec::new();
    files.retain(|p| match top_level(p) {
        // Only the known other kinds: a misspelt `Scenaro(` is still an error.
        Some(kind) if kind == "Script" || kind == "Shop" => {
            others.push(format!(
                "{} ({kind})",
                p.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
            ));
            false
        }
        _ => true,
    });
    let scenarios = super::load_all(&files)?;
    let mut rows = Vec::new();
    let mut text = String::new();
    for (path, s) in &scenarios {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let title = s.lesson.as_deref().and_then(|k| lesson(k, args.lang)).map(|l| l.title.clone());
        let attacks: Vec<&str> = s.attacks.iter().map(|a| a.kind.name()).collect();
        let faults: Vec<&str> =
            s.links.iter().flat_map(|l| &l.faults).map(|f| f.kind.name()).collect();
        let mut what: Vec<&str> = attacks.clone();
        for f in &faults {
            if !what.contains(f) {
                what.push(f);
            }
        }
        let shown = title.clone().unwrap_or_else(|| s.name.clone());
        let what = if what.is_empty() { String::new() } else { format!("  [{}]", what.join(", ")) };
        text.push_str(&format!("{file:<28} {shown}{what}\n"));
        rows.push(serde_json::json!({
            "file": path.display().to_string(),
            "name": s.name,
            "lesson": s.lesson,
            "title": title,
            "attacks": attacks,
            "faults": faults,
        }));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
        print(&format!("{json}\n"))?;
    } else {
        if !others.is_empty() {
            text.push_str(&format!("not scenarios: {}\n", others.join(", ")));
        }
        print(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The name of the struct a RON file holds (`Scenario`, `Script`, `Shop`),
/// read past comments and attributes; `None` when it has none or cannot be
/// read (then loading it says what is wrong).
fn top_level(path: &std::path::Path) -> Option<String> {
    let text = possim::file::read_bounded(path, possim::file::MAX_SMALL).ok()?;
    let text = String::from_utf8(text).ok()?;
    let mut rest = text.as_str();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
        } else if rest.starts_with("#!") {
            rest = rest.split_once(']').map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let name: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}
