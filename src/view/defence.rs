//! The defences a trainer can switch: the bank's checks (a command into the
//! running world) and the shop's own measures (the plan the world is built
//! from): daily inspection of readers and PIN pads, and a pinned TLS line.

use crate::host::Check;
use crate::sim::{Command, Plan};
use crate::time::Duration;

/// One defence that can be on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Switch {
    /// Staff look over and tug every reader and PIN pad every two hours
    /// (a check once a morning cannot find what is fitted after it, and
    /// the catalogue's attacks are fitted during the day).
    Inspection,
    /// Every terminal talks to the bank over TLS pinned to its certificate.
    Tls,
    /// One of the bank's checks.
    Host(Check),
}

impl Switch {
    /// Every switch, the shop's first.
    pub fn all() -> Vec<Self> {
        let mut v = vec![Self::Inspection, Self::Tls];
        v.extend(Check::ALL.into_iter().filter(|c| c.is_defence()).map(Self::Host));
        v
    }

    /// Its name on the command line and in the words file ("inspection",
    /// "tls", or the check's name: "mac", "arqc").
    pub fn name(self) -> &'static str {
        match self {
            Self::Inspection => "inspection",
            Self::Tls => "tls",
            Self::Host(c) => c.name(),
        }
    }

    /// The switch with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::all().into_iter().find(|s| s.name() == name)
    }

    /// Whether the plan has it on.
    pub fn is_on(self, plan: &Plan) -> bool {
        match self {
            Self::Inspection => plan.tamper_check.is_some_and(|d| d.micros() > 0),
            Self::Tls => plan.terminals.iter().all(|t| {
                plan.links.iter().any(|l| l.id == t.link && l.pinned.contains(&t.config.tid))
            }),
            Self::Host(c) => plan.host.rules.is_on(c),
        }
    }

    /// The plan with the shop's measure set to `on` (the bank's checks are
    /// switched by [`Switch::command`] instead, and leave the plan as it is).
    pub fn apply_to_plan(self, plan: &Plan, on: bool) -> Plan {
        let mut p = plan.clone();
        match self {
            Self::Inspection => {
                p.tamper_check = on.then(|| Duration::from_secs(2 * 3600));
            }
            Self::Tls => {
                for l in &mut p.links {
                    let tids: Vec<String> = plan
                        .terminals
                        .iter()
                        .filter(|t| t.link == l.id)
                        .map(|t| t.config.tid.clone())
                        .collect();
                    l.sealed.clear();
                    l.opportunistic.clear();
                    l.pinned = if on { tids } else { Vec::new() };
                }
            }
            Self::Host(_) => {}
        }
        p
    }

    /// The command that sets a bank check, sent into the world before it
    /// starts (none for the shop's measures).
    pub fn command(self, on: bool) -> Option<Command> {
        match self {
            Self::Host(c) => Some(Command::SetDefence { check: c.name().to_string(), on }),
            _ => None,
        }
    }
}
