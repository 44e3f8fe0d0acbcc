//! The panels around the shop floor: the bar (play, step, speed, language,
//! exercises), the timeline with its scrubber, the numbers with the
//! side-by-side comparison and the defence switches, the list of frames,
//! and the exercise card.

use bevy_egui::egui;

use super::{Exercise, Ui, alert_word, clock_text, inspector, word};
use crate::assess::text::Lang;
use crate::money::Money;
use crate::sim::Plan;
use crate::time::{Duration, SimTime};
use crate::view::{Detection, Marker, Switch, Verdict, View, Worlds, exercise};

const RED: egui::Color32 = egui::Color32::from_rgb(198, 40, 40);
const AMBER: egui::Color32 = egui::Color32::from_rgb(249, 168, 37);
const LOSS: egui::Color32 = egui::Color32::from_rgb(239, 83, 80);
const GREEN: egui::Color32 = egui::Color32::from_rgb(67, 160, 71);

/// Far past any run's end: seeking there runs everything to the finish.
const THE_END: SimTime = SimTime(u64::MAX / 4);

fn currency(plan: &Plan) -> &str {
    plan.terminals.first().map_or("156", |t| t.config.currency.as_str())
}

fn money(plan: &Plan, m: Money) -> String {
    crate::assess::render::money(m, currency(plan))
}

/// The bar along the top.
pub(super) fn top(root: &mut egui::Ui, st: &mut Ui, worlds: &mut Worlds) {
    let lang = st.lang;
    egui::Panel::top("bar").show(root, |ui| {
        ui.horizontal(|ui| {
            // The scenario's name would give the answer away.
            let title =
                if st.spotting() { word("exercise.spot", lang) } else { worlds.plan.name.clone() };
            ui.heading(title);
            ui.separator();
            let t = if worlds.main.finished() {
                word("finished", lang)
            } else {
                clock_text(&worlds.plan, worlds.main.now(), lang)
            };
            ui.label(egui::RichText::new(t).monospace().size(16.0));
            ui.separator();
            let label = if st.playing { word("pause", lang) } else { word("play", lang) };
            if ui.button(label).clicked() {
                st.playing = !st.playing;
            }
            if ui.button(word("step", lang)).clicked() {
                st.playing = false;
                let t = worlds.main.now() + Duration::from_secs(60);
                worlds.advance_to(t);
            }
            ui.add(
                egui::Slider::new(&mut st.speed, 1.0..=1000.0)
                    .logarithmic(true)
                    .suffix("x")
                    .text(word("speed", lang)),
            );
            ui.separator();
            ui.toggle_value(&mut st.show_frames, word("frames", lang));
            if ui.button(word("lang_switch", lang)).clicked() {
                st.lang = if lang == Lang::En { Lang::ZhCn } else { Lang::En };
            }
            ui.separator();
            if st.exercise.is_some() {
                if ui.button(word("exercise.end", lang)).clicked() {
                    st.exercise = None;
                }
            } else {
                ui.menu_button(word("exercises", lang), |ui| {
                    if ui.button(word("exercise.spot", lang)).clicked() {
                        st.exercise = Some(Exercise::Spot { draw: false, tries: 0, last: None });
                    }
                    if ui.button(word("exercise.stop", lang)).clicked() {
                        st.exercise = Some(Exercise::Stop { picked: None });
                    }
                });
            }
        });
    });
}

