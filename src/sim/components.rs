//! The components and resources of the shop world.

use std::collections::VecDeque;
use std::sync::Arc;

use bevy::prelude::*;

use super::plan::Plan;
use crate::card::Card;
use crate::host::HostCore;
use crate::link::LinkCore;
use crate::rng::Stream;
use crate::scenario::PasswordStrength;
use crate::terminal::{Purchase, TerminalCore};
use crate::time::Duration;

/// The plan the world was built from.
#[derive(Resource, Clone)]
pub struct PlanRes(pub Arc<Plan>);

/// A customer being served or waiting.
#[derive(Debug, Clone, Copy)]
pub struct Visit {
    /// What they pay.
    pub purchase: Purchase,
    /// Who they are.
    pub cardholder: Entity,
    /// PIN attempts so far (a 55 lets them try again).
    pub attempts: u8,
    /// The card is far away, relayed with this round trip per exchange.
    pub relay: Option<crate::time::Duration>,
}

/// A payment terminal at the counter.
#[derive(Component)]
pub struct Terminal {
    /// Terminal id (field 41).
    pub id: super::record::Name,
    /// The terminal stack.
    pub core: TerminalCore,
    /// The link it talks over.
    pub link: Entity,
    /// Customers waiting.
    pub queue: VecDeque<Visit>,
    /// The customer being served.
    pub current: Option<Visit>,
    /// Devices between the reader and the card (skimmers, shimmers, wedges,
    /// a test's recorder), the first nearest the card.
    pub taps: Vec<Box<dyn crate::terminal::CardTap>>,
}

/// The card reader of a terminal: which slots it has.
#[derive(Component, Debug, Clone, Copy)]
pub struct CardReader {
    /// Chip slot.
    pub chip: bool,
    /// Swipe slot.
    pub magstripe: bool,
    /// Contactless field.
    pub contactless: bool,
}

/// The PIN pad of a terminal.
#[derive(Component, Debug, Clone, Copy)]
pub struct PinPad {
    /// How long a customer takes to type a PIN.
    pub entry_time: Duration,
}

/// The arrival process at a terminal (its own random stream).
#[derive(Component)]
pub struct Arrivals {
    /// Random stream for arrivals, amounts and choices.
    pub rng: Stream,
}

/// A person with a card.
#[derive(Component)]
pub struct Cardholder {
    /// Their number in the population.
    pub index: u32,
    /// The PIN they know.
    pub pin: String,
    /// Chance of a typo when typing the PIN.
    pub typo: f64,
    /// At a terminal right now.
    pub busy: bool,
}

/// A cardholder the ordinary traffic leaves alone: an insider's own card,
/// a customer whose card was stolen.
#[derive(Component, Debug, Default)]
pub struct Reserved;

/// Devices on the card this (thief) cardholder carries: a PIN-bypass
/// wedge, a relay that rewrites what the card says. Nearest the card first.
#[derive(Component, Debug, Default)]
pub struct Carried(pub Vec<Box<dyn crate::terminal::CardTap>>);

/// The card a cardholder carries.
#[derive(Component)]
pub struct PaymentCard(pub Card);

/// A network link.
#[derive(Component)]
pub struct Link {
    /// Its id.
    pub id: super::record::Name,
    /// The link model.
    pub core: LinkCore,
}

/// A member of staff.
#[derive(Component, Debug, Clone)]
pub struct Staff {
    /// Name.
    pub name: String,
    /// Password strength.
    pub password: PasswordStrength,
}

/// The acquirer/issuer host.
#[derive(Resource)]
pub struct Host(pub HostCore);

/// The shop itself.
#[derive(Resource, Debug, Clone)]
pub struct Shop {
    /// Name.
    pub name: String,
    /// Merchant id.
    pub merchant_id: String,
}

/// Lookups from stable ids to entities, in creation order.
#[derive(Resource, Default)]
pub struct Directory {
    /// Terminals in order.
    pub terminals: Vec<Entity>,
    /// Cardholders in order.
    pub cardholders: Vec<Entity>,
    /// Links in order, with their ids.
    pub links: Vec<(String, Entity)>,
}

/// The traffic model's shared state.
#[derive(Resource, Debug, Clone)]
pub struct TrafficState {
    /// The next purchase id.
    pub next_purchase: u64,
    /// Purchases still allowed (None: no limit).
    pub remaining: Option<u64>,
}

impl TrafficState {
    /// A fresh purchase id (customers' and attackers' alike).
    pub fn new_purchase(&mut self) -> u64 {
        self.next_purchase += 1;
        self.next_purchase
    }
}
