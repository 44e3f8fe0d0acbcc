//! What happens to frames in transit (sans-IO).
//!
//! A link carries whole frames (one ISO 8583 message each) in two directions.
//! [`LinkCore::send`] takes a frame and "now" and returns when and in what
//! shape each copy arrives, and which faults fired; the driver schedules the
//! deliveries. The vocabulary is netem's: latency with jitter and a
//! distribution, loss (independent or Gilbert-Elliott bursts), duplication,
//! reordering, corruption, bandwidth and outage windows. Every fault has an
//! optional time window and filter (direction, MTI).
//!
//! Determinism: each frame's decisions come from a ChaCha stream keyed by
//! (seed, link, direction, frame index), so one frame's fate does not depend
//! on how many random numbers earlier frames used, and a real-time proxy
//! keyed the same way makes the same decisions.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::protocol::iso8583::Mti;
use crate::time::{Duration, SimTime};

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all(serialize = "lowercase"))]
pub enum Dir {
    /// Terminal to host (requests).
    Up,
    /// Host to terminal (responses).
    Down,
}

impl Dir {
    /// "up" or "down".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Up => 0,
            Self::Down => 1,
        }
    }
}

/// The shape of the jitter added to the base latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Distribution {
    /// Uniform in [-jitter, +jitter].
    #[default]
    Uniform,
    /// Normal with standard deviation `jitter`.
    Normal,
    /// Pareto tail: mostly small, occasionally many times `jitter` (added only).
    Pareto,
    /// Exponential with mean `jitter` (added only).
    Exponential,
}

/// The healthy behaviour of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkParams {
    /// One-way base latency.
    pub latency: Duration,
    /// Jitter around it.
    pub jitter: Duration,
    /// Jitter distribution.
    pub distribution: Distribution,
    /// Bytes per second, if limited; frames queue behind each other.
    pub bandwidth: Option<u64>,
    /// Bytes added to every frame on the wire (headers), for the bandwidth.
    pub overhead: u64,
}

impl Default for LinkParams {
    /// 40 ms latency, 10 ms uniform jitter, unlimited bandwidth, 54 bytes of headers.
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            distribution: Distribution::Uniform,
            bandwidth: None,
            overhead: 54,
        }
    }
}

/// A fault, as netem knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// Independent loss with probability `p`.
    Loss {
        /// Loss probability.
        p: f64,
    },
    /// Gilbert-Elliott bursty loss (netem `loss gemodel p r 1-h 1-k`).
    BurstLoss {
        /// Probability of moving from the good to the bad state.
        p: f64,
        /// Probability of moving from the bad to the good state.
        r: f64,
        /// Loss probability in the bad state (1-h).
        bad_loss: f64,
        /// Loss probability in the good state (1-k).
        good_loss: f64,
    },
    /// The frame also arrives a second time.
    Duplicate {
        /// Probability.
        p: f64,
    },
    /// The frame is held back by `gap`, so later frames overtake it.
    Reorder {
        /// Probability.
        p: f64,
        /// How long it is held back.
        gap: Duration,
    },
    /// One random bit of one random byte is flipped.
    Corrupt {
        /// Probability.
        p: f64,
    },
    /// Extra delay (plus uniform jitter up to `jitter`).
    Delay {
        /// Added latency.
        extra: Duration,
        /// Added uniform jitter.
        jitter: Duration,
    },
    /// The link is down: frames sent or arriving in the window are lost.
    Outage,
}

impl Fault {
    /// A short name for reports: "loss", "outage".
    pub fn name(&self) -> &'static str {
        match self {
            Self::Loss { .. } => "loss",
            Self::BurstLoss { .. } => "burst_loss",
            Self::Duplicate { .. } => "duplicate",
            Self::Reorder { .. } => "reorder",
            Self::Corrupt { .. } => "corrupt",
            Self::Delay { .. } => "delay",
            Self::Outage => "outage",
        }
    }
}

