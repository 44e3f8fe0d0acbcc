//! The trainer view (`possim gui`, feature `gui`): the same world as
//! `possim run`, drawn with egui from a [`View`](crate::view::View) that a
//! subscriber keeps from the record stream. The world runs as a headless
//! app of its own ([`Worlds`]) which the window steps to the virtual time
//! it wants each frame (wall time times the speed; a step; a seek), so a
//! slow frame never changes what happens. Beside it, a second world can run
//! the same seed with one defence flipped. `--screenshot PATH --at D` runs
//! to D, draws, writes a PNG and exits.

mod floor;
mod inspector;
mod panels;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::{WindowPlugin, WindowResolution};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use crate::assess::text::{Lang, Tr};
use crate::sim::Plan;
use crate::time::{Duration, SimTime};
use crate::view::{PacketState, Spot, Switch, Worlds};

/// How the view starts.
#[derive(Debug, Clone)]
pub struct GuiOptions {
    /// The language of every label and lesson (switchable at run time).
    pub lang: Lang,
    /// Virtual seconds per wall second.
    pub speed: f64,
    /// Run to this virtual time, write a PNG of the window there, exit.
    pub screenshot: Option<(PathBuf, Duration)>,
    /// Play for this many wall seconds from this virtual time (the world
    /// runs there first), then print the frames drawn per second and exit
    /// (BENCHMARKS.md).
    pub measure_fps: Option<(f64, Duration)>,
    /// Start with the same seed rerun beside it, this defence flipped.
    pub compare: Option<Switch>,
    /// Start in a class exercise.
    pub exercise: Option<ExerciseKind>,
    /// Open the inspector on the newest frame (for screenshots).
    pub inspect_last: bool,
}

/// The class exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExerciseKind {
    /// Find the terminal someone tampered with (`draw`: the device is
    /// drawn as a shopper would see it, the easier version).
    Spot {
        /// Draw the device.
        draw: bool,
    },
    /// Pick the defence that would have stopped the attack.
    Stop,
}

/// An exercise under way.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exercise {
    Spot { draw: bool, tries: u32, last: Option<(String, Spot)> },
    Stop { picked: Option<Switch> },
}

#[derive(Resource)]
struct FpsMeter {
    secs: f64,
    start: Option<std::time::Instant>,
    frames: u64,
}

const WORDS: &str = include_str!("../../assets/gui.ron");
const CJK_FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-Regular-subset.otf");

fn words() -> &'static BTreeMap<String, Tr> {
    static W: OnceLock<BTreeMap<String, Tr>> = OnceLock::new();
    W.get_or_init(|| ron::from_str(WORDS).unwrap_or_default())
}

/// A label in `lang` (the key if missing; a test forbids that).
pub fn word(key: &str, lang: Lang) -> String {
    words().get(key).map_or_else(|| key.to_string(), |t| t.get(lang).to_string())
}

/// Every key the view's words file has, for tests.
pub fn word_keys() -> Vec<String> {
    words().keys().cloned().collect()
}

/// The window's own state (the worlds are a non-send resource beside it).
#[derive(Resource)]
struct Ui {
    lang: Lang,
    speed: f64,
    playing: bool,
    fonts_set: bool,
    /// Wall time of the last frame (play advances by the time since).
    last_frame: Option<std::time::Instant>,
    /// When the view first saw each frame (the animation runs in wall time:
    /// at 100x a frame's 40 ms would be invisible).
    seen: BTreeMap<u64, std::time::Instant>,
    /// The frame inspector, when open.
    inspector: Option<inspector::Open>,
    /// Open the inspector on the newest frame once there is one.
    inspect_last: bool,
    /// The list of recent frames at the left.
    show_frames: bool,
    /// Where the scrubber is being dragged to.
    scrub: Option<SimTime>,
    exercise: Option<Exercise>,
}

