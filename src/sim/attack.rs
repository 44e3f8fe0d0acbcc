//! The scenario's attacks in the world: devices fitted to terminals and
//! removed on the scenario's timeline, what they copy gathered into the
//! attacker's loot, and the attacker coming back to pay with it.

use bevy::prelude::*;

use super::components::*;
use super::event::{Ctx, SimEvent};
use super::record::Record;
use super::{Dispatch, terminal};
use crate::attack::{Loot, Scraper, Shimmer, Skimmer, Theft};
use crate::card::Card;
use crate::protocol::pan::mask_pan;
use crate::scenario::AttackKind;
use crate::terminal::{CardTap, Presentation, Purchase};
use crate::time::SimTime;

/// The cardholder number journals give the attacker.
pub const ATTACKER: u32 = u32::MAX;

/// What the attackers hold and which attacks are under way.
#[derive(Resource, Debug, Default)]
pub struct Attacks {
    /// Everything stolen so far.
    pub loot: Loot,
    /// Whether each attack is under way.
    pub active: Vec<bool>,
    /// Wrong supervisor passwords per terminal (index in the plan).
    pub login_failures: std::collections::BTreeMap<usize, u32>,
    /// The cardholder an insider refunds to.
    pub insider_card: Option<Entity>,
    /// The thieves holding each stolen-cards attack's cards, and whose turn is next.
    pub thieves: std::collections::BTreeMap<usize, (Vec<Entity>, usize)>,
    /// Devices a tamper check found and removed: (attack, terminal index).
    pub found: std::collections::BTreeSet<(usize, usize)>,
    /// Whether any attack is pre-play (its firmware is briefed before each card step).
    pub preplay: bool,
    /// The keys of terminals swapped out (index in the plan), to put back.
    pub swapped: std::collections::BTreeMap<
        usize,
        (crate::protocol::crypto::TdesKey, crate::protocol::crypto::TdesKey, String),
    >,
}

/// Schedules every attack's start, end and cash-out visits.
fn schedule(world: &mut World) {
    let plan = world.resource::<PlanRes>().0.clone();
    // An insider refunds to a card of their own: the population's last,
    // kept out of the ordinary traffic.
    let insider_card = plan
        .attacks
        .iter()
        .any(|a| matches!(a.kind, AttackKind::InsiderRefund { .. }))
        .then(|| world.resource::<Directory>().cardholders.last().copied())
        .flatten();
    if let Some(h) = insider_card {
        world.entity_mut(h).insert(Reserved);
    }
    world.insert_resource(Attacks {
        loot: Loot::default(),
        active: vec![false; plan.attacks.len()],
        login_failures: std::collections::BTreeMap::new(),
        insider_card,
        thieves: std::collections::BTreeMap::new(),
        preplay: plan.attacks.iter().any(|a| matches!(a.kind, AttackKind::PrePlay { .. })),
        found: std::collections::BTreeSet::new(),
        swapped: std::collections::BTreeMap::new(),
    });
    let end = plan.duration;
    let ctx: &mut Ctx = &mut world.resource_mut::<Dispatch>().into_inner().0;
    // The staff's tamper checks, from one interval in to the end of the day.
    if let Some(every) = plan.tamper_check.filter(|d| d.micros() > 0) {
        let mut k = 1u64;
        while let Some(t) = every.micros().checked_mul(k).filter(|&t| t < end.micros()) {
            ctx.at(SimTime(t), SimEvent::TamperCheck(k));
            k += 1;
        }
    }
    for (i, a) in plan.attacks.iter().enumerate().filter(|(_, a)| a.present) {
        let until = a.until.unwrap_or(end).min(end);
        ctx.at(SimTime(a.from.micros()), SimEvent::Attack(i, true));
        if a.until.is_some_and(|u| u < end) {
            ctx.at(SimTime(until.micros()), SimEvent::Attack(i, false));
        }
        if let Some((attempts, _, every)) = a.kind.visits() {
            for k in 0..u64::from(attempts) {
                let t = a.from.micros().saturating_add(every.micros().saturating_mul(k));
                if t >= until.micros() {
                    break;
                }
                ctx.at(SimTime(t), SimEvent::AttackerVisit(i));
            }
        }
    }
}

