//! The built-in faults, in the vocabulary network engineers know from Linux
//! netem: each one a [`Rule`] of a few lines.

use super::Dir;
use super::rule::{Draw, Frame, Rule, Verdict};
use crate::time::Duration;

/// Independent loss with probability `p`.
#[derive(Debug, Clone)]
pub struct Loss {
    /// Loss probability.
    pub p: f64,
}

impl Rule for Loss {
    fn name(&self) -> &'static str {
        "loss"
    }
    fn on_frame(&mut self, _: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict {
        if draw.chance(self.p) { Verdict::Drop } else { Verdict::Pass }
    }
}

/// Gilbert-Elliott bursty loss (netem `loss gemodel p r 1-h 1-k`), with its
/// good/bad state kept per direction.
#[derive(Debug, Clone)]
pub struct BurstLoss {
    /// Probability of moving from the good to the bad state.
    pub p: f64,
    /// Probability of moving from the bad to the good state.
    pub r: f64,
    /// Loss probability in the bad state (1-h).
    pub bad_loss: f64,
    /// Loss probability in the good state (1-k).
    pub good_loss: f64,
    /// Whether each direction (up, down) is in the bad state.
    pub bad: [bool; 2],
}

impl BurstLoss {
    /// Starts in the good state.
    pub fn new(p: f64, r: f64, bad_loss: f64, good_loss: f64) -> Self {
        Self { p, r, bad_loss, good_loss, bad: [false; 2] }
    }
}

impl Rule for BurstLoss {
    fn name(&self) -> &'static str {
        "burst_loss"
    }
    fn on_frame(&mut self, frame: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict {
        let bad = &mut self.bad[usize::from(frame.dir == Dir::Down)];
        let flip = draw.unit();
        *bad = if *bad { flip >= self.r } else { flip < self.p };
        let loss = if *bad { self.bad_loss } else { self.good_loss };
        if draw.chance(loss) { Verdict::Drop } else { Verdict::Pass }
    }
}

/// The frame also arrives a second time.
#[derive(Debug, Clone)]
pub struct Duplicate {
    /// Probability.
    pub p: f64,
}

impl Rule for Duplicate {
    fn name(&self) -> &'static str {
        "duplicate"
    }
    fn on_frame(&mut self, _: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict {
        if draw.chance(self.p) { Verdict::Duplicate } else { Verdict::Pass }
    }
}

/// The frame is held back by `gap`, so later frames overtake it.
#[derive(Debug, Clone)]
pub struct Reorder {
    /// Probability.
    pub p: f64,
    /// How long it is held back.
    pub gap: Duration,
}

impl Rule for Reorder {
    fn name(&self) -> &'static str {
        "reorder"
    }
    fn on_frame(&mut self, _: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict {
        if self.gap.micros() > 0 && draw.chance(self.p) {
            Verdict::Hold(self.gap)
        } else {
            Verdict::Pass
        }
    }
}

/// One random bit of one random byte is flipped.
#[derive(Debug, Clone)]
pub struct Corrupt {
    /// Probability.
    pub p: f64,
}

impl Rule for Corrupt {
    fn name(&self) -> &'static str {
        "corrupt"
    }
    fn on_frame(&mut self, frame: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict {
        if frame.bytes.is_empty() || !draw.chance(self.p) {
            return Verdict::Pass;
        }
        let mut bytes = frame.bytes.to_vec();
        let offset = draw.below(bytes.len());
        let bit = draw.below(8);
        if let Some(b) = bytes.get_mut(offset) {
            *b ^= 1 << bit;
        }
        Verdict::Replace(bytes)
    }
}

/// The name of a plain [`Delay`].
pub const DELAY: &str = "delay";
/// The name of a [`Delay`] set just past the terminals' response timeout.
pub const DELAY_PAST_TIMEOUT: &str = "delay_past_timeout";

/// Extra delay, plus uniform jitter up to `jitter`.
#[derive(Debug, Clone)]
pub struct Delay {
    /// Its name: [`DELAY`], or [`DELAY_PAST_TIMEOUT`] for the preset.
    pub name: &'static str,
    /// Added latency.
    pub extra: Duration,
    /// Added uniform jitter.
    pub jitter: Duration,
}

impl Rule for Delay {
    fn name(&self) -> &'static str {
        self.name
    }
    fn on_frame(&mut self, _: &Frame<'_>, draw: &mut Draw<'_>) -> Verdict {
        let jitter = if self.jitter.micros() > 0 {
            (draw.unit() * self.jitter.micros() as f64) as u64
        } else {
            0
        };
        match self.extra.micros().saturating_add(jitter) {
            0 => Verdict::Pass,
            us => Verdict::Delay(Duration(us)),
        }
    }
}

/// The link is down over the rule's window: a frame sent, in transit or
/// arriving then is lost.
#[derive(Debug, Clone)]
pub struct Outage;

impl Rule for Outage {
    fn name(&self) -> &'static str {
        "outage"
    }
    fn on_frame(&mut self, _: &Frame<'_>, _: &mut Draw<'_>) -> Verdict {
        Verdict::Drop
    }
    fn is_outage(&self) -> bool {
        true
    }
}