/// A fault with its window and filter.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// What it does.
    pub fault: Fault,
    /// Active from this time (inclusive), if set.
    pub from: Option<SimTime>,
    /// Active until this time (exclusive), if set.
    pub until: Option<SimTime>,
    /// Only frames in this direction, if set.
    pub direction: Option<Dir>,
    /// Only frames with this MTI, if set.
    pub mti: Option<Mti>,
}

impl FaultRule {
    /// A rule active all the time for every frame.
    pub fn always(fault: Fault) -> Self {
        Self { fault, from: None, until: None, direction: None, mti: None }
    }

    fn active(&self, at: SimTime) -> bool {
        self.from.is_none_or(|f| at >= f) && self.until.is_none_or(|u| at < u)
    }

    fn matches(&self, at: SimTime, dir: Dir, mti: Option<Mti>) -> bool {
        self.active(at)
            && self.direction.is_none_or(|d| d == dir)
            && self.mti.is_none_or(|m| Some(m) == mti)
    }
}

/// Why a frame did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Independent loss.
    Loss,
    /// Gilbert-Elliott burst loss.
    BurstLoss,
    /// The link was down.
    Outage,
}

/// A fault that acted on a frame, for the journal and the fault counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fired {
    /// Lost.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// A second copy will arrive.
    Duplicated,
    /// Held back.
    Reordered {
        /// By how long (microseconds).
        gap_us: u64,
    },
    /// A bit was flipped.
    Corrupted {
        /// Byte offset.
        offset: usize,
        /// Bit (0 = least significant).
        bit: u8,
    },
    /// Extra delay applied.
    Delayed {
        /// Microseconds added.
        extra_us: u64,
    },
}

/// One copy of a frame arriving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrives.
    pub at: SimTime,
    /// The bytes as they arrive (corrupted, if a fault said so).
    pub bytes: Vec<u8>,
    /// True for the duplicate copy.
    pub duplicate: bool,
}

/// The fate of one frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transit {
    /// Copies that will arrive (none if dropped).
    pub deliveries: Vec<Delivery>,
    /// Faults that acted on it.
    pub fired: Vec<Fired>,
}

#[derive(Debug, Clone)]
struct DirState {
    base: ChaCha8Rng,
    sent: u64,
    tx_free_at: SimTime,
    last_arrival: SimTime,
    burst_bad: bool,
}

/// One link: parameters, fault rules and per-direction state.
#[derive(Debug, Clone)]
pub struct LinkCore {
    id: String,
    params: LinkParams,
    rules: Vec<FaultRule>,
    dirs: [DirState; 2],
}

impl LinkCore {
    /// A link named `id` under scenario `seed`.
    pub fn new(id: &str, seed: u64, params: LinkParams, rules: Vec<FaultRule>) -> Self {
        let dir_state = |dir: Dir| {
            let key = crate::rng::chacha_key(seed, &format!("link/{id}/{}", dir.as_str()));
            DirState {
                base: ChaCha8Rng::from_seed(key),
                sent: 0,
                tx_free_at: SimTime(0),
                last_arrival: SimTime(0),
                burst_bad: false,
            }
        };
        Self { id: id.into(), params, rules, dirs: [dir_state(Dir::Up), dir_state(Dir::Down)] }
    }

    /// The link's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The healthy parameters.
    pub fn params(&self) -> &LinkParams {
        &self.params
    }

    /// The fault rules, in order.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// True when an outage rule covers `at` for this direction and MTI.
    pub fn is_down(&self, at: SimTime, dir: Dir, mti: Option<Mti>) -> bool {
        self.rules.iter().any(|r| r.fault == Fault::Outage && r.matches(at, dir, mti))
    }