/// An attack begins (`start`) or ends: devices are fitted or removed.
pub(super) fn on_attack(world: &mut World, ctx: &mut Ctx, i: usize, start: bool) {
    let plan = world.resource::<PlanRes>().0.clone();
    let Some(a) = plan.attacks.get(i) else { return };
    let terms = world.resource::<Directory>().terminals.clone();
    let mut names = Vec::new();
    for &t in &a.terminals {
        let Some(&e) = terms.get(t) else { continue };
        if matches!(a.kind, AttackKind::TerminalSwap {}) {
            swap(world, ctx, e, t, i, start, plan.seed);
        }
        let Some(mut term) = world.get_mut::<Terminal>(e) else { continue };
        names.push(term.id.clone());
        if start {
            let tap: Option<Box<dyn CardTap>> = match a.kind {
                AttackKind::Skimmer { .. } => Some(Box::new(Skimmer::new(i))),
                AttackKind::Shimmer {} => Some(Box::new(Shimmer::new(i))),
                AttackKind::RamScraper {} | AttackKind::TerminalSwap {} => {
                    Some(Box::new(Scraper::new(i, a.name())))
                }
                AttackKind::PrePlay { .. } => {
                    Some(Box::new(crate::attack::preplay::Harvester::new(i)))
                }
                _ => None,
            };
            // The device nearest the card: a shim sits on the contacts, a
            // skimmer in the slot's mouth.
            if let Some(tap) = tap {
                term.taps.insert(0, tap);
            }
        } else {
            term.taps.retain(|t| t.owner() != Some(i));
        }
    }
    if let Some(flag) = world.resource_mut::<Attacks>().active.get_mut(i) {
        *flag = start;
    }
    if start && let AttackKind::StolenCards { cards, .. } = a.kind {
        take_cards(world, i, cards, &a.kind, plan.seed);
    }
    if start && let AttackKind::Relay { cards, .. } = a.kind {
        pick_victims(world, i, cards, plan.seed);
    }
    ctx.record(if start {
        Record::AttackStarted { attack: i, name: a.name(), terminals: names }
    } else {
        Record::AttackEnded { attack: i, name: a.name() }
    });
}

/// Tamper check number `k`: staff look over every terminal; each device
/// fitted there is found with the chance its kind allows (drawn from its
/// own stream), removed, and recorded. A swapped terminal found out is
/// replaced by the real one.
pub(super) fn tamper_check(world: &mut World, ctx: &mut Ctx, k: u64) {
    let plan = world.resource::<PlanRes>().0.clone();
    let terms = world.resource::<Directory>().terminals.clone();
    for (t, &e) in terms.iter().enumerate() {
        let fitted: Vec<usize> = {
            let attacks = world.resource::<Attacks>();
            plan.attacks
                .iter()
                .enumerate()
                .filter(|(i, a)| {
                    a.kind.is_device()
                        && a.terminals.contains(&t)
                        && attacks.active.get(*i).copied().unwrap_or(false)
                        && !attacks.found.contains(&(*i, t))
                })
                .map(|(i, _)| i)
                .collect()
        };
        for i in fitted {
            let Some(a) = plan.attacks.get(i) else { continue };
            let mut rng = crate::rng::Stream::derive(plan.seed, &format!("tamper/{k}/{t}/{i}"));
            if !rng.chance(a.kind.found_by_inspection()) {
                continue;
            }
            world.resource_mut::<Attacks>().found.insert((i, t));
            if matches!(a.kind, AttackKind::TerminalSwap {}) {
                swap(world, ctx, e, t, i, false, plan.seed);
            }
            let Some(mut term) = world.get_mut::<Terminal>(e) else { continue };
            term.taps.retain(|tap| tap.owner() != Some(i));
            let terminal = term.id.clone();
            ctx.record(Record::TamperFound { attack: i, terminal, device: a.name() });
        }
    }
}

/// A fake technician swaps terminal `t` (entity `e`) for a device without
/// the shop's keys (`start`), or the real one is put back.
fn swap(world: &mut World, ctx: &mut Ctx, e: Entity, t: usize, i: usize, start: bool, seed: u64) {
    let keys = if start {
        let name = format!("swap/{i}/{t}");
        let fake = (
            super::plan::derived_key(seed, &format!("{name}/tak")),
            super::plan::derived_key(seed, &format!("{name}/tpk")),
            super::plan::device_serial(seed, &name),
        );
        Some(fake)
    } else {
        world.resource_mut::<Attacks>().swapped.remove(&t)
    };
    let Some((tak, tpk, serial)) = keys else { return };
    let Some(mut term) = world.get_mut::<Terminal>(e) else { return };
    let (real_tak, real_tpk) = term.core.swap_keys(tak, tpk);
    let real_serial = term.core.swap_serial(serial);
    if start {
        world.resource_mut::<Attacks>().swapped.insert(t, (real_tak, real_tpk, real_serial));
    }
    // The device now at the till powers up and signs on (if it is a model
    // that signs on at all).
    if world.resource::<PlanRes>().0.terminals.get(t).is_some_and(|p| p.sign_on) {
        ctx.at(ctx.now, SimEvent::SignOn(e));
    }
}

