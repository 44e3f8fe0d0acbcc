//! `possim gui` (feature `gui`): the trainer view of a scenario.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use possim::gui::{GuiOptions, run as run_gui};
use possim::lesson::Lang;
use possim::sim::Plan;
use possim::time::Duration;

use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
#[command(after_help = "The window shows the shop floor (terminals, readers, PIN pads, the queue,
the devices attackers fitted), frames crossing the line to the bank coloured by what happened to
them, a timeline with attack starts, alerts and losses, live numbers, the alerts and the
scenario's lesson. Play, pause, step a minute, change the speed (1x to 1000x) or the language
at any time.

Without a display, run it under Xvfb: xvfb-run -a possim gui FILE ...

Exit codes: 0 closed (or the screenshot written), 2 invalid scenario or command line,
3 no display, or the screenshot could not be written.")]
pub(crate) struct Args {
    /// The scenario (RON).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Labels and lesson language: en or zh-CN (switchable in the window).
    #[arg(long, default_value = "en", value_parser = parse_lang, value_name = "LANG")]
    lang: Lang,
    /// Override the scenario's seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Virtual seconds per wall second (1 to 1000).
    #[arg(long, default_value_t = 60.0, value_name = "X")]
    speed: f64,
    /// Run to --at, write a PNG of the window to PATH, and exit.
    #[arg(long, value_name = "PATH", requires = "at")]
    screenshot: Option<PathBuf>,
    /// The virtual time of the screenshot ("90m", "2h").
    #[arg(long, value_name = "DURATION", value_parser = Duration::parse, requires = "screenshot")]
    at: Option<Duration>,
    /// Play for SECS wall seconds, print the frames drawn per second, and exit.
    #[arg(long, value_name = "SECS", conflicts_with = "screenshot")]
    measure_fps: Option<f64>,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?}: expected en or zh-CN"))
}

pub(crate) fn run(args: Args) -> Outcome {
    if !(1.0..=1000.0).contains(&args.speed) {
        return Err(Failure::Invalid("--speed: a number from 1 to 1000".into()));
    }
    let scenarios = super::load_all(std::slice::from_ref(&args.file))?;
    let Some((file, scenario)) = scenarios.into_iter().next() else {
        return Err(Failure::Invalid(String::new()));
    };
    super::no_real_terminals(&file, &scenario, "`possim gui`")?;
    let plan = Plan::new(&scenario, args.seed)
        .map_err(|e| Failure::Invalid(format!("{}: {e}", file.display())))?;
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    if !display {
        return Err(Failure::Io(format!(
            "no display to open a window on (DISPLAY is not set): run it under Xvfb, `xvfb-run -a possim gui {}`",
            file.display()
        )));
    }
    // An old file at the path must not pass for the new screenshot.
    if let Some(p) = &args.screenshot
        && let Err(e) = std::fs::remove_file(p)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(Failure::Io(format!("cannot replace {}: {e}", p.display())));
    }
    let screenshot = args.screenshot.zip(args.at);
    let path = screenshot.as_ref().map(|(p, _)| p.clone());
    if let Some(s) = args.measure_fps
        && !(s > 0.0 && s <= 3600.0)
    {
        return Err(Failure::Invalid("--measure-fps: seconds from 0 to 3600".into()));
    }
    let opts = GuiOptions {
        lang: args.lang,
        speed: args.speed,
        screenshot,
        measure_fps: args.measure_fps,
    };
    run_gui(Arc::new(plan), opts).map_err(Failure::Io)?;
    if let Some(p) = path
        && !p.exists()
    {
        return Err(Failure::Io(format!("the screenshot {} was not written", p.display())));
    }
    Ok(ExitCode::SUCCESS)
}
