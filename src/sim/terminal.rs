//! Drives the terminal stacks: hands them customers, PINs, timers and
//! frames, and turns what they ask for into scheduled events and records.

use bevy::prelude::*;

use super::components::*;
use super::event::{Ctx, Endpoint, SimEvent, Transmission};
use super::reader::ReaderChannel;
use super::record::Record;
use super::{Dispatch, Options};
use crate::link::Dir;
use crate::protocol::response::ResponseCode;
use crate::terminal::{CardChannel, Completion, Output, TerminalCore, through_taps};
use crate::time::Duration;

/// How long the next customer takes to step up to the counter.
const NEXT_CUSTOMER: Duration = Duration::from_secs(5);
/// How long a customer takes to try the PIN again after a 55.
const RETRY_PIN: Duration = Duration::from_secs(3);

/// Runs `f` on a terminal's stack with the current customer's card in the reader.
fn with_card<R>(
    world: &mut World,
    term: Entity,
    f: impl FnOnce(&mut TerminalCore, &mut dyn CardChannel) -> R,
) -> Option<(R, u32, Vec<super::record::Apdu>)> {
    let log = world.resource::<Options>().apdus;
    let per = world.resource::<PlanRes>().0.traffic.apdu_time;
    let holder = world.get::<Terminal>(term)?.current.map(|v| v.cardholder);
    let (r, exchanges, apdus) = match holder {
        Some(h) => {
            let [mut te, mut he] = world.get_entity_mut([term, h]).ok()?;
            let mut t = te.get_mut::<Terminal>()?;
            // Devices that travel with the card (a thief's wedge or relay)
            // sit nearest to it, before the terminal's own taps.
            let mut carried =
                he.get_mut::<Carried>().map(|mut c| std::mem::take(&mut c.0)).unwrap_or_default();
            // A relayed card is far away: its own holder is not here.
            let relayed = world_relay(&t, h);
            if let Some(d) = relayed {
                carried.insert(0, Box::new(crate::attack::Relay::new(d)));
            }
            let mut card = he.get_mut::<PaymentCard>()?;
            let mut chan = ReaderChannel::new(Some(&mut card.0), per, log);
            let Terminal { core, taps, .. } = &mut *t;
            let r =
                through_taps(&mut carried, &mut chan, |c| through_taps(taps, c, |c| f(core, c)));
            let out = (r, chan.exchanges, chan.take_log());
            if relayed.is_some() {
                carried.remove(0);
            }
            if !carried.is_empty()
                && let Some(mut c) = he.get_mut::<Carried>()
            {
                c.0 = carried;
            }
            out
        }
        None => {
            let mut t = world.get_mut::<Terminal>(term)?;
            let mut chan = ReaderChannel::new(None, per, false);
            let Terminal { core, taps, .. } = &mut *t;
            let r = through_taps(taps, &mut chan, |c| f(core, c));
            (r, 0, Vec::new())
        }
    };
    Some((r, exchanges, apdus))
}

/// The relay round trip of the visit being served with `holder`'s card, if relayed.
fn world_relay(t: &Terminal, holder: Entity) -> Option<Duration> {
    t.current.filter(|v| v.cardholder == holder).and_then(|v| v.relay)
}

/// Turns a terminal's outputs into events and records. `offset` is the time
/// the card exchanges took.
fn apply(world: &mut World, ctx: &mut Ctx, term: Entity, outs: Vec<Output>, offset: Duration) {
    let Some(t) = world.get::<Terminal>(term) else { return };
    let (tid, link) = (t.id.clone(), t.link);
    let pin_time = world.get::<PinPad>(term).map_or(Duration::from_secs(4), |p| p.entry_time);
    for o in outs {
        match o {
            Output::RequestPin { .. } => {
                ctx.at(ctx.now + offset + pin_time, SimEvent::PinEntered(term))
            }
            Output::Send(f) => ctx.at(
                ctx.now + offset,
                SimEvent::Transmit(Box::new(Transmission {
                    link: Some(link),
                    dir: Dir::Up,
                    endpoint: Endpoint::Terminal(term),
                    bytes: f.bytes,
                    mti: Some(f.mti),
                    stan: Some(f.stan),
                    purpose: Some(f.purpose),
                    answers: None,
                    purchase: f.purchase,
                })),
            ),
            // The terminal already added the card time to its timers.
            Output::Timer { token, at } => ctx.at(at, SimEvent::TerminalTimer(term, token)),
            Output::Note(note) => ctx.record(Record::TerminalNote { terminal: tid.clone(), note }),
            Output::Completed(c) => {
                ctx.record(Record::Completed {
                    terminal: tid.clone(),
                    purchase: c.purchase,
                    outcome: c.outcome,
                    response: c.response,
                    reason: std::borrow::Cow::Borrowed(c.reason),
                    entry: c.entry,
                    cvm: c.cvm,
                    stan: c.stan,
                    rrn: c.rrn.clone(),
                    amount: c.amount,
                    refund: c.refund,
                    round_trip_us: c.round_trip.map(Duration::micros),
                });
                finish_visit(world, ctx, term, &c, offset);
            }
        }
    }
}

/// The customer leaves (or tries the PIN again after a 55); the next steps up.
fn finish_visit(world: &mut World, ctx: &mut Ctx, term: Entity, c: &Completion, offset: Duration) {
    let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
    let Some(visit) = t.current.take() else { return };
    if c.response == Some(ResponseCode::IncorrectPin) && visit.attempts < 2 {
        t.queue.push_front(crate::sim::components::Visit { attempts: visit.attempts + 1, ..visit });
        ctx.at(ctx.now + offset + RETRY_PIN, SimEvent::ServeNext(term));
        return;
    }
    let more = !t.queue.is_empty();
    if let Some(mut h) = world.get_mut::<Cardholder>(visit.cardholder) {
        h.busy = false;
    }
    if more {
        ctx.at(ctx.now + offset + NEXT_CUSTOMER, SimEvent::ServeNext(term));
    }
}