/// Briefs the pre-play firmware in `term` before a card step: the numbers
/// the terminal of the cash-out that spends its loot will use next, and the
/// amount it will spend there.
pub(super) fn forecast(world: &mut World, term: Entity) {
    let plan = world.resource::<PlanRes>().0.clone();
    let Some(index) = world.resource::<Directory>().terminals.iter().position(|&e| e == term)
    else {
        return;
    };
    for (i, a) in plan.attacks.iter().enumerate() {
        let AttackKind::PrePlay { harvest } = a.kind else { continue };
        if !a.terminals.contains(&index)
            || !world.resource::<Attacks>().active.get(i).copied().unwrap_or(false)
        {
            continue;
        }
        let spender =
            plan.attacks.iter().enumerate().find(|(_, o)| {
                matches!(o.kind, AttackKind::CashOut { .. }) && o.sources.contains(&i)
            });
        let Some((j, AttackKind::CashOut { amount, .. })) = spender.map(|(j, o)| (j, &o.kind))
        else {
            continue;
        };
        let Some((_, till, _)) = till(world, j) else { continue };
        let uns = world.get::<Terminal>(till).map(|t| t.core.next_uns(harvest)).unwrap_or_default();
        let f = crate::attack::preplay::Forecast { uns, amount: *amount };
        let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
        for tap in t.taps.iter_mut().filter(|tap| tap.owner() == Some(i)) {
            if let Some(h) =
                tap.as_any_mut().and_then(|a| a.downcast_mut::<crate::attack::preplay::Harvester>())
            {
                h.set_forecast(f.clone());
            }
        }
    }
}

/// Collects what the devices at `term` copied during the last card step.
pub(super) fn collect(world: &mut World, ctx: &mut Ctx, term: Entity, purchase: Option<u64>) {
    let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
    if t.taps.is_empty() {
        return;
    }
    let tid = t.id.clone();
    let mut taken: Vec<(usize, Theft)> = Vec::new();
    for tap in t.taps.iter_mut() {
        if let Some(owner) = tap.owner() {
            taken.extend(tap.take().into_iter().map(|th| (owner, th)));
        }
    }
    let plan = world.resource::<PlanRes>().0.clone();
    // Firmware sends what it copied out of the shop at once.
    let mut sent: Vec<(usize, usize)> = Vec::new();
    for (owner, _) in &taken {
        let out = plan.attacks.get(*owner).is_some_and(|a| {
            matches!(a.kind, AttackKind::RamScraper {} | AttackKind::TerminalSwap {})
        });
        if out {
            match sent.iter_mut().find(|(o, _)| o == owner) {
                Some((_, n)) => *n += 1,
                None => sent.push((*owner, 1)),
            }
        }
    }
    for (owner, theft) in taken {
        steal(world, ctx, owner, &tid, purchase, theft);
    }
    for (attack, items) in sent {
        ctx.record(Record::Egress { attack, terminal: tid.clone(), items });
    }
}

/// Adds a theft by attack `attack` to the loot and records it.
pub(super) fn steal(
    world: &mut World,
    ctx: &mut Ctx,
    attack: usize,
    terminal: &super::record::Name,
    purchase: Option<u64>,
    theft: Theft,
) {
    let plan = world.resource::<PlanRes>().0.clone();
    let name = plan.attacks.get(attack).map_or("attack", |a| a.name());
    let pan = mask_pan(&theft.pan);
    let what = theft.stolen.what();
    let (card, _) = world.resource_mut::<Attacks>().loot.add(attack, theft);
    ctx.record(Record::Stolen {
        attack,
        name,
        terminal: terminal.clone(),
        purchase,
        pan,
        card,
        what,
    });
}

