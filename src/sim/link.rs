//! Moves frames across links: asks the link model for each frame's fate,
//! records the faults, and delivers what arrives to the host or a terminal.

use bevy::prelude::*;

use super::components::*;
use super::event::{Arrival, Ctx, Endpoint, SimEvent, Transmission};
use super::record::Record;
use super::{bridge, host, terminal};
use crate::link::{Dir, Fired};

fn endpoint_name(world: &World, e: Endpoint) -> String {
    match e {
        Endpoint::Terminal(t) => world.get::<Terminal>(t).map(|t| t.id.clone()).unwrap_or_default(),
        Endpoint::External(c) => format!("external#{c}"),
    }
}

/// A frame enters its link.
pub(super) fn transmit(world: &mut World, ctx: &mut Ctx, tx: Transmission) {
    let frame = ctx.frame_id();
    let peer = endpoint_name(world, tx.endpoint);
    let (from, to) = match tx.dir {
        Dir::Up => (peer, "host".to_string()),
        Dir::Down => ("host".to_string(), peer),
    };
    let link_id = tx
        .link
        .and_then(|l| world.get::<Link>(l))
        .map_or_else(|| "direct".to_string(), |l| l.core.id().to_string());
    let mti = tx.mti.map(|m| m.to_string()).unwrap_or_else(|| "????".into());
    ctx.record(Record::FrameSent {
        frame,
        link: link_id.clone(),
        dir: tx.dir,
        from,
        to,
        mti,
        stan: tx.stan,
        purpose: tx.purpose,
        answers: tx.answers,
        purchase: tx.purchase,
        bytes: tx.bytes.clone(),
    });
    let Some(mut link) = tx.link.and_then(|l| world.get_mut::<Link>(l)) else {
        // External connections reach the host directly.
        ctx.at(
            ctx.now,
            SimEvent::Deliver(Box::new(Arrival {
                link: None,
                dir: tx.dir,
                endpoint: tx.endpoint,
                frame,
                bytes: tx.bytes,
                duplicate: false,
                corrupted: false,
            })),
        );
        return;
    };
    let transit = link.core.send(ctx.now, tx.dir, tx.bytes, tx.mti);
    let corrupted = transit.fired.iter().any(|f| matches!(f, Fired::Corrupted { .. }));
    for fired in transit.fired {
        ctx.record(Record::FrameFault { frame, link: link_id.clone(), dir: tx.dir, fired });
    }
    for d in transit.deliveries {
        ctx.at(
            d.at,
            SimEvent::Deliver(Box::new(Arrival {
                link: tx.link,
                dir: tx.dir,
                endpoint: tx.endpoint,
                frame,
                bytes: d.bytes,
                duplicate: d.duplicate,
                corrupted,
            })),
        );
    }
}

/// A frame arrives at the end of its link (unless the link is down by now).
pub(super) fn deliver(world: &mut World, ctx: &mut Ctx, a: Arrival) {
    let link_id = a
        .link
        .and_then(|l| world.get::<Link>(l))
        .map_or_else(|| "direct".to_string(), |l| l.core.id().to_string());
    if let Some(l) = a.link.and_then(|l| world.get::<Link>(l)) {
        let spec = world.resource::<PlanRes>().0.spec.clone();
        if l.core.is_down(ctx.now, a.dir, spec.peek_mti(&a.bytes)) {
            ctx.record(Record::FrameLost { frame: a.frame, link: link_id, dir: a.dir });
            return;
        }
    }
    let to = match a.dir {
        Dir::Up => "host".to_string(),
        Dir::Down => endpoint_name(world, a.endpoint),
    };
    ctx.record(Record::FrameDelivered {
        frame: a.frame,
        link: link_id,
        dir: a.dir,
        to,
        duplicate: a.duplicate,
        bytes: a.corrupted.then(|| a.bytes.clone()),
    });
    match (a.dir, a.endpoint) {
        (Dir::Up, _) => host::on_request(world, ctx, a.link, a.endpoint, a.frame, &a.bytes),
        (Dir::Down, Endpoint::Terminal(t)) => terminal::on_frame(world, ctx, t, &a.bytes),
        (Dir::Down, Endpoint::External(c)) => bridge::send_out(world, c, a.bytes),
    }
}
