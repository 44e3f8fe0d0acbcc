//! The world thread of the real-time drivers: the same Bevy world as
//! `possim run`, paced to wall time, sleeping until a frame comes in through
//! the bridge or its next event falls due.

use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::report::RunReport;
use crate::sim::{self, Bridge, Clock, Journal, Options, Pacing, Plan};
use crate::time::SimTime;

/// How the world runs.
#[derive(Debug, Clone, Copy)]
pub struct How {
    /// Virtual seconds per wall second.
    pub speed: f64,
    /// Trading lasts until the stop (a server), not the scenario's duration.
    pub open_ended: bool,
    /// Keep APDUs and frame bytes in the journal.
    pub frames: bool,
}

/// The channels between the world and its driver.
pub struct Wiring {
    /// Frames in and out.
    pub bridge: Bridge,
    /// A message here ends trading now.
    pub stop: Receiver<()>,
    /// Hears once the world is built.
    pub ready: Option<crossbeam_channel::Sender<()>>,
    /// Commands into the world (the control API).
    pub control: Option<sim::Control>,
    /// Record subscribers to add (a pcap writer).
    pub subscribers: Vec<Box<dyn sim::Subscriber>>,
}

/// Runs the world until its day is over: the scenario's end (or, open
/// ended, the stop) and then everything settled. A message on `stop` ends
/// trading now; what is in flight still completes. The error is a journal
/// write failure.
pub fn run(
    plan: Plan,
    journal: Option<Journal>,
    how: How,
    wiring: Wiring,
    file: &str,
) -> Result<RunReport, String> {
    let Wiring { bridge, stop, ready, control, subscribers } = wiring;
    let journalled = journal.is_some();
    let frames_kept = journalled || !subscribers.is_empty();
    let inbound = bridge.inbound.clone();
    let options =
        // Real time: frames can come in while the queue is empty, so the
        // day is not over before its end (or the stop).
        Options { apdus: how.frames && journalled, frames: frames_kept, stay_open: true };
    let mut app =
        sim::build_app(Arc::new(plan), journal, Pacing::Paced { speed: how.speed }, options);
    app.insert_resource(bridge);
    if let Some(c) = control {
        app.insert_resource(c);
    }
    for s in subscribers {
        app.world_mut().resource_mut::<sim::Subscribers>().add(s);
    }
    if how.open_ended {
        app.world_mut().resource_mut::<Clock>().end = SimTime(u64::MAX / 4);
    }
    let mut stopping = false;
    // The first update builds the world (cards, accounts, keys): only then
    // is it ready to answer.
    app.update();
    if let Some(r) = ready {
        let _ = r.send(());
    }
    loop {
        app.update();
        let clock = app.world().resource::<Clock>();
        if clock.finished {
            break;
        }
        if !how.open_ended && !stopping && clock.now >= clock.end {
            // Trading is over: the day closes once everything has settled.
            app.world_mut().resource_mut::<Options>().stay_open = false;
        }
        let idle = sim::idle_for(app.world())
            .unwrap_or(std::time::Duration::from_millis(200))
            .min(std::time::Duration::from_millis(200));
        if stopping {
            // Trading is over: the queue's own events and answers still due
            // are left (each update drains the bridge).
            std::thread::sleep(idle.min(std::time::Duration::from_millis(5)));
            continue;
        }
        crossbeam_channel::select! {
            recv(inbound) -> m => {
                match m {
                    Ok(m) => sim::queue_inbound(app.world_mut(), m),
                    // Nobody can send any more: just keep time.
                    Err(_) => std::thread::sleep(idle),
                }
            }
            recv(stop) -> _ => {
                stopping = true;
                let w = app.world_mut();
                let now = w.resource::<Clock>().now;
                let end = w.resource::<Clock>().end;
                w.resource_mut::<Clock>().end = end.min(now);
                w.resource_mut::<Options>().stay_open = false;
            }
            default(idle) => {}
        }
    }
    if let Some(e) = app.world().get_resource::<Journal>().and_then(|j| j.error.clone()) {
        return Err(e);
    }
    Ok(sim::report(&mut app, file))
}
