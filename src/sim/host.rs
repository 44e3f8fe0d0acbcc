//! Drives the host: answers the frames that reach it, and settles the day.

use bevy::prelude::*;

use super::components::*;
use super::event::{Ctx, Endpoint, SimEvent, Transmission};
use super::record::Record;
use crate::link::Dir;
use crate::protocol::pan::mask_pan;
use crate::time::Duration;

/// How long the host takes to decide.
const PROCESSING: Duration = Duration::from_millis(5);

/// Opens the host: issuer keys, rules, an empty ledger. The shop registers
/// its terminals and cards with it next.
pub(super) fn open_host(world: &mut World) {
    let plan = world.resource::<PlanRes>().0.clone();
    world.insert_resource(Host(crate::host::HostCore::new(plan.host.clone())));
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, open_host.in_set(super::StartupSet::Host));
}

/// A frame reached the host.
pub(super) fn on_request(
    world: &mut World,
    ctx: &mut Ctx,
    link: Option<Entity>,
    endpoint: Endpoint,
    (frame, purchase): (u64, Option<u64>),
    bytes: &[u8],
) {
    let out = world.resource_mut::<Host>().0.handle(ctx.now, bytes);
    let d = out.decision;
    let (mti, stan) = (d.mti, d.stan);
    ctx.record(Record::HostDecision {
        frame,
        purchase,
        terminal: d.tid,
        mti: d.mti,
        stan: d.stan,
        rrn: d.rrn,
        pan: d.pan.as_deref().map(mask_pan),
        amount: d.amount,
        response: d.response,
        reason: d.reason,
        checks: d.checks,
        ledger: d.ledger,
        reverses: d.reverses,
        atc: d.atc,
    });
    if out.response.is_none()
        && link.is_none()
        && let Endpoint::External(c) = endpoint
    {
        // A socket's frame that gets no answer: tell its connection, which
        // counts what it is owed.
        super::bridge::send_out(world, c, Vec::new());
    }
    if let Some(resp) = out.response {
        // A real terminal on a socket waits for the host's real time only.
        let processing =
            if matches!(endpoint, Endpoint::External(_)) { Duration::ZERO } else { PROCESSING };
        ctx.at(
            ctx.now + processing,
            SimEvent::Transmit(Box::new(Transmission {
                link,
                dir: Dir::Down,
                endpoint,
                mti: mti.map(|m| m.response()),
                stan,
                bytes: resp,
                purpose: None,
                answers: Some(frame),
                purchase,
            })),
        );
    }
}

/// End of day: each terminal's totals against the host's, and double entry.
pub(super) fn end_of_day(world: &mut World, ctx: &mut Ctx) {
    let terms = world.resource::<Directory>().terminals.clone();
    let mut rows = Vec::new();
    for e in terms {
        if let Some(t) = world.get::<Terminal>(e) {
            rows.push((t.id.clone(), t.core.totals()));
        }
    }
    let plan = world.resource::<PlanRes>().0.clone();
    let only = if plan.external_terminals {
        Some(crate::report::Side::Host)
    } else if plan.remote_host {
        Some(crate::report::Side::Terminal)
    } else {
        None
    };
    let host = &world.resource::<Host>().0;
    for (i, (tid, tt)) in rows.into_iter().enumerate() {
        // A real terminal in the run keeps its own totals.
        let only = only.or_else(|| {
            plan.terminals.get(i).and_then(|t| t.external).map(|_| crate::report::Side::Host)
        });
        let ht = host.totals(&tid);
        let balanced = tt.purchases == ht.purchases
            && tt.purchase_amount == ht.purchase_amount
            && tt.refunds == ht.refunds
            && tt.refund_amount == ht.refund_amount;
        ctx.record(Record::Settlement {
            terminal: tid,
            terminal_totals: tt,
            host_totals: ht,
            // Real software keeps its own totals: only possim's side is
            // reported, never a comparison that did not happen.
            balanced: balanced && only.is_none(),
            only,
        });
    }
    let (outflow, merchants) = host.ledger().double_entry();
    ctx.record(Record::Ledger {
        cardholder_outflow: outflow,
        merchant_position: merchants,
        balanced: outflow == merchants,
    });
}