/// Runs one step of a terminal's stack with the current customer's card in
/// the reader, records the card session, and applies what the stack asked for.
fn drive(
    world: &mut World,
    ctx: &mut Ctx,
    term: Entity,
    step: impl FnOnce(&mut TerminalCore, &mut dyn CardChannel, &mut Vec<Output>),
) {
    let purchase = world.get::<Terminal>(term).and_then(|t| t.current).map(|v| v.purchase.id);
    if world.resource::<super::attack::Attacks>().preplay {
        super::attack::forecast(world, term);
    }
    let Some((outs, n, apdus)) = with_card(world, term, |core, chan| {
        let mut outs = Vec::new();
        step(core, chan, &mut outs);
        outs
    }) else {
        return;
    };
    if let Some(p) = purchase {
        session(world, ctx, term, p, n, apdus);
    }
    super::attack::collect(world, ctx, term, purchase);
    apply(world, ctx, term, outs, apdu_time(world, n));
}

/// The next customer in the queue presents their card.
pub(super) fn serve_next(world: &mut World, ctx: &mut Ctx, term: Entity) {
    let purchase = {
        let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
        if t.current.is_some() || t.core.busy() {
            return;
        }
        let Some(v) = t.queue.pop_front() else { return };
        t.current = Some(v);
        v.purchase
    };
    let now = ctx.now;
    drive(world, ctx, term, |core, chan, outs| core.start(now, purchase, chan, outs));
}

fn apdu_time(world: &World, exchanges: u32) -> Duration {
    let per = world.resource::<PlanRes>().0.traffic.apdu_time;
    Duration(per.micros() * u64::from(exchanges))
}

/// Records a card session (always, so journal event ids do not depend on
/// whether the APDUs themselves are kept).
fn session(
    world: &World,
    ctx: &mut Ctx,
    term: Entity,
    purchase: u64,
    exchanges: u32,
    apdus: Vec<super::record::Apdu>,
) {
    if exchanges == 0 {
        return;
    }
    if let Some(t) = world.get::<Terminal>(term) {
        ctx.record(Record::CardSession { terminal: t.id.clone(), purchase, card: None, apdus });
    }
}

/// The customer typed their PIN (possibly mistyped).
pub(super) fn on_pin(world: &mut World, ctx: &mut Ctx, term: Entity) {
    let Some(visit) = world.get::<Terminal>(term).and_then(|t| t.current) else { return };
    let (pin, typo) = {
        let Some(h) = world.get::<Cardholder>(visit.cardholder) else { return };
        // Whoever taps a relayed card does not know its holder's PIN.
        let known = if visit.relay.is_some() { "0000" } else { h.pin.as_str() };
        let (mut pin, p) = (known.as_bytes().to_vec(), h.typo);
        // Typos are part of the traffic model: drawn from the terminal's stream.
        let typo = world.get_mut::<Arrivals>(term).is_some_and(|mut a| a.rng.chance(p));
        if typo && let Some(last) = pin.last_mut() {
            *last = b'0' + (*last - b'0' + 1) % 10;
        }
        (String::from_utf8(pin).unwrap_or_default(), typo)
    };
    let tid = world.get::<Terminal>(term).map(|t| t.id.clone()).unwrap_or_default();
    ctx.record(Record::PinEntered { terminal: tid, purchase: visit.purchase.id, typo });
    if !world.resource::<PlanRes>().0.attacks.is_empty()
        && let Some(pan) = world.get::<PaymentCard>(visit.cardholder).map(|c| c.0.data.pan.clone())
    {
        super::attack::pin_typed(world, ctx, term, &pan, &pin);
    }
    let now = ctx.now;
    drive(world, ctx, term, |core, chan, outs| core.pin_entered(now, Some(&pin), chan, outs));
}

/// A terminal timer fired.
pub(super) fn on_timer(world: &mut World, ctx: &mut Ctx, term: Entity, token: u64) {
    let now = ctx.now;
    drive(world, ctx, term, |core, chan, outs| core.timer(now, token, chan, outs));
}

/// A frame from the host reached the terminal.
pub(super) fn on_frame(world: &mut World, ctx: &mut Ctx, term: Entity, bytes: &[u8]) {
    let now = ctx.now;
    drive(world, ctx, term, |core, chan, outs| core.receive(now, bytes, chan, outs));
}

/// A terminal sends its start-of-day sign-on.
pub(super) fn on_sign_on(world: &mut World, ctx: &mut Ctx, term: Entity) {
    let now = ctx.now;
    let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
    let mut outs = Vec::new();
    t.core.sign_on(now, &mut outs);
    apply(world, ctx, term, outs, Duration::ZERO);
}

/// Schedules the sign-ons at virtual time zero.
pub(super) fn schedule_sign_ons(world: &mut World) {
    let plan = world.resource::<PlanRes>().0.clone();
    let terms = world.resource::<Directory>().terminals.clone();
    let ctx: &mut Ctx = &mut world.resource_mut::<Dispatch>().into_inner().0;
    for (e, t) in terms.into_iter().zip(&plan.terminals) {
        if t.sign_on {
            ctx.at(crate::time::SimTime(0), SimEvent::SignOn(e));
        }
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, schedule_sign_ons.in_set(super::StartupSet::SignOn));
}
