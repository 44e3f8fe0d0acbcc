//! The shop as a Bevy world (headless; the GUI draws the same world).
//!
//! One plugin per concern: `shop` builds the world, `traffic` brings
//! customers, `terminal` drives the terminal stacks, `link` moves frames,
//! `host` answers them and settles, `monitor` judges, `journal` records,
//! `bridge` lets frames in and out from outside. The sans-IO cores do the
//! work; these plugins only route events between them.
//!
//! Events run in (virtual time, sequence) order from one queue. Each update
//! processes the events due in one slice of virtual time; the slice size
//! changes how often Bevy runs its schedule, never the order of events.

mod attack;
mod bridge;
mod clock;
mod components;
mod control;
mod event;
mod host;
mod journal;
mod link;
mod monitor;
mod plan;
mod reader;
mod record;
mod shop;
mod subscriber;
mod terminal;
mod traffic;

use std::sync::Arc;

use bevy::prelude::*;

pub use bridge::{Bridge, Inbound, Outbound, idle_for, queue_inbound};
pub use clock::{Clock, Pacing, Scheduler};
pub use components::*;
pub use control::{Command, Control};
pub use event::{Ctx, SimEvent};
pub use journal::Journal;
pub use monitor::{AttackSetup, FaultSetup, Monitor, Setup as MonitorSetup};
pub use plan::{IssuedCard, LinkPlan, Plan, PlanError, TerminalPlan};
pub use record::{Apdu, Mode, Record};
pub use subscriber::{Subscriber, Subscribers};

use crate::report::RunReport;
use crate::time::{Duration, SimTime};

/// The ordered phases of an update: outside frames in, events, records out.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SimSet {
    /// Frames from outside enter the queue.
    Ingest,
    /// Due events run.
    Step,
    /// Records are flushed.
    Record,
}

/// The ordered phases of startup (order them in `SimPlugin::build` when
/// adding one): links, then the host, then the shop that registers with
/// it, then the first customers, then the attacks, then the sign-ons.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum StartupSet {
    /// Links.
    Network,
    /// The host.
    Host,
    /// Terminals, staff, cardholders.
    Shop,
    /// First arrivals.
    Traffic,
    /// The attacks' timeline.
    Attacks,
    /// Sign-ons.
    SignOn,
}

/// How a run is recorded.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Options {
    /// Log every APDU in the journal.
    pub apdus: bool,
    /// Keep frame bytes in records (needed only when a journal is written).
    pub frames: bool,
    /// Keep the run open when the queue is empty (frames may still come in
    /// through the bridge).
    pub stay_open: bool,
}

/// The dispatcher's working state between updates.
#[derive(Resource, Default)]
pub struct Dispatch(pub Ctx);

/// The whole simulation as one plugin. Insert a [`Journal`] first to record.
pub struct SimPlugin {
    /// What to build.
    pub plan: Arc<Plan>,
    /// How the clock runs.
    pub pacing: Pacing,
    /// Recording options.
    pub options: Options,
}

impl Plugin for SimPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(PlanRes(self.plan.clone()))
            .insert_resource(self.options)
            .insert_resource(Clock {
                now: SimTime(0),
                end: SimTime(self.plan.duration.micros()),
                pacing: self.pacing,
                wall: None,
                finished: false,
                paused: false,
            })
            .init_resource::<Scheduler>()
            .init_resource::<Subscribers>()
            .init_resource::<Dispatch>()
            .configure_sets(Update, (SimSet::Ingest, SimSet::Step, SimSet::Record).chain())
            .init_resource::<Directory>()
            .configure_sets(
                Startup,
                (
                    StartupSet::Network,
                    StartupSet::Host,
                    StartupSet::Shop,
                    StartupSet::Traffic,
                    StartupSet::Attacks,
                    StartupSet::SignOn,
                )
                    .chain(),
            )
            .add_systems(
                Update,
                control::apply_commands.in_set(SimSet::Ingest).before(bridge::drain_bridge),
            )
            .add_systems(Update, step.in_set(SimSet::Step))
            .add_plugins((
                attack::plugin,
                bridge::plugin,
                host::plugin,
                journal::plugin,
                link::plugin,
                monitor::plugin,
                shop::plugin,
                terminal::plugin,
                traffic::plugin,
            ));
    }
}

