//! The frame rule engine: every fault and every attack on a link is a
//! [`Rule`] that sees one whole frame and returns a [`Verdict`].
//!
//! The engine is sans-IO and knows nothing of the world: the headless link
//! calls it in virtual time, and a real-time proxy can call it unchanged with
//! microseconds since its start and a connection number in place of a link.
//! Rules run in the order they were installed. Their verdicts compose: a
//! delay adds to the others, a duplicate adds a copy, a replacement changes
//! the bytes every later rule sees, an injection adds a frame; the first
//! `Drop` ends the frame's journey. Each rule draws from its own random
//! stream keyed by (seed, link, direction, rule position, frame index), so a
//! rule's decision for a frame does not depend on any other rule, on how many
//! draws earlier frames took, or on the order the driver ran in.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::Serialize;

use super::Dir;
use crate::protocol::iso8583::{Mti, Spec};
use crate::time::{Duration, SimTime};

/// One frame as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The bytes as they are now (after any earlier rule replaced them).
    pub bytes: &'a [u8],
    /// Which way it travels.
    pub dir: Dir,
    /// Its MTI, if the dialect could read one.
    pub mti: Option<Mti>,
    /// The terminal at the far end from the host, if known.
    pub terminal: Option<&'a str>,
    /// The link (or, in a proxy, the connection) it travels on.
    pub link: &'a str,
    /// Its index among the frames sent this way on this link, from 0.
    pub index: u64,
    /// When it was sent (virtual or wall microseconds since the start).
    pub at: SimTime,
    /// The dialect, to read and rewrite fields.
    pub spec: &'a Spec,
}

/// What a rule does to a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing.
    Pass,
    /// The frame is lost.
    Drop,
    /// It arrives later by this much, in order (frames behind it wait).
    Delay(Duration),
    /// It is held back by this much out of order (frames behind it overtake).
    Hold(Duration),
    /// A second copy arrives after it.
    Duplicate,
    /// It arrives as these bytes instead (corruption, tampering).
    Replace(Vec<u8>),
    /// It passes unchanged through the rule's hands: a man in the middle
    /// who terminated the connection (a rogue certificate accepted) and
    /// now sees it in clear.
    Intercept,
    /// The frame is lost, and these bytes go back to its sender at once: a
    /// man in the middle who answers in the host's place.
    Answer(Vec<u8>),
    /// A new frame goes out, in either direction, this long after now.
    Inject {
        /// Which way it goes: the frame's own direction, or back to the sender.
        dir: Dir,
        /// Its bytes.
        bytes: Vec<u8>,
        /// How long after the frame was sent.
        after: Duration,
    },
}

/// Random numbers for one rule and one frame, drawn lazily: a rule that
/// decides without chance costs no ChaCha block.
pub struct Draw<'a> {
    base: &'a ChaCha8Rng,
    index: u64,
    rng: Option<ChaCha8Rng>,
}

impl<'a> Draw<'a> {
    /// Draws for frame `index` from the rule's base stream.
    pub fn new(base: &'a ChaCha8Rng, index: u64) -> Self {
        Self { base, index, rng: None }
    }

