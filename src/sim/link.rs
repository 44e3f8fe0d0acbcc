//! Moves frames across links: asks the link model for each frame's fate,
//! records the faults, and delivers what arrives to the host or a terminal.

use bevy::prelude::*;

use super::components::*;
use super::event::{Arrival, Ctx, Endpoint, SimEvent, Transmission};
use super::record::{Name, Record};
use super::{Options, bridge, host, terminal};
use crate::link::{Dir, Meta};

static HOST: std::sync::LazyLock<Name> = std::sync::LazyLock::new(|| "host".into());
static DIRECT: std::sync::LazyLock<Name> = std::sync::LazyLock::new(|| "direct".into());

fn endpoint_name(world: &World, e: Endpoint) -> Name {
    match e {
        Endpoint::Terminal(t) => {
            world.get::<Terminal>(t).map_or_else(|| DIRECT.clone(), |t| t.id.clone())
        }
        Endpoint::External(c) => {
            // A real terminal declared in the scenario goes by its id.
            let declared = bridge::declared_terminal(world, c);
            declared.map_or_else(|| format!("external#{c}").into(), |t| t.id.clone())
        }
    }
}

fn link_name(world: &World, link: Option<Entity>) -> Name {
    link.and_then(|l| world.get::<Link>(l)).map_or_else(|| DIRECT.clone(), |l| l.id.clone())
}

/// Spawns the links. Runs first at startup: terminals need them.
pub(super) fn spawn_links(world: &mut World) {
    let plan = world.resource::<PlanRes>().0.clone();
    let mut dir = world.remove_resource::<Directory>().unwrap_or_default();
    for l in &plan.links {
        let core = crate::link::LinkCore::new(
            &l.id,
            plan.seed,
            l.params.clone(),
            l.rules(),
            plan.spec.clone(),
        );
        let e = world.spawn(Link { id: l.id.as_str().into(), core }).id();
        dir.links.push((l.id.clone(), e));
    }
    world.insert_resource(dir);
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, spawn_links.in_set(super::StartupSet::Network));
}

/// A frame enters its link.
pub(super) fn transmit(world: &mut World, ctx: &mut Ctx, tx: Transmission) {
    let frame = ctx.frame_id();
    let peer_name = endpoint_name(world, tx.endpoint);
    let (from, to) = match tx.dir {
        Dir::Up => (peer_name.clone(), HOST.clone()),
        Dir::Down => (HOST.clone(), peer_name.clone()),
    };
    let link_id = link_name(world, tx.link);
    let keep_bytes = world.resource::<Options>().frames;
    ctx.record(Record::FrameSent {
        frame,
        link: link_id.clone(),
        dir: tx.dir,
        from,
        to,
        mti: tx.mti,
        stan: tx.stan,
        purpose: tx.purpose,
        answers: tx.answers,
        purchase: tx.purchase,
        bytes: if keep_bytes { tx.bytes.clone() } else { Vec::new() },
    });
    let Some(mut link) = tx.link.and_then(|l| world.get_mut::<Link>(l)) else {
        // External connections reach the host directly.
        let a = Arrival {
            link: None,
            dir: tx.dir,
            endpoint: tx.endpoint,
            frame,
            bytes: tx.bytes,
            duplicate: false,
            corrupted: false,
            purchase: tx.purchase,
            queued_us: 0,
        };
        ctx.at(ctx.now, SimEvent::Deliver(Box::new(a)));
        return;
    };
    let meta = Meta { dir: tx.dir, mti: tx.mti, terminal: Some(&peer_name) };
    let transit = link.core.send(ctx.now, meta, tx.bytes);
    let corrupted = transit.changed;
    for fired in transit.fired {
        ctx.record(Record::FrameFault {
            frame,
            link: link_id.clone(),
            dir: tx.dir,
            purchase: tx.purchase,
            fired,
        });
    }
    for (owner, theft) in transit.stolen {
        if let Some(i) = owner {
            super::attack::steal(world, ctx, i, &peer_name, tx.purchase, theft);
        }
    }
    for inj in transit.injected {
        // A frame a rule made: it has its own id and travels from the link's
        // middle to whichever end it is aimed at.
        let id = ctx.frame_id();
        let mti = world.resource::<PlanRes>().0.spec.peek_mti(&inj.bytes);
        let (from, to) = match inj.dir {
            Dir::Up => (link_id.clone(), HOST.clone()),
            Dir::Down => (link_id.clone(), peer_name.clone()),
        };
        ctx.record(Record::FrameSent {
            frame: id,
            link: link_id.clone(),
            dir: inj.dir,
            from,
            to,
            mti,
            stan: None,
            purpose: None,
            answers: None,
            purchase: tx.purchase,
            bytes: if keep_bytes { inj.bytes.clone() } else { Vec::new() },
        });
        // It belongs to the purchase of the frame it was made from (a
        // replayed request charges that customer again).
        let a = Arrival {
            link: tx.link,
            dir: inj.dir,
            endpoint: tx.endpoint,
            frame: id,
            bytes: inj.bytes,
            duplicate: false,
            corrupted: false,
            purchase: tx.purchase,
            queued_us: 0,
        };
        ctx.at(inj.at, SimEvent::Deliver(Box::new(a)));
    }
    for d in transit.deliveries {
        let a = Arrival {
            link: tx.link,
            dir: tx.dir,
            endpoint: tx.endpoint,
            frame,
            bytes: d.bytes,
            duplicate: d.duplicate,
            corrupted,
            purchase: tx.purchase,
            queued_us: transit.queued.micros(),
        };
        ctx.at(d.at, SimEvent::Deliver(Box::new(a)));
    }
}

/// A frame arrives at the end of its link. (Whether it arrives at all the
/// link decided when it was sent, outages included.)
pub(super) fn deliver(world: &mut World, ctx: &mut Ctx, a: Arrival) {
    let link_id = link_name(world, a.link);
    let to = match a.dir {
        Dir::Up => HOST.clone(),
        Dir::Down => endpoint_name(world, a.endpoint),
    };
    let changed = a.corrupted && world.resource::<Options>().frames;
    ctx.record(Record::FrameDelivered {
        frame: a.frame,
        link: link_id,
        dir: a.dir,
        to,
        duplicate: a.duplicate,
        bytes: changed.then(|| a.bytes.clone()),
        queued_us: a.queued_us,
    });
    match (a.dir, a.endpoint) {
        (Dir::Up, Endpoint::Terminal(t)) if world.resource::<PlanRes>().0.remote_host => {
            // The host is real: the frame leaves on this terminal's connection.
            let conn = world.resource::<Directory>().terminals.iter().position(|&e| e == t);
            if let Some(conn) = conn {
                bridge::send_out(world, conn as u64, a.bytes);
            }
        }
        (Dir::Up, _) => {
            host::on_request(world, ctx, a.link, a.endpoint, (a.frame, a.purchase), &a.bytes);
        }
        (Dir::Down, Endpoint::Terminal(t)) => terminal::on_frame(world, ctx, t, &a.bytes),
        (Dir::Down, Endpoint::External(c)) => bridge::send_out(world, c, a.bytes),
    }
}