/// Runs one event.
fn handle(world: &mut World, ctx: &mut Ctx, ev: SimEvent) {
    match ev {
        SimEvent::CustomerArrives(t) => traffic::on_arrival(world, ctx, t),
        SimEvent::ServeNext(t) => terminal::serve_next(world, ctx, t),
        SimEvent::PinEntered(t) => terminal::on_pin(world, ctx, t),
        SimEvent::TerminalTimer(t, token) => terminal::on_timer(world, ctx, t, token),
        SimEvent::SignOn(t) => terminal::on_sign_on(world, ctx, t),
        SimEvent::Transmit(tx) => link::transmit(world, ctx, *tx),
        SimEvent::Deliver(a) => link::deliver(world, ctx, *a),
        SimEvent::External(conn, bytes) if world.resource::<PlanRes>().0.remote_host => {
            // An answer from the real host, for the terminal on that
            // connection: it crosses the terminal's link downwards.
            let term = world.resource::<Directory>().terminals.get(conn as usize).copied();
            let Some((term, link)) = term.and_then(|t| Some((t, world.get::<Terminal>(t)?.link)))
            else {
                return;
            };
            let tx = event::Transmission {
                link: Some(link),
                dir: crate::link::Dir::Down,
                endpoint: event::Endpoint::Terminal(term),
                mti: world.resource::<PlanRes>().0.spec.peek_mti(&bytes),
                bytes,
                stan: None,
                purpose: None,
                answers: None,
                purchase: None,
            };
            link::transmit(world, ctx, tx);
        }
        SimEvent::External(conn, bytes) => {
            // A real terminal declared in the scenario crosses its own link;
            // any other connection (`possim host`) reaches the host directly.
            let external = bridge::declared_terminal(world, conn).map(|t| t.link);
            let tx = event::Transmission {
                link: external,
                dir: crate::link::Dir::Up,
                endpoint: event::Endpoint::External(conn),
                mti: world.resource::<PlanRes>().0.spec.peek_mti(&bytes),
                bytes,
                stan: None,
                purpose: None,
                answers: None,
                purchase: None,
            };
            link::transmit(world, ctx, tx);
        }
        SimEvent::Attack(i, start) => attack::on_attack(world, ctx, i, start),
        SimEvent::AttackerVisit(i) => attack::on_visit(world, ctx, i),
        SimEvent::TamperCheck(k) => attack::tamper_check(world, ctx, k),
        SimEvent::EndOfDay => host::end_of_day(world, ctx),
    }
}

/// Where the records and events of a step go: held outside the world for
/// the whole step, so handing them over costs no resource look-up per event
/// (up to five `TypeId` look-ups an event were about 2.8% of a run's
/// instructions).
struct Sinks<'a> {
    monitor: &'a mut Monitor,
    journal: &'a mut Journal,
    subs: &'a mut Subscribers,
    sched: &'a mut Scheduler,
}

/// Hands records to the monitor and the journal, and events to the queue.
fn flush(sinks: &mut Sinks<'_>, ctx: &mut Ctx, seq: &mut u64) {
    if !ctx.records.is_empty() {
        let now = ctx.now;
        let monitor = &mut *sinks.monitor;
        let mut i = 0;
        while i < ctx.records.len() {
            *seq += 1;
            monitor.observe(now, *seq, &ctx.records[i]);
            let alerts = monitor.take_alerts();
            // Alerts follow the record that raised them.
            for (k, a) in alerts.into_iter().enumerate() {
                ctx.records.insert(i + 1 + k, a);
            }
            i += 1;
        }
        let first = *seq - ctx.records.len() as u64 + 1;
        // One consumer after the other, not a resource scope per event:
        // taking the journal out of the world and back for every event was
        // about 4% of a run's instructions (BENCHMARKS.md).
        if sinks.journal.enabled() {
            for (k, r) in ctx.records.iter().enumerate() {
                sinks.journal.on_record(first + k as u64, now, r);
            }
        }
        for (k, r) in ctx.records.iter().enumerate() {
            sinks.subs.publish(first + k as u64, now, r);
        }
        ctx.records.clear();
    }
    if !ctx.schedule.is_empty() {
        for (t, e) in ctx.schedule.drain(..) {
            sinks.sched.push(t.max(ctx.now), e);
        }
    }
}

#[derive(Resource, Default)]
struct Seq(u64);