    /// Sends a frame at `now` and decides its fate.
    pub fn send(&mut self, now: SimTime, dir: Dir, bytes: Vec<u8>, mti: Option<Mti>) -> Transit {
        let params = &self.params;
        let state = &mut self.dirs[dir.index()];
        let index = state.sent;
        state.sent += 1;
        let mut rng = state.base.clone();
        rng.set_stream(index);
        rng.set_word_pos(0);
        let mut draw = || (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);

        let mut out = Transit::default();
        let mut bytes = bytes;
        let mut extra = 0u64;
        let mut duplicate = false;
        let mut reordered = false;
        for rule in self.rules.iter().filter(|r| r.matches(now, dir, mti)) {
            match rule.fault {
                Fault::Outage => {
                    out.fired.push(Fired::Dropped { reason: DropReason::Outage });
                    return out;
                }
                Fault::Loss { p } => {
                    if draw() < p {
                        out.fired.push(Fired::Dropped { reason: DropReason::Loss });
                        return out;
                    }
                }
                Fault::BurstLoss { p, r, bad_loss, good_loss } => {
                    let flip = draw();
                    state.burst_bad = if state.burst_bad { flip >= r } else { flip < p };
                    let loss = if state.burst_bad { bad_loss } else { good_loss };
                    if draw() < loss {
                        out.fired.push(Fired::Dropped { reason: DropReason::BurstLoss });
                        return out;
                    }
                }
                Fault::Duplicate { p } => {
                    if draw() < p {
                        duplicate = true;
                        out.fired.push(Fired::Duplicated);
                    }
                }
                Fault::Reorder { p, gap } => {
                    if draw() < p {
                        reordered = true;
                        extra += gap.micros();
                        out.fired.push(Fired::Reordered { gap_us: gap.micros() });
                    }
                }
                Fault::Corrupt { p } => {
                    if draw() < p && !bytes.is_empty() {
                        let offset = ((draw() * bytes.len() as f64) as usize).min(bytes.len() - 1);
                        let bit = ((draw() * 8.0) as u8).min(7);
                        if let Some(b) = bytes.get_mut(offset) {
                            *b ^= 1 << bit;
                        }
                        out.fired.push(Fired::Corrupted { offset, bit });
                    }
                }
                Fault::Delay { extra: e, jitter } => {
                    let d = e.micros() + (draw() * jitter.micros() as f64) as u64;
                    extra += d;
                    out.fired.push(Fired::Delayed { extra_us: d });
                }
            }
        }

        let jitter = params.jitter.micros() as f64;
        let base = params.latency.micros() as f64;
        let latency = match params.distribution {
            Distribution::Uniform => base + jitter * (2.0 * draw() - 1.0),
            Distribution::Normal => {
                let (u1, u2) = (1.0 - draw(), draw());
                base + jitter
                    * libm::sqrt(-2.0 * libm::log(u1))
                    * libm::cos(std::f64::consts::TAU * u2)
            }
            Distribution::Pareto => {
                base + jitter * (libm::pow(1.0 - draw(), -1.0 / 3.0) - 1.0) * 2.0
            }
            Distribution::Exponential => base - jitter * libm::log(1.0 - draw()),
        };
        let latency = latency.max(0.0).round() as u64;
        let serialise = params
            .bandwidth
            .filter(|&bw| bw > 0)
            .map_or(0, |bw| (bytes.len() as u64 + params.overhead) * 1_000_000 / bw);
        let start = now.max(state.tx_free_at);
        state.tx_free_at = SimTime(start.0 + serialise);
        let mut at = SimTime(start.0 + serialise + latency + extra);
        if !reordered {
            // Frames keep their order (as on one TCP connection) unless a
            // reorder fault holds one back.
            at = at.max(state.last_arrival);
            state.last_arrival = at;
        }
        if duplicate {
            out.deliveries.push(Delivery {
                at: SimTime(at.0 + serialise.max(100)),
                bytes: bytes.clone(),
                duplicate: true,
            });
        }
        out.deliveries.insert(0, Delivery { at, bytes, duplicate: false });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> LinkParams {
        LinkParams { jitter: Duration::ZERO, ..LinkParams::default() }
    }

    #[test]
    fn latency_delays_delivery() {
        let mut l = LinkCore::new("uplink", 1, quiet(), vec![]);
        let t = l.send(SimTime(1000), Dir::Up, b"0200".to_vec(), None);
        // The lower bound proves the latency was honoured: 40 ms after sending.
        assert_eq!(t.deliveries.len(), 1);
        assert_eq!(t.deliveries[0].at, SimTime(41_000));
        assert!(t.fired.is_empty());
    }

    #[test]
    fn an_outage_drops_everything_in_its_window() {
        let rule = FaultRule {
            from: Some(SimTime(0)),
            until: Some(SimTime(10)),
            ..FaultRule::always(Fault::Outage)
        };
        let mut l = LinkCore::new("uplink", 1, quiet(), vec![rule]);
        assert!(l.send(SimTime(5), Dir::Up, b"0200".to_vec(), None).deliveries.is_empty());
        assert!(l.is_down(SimTime(9), Dir::Down, None));
        assert!(!l.is_down(SimTime(10), Dir::Down, None));
        assert_eq!(l.send(SimTime(10), Dir::Up, b"0200".to_vec(), None).deliveries.len(), 1);
    }

    #[test]
    fn filters_select_direction_and_mti() {
        let rule = FaultRule {
            direction: Some(Dir::Down),
            mti: Some(Mti::RESPONSE),
            ..FaultRule::always(Fault::Loss { p: 1.0 })
        };
        let mut l = LinkCore::new("uplink", 1, quiet(), vec![rule]);
        assert_eq!(
            l.send(SimTime(0), Dir::Up, b"0200".to_vec(), Some(Mti::REQUEST)).deliveries.len(),
            1
        );
        assert_eq!(
            l.send(SimTime(0), Dir::Down, b"0810".to_vec(), Some(Mti::NETWORK_RESPONSE))
                .deliveries
                .len(),
            1
        );
        assert!(
            l.send(SimTime(0), Dir::Down, b"0210".to_vec(), Some(Mti::RESPONSE))
                .deliveries
                .is_empty()
        );
    }

    #[test]
    fn every_frame_is_accounted_for() {
        let rules = vec![
            FaultRule::always(Fault::Loss { p: 0.2 }),
            FaultRule::always(Fault::Duplicate { p: 0.3 }),
            FaultRule::always(Fault::Corrupt { p: 0.5 }),
        ];
        let mut l = LinkCore::new("uplink", 9, LinkParams::default(), rules);
        let (mut delivered, mut dropped, mut dups) = (0, 0, 0);
        for i in 0..2000 {
            let t = l.send(SimTime(i * 1000), Dir::Up, vec![0x30; 50], None);
            if t.fired.iter().any(|f| matches!(f, Fired::Dropped { .. })) {
                dropped += 1;
                assert!(t.deliveries.is_empty());
            }
            dups += t.deliveries.iter().filter(|d| d.duplicate).count();
            delivered += t.deliveries.len();
        }
        // delivered + dropped = sent + duplicated
        assert_eq!(delivered + dropped, 2000 + dups);
        assert!((300..500).contains(&dropped), "{dropped}");
    }

    #[test]
    fn the_same_frame_index_meets_the_same_fate() {
        let rules = vec![FaultRule::always(Fault::Loss { p: 0.5 })];
        let fates = |seed| {
            let mut l = LinkCore::new("uplink", seed, LinkParams::default(), rules.clone());
            (0..64).map(|i| l.send(SimTime(i), Dir::Up, vec![1], None)).collect::<Vec<_>>()
        };
        assert_eq!(fates(3), fates(3));
        assert_ne!(fates(3), fates(4));
    }

    #[test]
    fn bandwidth_queues_frames_behind_each_other() {
        let p = LinkParams { bandwidth: Some(1000), overhead: 0, ..quiet() };
        let mut l = LinkCore::new("slow", 1, p, vec![]);
        let a = l.send(SimTime(0), Dir::Up, vec![0; 100], None);
        let b = l.send(SimTime(0), Dir::Up, vec![0; 100], None);
        // 100 bytes at 1000 B/s take 100 ms each, plus 40 ms latency.
        assert_eq!(a.deliveries[0].at, SimTime(140_000));
        assert_eq!(b.deliveries[0].at, SimTime(240_000));
    }
}
