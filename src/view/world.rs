//! The worlds the trainer view drives: the scenario as written and, beside
//! it, the same seed with one defence flipped. Each is a headless app of its
//! own, stepped by the view to a virtual time it chooses (play, step, seek),
//! so the window's frame rate never changes what happens in the world.

use std::sync::Arc;

use bevy::prelude::App;
use crossbeam_channel::Sender;

use super::defence::Switch;
use crate::money::Money;
use crate::sim::{self, Clock, Command, Control, Monitor, Options, Pacing, Plan, Subscribers};
use crate::time::SimTime;
use crate::view::{View, ViewFeed};

/// One running world and the view kept from its records.
pub struct Sim {
    app: App,
    feed: ViewFeed,
    /// Commands into the world (a defence switched, a pause).
    pub commands: Sender<Command>,
}

impl Sim {
    /// Builds the world for `plan`; `switch` flips one defence from the
    /// start (a plan edit for the shop's measures, a command for the bank's).
    pub fn new(plan: &Arc<Plan>, switch: Option<(Switch, bool)>) -> Self {
        let plan = match switch {
            Some((s, on)) => Arc::new(s.apply_to_plan(plan, on)),
            None => plan.clone(),
        };
        let feed = ViewFeed::default();
        let mut app = sim::build_app(
            plan,
            None,
            Pacing::To { until: SimTime(0) },
            // Frame bytes are kept for the inspector.
            Options { apdus: false, frames: true, stay_open: false },
        );
        let (control, commands) = Control::new();
        app.insert_resource(control);
        app.world_mut().resource_mut::<Subscribers>().add(Box::new(feed.clone()));
        if let Some(c) = switch.and_then(|(s, on)| s.command(on)) {
            // Applied before the first event: the defence is there from the start.
            let _ = commands.send(c);
        }
        Self { app, feed, commands }
    }

    /// Runs every event up to `t` (nothing if the run is over or past it).
    pub fn advance_to(&mut self, t: SimTime) {
        let clock = self.app.world().resource::<Clock>();
        if clock.finished || (clock.now >= t && clock.now > SimTime(0)) {
            return;
        }
        self.app.world_mut().resource_mut::<Clock>().pacing = Pacing::To { until: t };
        self.app.update();
    }

    /// Virtual now.
    pub fn now(&self) -> SimTime {
        self.app.world().resource::<Clock>().now
    }

    /// True once the day is over and everything has settled.
    pub fn finished(&self) -> bool {
        self.app.world().resource::<Clock>().finished
    }

    /// What the view shows, as of now.
    pub fn view(&self) -> View {
        self.feed.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Money lost to attacks: the report's figure once the run is over;
    /// before that the larger of what the view saw taken and what the
    /// monitor has judged (it counts a purchase once it has settled).
    pub fn loss(&self, view: &View) -> Money {
        let judged = self.app.world().resource::<Monitor>().fraud_loss();
        if self.finished() { judged } else { Money(judged.0.max(view.fraud_loss.0)) }
    }
}

/// The scenario's world, and the comparison beside it.
pub struct Worlds {
    /// The plan as the scenario has it.
    pub plan: Arc<Plan>,
    /// The scenario as written.
    pub main: Sim,
    /// The same seed with one defence flipped: (switch, its state there, world).
    pub compare: Option<(Switch, bool, Sim)>,
}

impl Worlds {
    /// The scenario's world at time zero.
    pub fn new(plan: Arc<Plan>) -> Self {
        let main = Sim::new(&plan, None);
        Self { plan, main, compare: None }
    }

    /// Both worlds to `t`: the comparison to wherever the scenario's world
    /// got, or to its own end once the scenario's day is over (the two may
    /// settle at different times).
    pub fn advance_to(&mut self, t: SimTime) {
        self.main.advance_to(t);
        let now = if self.main.finished() { SimTime(u64::MAX / 4) } else { self.main.now() };
        if let Some((_, _, c)) = &mut self.compare {
            c.advance_to(now);
        }
    }

    /// Starts (or replaces) the comparison: the same seed with `switch` set
    /// to `on`, caught up to where the scenario's world is.
    pub fn compare(&mut self, switch: Switch, on: bool) {
        let mut c = Sim::new(&self.plan, Some((switch, on)));
        let now = if self.main.finished() { SimTime(u64::MAX / 4) } else { self.main.now() };
        c.advance_to(now);
        self.compare = Some((switch, on, c));
    }

    /// Goes to `t`: forward by running, back by rebuilding both worlds from
    /// the start and running to `t` (the same seed gives the same past).
    pub fn seek(&mut self, t: SimTime) {
        if t < self.main.now() {
            self.main = Sim::new(&self.plan, None);
            if let Some((s, on, c)) = &mut self.compare {
                *c = Sim::new(&self.plan, Some((*s, *on)));
            }
        }
        self.advance_to(t);
    }
}
