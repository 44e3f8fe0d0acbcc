//! The frame inspector: a click on a frame (on the cable or in the list)
//! opens it decoded, every field named, field 55 tag by tag, the card
//! number masked, and the MAC, PIN, cryptogram and CVV checked with the
//! world's own keys (only verdicts and check values are shown, never a key
//! or a PIN).

use crate::assess::text::Lang;
use crate::inspect::{Inspection, inspect};
use crate::keys::KeySet;
use crate::link::Dir;
use crate::sim::Plan;
use crate::view::Packet;

use super::word;

/// An open inspector: the frame and its text, decoded once.
#[derive(Debug, Clone)]
pub struct Open {
    /// Frame id.
    pub frame: u64,
    /// The header lines (localised when drawn).
    pub packet: Packet,
    /// The frame as sent, decoded.
    pub sent: String,
    /// The frame as received, when the line changed it.
    pub received: Option<String>,
    /// What changed on the way, field by field (values of card data are
    /// not shown).
    pub changes: Vec<Change>,
    /// The MAC check of what arrived, when something changed it.
    pub mac_arrived: Option<(crate::inspect::Status, String)>,
}

/// The keys the world uses for this frame's terminal and its issuer.
fn keys(plan: &Plan, p: &Packet) -> KeySet {
    let tid = if p.dir == Dir::Up { &p.from } else { &p.to };
    let term = plan.terminals.iter().find(|t| &t.config.tid == tid);
    KeySet {
        tak: term.map(|t| t.config.tak.clone()),
        tpk: term.map(|t| t.config.tpk.clone()),
        imk_ac: Some(plan.host.imk_ac.clone()),
        cvk: Some(plan.host.cvk.clone()),
        pvk: Some(plan.host.pvk.clone()),
    }
}

fn decode(plan: &Plan, p: &Packet, bytes: &[u8]) -> (String, Option<Inspection>) {
    if bytes.is_empty() {
        return ("(no bytes kept for this frame)".into(), None);
    }
    match inspect(&plan.spec, bytes, &keys(plan, p)) {
        Ok(i) => (i.render(), Some(i)),
        Err(e) => {
            let text =
                format!("{} bytes that do not decode under {}: {e}", bytes.len(), plan.spec.name());
            (text, None)
        }
    }
}

/// Fields whose values are card data or secrets: a change is named, not shown.
const HIDDEN: &[u8] = &[2, 34, 35, 36, 45, 52, 55];

/// One field that differs between what was sent and what arrived.
#[derive(Debug, Clone)]
pub struct Change {
    /// Field number.
    pub number: u8,
    /// Its name in the dialect.
    pub name: String,
    /// As sent and as arrived (None: absent); both None for card data,
    /// whose values are not shown.
    pub values: Option<(Option<String>, Option<String>)>,
}