/// Runs every event due in this update's slice, in order.
fn step(world: &mut World) {
    let clock = world.resource::<Clock>();
    if clock.finished || clock.paused {
        return;
    }
    // No event handler reads these four; they stay out of the world until
    // the step is over (a resource scope keeps their change ticks).
    world.resource_scope(|world, mut monitor: Mut<Monitor>| {
        world.resource_scope(|world, mut journal: Mut<Journal>| {
            world.resource_scope(|world, mut subs: Mut<Subscribers>| {
                world.resource_scope(|world, mut sched: Mut<Scheduler>| {
                    let mut sinks = Sinks {
                        monitor: &mut monitor,
                        journal: &mut journal,
                        subs: &mut subs,
                        sched: &mut sched,
                    };
                    step_with(world, &mut sinks);
                })
            })
        })
    });
}

fn step_with(world: &mut World, sinks: &mut Sinks<'_>) {
    let mut ctx = std::mem::take(&mut world.resource_mut::<Dispatch>().0);
    let mut seq = world.get_resource::<Seq>().map_or(0, |s| s.0);
    // Records and events from startup systems, and commands applied since
    // the last step: stamped now, not at the last event (a real-time run
    // can sit idle for minutes between a command and the event before it).
    ctx.now = ctx.now.max(world.resource::<Clock>().now);
    flush(sinks, &mut ctx, &mut seq);
    let next = sinks.sched.next_time();
    let limit = world.resource_mut::<Clock>().horizon(next);
    let (end, stay_open) = (world.resource::<Clock>().end, world.resource::<Options>().stay_open);
    let hard_stop = end + world.resource::<PlanRes>().0.settle_after;
    while let Some((at, ev)) = sinks.sched.pop_due(limit.min(hard_stop)) {
        ctx.now = at;
        handle(world, &mut ctx, ev);
        flush(sinks, &mut ctx, &mut seq);
    }
    let next = sinks.sched.next_time();
    let quiet = next.is_none_or(|t| t > hard_stop);
    let mut clock = world.resource_mut::<Clock>();
    clock.now = clock.now.max(ctx.now);
    match clock.pacing {
        Pacing::Paced { .. } => clock.now = clock.now.max(limit),
        Pacing::To { .. } => clock.now = clock.now.max(limit.min(hard_stop)),
        Pacing::Headless { .. } => {}
    }
    if quiet && !stay_open {
        // Everything has settled down (or the grace period is over): close the day.
        clock.finished = true;
        ctx.now = clock.now.max(end).min(hard_stop).max(ctx.now);
        handle(world, &mut ctx, SimEvent::EndOfDay);
        let frames = ctx.next_frame;
        let tx = sinks.monitor.attempts();
        let (in_flight, in_flight_purchases) = sinks.sched.in_flight();
        let mut q = world.query::<&Terminal>();
        let pending_reversals = q.iter(world).map(|t| t.core.pending_reversals() as u64).sum();
        ctx.record(Record::RunFinished {
            transactions: tx,
            frames,
            in_flight,
            in_flight_purchases,
            pending_reversals,
            digest: None,
        });
        flush(sinks, &mut ctx, &mut seq);
        sinks.journal.on_finish();
        sinks.subs.finish();
    }
    world.resource_mut::<Dispatch>().0 = ctx;
    world.insert_resource(Seq(seq));
}

/// Builds a headless app for a plan; records to `journal` if given.
pub fn build_app(
    plan: Arc<Plan>,
    journal: Option<Journal>,
    pacing: Pacing,
    options: Options,
) -> App {
    let mut app = App::new();
    if let Some(j) = journal {
        app.insert_resource(j);
    }
    app.add_plugins(SimPlugin { plan, pacing, options });
    app
}

/// Runs an app to the end of its day and returns the report.
/// A paused clock stops the loop (nothing would ever happen): the report is
/// then of the run so far.
pub fn run_to_end(app: &mut App, file: &str) -> RunReport {
    loop {
        app.update();
        let clock = app.world().resource::<Clock>();
        if clock.finished || clock.paused {
            break;
        }
    }
    report(app, file)
}

/// The report of a finished (or running) app.
pub fn report(app: &mut App, file: &str) -> RunReport {
    let plan = app.world().resource::<PlanRes>().0.clone();
    app.world_mut().resource_mut::<Monitor>().report(&plan.name, file, plan.seed)
}

/// The default headless slice: a minute of virtual time per update.
pub const HEADLESS_SLICE: Duration = Duration::from_secs(60);