/// The timeline: markers, now, and a scrubber (click or drag to go to a
/// moment; going back reruns the same seed from the start).
pub(super) fn timeline(root: &mut egui::Ui, st: &mut Ui, worlds: &mut Worlds, view: &View) {
    let lang = st.lang;
    let spotting = st.spotting();
    let end = SimTime(worlds.plan.duration.micros());
    egui::Panel::bottom("timeline").min_size(70.0).show(root, |ui| {
        let (rect, resp) = ui.allocate_exact_size(
            egui::vec2(ui.available_width(), 64.0),
            egui::Sense::click_and_drag(),
        );
        let p = ui.painter_at(rect);
        // The bar, with attack markers above it and alerts below, then the legend.
        let mid = rect.top() + 24.0;
        let bar = egui::Rect::from_min_max(
            egui::pos2(rect.left() + 10.0, mid - 6.0),
            egui::pos2(rect.right() - 10.0, mid + 6.0),
        );
        let x =
            |t: SimTime| bar.left() + bar.width() * (t.0.min(end.0) as f32 / end.0.max(1) as f32);
        let at = |pos: egui::Pos2| {
            let f = ((pos.x - bar.left()) / bar.width().max(1.0)).clamp(0.0, 1.0);
            SimTime((f64::from(f) * end.0 as f64) as u64)
        };
        if resp.dragged()
            && let Some(pos) = resp.interact_pointer_pos()
        {
            st.scrub = Some(at(pos));
        }
        if resp.drag_stopped()
            && let Some(t) = st.scrub.take()
        {
            worlds.seek(t);
        } else if resp.clicked()
            && let Some(pos) = resp.interact_pointer_pos()
        {
            worlds.seek(at(pos));
        }
        let now = worlds.main.now();
        p.rect_filled(bar, 3.0, egui::Color32::from_gray(60));
        p.rect_filled(
            egui::Rect::from_min_max(bar.min, egui::pos2(x(now), bar.max.y)),
            3.0,
            egui::Color32::from_gray(120),
        );
        for (t, m) in &view.markers {
            // Spotting the skimmer, the attack's start would give it away.
            if spotting && matches!(m, Marker::AttackStarted(_)) {
                continue;
            }
            let (c, y) = match m {
                Marker::AttackStarted(_) => (RED, bar.top() - 10.0),
                Marker::Alert(_) => (AMBER, bar.bottom() + 10.0),
                Marker::MoneyLost(_) => (LOSS, bar.center().y),
            };
            p.circle_filled(egui::pos2(x(*t), y), 4.0, c);
        }
        p.line_segment(
            [egui::pos2(x(now), rect.top()), egui::pos2(x(now), rect.bottom())],
            egui::Stroke::new(2.0, egui::Color32::WHITE),
        );
        if let Some(t) = st.scrub {
            p.line_segment(
                [egui::pos2(x(t), rect.top()), egui::pos2(x(t), rect.bottom())],
                egui::Stroke::new(2.0, egui::Color32::LIGHT_BLUE),
            );
            p.text(
                egui::pos2(x(t) + 4.0, rect.top() + 6.0),
                egui::Align2::LEFT_TOP,
                clock_text(&worlds.plan, t, lang),
                egui::FontId::proportional(12.0),
                egui::Color32::LIGHT_BLUE,
            );
        }
        let mut lx = rect.left() + 14.0;
        for (k, c) in [("marker.attack", RED), ("marker.alert", AMBER), ("marker.loss", LOSS)] {
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
        p.text(
            egui::pos2(rect.right() - 14.0, rect.bottom() - 8.0),
            egui::Align2::RIGHT_CENTER,
            word("scrub_hint", lang),
            egui::FontId::proportional(12.0),
            egui::Color32::GRAY,
        );
    });
}

/// One run's numbers, for the table.
struct Numbers {
    approved: u64,
    declined: u64,
    timeouts: u64,
    loss: Money,
    stolen: u64,
    alerts: usize,
    detect: Detection,
}

impl Numbers {
    fn of(view: &View, sim: &crate::view::Sim) -> Self {
        Self {
            approved: view.approved,
            declined: view.declined,
            timeouts: view.timeouts,
            loss: sim.loss(view),
            stolen: view.stolen,
            alerts: view.alerts.len(),
            detect: view.detection(sim.now()),
        }
    }

    fn rows(&self, plan: &Plan, lang: Lang) -> [(&'static str, String); 7] {
        let span = |d: Duration| {
            let (s, m) = (d.micros() / 1_000_000, d.micros() / 60_000_000);
            if s < 60 {
                word("span.s", lang).replace("{s}", &s.to_string())
            } else if m < 60 {
                word("span.m", lang).replace("{m}", &m.to_string())
            } else {
                word("span", lang)
                    .replace("{h}", &(m / 60).to_string())
                    .replace("{m}", &format!("{:02}", m % 60))
            }
        };
        let detect = match self.detect {
            Detection::NoAttack => word("detect.none", lang),
            Detection::Detected(d) => span(d),
            Detection::NotYet(d) => word("detect.not_yet", lang).replace("{t}", &span(d)),
        };
        [
            ("approved", self.approved.to_string()),
            ("declined", self.declined.to_string()),
            ("timeouts", self.timeouts.to_string()),
            ("fraud_loss", money(plan, self.loss)),
            ("stolen", self.stolen.to_string()),
            ("alerts_n", self.alerts.to_string()),
            ("time_to_detect", detect),
        ]
    }
}

/// The switch's label.
fn switch_word(s: Switch, lang: Lang) -> String {
    word(&format!("defence.{}", s.name()), lang)
}

/// The right-hand panel: numbers (side by side with the comparison when
/// there is one), the defences, the plot, the alerts and the lesson.
#[allow(clippy::too_many_lines)]
pub(super) fn numbers(root: &mut egui::Ui, st: &mut Ui, worlds: &mut Worlds, view: &View) {
    let lang = st.lang;
    // Spotting the skimmer, what was stolen, the alerts and the lesson
    // would give the answer away: they come back once it is found.
    let spotting = st.spotting();
    let plan = worlds.plan.clone();
    let end = SimTime(plan.duration.micros());
    let main = Numbers::of(view, &worlds.main);
    let other = worlds.compare.as_ref().map(|(s, on, sim)| {
        let v = sim.view();
        (*s, *on, Numbers::of(&v, sim), sim.finished())
    });
    egui::Panel::right("numbers").min_size(380.0).show(root, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            if let Some((s, on, ..)) = &other {
                let k = if *on { "comparing.with" } else { "comparing.without" };
                ui.label(
                    egui::RichText::new(word(k, lang).replace("{d}", &switch_word(*s, lang)))
                        .strong(),
                );
            }
            egui::Grid::new("counts").num_columns(3).striped(other.is_some()).show(ui, |ui| {
                if let Some((_, on, ..)) = &other {
                    ui.label("");
                    ui.label(egui::RichText::new(word("as_written", lang)).small());
                    let k = if *on { "with_it" } else { "without_it" };
                    ui.label(egui::RichText::new(word(k, lang)).small());
                    ui.end_row();
                }
                let theirs = other.as_ref().map(|o| o.2.rows(&plan, lang));
                for (i, (k, v)) in main.rows(&plan, lang).into_iter().enumerate() {
                    if spotting && matches!(k, "stolen" | "alerts_n" | "time_to_detect") {
                        continue;
                    }
                    ui.label(word(k, lang));
                    ui.label(egui::RichText::new(v).strong().size(18.0));
                    if let Some(t) = &theirs
                        && let Some((_, v)) = t.get(i)
                    {
                        ui.label(egui::RichText::new(v).strong().size(18.0));
                    }
                    ui.end_row();
                }
            });
            if let Some((s, on, n, finished)) = &other {
                let done = *finished && worlds.main.finished();
                let (without, with) = if *on { (&main, n) } else { (n, &main) };
                let saved = without.loss.saturating_sub(with.loss);
                let text = if saved.0 > 0 {
                    word("worth.saved", lang).replace("{m}", &money(&plan, saved))
                } else if saved.0 < 0 {
                    word("worth.cost", lang)
                        .replace("{m}", &money(&plan, with.loss.saturating_sub(without.loss)))
                } else {
                    word("worth.none", lang)
                };
                ui.label(
                    egui::RichText::new(text.replace("{d}", &switch_word(*s, lang)))
                        .strong()
                        .color(if saved.0 > 0 { GREEN } else { egui::Color32::LIGHT_GRAY }),
                );
                if done {
                    let v = Verdict::of((without.loss, without.stolen), (with.loss, with.stolen));
                    ui.label(word(v.key(), lang));
                } else {
                    ui.label(egui::RichText::new(word("so_far", lang)).small());
                    if ui.button(word("run_to_end", lang)).clicked() {
                        worlds.seek(THE_END);
                    }
                }
                if ui.button(word("clear_compare", lang)).clicked() {
                    worlds.compare = None;
                }
            }
            ui.collapsing(word("defences", lang), |ui| {
                ui.label(egui::RichText::new(word("defences.hint", lang)).small());
                for s in Switch::all() {
                    let mut on = s.is_on(&plan);
                    // The one being compared says how it is set over there.
                    let there = worlds.compare.as_ref().filter(|c| c.0 == s).map(|c| c.1);
                    let label = match there {
                        Some(x) => egui::RichText::new(format!(
                            "{}  ({})",
                            switch_word(s, lang),
                            word(if x { "compared.on" } else { "compared.off" }, lang)
                        ))
                        .strong(),
                        None => egui::RichText::new(switch_word(s, lang)),
                    };
                    if ui.checkbox(&mut on, label).changed() {
                        worlds.compare(s, on);
                    }
                }
            });
            ui.label(egui::RichText::new(word("plot", lang)).small());
            plot(ui, view, end);
            if spotting {
                return;
            }
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
                for (k, text) in [("happened", &l.happened), ("why", &l.why), ("defend", &l.defend)]
                {
                    ui.label(egui::RichText::new(word(k, lang)).strong());
                    ui.label(text.as_str());
                }
            }
        });
    });
}

