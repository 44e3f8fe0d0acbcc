//! Frames entering and leaving the world from outside (a real terminal on a
//! socket, a proxy): a Resource holding crossbeam channels, and a system that
//! drains the inbound channel into the event queue each update.

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};

use super::clock::{Clock, Scheduler};
use super::event::SimEvent;

/// A frame from an outside connection (no framing header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The connection it came from.
    pub conn: u64,
    /// The message.
    pub bytes: Vec<u8>,
}

/// A frame for an outside connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The connection to send it on.
    pub conn: u64,
    /// The message.
    pub bytes: Vec<u8>,
}

/// The channels to the outside world.
#[derive(Resource)]
pub struct Bridge {
    /// Frames coming in.
    pub inbound: Receiver<Inbound>,
    /// Frames going out.
    pub outbound: Sender<Outbound>,
}

impl Bridge {
    /// A bridge and the outside ends of its channels (sender of inbound
    /// frames, receiver of outbound frames).
    pub fn new() -> (Self, Sender<Inbound>, Receiver<Outbound>) {
        let (in_tx, in_rx) = crossbeam_channel::unbounded();
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        (Self { inbound: in_rx, outbound: out_tx }, in_tx, out_rx)
    }

    /// As [`Bridge::new`], with at most `cap` frames waiting to come in, so
    /// a peer that sends faster than the world answers is slowed down (its
    /// socket reader waits) instead of filling memory.
    pub fn bounded(cap: usize) -> (Self, Sender<Inbound>, Receiver<Outbound>) {
        let (in_tx, in_rx) = crossbeam_channel::bounded(cap);
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        (Self { inbound: in_rx, outbound: out_tx }, in_tx, out_rx)
    }
}

/// The scenario's real terminal (`Stack::External`) on connection `conn`,
/// if there is one: its connections are numbered by the terminal's index.
pub(super) fn declared_terminal(world: &World, conn: u64) -> Option<&super::components::Terminal> {
    let i = usize::try_from(conn).ok()?;
    world.resource::<super::components::PlanRes>().0.terminals.get(i)?.external?;
    let e = world.resource::<super::components::Directory>().terminals.get(i).copied()?;
    world.get::<super::components::Terminal>(e)
}

/// Queues a frame from outside at the current virtual time (for a driver
/// that took it off the channel itself while waiting).
pub fn queue_inbound(world: &mut World, m: Inbound) {
    let now = world.resource::<Clock>().now;
    world.resource_mut::<Scheduler>().push(now, SimEvent::External(m.conn, m.bytes));
}

/// How long a paced world may sleep before its next event falls due (none
/// queued: `None`), in wall time at its speed.
pub fn idle_for(world: &World) -> Option<std::time::Duration> {
    let clock = world.resource::<Clock>();
    let next = world.resource::<Scheduler>().next_time()?;
    let virt = next.since(clock.now).secs_f64();
    let speed = match clock.pacing {
        super::Pacing::Paced { speed } if speed > 0.0 => speed,
        _ => 1.0,
    };
    Some(std::time::Duration::from_secs_f64(virt / speed))
}

/// Moves frames that arrived from outside into the queue at the current time.
pub(super) fn drain_bridge(
    bridge: Option<Res<Bridge>>,
    clock: Res<Clock>,
    mut sched: ResMut<Scheduler>,
) {
    let Some(bridge) = bridge else { return };
    for m in bridge.inbound.try_iter() {
        sched.push(clock.now, SimEvent::External(m.conn, m.bytes));
    }
}

/// Sends a frame out (dropped if nobody listens any more).
pub(super) fn send_out(world: &World, conn: u64, bytes: Vec<u8>) {
    if let Some(b) = world.get_resource::<Bridge>() {
        let _ = b.outbound.send(Outbound { conn, bytes });
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Update, drain_bridge.in_set(super::SimSet::Ingest));
}