impl Ui {
    /// True while the trainee is looking for a device not yet found.
    fn spotting(&self) -> bool {
        matches!(&self.exercise, Some(Exercise::Spot { last, .. })
            if !matches!(last, Some((_, Spot::Right(_)))))
    }
}

#[derive(Resource)]
struct Shot {
    path: PathBuf,
    at: SimTime,
    frames_waited: u32,
    since: Option<std::time::Instant>,
    /// A capture is on its way back from the renderer (one at a time).
    pending: bool,
    /// Captures that came back undrawn, thrown away.
    blank: u32,
}

/// Opens the window and runs the world until it is closed (or the
/// screenshot is written). Returns the error to show, if any: a display
/// that cannot be opened (winit and wgpu panic on it) is one line naming
/// `xvfb-run`, not a backtrace; any other panic is a bug and goes on.
pub fn run(plan: Arc<Plan>, opts: GuiOptions) -> Result<(), String> {
    let caught = Arc::new(std::sync::Mutex::new(String::new()));
    let into = caught.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut m) = into.lock() {
            *m = info.payload_as_str().unwrap_or("a panic").to_string();
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open(plan, opts)));
    let _ = std::panic::take_hook();
    std::panic::set_hook(previous);
    match result {
        Ok(r) => r,
        Err(payload) => {
            let message = caught.lock().map(|m| m.clone()).unwrap_or_default();
            let display = ["event loop", "XOpenDisplay", "display", "adapter", "surface"]
                .iter()
                .any(|k| message.contains(k));
            if !display {
                eprintln!("{message}");
                std::panic::resume_unwind(payload);
            }
            let shown = std::env::var("DISPLAY").unwrap_or_default();
            let first = if message.contains("XOpenDisplayFailed") {
                "the X server does not answer".to_string()
            } else {
                message.lines().next().unwrap_or_default().chars().take(160).collect()
            };
            Err(format!(
                "cannot open a window on DISPLAY={shown:?} ({first}): run it under Xvfb, `xvfb-run -a possim gui FILE`"
            ))
        }
    }
}

fn open(plan: Arc<Plan>, opts: GuiOptions) -> Result<(), String> {
    let title = format!("possim: {}", plan.name);
    let mut worlds = Worlds::new(plan);
    if let Some(s) = opts.compare {
        // In "what would have stopped it" the pick is a defence put on.
        let stop = opts.exercise == Some(ExerciseKind::Stop);
        let on = stop || !s.is_on(&worlds.plan);
        worlds.compare(s, on);
    }
    let exercise = opts.exercise.map(|k| match k {
        ExerciseKind::Spot { draw } => Exercise::Spot { draw, tries: 0, last: None },
        // With --compare, that is the trainee's pick: both days run to the end.
        ExerciseKind::Stop => Exercise::Stop { picked: opts.compare },
    });
    if matches!(exercise, Some(Exercise::Stop { picked: Some(_) })) {
        worlds.seek(SimTime(u64::MAX / 4));
    }
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title,
                    resolution: WindowResolution::new(1280, 800),
                    ..default()
                }),
                ..default()
            })
            // Only what a trainer should act on reaches the terminal.
            .set(bevy::log::LogPlugin {
                level: bevy::log::Level::ERROR,
                filter: "wgpu=off,naga=off,winit=off,bevy_egui=off".into(),
                ..default()
            }),
    )
    .add_plugins(EguiPlugin::default())
    .insert_non_send(worlds)
    .insert_resource(Ui {
        lang: opts.lang,
        speed: opts.speed,
        playing: opts.screenshot.is_none(),
        fonts_set: false,
        last_frame: None,
        seen: BTreeMap::new(),
        inspector: None,
        inspect_last: opts.inspect_last,
        show_frames: true,
        scrub: None,
        exercise,
    })
    .add_systems(Startup, setup)
    .add_systems(Update, drive)
    .add_systems(EguiPrimaryContextPass, draw);
    if let Some((secs, from)) = opts.measure_fps {
        app.world_mut().non_send_mut::<Worlds>().seek(SimTime(from.micros()));
        app.insert_resource(FpsMeter { secs, start: None, frames: 0 }).add_systems(Update, measure);
    }
    if let Some((path, at)) = opts.screenshot {
        app.insert_resource(Shot {
            path,
            at: SimTime(at.micros()),
            frames_waited: 0,
            since: None,
            pending: false,
            blank: 0,
        })
        .add_systems(Update, screenshot.after(drive));
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(_) => Err("the trainer view stopped with an error".into()),
    }
}

