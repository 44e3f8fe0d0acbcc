//! Commands into a running world: the way in for the trainer view, the
//! control API and tests. A [`Control`] resource holds the receiving end of
//! a channel; each update, before any event runs, its commands are applied
//! at the current virtual time and each is journalled, so a run steered by
//! hand can be read back exactly.

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};

use super::Dispatch;
use super::clock::Clock;
use super::components::{Host, Link, Terminal};
use super::record::Record;
use crate::link::{Rule, Scope};
use crate::terminal::CardTap;

/// Something to change in a running world.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Installs a frame rule after the link's others (a test's own rule, an
    /// attack armed mid-run).
    InstallRule {
        /// The link's id.
        link: String,
        /// The rule.
        rule: Box<dyn Rule>,
        /// Where and when it applies.
        scope: Scope,
    },
    /// Arms or disarms the rules with this name on every link.
    ArmFault {
        /// The rule's name ("loss", "outage").
        name: String,
        /// On or off.
        armed: bool,
    },
    /// Switches a host check (a defence) on or off by its name.
    SetDefence {
        /// The check's name ("mac", "arqc"; see `host::Check::name`).
        check: String,
        /// On or off.
        on: bool,
    },
    /// Puts a decorator between a terminal and the cards presented to it.
    TapCards {
        /// The terminal id.
        terminal: String,
        /// The decorator.
        tap: Box<dyn CardTap>,
    },
    /// Pauses or resumes the clock.
    Pause(bool),
}

/// The receiving end of the command channel.
#[derive(Resource)]
pub struct Control {
    commands: Receiver<Command>,
}

impl Control {
    /// A control resource and the sender to steer the world with.
    pub fn new() -> (Self, Sender<Command>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Self { commands: rx }, tx)
    }
}

/// Applies every waiting command.
pub(super) fn apply_commands(world: &mut World) {
    let Some(control) = world.get_resource::<Control>() else { return };
    let commands: Vec<Command> = control.commands.try_iter().collect();
    for c in commands {
        let (command, target, applied) = apply(world, c);
        world.resource_mut::<Dispatch>().0.record(Record::CommandApplied {
            command,
            target,
            applied,
        });
    }
}

fn apply(world: &mut World, c: Command) -> (&'static str, String, bool) {
    match c {
        Command::InstallRule { link, rule, scope } => {
            let seed = world.resource::<super::PlanRes>().0.seed;
            let name = rule.name();
            let mut q = world.query::<&mut Link>();
            let found = q.iter_mut(world).find(|l| *l.id == *link);
            let ok = found.map(|mut l| l.core.install(seed, rule, scope)).is_some();
            ("install_rule", format!("{link}/{name}"), ok)
        }
        Command::ArmFault { name, armed } => {
            let mut q = world.query::<&mut Link>();
            let n: usize = q.iter_mut(world).map(|mut l| l.core.arm(&name, armed)).sum();
            (if armed { "arm_fault" } else { "disarm_fault" }, name, n > 0)
        }
        Command::SetDefence { check, on } => {
            let ok = world.resource_mut::<Host>().0.set_check(&check, on);
            (if on { "defence_on" } else { "defence_off" }, check, ok)
        }
        Command::TapCards { terminal, tap } => {
            let mut q = world.query::<&mut Terminal>();
            let found = q.iter_mut(world).find(|t| *t.id == *terminal);
            let ok = found.map(|mut t| t.taps.push(tap)).is_some();
            ("tap_cards", terminal, ok)
        }
        Command::Pause(paused) => {
            let mut clock = world.resource_mut::<Clock>();
            clock.paused = paused;
            // A paced clock picks up wall time afresh after a pause.
            clock.wall = None;
            (if paused { "pause" } else { "resume" }, String::new(), true)
        }
    }
}