/// The customer at `term` typed `typed`: a camera or keypad overlay there sees it.
pub(super) fn pin_typed(world: &mut World, ctx: &mut Ctx, term: Entity, pan: &str, typed: &str) {
    let plan = world.resource::<PlanRes>().0.clone();
    let Some(index) = world.resource::<Directory>().terminals.iter().position(|&e| e == term)
    else {
        return;
    };
    let watching: Vec<usize> = {
        let attacks = world.resource::<Attacks>();
        plan.attacks
            .iter()
            .enumerate()
            .filter(|(i, a)| {
                a.kind.sees_pins()
                    && attacks.active.get(*i).copied().unwrap_or(false)
                    && a.terminals.contains(&index)
                    && !attacks.found.contains(&(*i, index))
            })
            .map(|(i, _)| i)
            .collect()
    };
    if watching.is_empty() {
        return;
    }
    let Some(tid) = world.get::<Terminal>(term).map(|t| t.id.clone()) else { return };
    let purchase = world.get::<Terminal>(term).and_then(|t| t.current).map(|v| v.purchase.id);
    for i in watching {
        let theft =
            Theft { pan: pan.to_string(), stolen: crate::attack::Stolen::Pin(typed.into()) };
        steal(world, ctx, i, &tid, purchase, theft);
    }
}

/// The attacker of attack `i` comes to the till: a cash-out pays with the
/// next copied card, an insider tries a refund.
pub(super) fn on_visit(world: &mut World, ctx: &mut Ctx, i: usize) {
    let plan = world.resource::<PlanRes>().0.clone();
    let Some(a) = plan.attacks.get(i) else { return };
    if let AttackKind::InsiderRefund { staff, amount, .. } = &a.kind {
        insider_visit(world, ctx, i, staff, *amount);
        return;
    }
    if let AttackKind::StolenCards { amount, tap, .. } = a.kind {
        let presentation = if tap { Presentation::Tap } else { Presentation::Insert };
        card_visit(world, ctx, i, amount, presentation, None);
        return;
    }
    if let AttackKind::Relay { amount, delay, .. } = a.kind {
        card_visit(world, ctx, i, amount, Presentation::Tap, Some(delay));
        return;
    }
    let AttackKind::CashOut { amount, yes_card, .. } = &a.kind else { return };
    let Some((_, term, tid)) = till(world, i) else { return };
    // The attacker knows the number the till will use next, and brings the
    // pre-played card that has a cryptogram for it.
    let next_un = world.get::<Terminal>(term).and_then(|t| t.core.next_uns(1).first().copied());
    let haul = world.resource_mut::<Attacks>().loot.next_usable_preferring(&a.sources, |h| {
        h.preplayed.as_ref().zip(next_un).is_some_and(|(p, un)| p.covers(un))
    });
    let forge = |track: &str| {
        if *yes_card {
            let key = super::plan::derived_key(plan.seed, &format!("yes-card/{i}"));
            Card::chip_clone(track, key)
        } else {
            Card::forged(track)
        }
    };
    let Some((haul, card)) =
        haul.and_then(|h| forge(h.track.as_deref().unwrap_or_default()).map(|c| (h, c)))
    else {
        empty_visit(ctx, i, tid);
        return;
    };
    // Without the PIN, the attacker tries the commonest one.
    let pin = haul.pin.clone().unwrap_or_else(|| "1234".into());
    let mut holder = world
        .spawn((Cardholder { index: ATTACKER, pin, typo: 0.0, busy: true }, PaymentCard(card)));
    // A pre-played card answers from its recording, chip and all; a
    // yes-card is a chip clone that says yes to everything.
    let spends_preplay = a.sources.iter().any(|&j| {
        plan.attacks.get(j).is_some_and(|o| matches!(o.kind, AttackKind::PrePlay { .. }))
    });
    let presentation = match haul.preplayed.clone().filter(|_| spends_preplay) {
        Some(rec) => {
            holder.insert(Carried(vec![Box::new(crate::attack::preplay::Replayer::new(rec))]));
            Presentation::Insert
        }
        None if *yes_card => {
            holder.insert(Carried(vec![Box::new(crate::attack::YesCard)]));
            Presentation::Insert
        }
        None => Presentation::Swipe,
    };
    let holder = holder.id();
    let id = world.resource_mut::<TrafficState>().new_purchase();
    ctx.record(Record::CashOut {
        attack: i,
        terminal: tid.clone(),
        purchase: Some(id),
        pan: Some(mask_pan(&haul.pan)),
        from_chip: haul.from_chip,
        pin_known: haul.pin.is_some(),
    });
    let purchase = Purchase { id, amount: *amount, refund: false, presentation };
    queue_visit(world, ctx, term, holder, purchase, ATTACKER, None);
}

