//! The traffic model: Poisson arrivals at each terminal, a cardholder drawn
//! from the population, a log-normal amount, and how the card is presented.
//! Every draw comes from the terminal's own arrival stream.

use bevy::prelude::*;

use super::components::*;
use super::event::{Ctx, SimEvent};
use super::record::Record;
use super::{Dispatch, terminal};
use crate::money::Money;
use crate::terminal::{Presentation, Purchase};
use crate::time::{Duration, SimTime};

fn gap(rng: &mut crate::rng::Stream, per_hour: f64) -> Duration {
    Duration::from_secs_f64(rng.exponential(3600.0 / per_hour))
}

/// Schedules the first arrival at every terminal.
pub(super) fn start_traffic(world: &mut World) {
    let plan = world.resource::<PlanRes>().0.clone();
    if plan.traffic.per_hour <= 0.0 {
        // No customers of the world's own (a host serving real terminals).
        return;
    }
    let terminals = world.resource::<Directory>().terminals.clone();
    let mut first = Vec::new();
    for (e, tp) in terminals.into_iter().zip(&plan.terminals) {
        if tp.external.is_some() {
            // A real terminal: its customers are real people.
            continue;
        }
        if let Some(mut a) = world.get_mut::<Arrivals>(e) {
            first.push((SimTime(0) + gap(&mut a.rng, plan.traffic.per_hour), e));
        }
    }
    let ctx: &mut Ctx = &mut world.resource_mut::<Dispatch>().into_inner().0;
    for (t, e) in first {
        if t.0 < plan.duration.micros() {
            ctx.at(t, SimEvent::CustomerArrives(e));
        }
    }
}

/// A customer arrives at `term`; the next arrival there is scheduled.
pub(super) fn on_arrival(world: &mut World, ctx: &mut Ctx, term: Entity) {
    let plan = world.resource::<PlanRes>().0.clone();
    if world.resource::<TrafficState>().remaining == Some(0) {
        return;
    }
    let holders = world.resource::<Directory>().cardholders.len() as u64;
    let tr = &plan.traffic;
    let Some(mut arrivals) = world.get_mut::<Arrivals>(term) else { return };
    let rng = &mut arrivals.rng;
    let next = ctx.now + gap(rng, tr.per_hour);
    let pick = rng.below(holders);
    let raw = rng.lognormal(tr.amount.median.0 as f64, tr.amount.spread);
    let amount = Money((raw.round() as i64).clamp(tr.amount.min.0, tr.amount.max.0));
    let refund = rng.chance(tr.refunds);
    let tap = rng.f64();
    // A cardholder already at another terminal cannot be here too: take the
    // next free one (if everyone is busy, this customer does not exist).
    let dir = world.resource::<Directory>();
    let n = dir.cardholders.len();
    let holder = (0..n).map(|i| dir.cardholders[(pick as usize + i) % n]).find(|&h| {
        world.get::<Cardholder>(h).is_some_and(|c| !c.busy) && world.get::<Reserved>(h).is_none()
    });
    let left = {
        let mut st = world.resource_mut::<TrafficState>();
        if holder.is_some()
            && let Some(r) = st.remaining.as_mut()
        {
            *r -= 1;
        }
        st.remaining
    };
    if left.is_none_or(|r| r > 0) {
        if next.0 < plan.duration.micros() {
            ctx.at(next, SimEvent::CustomerArrives(term));
        }
    } else {
        // The purchase budget is spent: the day ends when everything
        // settles (unless a real terminal trades until the scenario's end).
        if !plan.has_external_terminals() {
            let mut clock = world.resource_mut::<super::Clock>();
            clock.end = clock.end.min(ctx.now);
        }
    }
    let Some(holder) = holder else { return };
    let profile = world.get::<PaymentCard>(holder).map(|c| c.0.profile);
    let presentation = match profile {
        Some(p) if p.contactless && tap < tr.tap => Presentation::Tap,
        Some(p) if p.chip => Presentation::Insert,
        _ => Presentation::Swipe,
    };
    let index = world.get::<Cardholder>(holder).map_or(0, |c| c.index);
    if let Some(mut c) = world.get_mut::<Cardholder>(holder) {
        c.busy = true;
    }
    let id = world.resource_mut::<TrafficState>().new_purchase();
    let purchase = Purchase { id, amount, refund, presentation };
    let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
    let queue = t.queue.len() + usize::from(t.current.is_some());
    t.queue.push_back(Visit { purchase, cardholder: holder, attempts: 0, relay: None });
    let tid = t.id.clone();
    let idle = t.current.is_none();
    ctx.record(Record::CustomerArrived {
        terminal: tid,
        purchase: id,
        cardholder: index,
        amount,
        refund,
        presentation,
        queue,
    });
    if idle {
        terminal::serve_next(world, ctx, term);
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, start_traffic.in_set(super::StartupSet::Traffic));
}