    /// A uniform number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        let (base, index) = (self.base, self.index);
        let rng = self.rng.get_or_insert_with(|| {
            let mut r = base.clone();
            r.set_stream(index);
            r.set_word_pos(0);
            r
        });
        (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A uniform index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

/// A fault or an attack acting on whole frames.
pub trait Rule: Send + Sync + std::fmt::Debug {
    /// Its name in journals and reports ("loss", "delay_past_timeout"):
    /// written once, here.
    fn name(&self) -> &'static str;

    /// Decides what happens to one frame that its scope selected.
    fn on_frame(&mut self, frame: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict;

    /// True when the rule takes the link down over the window its scope
    /// gives it: a frame in transit at any instant of the window is lost.
    fn is_outage(&self) -> bool {
        false
    }

    /// The attack that installed it (its index in the scenario), if any.
    fn owner(&self) -> Option<usize> {
        None
    }

    /// Card data it read from the last frame (a man in the middle).
    fn take(&mut self) -> Vec<crate::attack::Theft> {
        Vec::new()
    }
}

/// When and to which frames a rule applies: a time window and a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Active from this time (inclusive), if set.
    pub from: Option<SimTime>,
    /// Active until this time (exclusive), if set.
    pub until: Option<SimTime>,
    /// Only frames in this direction, if set.
    pub direction: Option<Dir>,
    /// Only frames with this MTI, if set.
    pub mti: Option<Mti>,
    /// Only frames to or from this terminal, if set.
    pub terminal: Option<String>,
}

impl Scope {
    /// True when the window covers `at`.
    pub fn active(&self, at: SimTime) -> bool {
        self.from.is_none_or(|f| at >= f) && self.until.is_none_or(|u| at < u)
    }

    /// True when the filter selects the frame (window aside).
    pub fn selects(&self, dir: Dir, mti: Option<Mti>, terminal: Option<&str>) -> bool {
        self.direction.is_none_or(|d| d == dir)
            && self.mti.is_none_or(|m| Some(m) == mti)
            && self.terminal.as_deref().is_none_or(|t| Some(t) == terminal)
    }

    /// True when the window overlaps [start, end].
    pub fn overlaps(&self, start: SimTime, end: SimTime) -> bool {
        self.from.is_none_or(|f| end >= f) && self.until.is_none_or(|u| start < u)
    }
}

/// A rule in place on a link, with its scope and its random stream.
#[derive(Debug)]
pub struct Installed {
    /// The rule.
    pub rule: Box<dyn Rule>,
    /// Where and when it applies.
    pub scope: Scope,
    /// Off rules see no frames (a defence or an attack switched mid-run).
    pub armed: bool,
    pub(super) streams: [ChaCha8Rng; 2],
}

impl Installed {
    /// Installs `rule` as the `position`th rule of link `link` under `seed`.
    pub fn new(rule: Box<dyn Rule>, scope: Scope, seed: u64, link: &str, position: usize) -> Self {
        let stream = |dir: Dir| {
            let name = format!("link/{link}/{}/rule/{position}", dir.as_str());
            ChaCha8Rng::from_seed(crate::rng::chacha_key(seed, &name))
        };
        Self { rule, scope, armed: true, streams: [stream(Dir::Up), stream(Dir::Down)] }
    }
}

/// What a rule did to a frame, for the journal and the counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Fired {
    /// The rule's name.
    #[serde(deserialize_with = "crate::names::intern")]
    pub fault: crate::names::Static,
    /// What it did.
    #[serde(flatten)]
    pub effect: Effect,
}

/// The effect of a verdict, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Lost.
    Dropped,
    /// Arrives later, in order.
    Delayed {
        /// Microseconds added.
        extra_us: u64,
    },
    /// Held back out of order.
    Held {
        /// Microseconds held.
        gap_us: u64,
    },
    /// A second copy arrives.
    Duplicated,
    /// Passed unchanged through a man in the middle's hands.
    Intercepted,
    /// The bytes were changed.
    Replaced {
        /// The first byte that differs.
        offset: usize,
        /// How many bytes differ (over the longer of the two).
        changed: usize,
    },
    /// Swallowed, and answered in the other end's place.
    Answered,
    /// A new frame was sent.
    Injected {
        /// Which way the new frame goes (named apart from the record's own
        /// `dir`, the way the frame that set it off went).
        #[serde(rename = "injected_dir")]
        dir: Dir,
    },
}

impl Effect {
    /// True when the frame did not arrive.
    pub fn is_drop(&self) -> bool {
        matches!(self, Self::Dropped)
    }
}

/// Where two byte strings differ: the first offset and the count.
pub(super) fn diff(old: &[u8], new: &[u8]) -> Option<(usize, usize)> {
    let n = old.len().max(new.len());
    let differs = |i: usize| old.get(i) != new.get(i);
    let first = (0..n).find(|&i| differs(i))?;
    Some((first, (first..n).filter(|&i| differs(i)).count()))
}