fn setup(mut commands: Commands) {
    // egui smooths its own edges; multisampling would only multiply the
    // fragments a software renderer (llvmpipe under Xvfb) has to fill.
    commands.spawn((Camera2d, Msaa::Off));
}

/// Steps the worlds: to the screenshot's moment, or by the wall time since
/// the last frame times the speed while playing (at most a quarter second's
/// worth, so a stall does not leap ahead).
fn drive(mut ui: ResMut<Ui>, shot: Option<Res<Shot>>, mut worlds: NonSendMut<Worlds>) {
    let wall = std::time::Instant::now();
    let dt = ui.last_frame.map_or(0.0, |w| wall.duration_since(w).as_secs_f64()).min(0.25);
    ui.last_frame = Some(wall);
    if let Some(shot) = shot {
        worlds.advance_to(shot.at);
        return;
    }
    // Paused, the world is only started (time zero, after a seek there).
    let step = if ui.playing { Duration::from_secs_f64(dt * ui.speed) } else { Duration(0) };
    let t = worlds.main.now() + step;
    worlds.advance_to(t);
}

fn screenshot(
    mut commands: Commands,
    mut shot: ResMut<Shot>,
    worlds: NonSend<Worlds>,
    mut exit: MessageWriter<AppExit>,
) {
    if worlds.main.now() < shot.at && !worlds.main.finished() {
        return;
    }
    shot.frames_waited += 1;
    if shot.frames_waited > 600 {
        error!("no drawn frame to save after 600 frames ({} captures came back blank)", shot.blank);
        exit.write(AppExit::error());
        return;
    }
    let since = *shot.since.get_or_insert_with(std::time::Instant::now);
    // A few frames, and a second and a half, for egui to lay out and the
    // renderer to compile its pipelines and present. On a busy machine, or
    // in an unoptimised build, the first frames can still be blank: such a
    // capture is thrown away and taken again.
    if !shot.pending && shot.frames_waited >= 8 && since.elapsed().as_secs_f64() >= 1.5 {
        let mut save = save_to_disk(shot.path.clone());
        commands.spawn(Screenshot::primary_window()).observe(
            move |captured: On<ScreenshotCaptured>,
                  mut shot: ResMut<Shot>,
                  mut exit: MessageWriter<AppExit>| {
                if undrawn(&captured.image) {
                    shot.pending = false;
                    shot.blank += 1;
                    return;
                }
                // Whatever was at the path before is not this capture:
                // only the file written here ends the run well (the save
                // logs its own I/O error).
                let _ = std::fs::remove_file(&shot.path);
                save(captured);
                exit.write(if shot.path.exists() { AppExit::Success } else { AppExit::error() });
            },
        );
        shot.pending = true;
    }
}

/// Whether a captured frame is not drawn yet: fewer than 16 colours, so at
/// most the background and bare panels (egui's anti-aliased text alone
/// brings dozens).
fn undrawn(image: &Image) -> bool {
    let Some(data) = image.data.as_deref() else { return true };
    let mut seen: Vec<&[u8]> = Vec::with_capacity(16);
    for pixel in data.chunks_exact(4) {
        if !seen.contains(&pixel) {
            seen.push(pixel);
            if seen.len() >= 16 {
                return false;
            }
        }
    }
    true
}