/// The fields that differ between what was sent and what arrived.
fn changes(sent: &Inspection, got: &Inspection) -> Vec<Change> {
    let value = |i: &Inspection, n: u8| i.fields.iter().find(|f| f.number == n).map(|f| f.text());
    let mut numbers: Vec<u8> = sent.fields.iter().chain(&got.fields).map(|f| f.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut out = Vec::new();
    for n in numbers {
        let (a, b) = (value(sent, n), value(got, n));
        if a == b {
            continue;
        }
        let name = sent
            .fields
            .iter()
            .chain(&got.fields)
            .find(|f| f.number == n)
            .map_or(String::new(), |f| f.name.clone());
        let values = (!HIDDEN.contains(&n)).then_some((a, b));
        out.push(Change { number: n, name, values });
    }
    out
}

/// Decodes a packet for the inspector.
pub fn open(plan: &Plan, p: &Packet) -> Open {
    let (sent, a) = decode(plan, p, &p.bytes);
    let got = p.received.as_ref().map(|b| decode(plan, p, b));
    let arrived = got.as_ref().and_then(|g| g.1.as_ref());
    let changes = match (&a, arrived) {
        (Some(a), Some(b)) => changes(a, b),
        _ => Vec::new(),
    };
    let mac_arrived = arrived.map(|b| (b.checks.mac.status, b.checks.mac.detail.clone()));
    Open {
        frame: p.frame,
        packet: p.clone(),
        sent,
        received: got.map(|g| g.0),
        changes,
        mac_arrived,
    }
}

/// Whether this frame crossed the line under TLS that held.
pub fn sealed(plan: &Plan, p: &Packet) -> bool {
    let tid = if p.dir == Dir::Up { &p.from } else { &p.to };
    let tls = plan
        .links
        .iter()
        .any(|l| l.sealed.contains(tid) || l.pinned.contains(tid) || l.opportunistic.contains(tid));
    // A man in the middle who got the session open reads it; one whose
    // handshake the terminal refused got nothing (the frame was dropped).
    let opened = p.acted.iter().any(|a| a == "mitm_strip_tls" || a == "mitm_rogue_cert")
        && p.state != crate::view::PacketState::Dropped;
    tls && !opened
}

/// Draws the open inspector; returns false when the trainer closed it.
pub fn show(ctx: &bevy_egui::egui::Context, plan: &Plan, o: &Open, lang: Lang) -> bool {
    use bevy_egui::egui;
    let mut open = true;
    let p = &o.packet;
    let title = word("inspector.title", lang)
        .replace("{n}", &o.frame.to_string())
        .replace("{mti}", p.mti.as_deref().unwrap_or("?"));
    egui::Window::new(title)
        .id(egui::Id::new("inspector"))
        .open(&mut open)
        .default_size(egui::vec2(620.0, 520.0))
        .default_pos(egui::pos2(140.0, 70.0))
        .show(ctx, |ui| {
            ui.label(format!("{} → {}   {}", p.from, p.to, super::clock_text(plan, p.sent, lang)));
            let on_wire = if sealed(plan, p) { "inspector.sealed" } else { "inspector.readable" };
            ui.label(egui::RichText::new(word(on_wire, lang)).strong());
            if !p.acted.is_empty() {
                let names: Vec<String> =
                    p.acted.iter().map(|a| super::attack_word(a, lang)).collect();
                ui.label(
                    egui::RichText::new(format!(
                        "{} {}",
                        word("inspector.acted", lang),
                        names.join(", ")
                    ))
                    .color(egui::Color32::from_rgb(239, 108, 0)),
                );
            }
            let orange = egui::Color32::from_rgb(239, 108, 0);
            if !o.changes.is_empty() {
                ui.label(egui::RichText::new(word("inspector.changes", lang)).strong());
                for c in &o.changes {
                    let what = match &c.values {
                        None => word("inspector.changed", lang),
                        Some((a, b)) => {
                            let show = |v: &Option<String>| {
                                v.clone().unwrap_or_else(|| word("inspector.absent", lang))
                            };
                            format!("{} → {}", show(a), show(b))
                        }
                    };
                    let line = format!("{:>3} {}: {what}", c.number, c.name);
                    ui.label(egui::RichText::new(line).monospace().size(11.0).color(orange));
                }
            }
            if let Some((status, detail)) = &o.mac_arrived {
                let key = match status {
                    crate::inspect::Status::Valid => "inspector.mac_valid",
                    crate::inspect::Status::Invalid => "inspector.mac_invalid",
                    _ => "inspector.mac_unchecked",
                };
                ui.label(egui::RichText::new(word(key, lang)).strong().color(orange));
                ui.label(egui::RichText::new(detail).monospace().size(11.0).color(orange));
            }
            egui::ScrollArea::vertical().show(ui, |ui| {
                if let Some(r) = &o.received {
                    ui.label(egui::RichText::new(word("inspector.as_sent", lang)).strong());
                    ui.label(egui::RichText::new(&o.sent).monospace().size(11.0));
                    ui.separator();
                    ui.label(egui::RichText::new(word("inspector.as_received", lang)).strong());
                    ui.label(egui::RichText::new(r).monospace().size(11.0));
                } else {
                    ui.label(egui::RichText::new(&o.sent).monospace().size(11.0));
                }
            });
        });
    open
}
