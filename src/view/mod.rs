//! What the trainer view shows, kept from the record stream: a
//! [`Subscriber`] with no rendering in it, so the
//! headless build and its tests have it too. The window (`possim gui`,
//! feature `gui`) draws from a [`View`] each frame. Beside it here: the
//! worlds the window steps ([`Worlds`]: the scenario and the same seed
//! with one defence flipped), the defences a trainer can switch
//! ([`Switch`]), and the rules of the class exercises ([`exercise`]).

pub mod defence;
pub mod exercise;
pub mod world;

pub use defence::Switch;
pub use exercise::{Spot, Verdict};
pub use world::{Sim, Worlds};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::link::Dir;
use crate::link::Effect;
use crate::money::Money;
use crate::scenario::AlertKind;
use crate::sim::{Record, Subscriber};
use crate::terminal::Outcome;
use crate::time::{Duration, SimTime};

/// How a frame on the cable looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketState {
    /// Crossing as sent.
    Readable,
    /// Changed on the way, or answered or injected by a man in the middle.
    Altered,
    /// Held back: delayed or reordered.
    Delayed,
    /// Lost.
    Dropped,
    /// A copy.
    Duplicated,
}

/// One frame crossing the cable, for the animation and the inspector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Frame id.
    pub frame: u64,
    /// When it was sent (virtual).
    pub sent: SimTime,
    /// Which way.
    pub dir: Dir,
    /// What happened to it.
    pub state: PacketState,
    /// Sender and receiver ("TERM0001", "host").
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Message type ("0200"), when it decodes.
    pub mti: Option<String>,
    /// The purchase it belongs to.
    pub purchase: Option<u64>,
    /// The bytes as sent (empty unless the world keeps frame bytes).
    pub bytes: Arc<[u8]>,
    /// The bytes as they arrived, when something on the line changed them.
    pub received: Option<Arc<[u8]>>,
    /// The rules that acted on it ("mitm_tamper", "loss").
    pub acted: Vec<String>,
}

/// A moment the timeline marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// An attack began (its name).
    AttackStarted(String),
    /// An alert fired.
    Alert(AlertKind),
    /// An attacker's purchase or refund was approved: money lost.
    MoneyLost(Money),
}

/// How long the attacks went unnoticed: from the first attack's start to
/// the first alert after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// No attack has started.
    NoAttack,
    /// The first alert came this long after the first attack began.
    Detected(Duration),
    /// No alert yet, this long after the first attack began.
    NotYet(Duration),
}

/// One point of the plot: (time, approved, declined, money taken).
pub type Sample = (SimTime, u64, u64, Money);

/// Everything the view shows, as of the last record.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Virtual time of the last record.
    pub now: SimTime,
    /// Purchases approved (online or offline).
    pub approved: u64,
    /// Purchases declined (by the host, the card or the terminal).
    pub declined: u64,
    /// Timed out.
    pub timeouts: u64,
    /// Money attackers took: their approved purchases and refunds.
    pub fraud_loss: Money,
    /// Cards and PINs stolen.
    pub stolen: u64,
    /// Alerts, with when they fired.
    pub alerts: Vec<(SimTime, AlertKind, Option<String>)>,
    /// Devices fitted, by terminal: the attack names active there.
    pub devices: BTreeMap<String, Vec<String>>,
    /// The last frames sent (at most [`View::PACKETS`]).
    pub packets: Vec<Packet>,
    /// Timeline markers.
    pub markers: Vec<(SimTime, Marker)>,
    /// Customers waiting or paying, by terminal.
    pub at_till: BTreeMap<String, u64>,
    /// The running totals sampled every ten virtual minutes, for the plot:
    /// (time, approved, declined, fraud loss).
    pub samples: Vec<Sample>,
    /// When the first attack began (kept apart from the markers, which
    /// stop at [`View::MARKERS`]).
    pub first_attack: Option<SimTime>,
    /// Every attack kind that has been at work, fitted or not.
    pub started: std::collections::BTreeSet<String>,
    /// Devices fitted by terminal, with the attack each belongs to (the
    /// source of `devices`: two attacks of one kind end apart).
    fitted: BTreeMap<String, Vec<(usize, String)>>,
    /// Purchases that are an attacker's, and what they were for.
    attacker_purchases: BTreeMap<u64, ()>,
    /// The last outcome of recent purchases (a retry replaces it).
    outcomes: BTreeMap<u64, Outcome>,
}

impl View {
    /// Frames kept for the animation.
    pub const PACKETS: usize = 64;
    /// Timeline markers kept.
    pub const MARKERS: usize = 2000;
    const SAMPLE_US: u64 = 600_000_000;