fn plot(ui: &mut egui::Ui, view: &View, end: SimTime) {
    let (rect, _) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 90.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_stroke(rect, 2.0, egui::Stroke::new(1.0, egui::Color32::GRAY), egui::StrokeKind::Inside);
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
    p.add(egui::Shape::line(pts(&|s| s.1 as f32 / max_a), egui::Stroke::new(2.0, GREEN)));
    p.add(egui::Shape::line(
        pts(&|s| s.3.0 as f32 / max_l),
        egui::Stroke::new(2.0, egui::Color32::from_rgb(229, 57, 53)),
    ));
}

/// The recent frames at the left, newest first; a click opens one.
pub(super) fn frames(root: &mut egui::Ui, st: &mut Ui, plan: &Plan, view: &View) {
    let lang = st.lang;
    egui::Panel::left("frames").min_size(230.0).show(root, |ui| {
        ui.label(egui::RichText::new(word("frames.title", lang)).strong());
        if view.packets.is_empty() {
            ui.label(word("frames.none", lang));
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            for p in view.packets.iter().rev().take(40) {
                let arrow = if p.dir == crate::link::Dir::Up { "↑" } else { "↓" };
                let term = if p.dir == crate::link::Dir::Up { &p.from } else { &p.to };
                let state = match p.state {
                    crate::view::PacketState::Readable => "",
                    crate::view::PacketState::Altered => "frames.altered",
                    crate::view::PacketState::Delayed => "frames.delayed",
                    crate::view::PacketState::Dropped => "frames.dropped",
                    crate::view::PacketState::Duplicated => "frames.duplicated",
                };
                let text = format!(
                    "#{} {} {arrow} {term} {}",
                    p.frame,
                    p.mti.as_deref().unwrap_or("----"),
                    if state.is_empty() { String::new() } else { word(state, lang) }
                );
                let c = super::colour(p.state, inspector::sealed(plan, p));
                let selected = st.inspector.as_ref().is_some_and(|o| o.frame == p.frame);
                let r = ui.selectable_label(
                    selected,
                    egui::RichText::new(text).monospace().size(12.0).color(c),
                );
                if r.clicked() {
                    st.inspector = Some(inspector::open(plan, p));
                }
            }
        });
    });
}