fn measure(mut m: ResMut<FpsMeter>, worlds: NonSend<Worlds>, mut exit: MessageWriter<AppExit>) {
    // The first frames compile shaders and load fonts: count from the tenth.
    m.frames += 1;
    if m.frames == 10 {
        m.start = Some(std::time::Instant::now());
    }
    if let Some(start) = m.start {
        let secs = start.elapsed().as_secs_f64();
        if secs >= m.secs || worlds.main.finished() {
            let frames = m.frames - 10;
            println!(
                "{frames} frames in {secs:.1} s: {:.1} frames a second (virtual time {})",
                frames as f64 / secs.max(1e-9),
                Duration(worlds.main.now().0)
            );
            exit.write(AppExit::Success);
        }
    }
}

fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert("cjk".into(), Arc::new(egui::FontData::from_static(CJK_FONT)));
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push("cjk".into());
    }
    ctx.set_fonts(fonts);
}

fn colour(state: PacketState, sealed: bool) -> egui::Color32 {
    match state {
        PacketState::Readable if sealed => egui::Color32::from_rgb(46, 125, 50),
        PacketState::Readable => egui::Color32::from_rgb(249, 168, 37),
        PacketState::Altered | PacketState::Delayed => egui::Color32::from_rgb(239, 108, 0),
        PacketState::Dropped => egui::Color32::from_rgb(198, 40, 40),
        PacketState::Duplicated => egui::Color32::from_rgb(123, 31, 162),
    }
}

fn clock_text(plan: &Plan, now: SimTime, lang: Lang) -> String {
    let s = now.0 / 1_000_000;
    let start = plan.start.unix() as u64;
    let wall = start + s;
    let day = s / 86_400 + 1;
    let hm = format!("{:02}:{:02}", wall / 3600 % 24, wall / 60 % 60);
    word("time", lang).replace("{d}", &day.to_string()).replace("{hm}", &hm)
}

fn attack_word(name: &str, lang: Lang) -> String {
    if let Some(w) = words().get(&format!("attack.{name}")) {
        return w.get(lang).to_string();
    }
    crate::assess::texts()
        .attacks
        .iter()
        .find(|a| a.key == name)
        .map_or_else(|| name.replace('_', " "), |a| a.name.get(lang).to_string())
}

fn alert_word(a: crate::scenario::AlertKind, lang: Lang) -> String {
    let k = format!("{a:?}");
    crate::assess::texts().alerts.get(&k).map_or(k, |x| x.get(lang).to_string())
}

fn draw(
    mut contexts: EguiContexts,
    mut ui_state: ResMut<Ui>,
    mut worlds: NonSendMut<Worlds>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    if !ui_state.fonts_set {
        install_fonts(&ctx);
        ui_state.fonts_set = true;
    }
    let view = worlds.main.view();
    // The newest frame something acted on, else the newest.
    let newest = view
        .packets
        .iter()
        .rev()
        .find(|p| !p.bytes.is_empty() && !p.acted.is_empty())
        .or_else(|| view.packets.iter().rev().find(|p| !p.bytes.is_empty()));
    if ui_state.inspect_last
        && let Some(p) = newest
    {
        ui_state.inspector = Some(inspector::open(&worlds.plan, p));
        ui_state.inspect_last = false;
    }
    let mut root = egui::Ui::new(
        ctx.clone(),
        "possim".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );
    panels::top(&mut root, &mut ui_state, &mut worlds);
    panels::timeline(&mut root, &mut ui_state, &mut worlds, &view);
    panels::numbers(&mut root, &mut ui_state, &mut worlds, &view);
    if ui_state.show_frames {
        panels::frames(&mut root, &mut ui_state, &worlds.plan, &view);
    }
    floor::draw(&mut root, &mut ui_state, &worlds.plan, &view);
    panels::exercise(&ctx, &mut ui_state, &mut worlds);
    let plan = worlds.plan.clone();
    if let Some(o) = &ui_state.inspector
        && !inspector::show(&ctx, &plan, o, ui_state.lang)
    {
        ui_state.inspector = None;
    }
    Ok(())
}
