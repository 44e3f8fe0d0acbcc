//! `possim gui` (feature `gui`): the trainer view of a scenario.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use possim::gui::{ExerciseKind, GuiOptions, run as run_gui};
use possim::lesson::Lang;
use possim::sim::Plan;
use possim::time::Duration;
use possim::view::Switch;

use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
#[command(after_help = "The window shows the shop floor (terminals, readers, PIN pads, the queue,
the devices attackers fitted), frames crossing the line to the bank coloured by what happened to
them, a timeline with attack starts, alerts and losses, live numbers, the alerts and the
scenario's lesson. Play, pause, step a minute, change the speed (1x to 1000x) or the language
at any time; click or drag the timeline to go to a moment (going back reruns the same seed).
Click a frame on the cable, or in the list at the left, to open it decoded: fields named, field
55 tag by tag, the card number masked, MAC, PIN, cryptogram and CVV checked.

Defences (right panel): change one and the same day reruns beside the scenario with it changed;
the numbers show side by side with what the defence was worth. Exercises (top bar): spot the
skimmer (click the terminal you suspect) and what would have stopped it (pick a defence; the day
reruns with it to the end).

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
    /// The virtual time of the screenshot ("90m", "2h"); with
    /// --measure-fps, where the count starts (the world runs there first).
    #[arg(long, value_name = "DURATION", value_parser = Duration::parse)]
    at: Option<Duration>,
    /// Play for SECS wall seconds, print the frames drawn per second, and exit.
    #[arg(long, value_name = "SECS", conflicts_with = "screenshot")]
    measure_fps: Option<f64>,
    /// Rerun the same seed beside the scenario with this defence flipped
    /// ("inspection", "tls", or a bank check: "mac", "arqc", "cvv", ...);
    /// with --exercise stop, the trainee's pick (both days run to the end).
    #[arg(long, value_name = "DEFENCE", value_parser = parse_switch)]
    compare: Option<Switch>,
    /// Start in a class exercise: spot (spot the skimmer), spot-easy (the
    /// same with the device drawn as a shopper would see it) or stop (what
    /// would have stopped it).
    #[arg(long, value_name = "NAME", value_parser = parse_exercise)]
    exercise: Option<ExerciseKind>,
    /// Open the frame inspector on the newest frame (for screenshots).
    #[arg(long)]
    inspect_last: bool,
}

fn parse_switch(s: &str) -> Result<Switch, String> {
    Switch::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Switch::all().into_iter().map(Switch::name).collect();
        format!("{s:?}: expected one of {}", names.join(", "))
    })
}

fn parse_exercise(s: &str) -> Result<ExerciseKind, String> {
    match s {
        "spot" => Ok(ExerciseKind::Spot { draw: false }),
        "spot-easy" => Ok(ExerciseKind::Spot { draw: true }),
        "stop" => Ok(ExerciseKind::Stop),
        _ => Err(format!("{s:?}: expected spot, spot-easy or stop")),
    }
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
    if args.at.is_some() && args.screenshot.is_none() && args.measure_fps.is_none() {
        return Err(Failure::Invalid("--at: give it with --screenshot or --measure-fps".into()));
    }
    let start_at = if args.measure_fps.is_some() { args.at } else { None };
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
        measure_fps: args.measure_fps.map(|s| (s, start_at.unwrap_or(Duration(0)))),
        compare: args.compare,
        exercise: args.exercise,
        inspect_last: args.inspect_last,
    };
    run_gui(Arc::new(plan), opts).map_err(Failure::Io)?;
    if let Some(p) = path
        && !p.exists()
    {
        return Err(Failure::Io(format!("the screenshot {} was not written", p.display())));
    }
    Ok(ExitCode::SUCCESS)
}