/// The till attack `i` acts at: its plan index, entity and id.
fn till(world: &World, i: usize) -> Option<(usize, Entity, super::record::Name)> {
    let plan = &world.resource::<PlanRes>().0;
    let &tidx = plan.attacks.get(i)?.terminals.first()?;
    let &term = world.resource::<Directory>().terminals.get(tidx)?;
    let tid = world.get::<Terminal>(term)?.id.clone();
    Some((tidx, term, tid))
}

/// Records a visit by attack `i`'s attacker that came to nothing (no card).
fn empty_visit(ctx: &mut Ctx, i: usize, terminal: super::record::Name) {
    ctx.record(Record::CashOut {
        attack: i,
        terminal,
        purchase: None,
        pan: None,
        from_chip: false,
        pin_known: false,
    });
}

/// Up to `n` distinct customers, drawn from the stream `name`, that `accept`
/// lets through (never the insider's own card).
fn pick_holders(
    world: &World,
    n: u32,
    seed: u64,
    name: &str,
    accept: impl Fn(&World, Entity) -> bool,
) -> Vec<Entity> {
    let holders = &world.resource::<Directory>().cardholders;
    let insider = world.resource::<Attacks>().insider_card;
    let mut rng = crate::rng::Stream::derive(seed, name);
    let mut picked = Vec::new();
    let mut tries = 0;
    while picked.len() < n as usize && tries < 100 * n as usize && !holders.is_empty() {
        tries += 1;
        let h = holders[rng.below(holders.len() as u64) as usize];
        if Some(h) != insider && !picked.contains(&h) && accept(world, h) {
            picked.push(h);
        }
    }
    picked
}

/// The thief of attack `i` takes `n` cards from customers not at a till
/// (lost, pickpocketed); their owners shop no more.
fn take_cards(world: &mut World, i: usize, n: u32, kind: &AttackKind, seed: u64) {
    let owners = pick_holders(world, n, seed, &format!("stolen/{i}"), |w, h| {
        w.get::<Cardholder>(h).is_some_and(|c| !c.busy)
    });
    let mut thieves = Vec::new();
    for h in owners {
        let Some(card) = world.get::<PaymentCard>(h).map(|c| c.0.clone()) else { continue };
        // Its owner has lost it: they shop no more.
        world.entity_mut(h).insert(Reserved);
        let thief = Cardholder { index: ATTACKER, pin: "0000".into(), typo: 0.0, busy: false };
        let mut e = world.spawn((thief, PaymentCard(card)));
        let devices = thief_devices(kind);
        if !devices.is_empty() {
            e.insert(Carried(devices));
        }
        thieves.push(e.id());
    }
    world.resource_mut::<Attacks>().thieves.insert(i, (thieves, 0));
}

/// The devices a thief puts between each stolen card and the terminal.
fn thief_devices(kind: &AttackKind) -> Vec<Box<dyn CardTap>> {
    let AttackKind::StolenCards { wedge, ctq_rewrite, brand_mixup, .. } = *kind else {
        return Vec::new();
    };
    let mut devices: Vec<Box<dyn CardTap>> = Vec::new();
    if wedge {
        devices.push(Box::new(crate::attack::PinWedge::default()));
    }
    if ctq_rewrite {
        devices.push(Box::new(crate::attack::CtqRewrite));
    }
    if brand_mixup {
        devices.push(Box::new(crate::attack::BrandMixup::new(&crate::card::VISA_AID)));
    }
    devices
}

/// The customers whose cards a relay reaches (they keep shopping).
fn pick_victims(world: &mut World, i: usize, n: u32, seed: u64) {
    let victims = pick_holders(world, n, seed, &format!("relay/{i}"), |w, h| {
        w.get::<PaymentCard>(h).is_some_and(|c| c.0.profile.contactless)
    });
    world.resource_mut::<Attacks>().thieves.insert(i, (victims, 0));
}

