//! The events of the discrete-event loop and the context handlers use to
//! schedule more and to record what happened.

use bevy::prelude::Entity;

use super::record::Record;
use crate::link::Dir;
use crate::protocol::iso8583::Mti;
use crate::terminal::Purpose;
use crate::time::SimTime;

/// Where a frame ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// An emulated terminal in this world.
    Terminal(Entity),
    /// A connection from outside the world (through the bridge).
    External(u64),
}

/// A frame about to enter a link.
#[derive(Debug, Clone)]
pub struct Transmission {
    /// The link (None: straight to the host, for external connections).
    pub link: Option<Entity>,
    /// Direction.
    pub dir: Dir,
    /// The terminal end of the conversation.
    pub endpoint: Endpoint,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// MTI, for fault filters and the journal.
    pub mti: Option<Mti>,
    /// STAN, for the journal.
    pub stan: Option<u32>,
    /// Why it is sent.
    pub purpose: Option<Purpose>,
    /// The host-side frame id it answers, if a response.
    pub answers: Option<u64>,
    /// The purchase it belongs to, if known.
    pub purchase: Option<u64>,
}

/// A frame arriving at the end of a link.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The link it crossed.
    pub link: Option<Entity>,
    /// Direction.
    pub dir: Dir,
    /// The terminal end.
    pub endpoint: Endpoint,
    /// Frame id.
    pub frame: u64,
    /// Bytes as they arrive.
    pub bytes: Vec<u8>,
    /// The second copy of a duplicated frame.
    pub duplicate: bool,
    /// Bits were flipped in transit.
    pub corrupted: bool,
    /// The purchase the frame was sent for, as its sender knew it.
    pub purchase: Option<u64>,
    /// How long it waited for the link's bandwidth.
    pub queued_us: u64,
}

/// Something that happens at a virtual time.
#[derive(Debug, Clone)]
pub enum SimEvent {
    /// A customer arrives at a terminal.
    CustomerArrives(Entity),
    /// A terminal takes the next customer in its queue.
    ServeNext(Entity),
    /// The customer at a terminal finished typing the PIN.
    PinEntered(Entity),
    /// A terminal's timer.
    TerminalTimer(Entity, u64),
    /// A terminal signs on.
    SignOn(Entity),
    /// A frame enters a link.
    Transmit(Box<Transmission>),
    /// A frame arrives.
    Deliver(Box<Arrival>),
    /// A frame from outside the world reaches the host.
    External(u64, Vec<u8>),
    /// An attack (by index) begins (true) or ends.
    Attack(usize, bool),
    /// The attacker of an attack (by index) comes to a till: a cash-out,
    /// a thief with stolen cards, an insider.
    AttackerVisit(usize),
    /// Staff inspect every terminal for fitted devices (the check's number).
    TamperCheck(u64),
    /// End of day: settlement and the final checks.
    EndOfDay,
}

/// What a handler works with: the time, and where to put new events and records.
#[derive(Debug, Default)]
pub struct Ctx {
    /// The current virtual time.
    pub now: SimTime,
    /// Events to schedule.
    pub schedule: Vec<(SimTime, SimEvent)>,
    /// Records for the monitor and the journal.
    pub records: Vec<Record>,
    /// The next frame id.
    pub next_frame: u64,
}

impl Ctx {
    /// Schedules an event.
    pub fn at(&mut self, t: SimTime, e: SimEvent) {
        self.schedule.push((t, e));
    }

    /// Records something.
    pub fn record(&mut self, r: Record) {
        self.records.push(r);
    }

    /// A fresh frame id.
    pub fn frame_id(&mut self) -> u64 {
        self.next_frame += 1;
        self.next_frame
    }
}
