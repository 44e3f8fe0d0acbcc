//! The shop floor: the bank, the cable with frames moving on it, the
//! counter with its terminals, readers, PIN pads and queues, and whatever
//! the attackers fitted or wherever they stand. In *spot the skimmer* the
//! devices are hidden (or drawn as a shopper would see them, with no label)
//! and a click on a terminal is the trainee's answer.

use bevy_egui::egui;

use super::{Exercise, Ui, attack_word, colour, inspector, word};
use crate::sim::Plan;
use crate::view::{PacketState, View, exercise};

/// Attacks that are a device fitted to a terminal (the rest are people at
/// the till, or men in the middle on the line).
const DEVICES: &[&str] =
    &["skimmer", "shimmer", "pin_pad_overlay", "ram_scraper", "terminal_swap", "pre_play"];

fn on_the_line(name: &str) -> bool {
    name.starts_with("mitm_") || name == "replay"
}

#[allow(clippy::too_many_lines)]
pub(super) fn draw(root: &mut egui::Ui, ui_state: &mut Ui, plan: &Plan, view: &View) {
    let lang = ui_state.lang;
    let spotting = match &ui_state.exercise {
        Some(Exercise::Spot { draw, .. }) if ui_state.spotting() => Some(*draw),
        _ => None,
    };
    egui::CentralPanel::default().show(root, |ui| {
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
            if let Some(draw) = spotting {
                // The trainee's answer is a click on the terminal.
                let r = ui.interact(body, egui::Id::new(("terminal", i)), egui::Sense::click());
                if r.hovered() {
                    p.rect_stroke(
                        body.expand(3.0),
                        8.0,
                        egui::Stroke::new(2.0, egui::Color32::LIGHT_BLUE),
                        egui::StrokeKind::Outside,
                    );
                }
                if r.clicked()
                    && let Some(Exercise::Spot { tries, last, .. }) = &mut ui_state.exercise
                {
                    *tries += 1;
                    *last = Some((t.config.tid.clone(), exercise::spot(view, &t.config.tid)));
                }
                // Drawn as a shopper sees it: a bulkier slot, a thicker pad.
                let visible: Vec<&String> =
                    devices.iter().filter(|d| exercise::SPOTTABLE.contains(&d.as_str())).collect();
                if draw && !visible.is_empty() {
                    p.rect_filled(
                        slot.expand2(egui::vec2(3.0, 3.0)),
                        3.0,
                        egui::Color32::from_gray(70),
                    );
                    p.rect_filled(slot, 2.0, egui::Color32::BLACK);
                    p.rect_stroke(
                        egui::Rect::from_center_size(
                            egui::pos2(cx, body.top() + 57.0),
                            egui::vec2(46.0 * scale, 30.0),
                        ),
                        2.0,
                        egui::Stroke::new(2.0, egui::Color32::from_gray(110)),
                        egui::StrokeKind::Outside,
                    );
                }
            } else if !devices.is_empty() || !people.is_empty() {
                p.rect_stroke(
                    body.expand(4.0),
                    8.0,
                    egui::Stroke::new(3.0, egui::Color32::from_rgb(229, 57, 53)),
                    egui::StrokeKind::Outside,
                );
            }
            let mut y = body.top() - 28.0;
            for (key, list) in [("device", &devices), ("attacker_here", &people)] {
                if list.is_empty() || spotting.is_some() {
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
            // A thief at the till stands at its side, in red.
            if !people.is_empty() && spotting.is_none() {
                let at = egui::pos2(body.right() + 14.0, body.bottom() - 22.0);
                let red = egui::Color32::from_rgb(229, 57, 53);
                p.circle_filled(egui::pos2(at.x, at.y - 14.0), 7.0, red);
                p.rect_filled(
                    egui::Rect::from_center_size(
                        egui::pos2(at.x, at.y + 4.0),
                        egui::vec2(18.0, 20.0),
                    ),
                    5.0,
                    red,
                );
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
        if !mitm.is_empty() && spotting.is_none() {
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
            let at = seg(f);
            p.circle_filled(at, 7.0, colour(pk.state, inspector::sealed(plan, pk)));
            let r = ui.interact(
                egui::Rect::from_center_size(at, egui::vec2(18.0, 18.0)),
                egui::Id::new(("packet", pk.frame)),
                egui::Sense::click(),
            );
            if r.clicked() {
                ui_state.inspector = Some(inspector::open(plan, pk));
            }
            r.on_hover_text(word("inspector.hint", lang));
        }
        // Staff, behind the counter at the left of the line.
        let mut x = rect.left() + 40.0;
        let y = counter.top() - 190.0;
        if !plan.staff.is_empty() {
            p.text(
                egui::pos2(rect.left() + 20.0, y - 34.0),
                egui::Align2::LEFT_CENTER,
                word("staff", lang),
                egui::FontId::proportional(13.0),
                egui::Color32::LIGHT_GRAY,
            );
        }
        for member in plan.staff.iter().take(6) {
            let skin = egui::Color32::from_rgb(144, 164, 174);
            p.circle_filled(egui::pos2(x, y - 12.0), 7.0, skin);
            p.rect_filled(
                egui::Rect::from_center_size(egui::pos2(x, y + 6.0), egui::vec2(18.0, 18.0)),
                5.0,
                skin,
            );
            p.text(
                egui::pos2(x, y + 24.0),
                egui::Align2::CENTER_CENTER,
                member.name.clone(),
                egui::FontId::proportional(11.0),
                egui::Color32::LIGHT_GRAY,
            );
            if member.refunds {
                p.text(
                    egui::pos2(x, y + 38.0),
                    egui::Align2::CENTER_CENTER,
                    word("staff.refunds", lang),
                    egui::FontId::proportional(10.0),
                    egui::Color32::GRAY,
                );
            }
            x += 70.0;
            if x > hub.x - 40.0 {
                break;
            }
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
}
