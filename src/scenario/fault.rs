//! Link faults as a scenario writes them: a kind with its own parameters,
//! plus the window and filter every kind shares ([`Scoped`]). This file is
//! the one place a fault kind is named: its parameters and their defaults,
//! their ranges, the rule it becomes, and the alerts it should provoke.

use serde::ser::SerializeStructVariant;
use serde::{Deserialize, Serialize, Serializer};

use super::AlertKind;
use super::ranged::{Probability, Ranged};
use super::scoped::{Kind, Scoped};
use crate::link::{Rule, netem};
use crate::time::Duration;

/// A link fault with its window and filter.
pub type FaultSpec = Scoped<FaultKind>;

/// What a fault does. Every kind also takes `from`, `until` (default: the
/// whole run), `direction` (Up = requests, Down = responses; default both),
/// `mti` (e.g. "0210"; default all) and `terminal` (default all).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FaultKind {
    /// Independent loss with probability `p`.
    Loss {
        /// Probability.
        p: Ranged<Probability>,
    },
    /// Gilbert-Elliott bursty loss (netem gemodel).
    BurstLoss {
        /// Good to bad.
        p: Ranged<Probability>,
        /// Bad to good.
        r: Ranged<Probability>,
        /// Loss in the bad state (1-h). Default 1.0.
        #[serde(default = "certain")]
        bad_loss: Ranged<Probability>,
        /// Loss in the good state (1-k). Default 0.0.
        #[serde(default = "never")]
        good_loss: Ranged<Probability>,
    },
    /// The frame also arrives a second time.
    Duplicate {
        /// Probability.
        p: Ranged<Probability>,
    },
    /// A frame is held back by `gap`, so later ones overtake it.
    Reorder {
        /// Probability.
        p: Ranged<Probability>,
        /// Hold-back. Default "200ms".
        #[serde(default = "default_gap")]
        gap: Ranged<Duration>,
    },
    /// One bit flipped in a random byte.
    Corrupt {
        /// Probability.
        p: Ranged<Probability>,
    },
    /// Extra delay plus uniform jitter.
    Delay {
        /// Added latency.
        extra: Ranged<Duration>,
        /// Added uniform jitter. Default "0s".
        #[serde(default = "no_time")]
        jitter: Ranged<Duration>,
    },
    /// Preset: frames arrive just past the terminals' response timeout (by
    /// `by`), where reversal races live.
    DelayPastTimeout {
        /// How far past the timeout. Default "1s".
        #[serde(default = "default_by")]
        by: Ranged<Duration>,
    },
    /// The link is down: frames sent, in transit or arriving in the window are lost.
    Outage {},
}

fn certain() -> Ranged<Probability> {
    Ranged::Fixed(Probability(1.0))
}
fn default_gap() -> Ranged<Duration> {
    Ranged::Fixed(Duration::from_millis(200))
}
fn default_by() -> Ranged<Duration> {
    Ranged::Fixed(Duration::from_secs(1))
}
fn no_time() -> Ranged<Duration> {
    Ranged::Fixed(Duration::ZERO)
}
fn never() -> Ranged<Probability> {
    Ranged::Fixed(Probability(0.0))
}

impl Kind for FaultKind {
    /// The rule's own name, so a fault is named in one place: its rule.
    fn name(&self) -> &'static str {
        self.rule(Duration::ZERO, Duration::ZERO).name()
    }

    fn problem(&self) -> Option<String> {
        match self {
            Self::Reorder { gap, .. } if gap.high().micros() == 0 => Some(
                "`gap` must be more than 0s (a frame held back by nothing is not reordered)".into(),
            ),
            Self::Delay { extra, jitter }
                if extra.high().micros() == 0 && jitter.high().micros() == 0 =>
            {
                Some("`extra` or `jitter` must be more than 0s".into())
            }
            _ => None,
        }
    }
}

impl FaultKind {
    /// The rule that does it on a link whose terminals time out after
    /// `timeout` and whose base latency is `latency`.
    pub fn rule(&self, timeout: Duration, latency: Duration) -> Box<dyn Rule> {
        let p = |r: &Ranged<Probability>| r.value().0;
        match self {
            Self::Loss { p: loss } => Box::new(netem::Loss { p: p(loss) }),
            Self::BurstLoss { p: to_bad, r, bad_loss, good_loss } => {
                Box::new(netem::BurstLoss::new(p(to_bad), p(r), p(bad_loss), p(good_loss)))
            }
            Self::Duplicate { p: dup } => Box::new(netem::Duplicate { p: p(dup) }),
            Self::Reorder { p: re, gap } => Box::new(netem::Reorder { p: p(re), gap: gap.value() }),
            Self::Corrupt { p: c } => Box::new(netem::Corrupt { p: p(c) }),
            Self::Delay { extra, jitter } => Box::new(netem::Delay {
                name: netem::DELAY,
                extra: extra.value(),
                jitter: jitter.value(),
            }),
            Self::DelayPastTimeout { by } => {
                // One way: the whole timeout plus `by`, less the latency already there.
                let extra = timeout
                    .micros()
                    .saturating_add(by.value().micros())
                    .saturating_sub(latency.micros());
                Box::new(netem::Delay {
                    name: netem::DELAY_PAST_TIMEOUT,
                    extra: Duration(extra),
                    jitter: Duration::ZERO,
                })
            }
            Self::Outage {} => Box::new(netem::Outage),
        }
    }

