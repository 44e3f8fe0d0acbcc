//! The trainer view (`possim gui`, feature `gui`): the same world as
//! `possim run`, paced to wall time times a speed factor, drawn with egui
//! from a [`View`](crate::view::View) that a subscriber keeps from the
//! record stream. Play, pause, step and speed go into the world as clock
//! settings; `--screenshot PATH --at D` runs to D, draws, writes a PNG and
//! exits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::{WindowPlugin, WindowResolution};
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use crate::assess::text::{Lang, Tr};
use crate::sim::{Clock, Options, Pacing, Plan, SimPlugin, Subscribers};
use crate::time::{Duration, SimTime};
use crate::view::{Marker, PacketState, View, ViewFeed};

/// How the view starts.
#[derive(Debug, Clone)]
pub struct GuiOptions {
    /// The language of every label and lesson (switchable at run time).
    pub lang: Lang,
    /// Virtual seconds per wall second.
    pub speed: f64,
    /// Run to this virtual time, write a PNG of the window there, exit.
    pub screenshot: Option<(PathBuf, Duration)>,
    /// Play for this many wall seconds, then print the frames drawn per
    /// second and exit (BENCHMARKS.md).
    pub measure_fps: Option<f64>,
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

#[derive(Resource)]
struct Ui {
    lang: Lang,
    speed: f64,
    playing: bool,
    step_to: Option<SimTime>,
    feed: ViewFeed,
    plan: Arc<Plan>,
    fonts_set: bool,
    /// When the view first saw each frame (the animation runs in wall time:
    /// at 100x a frame's 40 ms would be invisible).
    seen: BTreeMap<u64, std::time::Instant>,
}

#[derive(Resource)]
struct Shot {
    path: PathBuf,
    at: SimTime,
    frames_waited: u32,
    taken: bool,
}

/// Opens the window and runs the world until it is closed (or the
/// screenshot is written). Returns the error to show, if any.
pub fn run(plan: Arc<Plan>, opts: GuiOptions) -> Result<(), String> {
    let feed = ViewFeed::default();
    let title = format!("possim: {}", plan.name);
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
    .add_plugins(SimPlugin {
        plan: plan.clone(),
        pacing: Pacing::Paced { speed: opts.speed },
        options: Options { apdus: false, frames: false, stay_open: false },
    })
    .insert_resource(Ui {
        lang: opts.lang,
        speed: opts.speed,
        playing: opts.screenshot.is_none(),
        step_to: None,
        feed: feed.clone(),
        plan,
        fonts_set: false,
        seen: BTreeMap::new(),
    })
    .add_systems(Startup, setup)
    .add_systems(Update, drive.before(crate::sim::SimSet::Step))
    .add_systems(EguiPrimaryContextPass, draw);
    if let Some(secs) = opts.measure_fps {
        app.insert_resource(FpsMeter { secs, start: None, frames: 0 }).add_systems(Update, measure);
    }
    if let Some((path, at)) = opts.screenshot {
        app.insert_resource(Shot {
            path,
            at: SimTime(at.micros()),
            frames_waited: 0,
            taken: false,
        })
        .add_systems(Update, screenshot.after(crate::sim::SimSet::Step));
    }
    app.world_mut().resource_mut::<Subscribers>().add(Box::new(feed));
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(_) => Err("the trainer view stopped with an error".into()),
    }
}

fn setup(mut commands: Commands) {
    commands.spawn(Camera2d);
}

/// Play, pause, step and speed, as clock settings, before the world steps.
fn drive(ui: Res<Ui>, shot: Option<Res<Shot>>, mut clock: ResMut<Clock>) {
    if let Some(shot) = shot {
        // A screenshot runs straight to its moment, then holds still.
        if clock.now < shot.at {
            clock.pacing = Pacing::To { until: shot.at };
            clock.paused = false;
        } else {
            clock.paused = true;
        }
        return;
    }
    if let Some(to) = ui.step_to
        && clock.now < to
    {
        clock.pacing = Pacing::To { until: to };
        clock.paused = false;
        return;
    }
    if ui.playing {
        if clock.paused || !matches!(clock.pacing, Pacing::Paced { .. }) {
            clock.restart_wall();
        }
        clock.pacing = Pacing::Paced { speed: ui.speed };
        clock.paused = false;
    } else {
        clock.paused = true;
    }
}