    fn record(&mut self, at: SimTime, r: &Record) {
        self.now = at;
        while self.samples.last().is_none_or(|(t, ..)| at.0 >= t.0 + Self::SAMPLE_US) {
            let t = self.samples.last().map_or(0, |(t, ..)| t.0 + Self::SAMPLE_US);
            self.samples.push((SimTime(t), self.approved, self.declined, self.fraud_loss));
            if self.samples.len() > 10_000 {
                break;
            }
        }
        match r {
            Record::CustomerArrived { terminal, .. } => {
                *self.at_till.entry(terminal.to_string()).or_default() += 1;
            }
            Record::Completed { terminal, purchase, outcome, amount, .. } => {
                // A PIN retry completes the same purchase again: the last
                // outcome counts, as in the report, and the customer left once.
                if let Some(before) = self.outcomes.insert(*purchase, *outcome) {
                    let n = self.tally(before);
                    *n = n.saturating_sub(1);
                } else if let Some(n) = self.at_till.get_mut(&terminal.to_string()) {
                    *n = n.saturating_sub(1);
                }
                *self.tally(*outcome) += 1;
                while self.outcomes.len() > 10_000 {
                    self.outcomes.pop_first();
                }
                let attacker = self.attacker_purchases.contains_key(purchase);
                if attacker && matches!(outcome, Outcome::Approved | Outcome::ApprovedOffline) {
                    self.fraud_loss = self.fraud_loss.saturating_add(*amount);
                    self.mark(at, Marker::MoneyLost(*amount));
                }
            }
            Record::CashOut { purchase: Some(p), .. } => {
                self.attacker_purchases.insert(*p, ());
            }
            Record::InsiderRefund { purchase: Some(p), .. } => {
                self.attacker_purchases.insert(*p, ());
            }
            Record::Stolen { .. } => self.stolen += 1,
            Record::AttackStarted { attack, name, terminals } => {
                for t in terminals {
                    let v = self.fitted.entry(t.to_string()).or_default();
                    v.push((*attack, name.to_string()));
                    self.devices.insert(t.to_string(), v.iter().map(|d| d.1.clone()).collect());
                }
                self.first_attack.get_or_insert(at);
                self.started.insert(name.to_string());
                self.mark(at, Marker::AttackStarted(name.to_string()));
            }
            Record::AttackEnded { attack, .. } => {
                for (t, v) in &mut self.fitted {
                    v.retain(|d| d.0 != *attack);
                    self.devices.insert(t.clone(), v.iter().map(|d| d.1.clone()).collect());
                }
            }
            Record::TamperFound { attack, terminal, .. } => {
                if let Some(v) = self.fitted.get_mut(&terminal.to_string()) {
                    v.retain(|d| d.0 != *attack);
                    self.devices
                        .insert(terminal.to_string(), v.iter().map(|d| d.1.clone()).collect());
                }
            }
            Record::Alert { alert, terminal, .. } => {
                self.alerts.push((at, *alert, terminal.clone()));
                self.mark(at, Marker::Alert(*alert));
            }
            Record::FrameSent { frame, dir, from, to, mti, purchase, bytes, .. } => {
                self.packets.push(Packet {
                    frame: *frame,
                    sent: at,
                    dir: *dir,
                    state: PacketState::Readable,
                    from: from.to_string(),
                    to: to.to_string(),
                    mti: mti.as_ref().map(|m| m.as_str().to_string()),
                    purchase: *purchase,
                    bytes: Arc::from(bytes.as_slice()),
                    received: None,
                    acted: Vec::new(),
                });
                if self.packets.len() > Self::PACKETS {
                    self.packets.remove(0);
                }
            }
            Record::FrameFault { frame, fired, .. } => {
                if let Some(p) = self.packets.iter_mut().rev().find(|p| p.frame == *frame) {
                    p.state = match fired.effect {
                        Effect::Dropped => PacketState::Dropped,
                        Effect::Duplicated => PacketState::Duplicated,
                        Effect::Delayed { .. } | Effect::Held { .. } => PacketState::Delayed,
                        // Read on the way and passed on as it was.
                        Effect::Intercepted => p.state,
                        _ => PacketState::Altered,
                    };
                    p.acted.push(fired.fault.to_string());
                }
            }
            Record::FrameDelivered { frame, bytes: Some(b), .. } => {
                if let Some(p) = self.packets.iter_mut().rev().find(|p| p.frame == *frame) {
                    p.received = Some(Arc::from(b.as_slice()));
                }
            }
            _ => {}
        }
    }

    /// Time to detect, as of `now` (the world's clock).
    pub fn detection(&self, now: SimTime) -> Detection {
        let Some(start) = self.first_attack else { return Detection::NoAttack };
        match self.alerts.iter().find(|(t, ..)| *t >= start) {
            Some((t, ..)) => Detection::Detected(Duration(t.0 - start.0)),
            None => Detection::NotYet(Duration(now.0.max(self.now.0).saturating_sub(start.0))),
        }
    }

    fn tally(&mut self, o: Outcome) -> &mut u64 {
        match o {
            Outcome::Approved | Outcome::ApprovedOffline => &mut self.approved,
            Outcome::Timeout => &mut self.timeouts,
            _ => &mut self.declined,
        }
    }

    fn mark(&mut self, at: SimTime, m: Marker) {
        if self.markers.len() < Self::MARKERS {
            self.markers.push((at, m));
        }
    }
}

/// The subscriber that keeps a [`View`] up to date, shared with the window.
#[derive(Clone, Default)]
pub struct ViewFeed(pub Arc<Mutex<View>>);

impl Subscriber for ViewFeed {
    fn on_record(&mut self, _seq: u64, at: SimTime, record: &Record) {
        if let Ok(mut v) = self.0.lock() {
            v.record(at, record);
        }
    }
}