/// Attack `i`'s attacker pays at its till with the next card it holds (a
/// stolen one, or one relayed from a victim's pocket) whose holder is not at
/// a till already.
fn card_visit(
    world: &mut World,
    ctx: &mut Ctx,
    i: usize,
    amount: crate::money::Money,
    presentation: Presentation,
    relay: Option<crate::time::Duration>,
) {
    let Some((_, term, tid)) = till(world, i) else { return };
    let (cards, next) = world.resource::<Attacks>().thieves.get(&i).cloned().unwrap_or_default();
    let pick = (0..cards.len())
        .map(|k| (next + k) % cards.len())
        .find(|&k| world.get::<Cardholder>(cards[k]).is_some_and(|c| !c.busy));
    let Some(k) = pick else {
        empty_visit(ctx, i, tid);
        return;
    };
    if let Some(t) = world.resource_mut::<Attacks>().thieves.get_mut(&i) {
        t.1 = k + 1;
    }
    let holder = cards[k];
    let pan = world.get::<PaymentCard>(holder).map(|c| mask_pan(&c.0.data.pan));
    if let Some(mut c) = world.get_mut::<Cardholder>(holder) {
        c.busy = true;
    }
    let id = world.resource_mut::<TrafficState>().new_purchase();
    ctx.record(Record::CashOut {
        attack: i,
        terminal: tid,
        purchase: Some(id),
        pan,
        from_chip: false,
        pin_known: false,
    });
    let purchase = Purchase { id, amount, refund: false, presentation };
    queue_visit(world, ctx, term, holder, purchase, ATTACKER, relay);
}

/// Queues a visit at `term` and serves it if the terminal is idle.
fn queue_visit(
    world: &mut World,
    ctx: &mut Ctx,
    term: Entity,
    holder: Entity,
    purchase: Purchase,
    cardholder: u32,
    relay: Option<crate::time::Duration>,
) {
    let Some(mut t) = world.get_mut::<Terminal>(term) else { return };
    let queue = t.queue.len() + usize::from(t.current.is_some());
    t.queue.push_back(Visit { purchase, cardholder: holder, attempts: 0, relay });
    let idle = t.current.is_none();
    let tid = t.id.clone();
    ctx.record(Record::CustomerArrived {
        terminal: tid,
        purchase: purchase.id,
        cardholder,
        amount: purchase.amount,
        refund: purchase.refund,
        presentation: purchase.presentation,
        queue,
    });
    if idle {
        terminal::serve_next(world, ctx, term);
    }
}

/// An insider at the attack's terminal tries to refund `amount` to their own card.
fn insider_visit(
    world: &mut World,
    ctx: &mut Ctx,
    i: usize,
    staff: &str,
    amount: crate::money::Money,
) {
    use crate::attack::insider::{LOCKOUT_AFTER, Login, login};
    let plan = world.resource::<PlanRes>().0.clone();
    let Some((tidx, term, tid)) = till(world, i) else { return };
    let (holder, failures) = {
        let a = world.resource::<Attacks>();
        (a.insider_card, a.login_failures.get(&tidx).copied().unwrap_or(0))
    };
    let Some(holder) = holder else { return };
    // Still at a till with the last refund: this try waits for the next.
    let busy = world.get::<Cardholder>(holder).is_none_or(|c| c.busy);
    if failures >= LOCKOUT_AFTER || busy {
        ctx.record(Record::InsiderRefund {
            attack: i,
            terminal: tid,
            login: None,
            purchase: None,
            failures,
            locked: failures >= LOCKOUT_AFTER,
        });
        return;
    }
    let who = match login(&plan.staff, staff) {
        Login::As(name) => name,
        Login::Refused => {
            let n = failures + 1;
            world.resource_mut::<Attacks>().login_failures.insert(tidx, n);
            ctx.record(Record::InsiderRefund {
                attack: i,
                terminal: tid,
                login: None,
                purchase: None,
                failures: n,
                locked: n >= LOCKOUT_AFTER,
            });
            return;
        }
    };
    let index = world.get::<Cardholder>(holder).map_or(0, |c| c.index);
    if let Some(mut c) = world.get_mut::<Cardholder>(holder) {
        c.busy = true;
    }
    let id = world.resource_mut::<TrafficState>().new_purchase();
    ctx.record(Record::InsiderRefund {
        attack: i,
        terminal: tid,
        login: Some(who),
        purchase: Some(id),
        failures,
        locked: false,
    });
    let purchase = Purchase { id, amount, refund: true, presentation: Presentation::Insert };
    queue_visit(world, ctx, term, holder, purchase, index, None);
}

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Attacks>()
        .add_systems(Startup, schedule.in_set(super::StartupSet::Attacks));
}