/// The exercise card, while an exercise is under way.
pub(super) fn exercise(ctx: &egui::Context, st: &mut Ui, worlds: &mut Worlds) {
    let lang = st.lang;
    let plan = worlds.plan.clone();
    let Some(ex) = st.exercise.clone() else { return };
    let mut next = Some(ex.clone());
    egui::Window::new(word("exercise", lang))
        .id(egui::Id::new("exercise"))
        .default_pos(egui::pos2(250.0, 40.0))
        .resizable(false)
        .collapsible(false)
        .default_width(300.0)
        .show(ctx, |ui| match ex {
            Exercise::Spot { mut draw, tries, last } => {
                ui.label(egui::RichText::new(word("exercise.spot", lang)).strong());
                ui.label(word("exercise.spot.ask", lang));
                if ui.checkbox(&mut draw, word("exercise.spot.draw", lang)).changed() {
                    next = Some(Exercise::Spot { draw, tries, last: last.clone() });
                }
                if tries > 0 {
                    ui.label(word("exercise.spot.tries", lang).replace("{n}", &tries.to_string()));
                }
                if let Some((tid, answer)) = &last {
                    let (k, c) = match answer {
                        exercise::Spot::Right(_) => ("exercise.spot.right", GREEN),
                        exercise::Spot::Clean => ("exercise.spot.clean", LOSS),
                        exercise::Spot::Gone => ("exercise.spot.gone", AMBER),
                        exercise::Spot::NothingFitted => ("exercise.spot.nothing", AMBER),
                    };
                    let devices = match answer {
                        exercise::Spot::Right(d) => d
                            .iter()
                            .map(|n| super::attack_word(n, lang))
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => String::new(),
                    };
                    ui.label(
                        egui::RichText::new(
                            word(k, lang).replace("{t}", tid).replace("{d}", &devices),
                        )
                        .strong()
                        .color(c),
                    );
                }
            }
            Exercise::Stop { picked } => {
                ui.label(egui::RichText::new(word("exercise.stop", lang)).strong());
                ui.label(word("exercise.stop.ask", lang));
                egui::ScrollArea::vertical().max_height(260.0).show(ui, |ui| {
                    for s in Switch::all().into_iter().filter(|s| !s.is_on(&plan)) {
                        let chosen = picked == Some(s);
                        if ui.selectable_label(chosen, switch_word(s, lang)).clicked() {
                            worlds.compare(s, true);
                            worlds.seek(THE_END);
                            next = Some(Exercise::Stop { picked: Some(s) });
                        }
                    }
                });
                if picked.is_some() {
                    ui.label(egui::RichText::new(word("exercise.stop.see", lang)).small());
                }
            }
        });
    st.exercise = next;
}