    /// This seed's values for every parameter written as a range.
    pub fn drawn(&self, rng: &mut crate::rng::Stream) -> Self {
        let mut k = self.clone();
        match &mut k {
            Self::Loss { p } | Self::Duplicate { p } | Self::Corrupt { p } => *p = p.draw(rng),
            Self::BurstLoss { p, r, bad_loss, good_loss } => {
                *p = p.draw(rng);
                *r = r.draw(rng);
                *bad_loss = bad_loss.draw(rng);
                *good_loss = good_loss.draw(rng);
            }
            Self::Reorder { p, gap } => {
                *p = p.draw(rng);
                *gap = gap.draw(rng);
            }
            Self::Delay { extra, jitter } => {
                *extra = extra.draw(rng);
                *jitter = jitter.draw(rng);
            }
            Self::DelayPastTimeout { by } => *by = by.draw(rng),
            Self::Outage {} => {}
        }
        k
    }

    /// The longest it can hold one frame back (for how long a run waits to settle).
    pub fn worst_delay(&self, timeout: Duration, latency: Duration) -> Duration {
        match self {
            Self::Reorder { gap, .. } => gap.high(),
            Self::Delay { extra, jitter } => {
                Duration(extra.high().micros().saturating_add(jitter.high().micros()))
            }
            Self::DelayPastTimeout { by } => Duration(
                timeout
                    .micros()
                    .saturating_add(by.high().micros())
                    .saturating_sub(latency.micros()),
            ),
            _ => Duration::ZERO,
        }
    }

    /// The alerts a monitor should raise because of it.
    pub fn alerts(&self) -> &'static [AlertKind] {
        match self {
            Self::Outage {} | Self::Loss { .. } | Self::BurstLoss { .. } => &[AlertKind::LinkDown],
            Self::Corrupt { .. } => &[AlertKind::SecurityViolations, AlertKind::FormatErrors],
            Self::Duplicate { .. } => &[AlertKind::Duplicates],
            _ => &[],
        }
    }
}

/// One parameter's value, for writing a fault back out.
enum Param {
    P(Ranged<Probability>),
    D(Ranged<Duration>),
}

impl FaultKind {
    /// The kind as the file spells it ("Loss"), for messages.
    pub fn written(&self) -> &'static str {
        self.variant().1
    }

    fn variant(&self) -> (u32, &'static str, Vec<(&'static str, Param)>) {
        use Param::{D, P};
        match self {
            Self::Loss { p } => (0, "Loss", vec![("p", P(*p))]),
            Self::BurstLoss { p, r, bad_loss, good_loss } => (
                1,
                "BurstLoss",
                vec![
                    ("p", P(*p)),
                    ("r", P(*r)),
                    ("bad_loss", P(*bad_loss)),
                    ("good_loss", P(*good_loss)),
                ],
            ),
            Self::Duplicate { p } => (2, "Duplicate", vec![("p", P(*p))]),
            Self::Reorder { p, gap } => (3, "Reorder", vec![("p", P(*p)), ("gap", D(*gap))]),
            Self::Corrupt { p } => (4, "Corrupt", vec![("p", P(*p))]),
            Self::Delay { extra, jitter } => {
                (5, "Delay", vec![("extra", D(*extra)), ("jitter", D(*jitter))])
            }
            Self::DelayPastTimeout { by } => (6, "DelayPastTimeout", vec![("by", D(*by))]),
            Self::Outage {} => (7, "Outage", vec![]),
        }
    }
}

/// Written back out the way it is read: `Loss(p: 0.05, from: "1h")`.
impl Serialize for FaultSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (index, name, params) = self.kind.variant();
        let sc = &self.scope;
        let n = params.len()
            + usize::from(sc.from.is_some())
            + usize::from(sc.until.is_some())
            + usize::from(sc.direction.is_some())
            + usize::from(sc.mti.is_some())
            + usize::from(sc.terminal.is_some())
            + usize::from(sc.chance.is_some());
        let mut v = s.serialize_struct_variant("FaultKind", index, name, n)?;
        for (key, value) in params {
            match value {
                Param::P(p) => v.serialize_field(key, &p)?,
                Param::D(d) => v.serialize_field(key, &d)?,
            }
        }
        if let Some(from) = sc.from {
            v.serialize_field("from", &from)?;
        }
        if let Some(until) = sc.until {
            v.serialize_field("until", &until)?;
        }
        if let Some(dir) = sc.direction {
            v.serialize_field("direction", &DirName(dir))?;
        }
        if let Some(mti) = sc.mti {
            v.serialize_field("mti", &mti.to_string())?;
        }
        if let Some(t) = &sc.terminal {
            v.serialize_field("terminal", t)?;
        }
        if let Some(p) = sc.chance {
            v.serialize_field("chance", &p.0)?;
        }
        v.end()
    }
}

/// A direction as the scenario spells it (`Up`, `Down`).
struct DirName(super::Direction);

impl Serialize for DirName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            super::Direction::Up => s.serialize_unit_variant("Direction", 0, "Up"),
            super::Direction::Down => s.serialize_unit_variant("Direction", 1, "Down"),
        }
    }
}
