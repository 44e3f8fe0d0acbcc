//! Builds the shop from the plan: terminals with their readers and PIN pads,
//! staff, and cardholders with their cards, each registered with the host.

use bevy::prelude::*;

use super::Dispatch;
use super::components::*;
use super::event::Ctx;
use super::record::Record;
use crate::card::Card;
use crate::host::{CardRecord, TerminalRecord};
use crate::rng::Stream;
use crate::terminal::TerminalCore;

/// Spawns every entity and inserts the host. Runs once at startup.
pub(super) fn spawn_world(world: &mut World) {
    let plan = world.resource::<PlanRes>().0.clone();
    let seed = plan.seed;
    // The links and the host exist already (their plugins run first); the
    // shop registers its terminals and its customers' cards with the host.
    let Some(Host(mut host)) = world.remove_resource::<Host>() else { return };
    let mut dir = world.remove_resource::<Directory>().unwrap_or_default();
    let mut failures = Vec::new();
    for t in &plan.terminals {
        let cfg = &t.config;
        host.add_terminal(
            &cfg.tid,
            TerminalRecord {
                tak: cfg.tak.clone(),
                tpk: cfg.tpk.clone(),
                mid: cfg.mid.clone(),
                serial: cfg.serial.clone(),
            },
        );
        let Some(link) = dir.links.iter().find(|(id, _)| *id == t.link).map(|(_, e)| *e) else {
            // Validation makes this impossible; if it happens, the run says
            // so and fails rather than send frames nowhere.
            failures
                .push(format!("terminal {} uses link {}, which was not built", cfg.tid, t.link));
            continue;
        };
        let e = world
            .spawn((
                Terminal {
                    id: cfg.tid.as_str().into(),
                    core: TerminalCore::new(
                        cfg.clone(),
                        Stream::derive(seed, &format!("terminal/{}", cfg.tid)),
                    ),
                    link,
                    queue: Default::default(),
                    current: None,
                    taps: Vec::new(),
                },
                CardReader {
                    chip: cfg.chip,
                    magstripe: cfg.magstripe,
                    contactless: cfg.contactless,
                },
                PinPad { entry_time: plan.traffic.pin_entry },
                Arrivals { rng: Stream::derive(seed, &format!("traffic/{}", cfg.tid)) },
            ))
            .id();
        dir.terminals.push(e);
    }
    // Cards are issued one by one straight into the world and the host's
    // files (never all held at once), in one batch whose exact length lets
    // the world, the host and the directory reserve their room up front. The
    // plan's cards were checked when the plan was made.
    let count = plan.card_count();
    host.reserve_cards(count);
    dir.cardholders.reserve(count);
    let mut error = None;
    {
        let mut index = 0u32;
        let issued = plan.cards().map_while(|c| c.map_err(|e| error = Some(e)).ok()).map(|c| {
            let account = host.open_account(c.balance);
            let d = &c.data;
            host.add_card(
                &d.pan,
                CardRecord::new(d.psn(), d.expiry(), d.service_code(), d.pvki(), d.pvv(), account),
            );
            let pin = d.pin().to_string();
            let mut card = Card::new(c.profile, c.data, Some(c.mk), c.atc);
            card.chip_broken = c.broken;
            let holder = Cardholder { index, pin, typo: c.typo, busy: false };
            index += 1;
            (holder, PaymentCard(card))
        });
        dir.cardholders.extend(world.spawn_batch(issued));
    }
    if let Some(e) = error {
        failures.push(format!("cards could not be issued: {e}"));
    }
    for st in &plan.staff {
        world.spawn(Staff { name: st.name.clone(), password: st.password });
    }
    world.insert_resource(Host(host));
    world.insert_resource(Shop { name: plan.shop.0.clone(), merchant_id: plan.shop.1.clone() });
    world.insert_resource(TrafficState { next_purchase: 0, remaining: plan.traffic.purchases });
    let terminals = dir.terminals.len();
    let cardholders = dir.cardholders.len();
    world.insert_resource(dir);
    let ctx: &mut Ctx = &mut world.resource_mut::<Dispatch>().into_inner().0;
    ctx.record(Record::RunStarted {
        scenario: plan.name.clone(),
        seed,
        start: plan.start.to_string(),
        duration: plan.duration.to_string(),
        dialect: plan.spec.name().to_string(),
        terminals,
        cardholders,
        faults: plan.faults.clone(),
        mode: super::record::Mode::of(&plan),
        file: plan.file.clone(),
        description: plan.description.clone(),
        dialect_file: plan.dialect_file.clone(),
        monitor: Box::new(super::monitor::Setup::of(&plan)),
    });
    for what in failures {
        ctx.record(Record::SetupFailed { what });
    }
}

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, spawn_world.in_set(super::StartupSet::Shop));
}