fn screenshot(
    mut commands: Commands,
    mut shot: ResMut<Shot>,
    clock: Res<Clock>,
    mut exit: MessageWriter<AppExit>,
) {
    if clock.now < shot.at && !clock.finished {
        return;
    }
    shot.frames_waited += 1;
    // A few frames for egui to lay out and the renderer to present.
    if !shot.taken && shot.frames_waited >= 8 {
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(shot.path.clone()));
        shot.taken = true;
    }
    if shot.taken && (shot.path.exists() || shot.frames_waited > 600) {
        if shot.path.exists() {
            exit.write(AppExit::Success);
        } else {
            exit.write(AppExit::error());
        }
    }
}

fn measure(mut m: ResMut<FpsMeter>, clock: Res<Clock>, mut exit: MessageWriter<AppExit>) {
    // The first frames compile shaders and load fonts: count from the tenth.
    m.frames += 1;
    if m.frames == 10 {
        m.start = Some(std::time::Instant::now());
    }
    if let Some(start) = m.start {
        let secs = start.elapsed().as_secs_f64();
        if secs >= m.secs || clock.finished {
            let frames = m.frames - 10;
            println!(
                "{frames} frames in {secs:.1} s: {:.1} frames a second (virtual time {})",
                frames as f64 / secs.max(1e-9),
                Duration(clock.now.0)
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
        PacketState::Altered => egui::Color32::from_rgb(239, 108, 0),
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

/// Attacks that are a device fitted to a terminal (the rest are people at
/// the till, or men in the middle on the line).
const DEVICES: &[&str] =
    &["skimmer", "shimmer", "pin_pad_overlay", "ram_scraper", "terminal_swap", "pre_play"];

fn on_the_line(name: &str) -> bool {
    name.starts_with("mitm_") || name == "replay"
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

#[allow(clippy::too_many_lines)]
fn draw(mut contexts: EguiContexts, mut ui_state: ResMut<Ui>, clock: Res<Clock>) -> Result {
    let ctx = contexts.ctx_mut()?;
    if !ui_state.fonts_set {
        install_fonts(ctx);
        ui_state.fonts_set = true;
    }
    let view: View = ui_state.feed.0.lock().map(|v| v.clone()).unwrap_or_default();
    let lang = ui_state.lang;
    let plan = ui_state.plan.clone();
    let end = SimTime(plan.duration.micros());
    let mut root = egui::Ui::new(
        ctx.clone(),
        "possim".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );

    egui::Panel::top("bar").show(&mut root, |ui| {
        ui.horizontal(|ui| {
            ui.heading(&plan.name);
            ui.separator();
            let t = if clock.finished {
                word("finished", lang)
            } else {
                clock_text(&plan, clock.now, lang)
            };
            ui.label(egui::RichText::new(t).monospace().size(16.0));
            ui.separator();
            let label = if ui_state.playing { word("pause", lang) } else { word("play", lang) };
            if ui.button(label).clicked() {
                ui_state.playing = !ui_state.playing;
            }
            if ui.button(word("step", lang)).clicked() {
                ui_state.playing = false;
                ui_state.step_to = Some(clock.now + Duration::from_secs(60));
            }
            let mut speed = ui_state.speed;
            ui.add(
                egui::Slider::new(&mut speed, 1.0..=1000.0)
                    .logarithmic(true)
                    .suffix("x")
                    .text(word("speed", lang)),
            );
            ui_state.speed = speed;
            ui.separator();
            if ui.button(word("lang_switch", lang)).clicked() {
                ui_state.lang = if lang == Lang::En { Lang::ZhCn } else { Lang::En };
            }
        });
    });

    egui::Panel::bottom("timeline").min_size(70.0).show(&mut root, |ui| {
        let (rect, _) =
            ui.allocate_exact_size(egui::vec2(ui.available_width(), 56.0), egui::Sense::hover());
        let p = ui.painter_at(rect);
        let bar = egui::Rect::from_min_max(
            egui::pos2(rect.left() + 10.0, rect.center().y - 6.0),
            egui::pos2(rect.right() - 10.0, rect.center().y + 6.0),
        );
        p.rect_filled(bar, 3.0, egui::Color32::from_gray(60));
        let x =
            |t: SimTime| bar.left() + bar.width() * (t.0.min(end.0) as f32 / end.0.max(1) as f32);
        p.rect_filled(
            egui::Rect::from_min_max(bar.min, egui::pos2(x(clock.now), bar.max.y)),
            3.0,
            egui::Color32::from_gray(120),
        );
        for (t, m) in &view.markers {
            let (c, y) = match m {
                Marker::AttackStarted(_) => {
                    (egui::Color32::from_rgb(198, 40, 40), bar.top() - 10.0)
                }
                Marker::Alert(_) => (egui::Color32::from_rgb(249, 168, 37), bar.bottom() + 10.0),
                Marker::MoneyLost(_) => (egui::Color32::from_rgb(239, 83, 80), bar.center().y),
            };
            p.circle_filled(egui::pos2(x(*t), y), 4.0, c);
        }
        p.line_segment(
            [egui::pos2(x(clock.now), rect.top()), egui::pos2(x(clock.now), rect.bottom())],
            egui::Stroke::new(2.0, egui::Color32::WHITE),
        );
        let mut lx = rect.left() + 14.0;
        for (k, c) in [
            ("marker.attack", egui::Color32::from_rgb(198, 40, 40)),
            ("marker.alert", egui::Color32::from_rgb(249, 168, 37)),
            ("marker.loss", egui::Color32::from_rgb(239, 83, 80)),
        ] {
            p.circle_filled(egui::pos2(lx, rect.bottom() - 8.0), 4.0, c);
            let r = p.text(
                egui::pos2(lx + 8.0, rect.bottom() - 8.0),
                egui::Align2::LEFT_CENTER,
                word(k, lang),
                egui::FontId::proportional(12.0),
                egui::Color32::LIGHT_GRAY,
            );
            lx = r.right() + 18.0;
        }
    });

    egui::Panel::right("numbers").min_size(360.0).show(&mut root, |ui| {
        egui::Grid::new("counts").num_columns(2).show(ui, |ui| {
            let cur = plan.terminals.first().map_or("156", |t| t.config.currency.as_str());
            for (k, v) in [
                ("approved", view.approved.to_string()),
                ("declined", view.declined.to_string()),
                ("timeouts", view.timeouts.to_string()),
                ("fraud_loss", crate::assess::render::money(view.fraud_loss, cur)),
                ("stolen", view.stolen.to_string()),
            ] {
                ui.label(word(k, lang));
                ui.label(egui::RichText::new(v).strong().size(18.0));
                ui.end_row();
            }
        });
        ui.label(egui::RichText::new(word("plot", lang)).small());
        let (rect, _) =
            ui.allocate_exact_size(egui::vec2(ui.available_width(), 90.0), egui::Sense::hover());
        let p = ui.painter_at(rect);
        p.rect_stroke(
            rect,
            2.0,
            egui::Stroke::new(1.0, egui::Color32::GRAY),
            egui::StrokeKind::Inside,
        );
        let max_a = view.samples.iter().map(|s| s.1).max().unwrap_or(1).max(1) as f32;
        let max_l = view.samples.iter().map(|s| s.3.0).max().unwrap_or(1).max(1) as f32;
        let pts = |f: &dyn Fn(&crate::view::Sample) -> f32| -> Vec<egui::Pos2> {
            view.samples
                .iter()
                .map(|s| {
                    egui::pos2(
                        rect.left() + rect.width() * (s.0.0 as f32 / end.0.max(1) as f32).min(1.0),
                        rect.bottom() - rect.height() * f(s),
                    )
                })
                .collect()
        };
        p.add(egui::Shape::line(
            pts(&|s| s.1 as f32 / max_a),
            egui::Stroke::new(2.0, egui::Color32::from_rgb(67, 160, 71)),
        ));
        p.add(egui::Shape::line(
            pts(&|s| s.3.0 as f32 / max_l),
            egui::Stroke::new(2.0, egui::Color32::from_rgb(229, 57, 53)),
        ));
        ui.separator();
        ui.heading(word("alerts", lang));
        if view.alerts.is_empty() {
            ui.label(word("no_alerts", lang));
        }
        for (t, a, term) in view.alerts.iter().rev().take(6) {
            ui.label(format!(
                "{}  {}{}",
                clock_text(&plan, *t, lang),
                alert_word(*a, lang),
                term.as_deref().map(|x| format!(" ({x})")).unwrap_or_default()
            ));
        }
        if let Some(key) = &plan.lesson
            && let Some(l) = crate::lesson::lesson(key, lang)
        {
            ui.separator();
            ui.heading(format!("{}: {}", word("lesson", lang), l.title));
            egui::ScrollArea::vertical().show(ui, |ui| {
                for (k, text) in [("happened", &l.happened), ("why", &l.why), ("defend", &l.defend)]
                {
                    ui.label(egui::RichText::new(word(k, lang)).strong());
                    ui.label(text.as_str());
                }
            });
        }
    });

    egui::CentralPanel::default().show(&mut root, |ui| {
        let rect = ui.max_rect();
        let p = ui.painter_at(rect);
        let text = |pos: egui::Pos2, s: String, size: f32, c: egui::Color32| {
            p.text(pos, egui::Align2::CENTER_CENTER, s, egui::FontId::proportional(size), c);
        };
        // The bank, top right; the counter along the bottom; the cable between.
        let bank = egui::Rect::from_center_size(
            egui::pos2(rect.right() - 110.0, rect.top() + 70.0),
            egui::vec2(170.0, 80.0),
        );
        p.rect_filled(bank, 8.0, egui::Color32::from_rgb(21, 101, 192));
        text(bank.center(), word("bank", lang), 20.0, egui::Color32::WHITE);
        let counter = egui::Rect::from_min_max(
            egui::pos2(rect.left() + 30.0, rect.bottom() - 150.0),
            egui::pos2(rect.right() - 30.0, rect.bottom() - 110.0),
        );
        p.rect_filled(counter, 4.0, egui::Color32::from_rgb(121, 85, 72));
        text(counter.center(), word("counter", lang), 16.0, egui::Color32::WHITE);
        let hub = egui::pos2(counter.center().x, counter.top());
        let cable = [hub, egui::pos2(hub.x, bank.center().y), bank.left_center()];
        p.add(egui::Shape::line(
            cable.to_vec(),
            egui::Stroke::new(4.0, egui::Color32::from_gray(90)),
        ));
        text(
            egui::pos2(hub.x + 80.0, (hub.y + bank.center().y) / 2.0),
            word("cable", lang),
            13.0,
            egui::Color32::LIGHT_GRAY,
        );
        // Terminals on the counter, with their devices and queues.
        let shop_mid = plan.terminals.first().map(|t| t.config.mid.clone()).unwrap_or_default();
        let terms: Vec<&crate::sim::TerminalPlan> =
            plan.terminals.iter().filter(|t| t.config.mid == shop_mid).take(40).collect();
        let n = terms.len().max(1) as f32;
        let sealed = terms.iter().all(|t| {
            plan.links
                .iter()
                .any(|l| l.sealed.contains(&t.config.tid) || l.pinned.contains(&t.config.tid))
        });
        for (i, t) in terms.iter().enumerate() {
            let cx = counter.left() + counter.width() * (i as f32 + 0.5) / n;
            // Many terminals share the counter: narrower, down to a slot
            // and a keypad without the id.
            let w = (counter.width() / n - 8.0).clamp(30.0, 90.0);
            let scale = w / 90.0;
            let body = egui::Rect::from_center_size(
                egui::pos2(cx, counter.top() - 45.0),
                egui::vec2(w, 80.0),
            );
            p.rect_filled(body, 6.0, egui::Color32::from_gray(40));
            p.rect_stroke(
                body,
                6.0,
                egui::Stroke::new(1.5, egui::Color32::from_gray(160)),
                egui::StrokeKind::Inside,
            );
            text(
                egui::pos2(cx, body.top() + 12.0),
                t.config.tid.clone(),
                (13.0 * scale).max(8.0),
                egui::Color32::WHITE,
            );
            // The reader slot and the PIN pad.
            let slot = egui::Rect::from_center_size(
                egui::pos2(cx, body.top() + 32.0),
                egui::vec2(60.0 * scale, 8.0),
            );
            p.rect_filled(slot, 2.0, egui::Color32::BLACK);
            for r in 0..3 {
                for c in 0..3 {
                    let k = egui::pos2(
                        cx + scale * (-14.0 + 14.0 * c as f32),
                        body.top() + 48.0 + 9.0 * r as f32,
                    );
                    p.rect_filled(
                        egui::Rect::from_center_size(k, egui::vec2(10.0 * scale, 6.0)),
                        1.0,
                        egui::Color32::from_gray(150),
                    );
                }
            }
            let here = view.devices.get(&t.config.tid).cloned().unwrap_or_default();
            let (devices, people): (Vec<String>, Vec<String>) = here
                .into_iter()
                .filter(|d| !on_the_line(d))
                .partition(|d| DEVICES.contains(&d.as_str()));
            if !devices.is_empty() || !people.is_empty() {
                p.rect_stroke(
                    body.expand(4.0),
                    8.0,
                    egui::Stroke::new(3.0, egui::Color32::from_rgb(229, 57, 53)),
                    egui::StrokeKind::Outside,
                );
            }
            let mut y = body.top() - 28.0;
            for (key, list) in [("device", &devices), ("attacker_here", &people)] {
                if list.is_empty() {
                    continue;
                }
                let names: Vec<String> = list.iter().map(|d| attack_word(d, lang)).collect();
                text(
                    egui::pos2(cx, y),
                    format!("{} {}", word(key, lang), names.join(", ")),
                    13.0,
                    egui::Color32::from_rgb(239, 83, 80),
                );
                y -= 18.0;
            }
            let waiting = view.at_till.get(&t.config.tid).copied().unwrap_or(0);
            for q in 0..waiting.min(6) {
                p.circle_filled(
                    egui::pos2(cx, counter.bottom() + 15.0 + 12.0 * q as f32),
                    5.0,
                    egui::Color32::from_rgb(141, 110, 99),
                );
            }
            if n <= 8.0 {
                text(
                    egui::pos2(cx, counter.bottom() + 95.0),
                    word("waiting", lang).replace("{n}", &waiting.to_string()),
                    12.0,
                    egui::Color32::LIGHT_GRAY,
                );
            }
        }
        // A man in the middle sits on the cable while one is at work.
        let mitm: std::collections::BTreeSet<String> =
            view.devices.values().flatten().filter(|d| on_the_line(d)).cloned().collect();
        if !mitm.is_empty() {
            let at = egui::pos2(cable[0].x, (cable[0].y + cable[1].y) / 2.0);
            p.circle_filled(at, 16.0, egui::Color32::from_rgb(198, 40, 40));
            text(at, "!".into(), 18.0, egui::Color32::WHITE);
            let names: Vec<String> = mitm.iter().map(|d| attack_word(d, lang)).collect();
            p.text(
                egui::pos2(at.x - 24.0, at.y),
                egui::Align2::RIGHT_CENTER,
                format!("{} {}", word("on_the_line", lang), names.join(", ")),
                egui::FontId::proportional(13.0),
                egui::Color32::from_rgb(239, 83, 80),
            );
        }
        // Packets: each drawn for 0.8 s of wall time, up the cable or down it.
        let now = std::time::Instant::now();
        let live: std::collections::BTreeSet<u64> = view.packets.iter().map(|p| p.frame).collect();
        ui_state.seen.retain(|f, _| live.contains(f));
        let seg = |f: f32| {
            let total = (cable[1].y - cable[0].y).abs() + (cable[2].x - cable[1].x).abs();
            let d = f * total;
            let up = (cable[1].y - cable[0].y).abs();
            if d <= up {
                egui::pos2(cable[0].x, cable[0].y - d)
            } else {
                egui::pos2(cable[1].x + (d - up), cable[1].y)
            }
        };
        for pk in &view.packets {
            let first = *ui_state.seen.entry(pk.frame).or_insert(now);
            let age = now.duration_since(first).as_secs_f32() / 0.8;
            let frozen = !ui_state.playing;
            let f = if frozen { ((pk.frame % 10) as f32 + 0.5) / 10.0 } else { age };
            if f > 1.0 {
                continue;
            }
            let f = if pk.dir == crate::link::Dir::Up { f } else { 1.0 - f };
            let f = if pk.state == PacketState::Dropped { f.min(0.5) } else { f };
            p.circle_filled(seg(f), 7.0, colour(pk.state, sealed));
        }
        // The legend.
        let mut y = rect.top() + 20.0;
        for (k, st) in [
            ("legend.sealed", None),
            ("legend.readable", Some(PacketState::Readable)),
            ("legend.altered", Some(PacketState::Altered)),
            ("legend.dropped", Some(PacketState::Dropped)),
            ("legend.duplicated", Some(PacketState::Duplicated)),
        ] {
            let c = st.map_or_else(|| colour(PacketState::Readable, true), |s| colour(s, false));
            p.circle_filled(egui::pos2(rect.left() + 20.0, y), 6.0, c);
            p.text(
                egui::pos2(rect.left() + 34.0, y),
                egui::Align2::LEFT_CENTER,
                word(k, lang),
                egui::FontId::proportional(13.0),
                egui::Color32::LIGHT_GRAY,
            );
            y += 20.0;
        }
    });
    Ok(())
}
