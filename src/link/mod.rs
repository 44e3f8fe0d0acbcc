//! What happens to frames in transit (sans-IO).
//!
//! A link carries whole frames (one ISO 8583 message each) in two directions.
//! [`LinkCore::send`] takes a frame and "now" and returns when and in what
//! shape each copy arrives, and which faults fired; the driver schedules the
//! deliveries. The vocabulary is netem's: latency with jitter and a
//! distribution, loss (independent or Gilbert-Elliott bursts), duplication,
//! reordering, corruption, bandwidth and outage windows. Every fault is a
//! [`Rule`] (see [`rule`]) with an optional time window and filter
//! (direction, MTI, terminal): a [`Scope`].
//!
//! Determinism: each rule's decisions for a frame come from a ChaCha stream
//! keyed by (seed, link, direction, the rule's position on the link) and
//! moved to the frame's index, and latency from one keyed by (seed, link,
//! direction), so one frame's fate does not depend on how many random
//! numbers earlier frames used, and a real-time proxy keyed the same way
//! makes the same decisions.

pub mod netem;
pub mod rule;

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::protocol::iso8583::{Mti, Spec};
use crate::time::{Duration, SimTime};

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Up => 0,
            Self::Down => 1,
        }
    }
}

/// The shape of the jitter added to the base latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Bytes that may wait for the bandwidth before new frames are dropped.
    pub queue: u64,
}

impl Default for LinkParams {
    /// 40 ms latency, 10 ms uniform jitter, unlimited bandwidth, 54 bytes
    /// of headers, a 16 KiB send queue.
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            distribution: Distribution::Uniform,
            bandwidth: None,
            overhead: 54,
            queue: 16 * 1024,
        }
    }
}

/// A fault is a rule: see [`rule`]. The built-in ones are in [`netem`].
pub use rule::{Draw, Effect, Fired, Frame, Installed, Rule, Scope, Verdict};

/// Which frame is being sent, as the driver knows it.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// Which way.
    pub dir: Dir,
    /// Its MTI, if readable.
    pub mti: Option<Mti>,
    /// The terminal at the far end from the host, if known.
    pub terminal: Option<&'a str>,
}

/// One copy of a frame arriving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it arrives.
    pub at: SimTime,
    /// The bytes as they arrive (changed, if a rule said so).
    pub bytes: Vec<u8>,
    /// True for the duplicate copy.
    pub duplicate: bool,
}

/// A frame a rule created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Which way it travels.
    pub dir: Dir,
    /// When it arrives.
    pub at: SimTime,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The fate of one frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transit {
    /// Copies that will arrive (none if dropped).
    pub deliveries: Vec<Delivery>,
    /// Frames rules injected.
    pub injected: Vec<Injection>,
    /// What acted on it, in order.
    pub fired: Vec<Fired>,
    /// How long it waited behind earlier frames for the bandwidth.
    pub queued: Duration,
    /// True when the bytes that arrive differ from the bytes sent.
    pub changed: bool,
    /// Card data a rule read from the frame, with the attack that owns the rule.
    pub stolen: Vec<(Option<usize>, crate::attack::Theft)>,
}

impl Transit {
    /// True when no copy arrives.
    pub fn dropped(&self) -> bool {
        self.deliveries.is_empty()
    }
}

/// The name under which a full send queue's drops are counted.
pub const QUEUE_FULL: &str = "queue_full";

#[derive(Debug, Clone)]
struct DirState {
    latency: ChaCha8Rng,
    sent: u64,
    tx_free_at: SimTime,
    last_arrival: SimTime,
}

/// One link: parameters, rules, and per-direction state.
#[derive(Debug)]
pub struct LinkCore {
    id: String,
    params: LinkParams,
    rules: Vec<Installed>,
    spec: Arc<Spec>,
    dirs: [DirState; 2],
}

impl LinkCore {
    /// A link named `id` under scenario `seed`, with its rules in order.
    pub fn new(
        id: &str,
        seed: u64,
        params: LinkParams,
        rules: Vec<(Box<dyn Rule>, Scope)>,
        spec: Arc<Spec>,
    ) -> Self {
        let dir_state = |dir: Dir| {
            let key = crate::rng::chacha_key(seed, &format!("link/{id}/{}", dir.as_str()));
            DirState {
                latency: ChaCha8Rng::from_seed(key),
                sent: 0,
                tx_free_at: SimTime(0),
                last_arrival: SimTime(0),
            }
        };
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, (rule, scope))| Installed::new(rule, scope, seed, id, i))
            .collect();
        Self {
            id: id.into(),
            params,
            rules,
            spec,
            dirs: [dir_state(Dir::Up), dir_state(Dir::Down)],
        }
    }

    /// The link's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The healthy parameters.
    pub fn params(&self) -> &LinkParams {
        &self.params
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Installed] {
        &self.rules
    }

    /// Arms or disarms every rule with this name; returns how many changed.
    pub fn arm(&mut self, name: &str, armed: bool) -> usize {
        let mut n = 0;
        for r in self.rules.iter_mut().filter(|r| r.rule.name() == name && r.armed != armed) {
            r.armed = armed;
            n += 1;
        }
        n
    }

    /// Adds a rule after the others (a test's own rule, an attack armed mid-run).
    pub fn install(&mut self, seed: u64, rule: Box<dyn Rule>, scope: Scope) {
        let position = self.rules.len();
        self.rules.push(Installed::new(rule, scope, seed, &self.id, position));
    }

    /// Sends a frame at `now` and decides its fate: the rules first, then
    /// the bandwidth queue, the latency, and last the outages, which lose a
    /// frame in transit at any instant they cover (decided here, once).
    pub fn send(&mut self, now: SimTime, meta: Meta<'_>, bytes: Vec<u8>) -> Transit {
        let di = meta.dir.index();
        let index = self.dirs[di].sent;
        self.dirs[di].sent += 1;

        let mut out = Transit::default();
        let mut bytes = bytes;
        let (mut extra, mut hold) = (0u64, 0u64);
        let mut duplicate = false;
        for Installed { rule, scope, armed, streams } in self.rules.iter_mut() {
            if !*armed
                || rule.is_outage()
                || !scope.active(now)
                || !scope.selects(meta.dir, meta.mti, meta.terminal)
            {
                continue;
            }
            let frame = Frame {
                bytes: &bytes,
                dir: meta.dir,
                mti: meta.mti,
                terminal: meta.terminal,
                link: &self.id,
                index,
                at: now,
                spec: &self.spec,
            };
            let stream = &streams[di];
            let mut draw = Draw::new(stream, index);
            let verdict = rule.on_frame(&frame, &mut draw);
            let fault = rule.name();
            // What a reading rule (a man in the middle) took from the frame.
            for t in rule.take() {
                out.stolen.push((rule.owner(), t));
            }
            let effect = match verdict {
                Verdict::Pass => continue,
                Verdict::Drop => {
                    out.fired.push(Fired { fault, effect: Effect::Dropped });
                    return out;
                }
                Verdict::Answer(answer) => {
                    let back = match meta.dir {
                        Dir::Up => Dir::Down,
                        Dir::Down => Dir::Up,
                    };
                    out.injected.push(Injection { dir: back, at: now, bytes: answer });
                    out.fired.push(Fired { fault, effect: Effect::Answered });
                    return out;
                }
                Verdict::Delay(d) => {
                    extra = extra.saturating_add(d.micros());
                    Effect::Delayed { extra_us: d.micros() }
                }
                Verdict::Hold(d) => {
                    hold = hold.saturating_add(d.micros());
                    Effect::Held { gap_us: d.micros() }
                }
                Verdict::Duplicate => {
                    duplicate = true;
                    Effect::Duplicated
                }
                Verdict::Intercept => Effect::Intercepted,
                Verdict::Replace(new) => {
                    let Some((offset, changed)) = rule::diff(&bytes, &new) else { continue };
                    bytes = new;
                    out.changed = true;
                    Effect::Replaced { offset, changed }
                }
                Verdict::Inject { dir, bytes: injected, after } => {
                    out.injected.push(Injection {
                        dir,
                        at: SimTime(now.0.saturating_add(after.micros())),
                        bytes: injected,
                    });
                    Effect::Injected { dir }
                }
            };
            out.fired.push(Fired { fault, effect });
        }

        let params = &self.params;
        let state = &mut self.dirs[di];
        let serialise = params
            .bandwidth
            .filter(|&bw| bw > 0)
            .map_or(0, |bw| (bytes.len() as u64 + params.overhead).saturating_mul(1_000_000) / bw);
        let start = now.max(state.tx_free_at);
        out.queued = Duration(start.0 - now.0);
        if let Some(bw) = params.bandwidth.filter(|&bw| bw > 0) {
            // Drop-tail: the bytes waiting ahead of this frame, plus it,
            // must fit the queue, or it is lost (as a router's would be).
            let backlog = out.queued.micros().saturating_mul(bw) / 1_000_000;
            if backlog.saturating_add(bytes.len() as u64) > params.queue {
                out.fired.push(Fired { fault: QUEUE_FULL, effect: Effect::Dropped });
                return out;
            }
        }
        let latency = sample_latency(params, &state.latency, index);
        state.tx_free_at = SimTime(start.0.saturating_add(serialise));
        let mut at = SimTime(
            start.0.saturating_add(serialise).saturating_add(latency).saturating_add(extra),
        );
        if hold == 0 {
            // Frames keep their order (as on one TCP connection) unless a
            // rule holds one back.
            at = at.max(state.last_arrival);
            state.last_arrival = at;
        } else {
            at = SimTime(at.0.saturating_add(hold));
        }
        if let Some(fault) = self.outage_over(now, at, meta) {
            out.fired.push(Fired { fault, effect: Effect::Dropped });
            return out;
        }
        out.deliveries.push(Delivery { at, bytes: bytes.clone(), duplicate: false });
        if duplicate {
            let again = SimTime(at.0.saturating_add(serialise.max(100)));
            if self.outage_over(now, again, meta).is_none() {
                out.deliveries.push(Delivery { at: again, bytes, duplicate: true });
            }
        }
        out
    }

    /// The name of the first armed outage that selects this frame and
    /// covers any instant of [sent, arrives], if one does.
    pub fn outage_over(
        &self,
        sent: SimTime,
        arrives: SimTime,
        meta: Meta<'_>,
    ) -> Option<&'static str> {
        self.rules
            .iter()
            .find(|r| {
                r.armed
                    && r.rule.is_outage()
                    && r.scope.selects(meta.dir, meta.mti, meta.terminal)
                    && r.scope.overlaps(sent, arrives)
            })
            .map(|r| r.rule.name())
    }

    /// True when an armed outage covers `at` for frames like `meta`.
    pub fn is_down(&self, at: SimTime, meta: Meta<'_>) -> bool {
        self.outage_over(at, at, meta).is_some()
    }
}

/// The base latency plus jitter for frame `index`, from the link's own stream.
fn sample_latency(params: &LinkParams, base: &ChaCha8Rng, index: u64) -> u64 {
    let mut draw = Draw::new(base, index);
    let jitter = params.jitter.micros() as f64;
    let latency = params.latency.micros() as f64;
    if jitter == 0.0 {
        return params.latency.micros();
    }
    let latency = match params.distribution {
        Distribution::Uniform => latency + jitter * (2.0 * draw.unit() - 1.0),
        Distribution::Normal => {
            let (u1, u2) = (1.0 - draw.unit(), draw.unit());
            latency
                + jitter * libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)
        }
        Distribution::Pareto => {
            latency + jitter * (libm::pow(1.0 - draw.unit(), -1.0 / 3.0) - 1.0) * 2.0
        }
        Distribution::Exponential => latency - jitter * libm::log(1.0 - draw.unit()),
    };
    latency.max(0.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::netem::*;
    use super::*;

    fn quiet() -> LinkParams {
        LinkParams { jitter: Duration::ZERO, ..LinkParams::default() }
    }

    fn spec() -> Arc<Spec> {
        Arc::new(Spec::iso87_ascii())
    }

    fn link(seed: u64, params: LinkParams, rules: Vec<(Box<dyn Rule>, Scope)>) -> LinkCore {
        LinkCore::new("uplink", seed, params, rules, spec())
    }

    fn always(rule: impl Rule + 'static) -> (Box<dyn Rule>, Scope) {
        (Box::new(rule), Scope::default())
    }

    fn up(mti: Option<Mti>) -> Meta<'static> {
        Meta { dir: Dir::Up, mti, terminal: None }
    }

    fn down(mti: Option<Mti>) -> Meta<'static> {
        Meta { dir: Dir::Down, mti, terminal: None }
    }

    #[test]
    fn latency_delays_delivery() {
        let mut l = link(1, quiet(), vec![]);
        let t = l.send(SimTime(1000), up(None), b"0200".to_vec());
        // The lower bound proves the latency was honoured: 40 ms after sending.
        assert_eq!(t.deliveries.len(), 1);
        assert_eq!(t.deliveries[0].at, SimTime(41_000));
        assert!(t.fired.is_empty());
    }

    #[test]
    fn an_outage_drops_everything_in_its_window() {
        let scope = Scope { from: Some(SimTime(0)), until: Some(SimTime(10)), ..Scope::default() };
        let mut l = link(1, quiet(), vec![(Box::new(Outage), scope)]);
        assert!(l.send(SimTime(5), up(None), b"0200".to_vec()).dropped());
        assert!(l.is_down(SimTime(9), down(None)));
        assert!(!l.is_down(SimTime(10), down(None)));
        assert_eq!(l.send(SimTime(10), up(None), b"0200".to_vec()).deliveries.len(), 1);
    }

    #[test]
    fn a_frame_in_transit_when_the_link_goes_down_is_lost_at_sending() {
        // Sent 1 ms before an outage, it would arrive 39 ms into it: the link
        // decides that once, when the frame is sent.
        let scope =
            Scope { from: Some(SimTime(1_000)), until: Some(SimTime(60_000)), ..Scope::default() };
        let mut l = link(1, quiet(), vec![(Box::new(Outage), scope)]);
        let t = l.send(SimTime(0), up(None), b"0200".to_vec());
        assert!(t.dropped());
        assert_eq!(t.fired, vec![Fired { fault: "outage", effect: Effect::Dropped }]);
    }

    #[test]
    fn filters_select_direction_mti_and_terminal() {
        let scope = Scope {
            direction: Some(Dir::Down),
            mti: Some(Mti::RESPONSE),
            terminal: Some("TERM0001".into()),
            ..Scope::default()
        };
        let mut l = link(1, quiet(), vec![(Box::new(Loss { p: 1.0 }), scope)]);
        let on = |dir, mti, terminal| Meta { dir, mti: Some(mti), terminal };
        assert!(
            !l.send(SimTime(0), on(Dir::Up, Mti::REQUEST, Some("TERM0001")), vec![1]).dropped()
        );
        assert!(
            !l.send(SimTime(0), on(Dir::Down, Mti::NETWORK_RESPONSE, Some("TERM0001")), vec![1])
                .dropped()
        );
        assert!(
            !l.send(SimTime(0), on(Dir::Down, Mti::RESPONSE, Some("TERM0002")), vec![1]).dropped()
        );
        assert!(
            l.send(SimTime(0), on(Dir::Down, Mti::RESPONSE, Some("TERM0001")), vec![1]).dropped()
        );
    }

    #[test]
    fn every_frame_is_accounted_for() {
        let rules =
            vec![always(Loss { p: 0.2 }), always(Duplicate { p: 0.3 }), always(Corrupt { p: 0.5 })];
        let mut l = link(9, LinkParams::default(), rules);
        let (mut delivered, mut dropped, mut dups) = (0, 0, 0);
        for i in 0..2000 {
            let t = l.send(SimTime(i * 1000), up(None), vec![0x30; 50]);
            if t.fired.iter().any(|f| f.effect.is_drop()) {
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
        let fates = |seed| {
            let mut l = link(seed, LinkParams::default(), vec![always(Loss { p: 0.5 })]);
            (0..64).map(|i| l.send(SimTime(i), up(None), vec![1])).collect::<Vec<_>>()
        };
        assert_eq!(fates(3), fates(3));
        assert_ne!(fates(3), fates(4));
    }

    #[test]
    fn adding_a_rule_does_not_change_another_rules_decisions() {
        // Each rule draws from its own stream: a duplicate rule installed
        // after the loss rule leaves every loss decision as it was.
        let losses = |rules: Vec<(Box<dyn Rule>, Scope)>| {
            let mut l = link(5, quiet(), rules);
            (0..200)
                .map(|i| l.send(SimTime(i * 1000), up(None), vec![1]).dropped())
                .collect::<Vec<_>>()
        };
        let alone = losses(vec![always(Loss { p: 0.3 })]);
        let with = losses(vec![always(Loss { p: 0.3 }), always(Duplicate { p: 0.5 })]);
        assert_eq!(alone, with);
    }

    #[test]
    fn bandwidth_queues_frames_behind_each_other() {
        let p = LinkParams { bandwidth: Some(1000), overhead: 0, ..quiet() };
        let mut l = link(1, p, vec![]);
        let a = l.send(SimTime(0), up(None), vec![0; 100]);
        let b = l.send(SimTime(0), up(None), vec![0; 100]);
        // 100 bytes at 1000 B/s take 100 ms each, plus 40 ms latency.
        assert_eq!(a.deliveries[0].at, SimTime(140_000));
        assert_eq!(b.deliveries[0].at, SimTime(240_000));
        assert_eq!(b.queued, Duration::from_millis(100));
    }

    #[test]
    fn a_full_send_queue_drops_the_tail_and_says_so() {
        // 300 bytes/s and a 1000-byte queue: the 11th 100-byte frame sent at
        // once finds 1000 bytes ahead of it and is dropped.
        let p = LinkParams { bandwidth: Some(300), overhead: 0, queue: 1000, ..quiet() };
        let mut l = link(1, p, vec![]);
        let fates: Vec<_> = (0..12).map(|_| l.send(SimTime(0), up(None), vec![0; 100])).collect();
        assert!(fates[..10].iter().all(|t| !t.dropped()));
        assert!(fates[10].dropped());
        assert_eq!(fates[10].fired, vec![Fired { fault: QUEUE_FULL, effect: Effect::Dropped }]);
    }

    #[test]
    fn a_zero_delay_does_not_count_as_fired() {
        let d = Delay { name: "delay", extra: Duration::ZERO, jitter: Duration::ZERO };
        let mut l = link(1, quiet(), vec![always(d)]);
        assert!(l.send(SimTime(0), up(None), vec![1]).fired.is_empty());
    }

    #[test]
    fn a_disarmed_rule_sees_no_frames() {
        let mut l = link(1, quiet(), vec![always(Loss { p: 1.0 })]);
        assert!(l.send(SimTime(0), up(None), vec![1]).dropped());
        assert_eq!(l.arm("loss", false), 1);
        assert!(!l.send(SimTime(0), up(None), vec![1]).dropped());
    }

    // Pins on what the link decides: each of these fails on a mutant that
    // every other test let through (cargo-mutants).

    fn latencies(distribution: Distribution) -> Vec<u64> {
        let p = LinkParams {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            distribution,
            ..LinkParams::default()
        };
        let base = ChaCha8Rng::seed_from_u64(7);
        (0..20_000).map(|i| sample_latency(&p, &base, i)).collect()
    }

    fn mean_and_sd(xs: &[u64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn latencies_follow_their_distribution() {
        let u = latencies(Distribution::Uniform);
        assert!(u.iter().all(|&x| (30_000..=50_000).contains(&x)));
        let (m, sd) = mean_and_sd(&u);
        assert!((m - 40_000.0).abs() < 300.0 && (sd - 5_773.0).abs() < 300.0, "{m} {sd}");
        let (m, sd) = mean_and_sd(&latencies(Distribution::Normal));
        assert!((m - 40_000.0).abs() < 300.0 && (sd - 10_000.0).abs() < 400.0, "{m} {sd}");
        // Pareto (shape 3) and exponential only ever add to the base latency.
        let pareto = latencies(Distribution::Pareto);
        assert!(pareto.iter().all(|&x| x >= 40_000));
        let (m, _) = mean_and_sd(&pareto);
        assert!((m - 50_000.0).abs() < 1_000.0, "{m}");
        // Half the frames within 0.52 jitter of the base: a long tail, not a shift.
        let mut sorted = pareto.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        assert!((44_600..=45_800).contains(&median), "{median}");
        let exp = latencies(Distribution::Exponential);
        assert!(exp.iter().all(|&x| x >= 40_000));
        let (m, sd) = mean_and_sd(&exp);
        assert!((m - 50_000.0).abs() < 400.0 && (sd - 10_000.0).abs() < 500.0, "{m} {sd}");
        let flat = LinkParams { jitter: Duration::ZERO, ..LinkParams::default() };
        assert_eq!(sample_latency(&flat, &ChaCha8Rng::seed_from_u64(1), 3), 40_000);
    }

    #[test]
    fn frames_keep_their_order_on_a_jittery_link_unless_a_rule_holds_one() {
        let mut l = link(3, LinkParams::default(), vec![]);
        let mut last = SimTime(0);
        for i in 0..2_000u64 {
            let t = l.send(SimTime(i * 1_000), up(None), b"0200".to_vec());
            assert!(!t.dropped());
            assert!(t.deliveries[0].at >= last, "frame {i} overtook");
            last = t.deliveries[0].at;
        }
        // A held frame is overtaken by the next one.
        let mut l = link(3, quiet(), vec![]);
        l.install(
            3,
            Box::new(Reorder { p: 1.0, gap: Duration::from_millis(500) }),
            Scope { until: Some(SimTime(1)), ..Scope::default() },
        );
        let held = l.send(SimTime(0), up(None), b"0200".to_vec());
        let next = l.send(SimTime(1_000), up(None), b"0200".to_vec());
        assert!(next.deliveries[0].at < held.deliveries[0].at);
    }

    #[test]
    fn bursty_loss_has_the_gilbert_elliott_rate_and_burst_length() {
        let mut l = link(5, quiet(), vec![always(BurstLoss::new(0.05, 0.5, 1.0, 0.0))]);
        let lost: Vec<bool> =
            (0..20_000u64).map(|i| l.send(SimTime(i), up(None), b"x".to_vec()).dropped()).collect();
        let rate = lost.iter().filter(|&&d| d).count() as f64 / lost.len() as f64;
        // Stationary bad share p / (p + r), bursts of 1 / r on average.
        assert!((rate - 0.0909).abs() < 0.01, "{rate}");
        let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count() as f64;
        let mean_burst = lost.iter().filter(|&&d| d).count() as f64 / bursts;
        assert!((mean_burst - 2.0).abs() < 0.2, "{mean_burst}");
    }

    #[test]
    fn a_delay_adds_its_extra_plus_up_to_its_jitter() {
        let mut d = Delay {
            name: DELAY,
            extra: Duration::from_millis(100),
            jitter: Duration::from_millis(50),
        };
        let base = ChaCha8Rng::seed_from_u64(9);
        let mut sum = 0u64;
        for i in 0..5_000 {
            let frame = Frame {
                bytes: b"x",
                dir: Dir::Up,
                mti: None,
                terminal: None,
                link: "uplink",
                index: i,
                at: SimTime(0),
                spec: &Spec::iso87_ascii(),
            };
            let Verdict::Delay(us) = d.on_frame(&frame, &mut Draw::new(&base, i)) else {
                panic!("a delay always delays")
            };
            assert!((100_000..150_000).contains(&us.micros()), "{us}");
            sum += us.micros();
        }
        assert!(((sum / 5_000) as i64 - 125_000).abs() < 1_500);
    }

    #[test]
    fn a_reorder_with_no_gap_does_nothing() {
        let mut l = link(1, quiet(), vec![always(Reorder { p: 1.0, gap: Duration::ZERO })]);
        assert!(l.send(SimTime(0), up(None), b"x".to_vec()).fired.is_empty());
    }

    #[test]
    fn windows_end_where_they_say() {
        let s = Scope { from: Some(SimTime(10)), until: Some(SimTime(20)), ..Scope::default() };
        assert!(!s.active(SimTime(9)) && s.active(SimTime(10)) && s.active(SimTime(19)));
        assert!(!s.active(SimTime(20)), "until is exclusive");
        assert!(s.overlaps(SimTime(0), SimTime(10)) && s.overlaps(SimTime(19), SimTime(30)));
        assert!(!s.overlaps(SimTime(20), SimTime(30)) && !s.overlaps(SimTime(0), SimTime(9)));
    }

    #[test]
    fn a_replacement_is_located_by_its_first_changed_byte_and_count() {
        assert_eq!(rule::diff(b"abcd", b"abcd"), None);
        assert_eq!(rule::diff(b"abcd", b"abXY"), Some((2, 2)));
        assert_eq!(rule::diff(b"abcd", b"aXcdEF"), Some((1, 3)));
    }

    #[test]
    fn names_and_arming_are_as_documented() {
        assert_eq!((Dir::Up.as_str(), Dir::Down.as_str()), ("up", "down"));
        let rules: Vec<Box<dyn Rule>> = vec![
            Box::new(Loss { p: 0.1 }),
            Box::new(BurstLoss::new(0.1, 0.1, 1.0, 0.0)),
            Box::new(Duplicate { p: 0.1 }),
            Box::new(Reorder { p: 0.1, gap: Duration::from_millis(1) }),
            Box::new(Corrupt { p: 0.1 }),
            Box::new(Outage),
        ];
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["loss", "burst_loss", "duplicate", "reorder", "corrupt", "outage"]);
        let mut l = link(1, quiet(), vec![always(Loss { p: 1.0 })]);
        assert_eq!(l.arm("loss", false), 1);
        assert_eq!(l.arm("loss", false), 0, "already disarmed");
        assert!(!l.send(SimTime(0), up(None), b"x".to_vec()).dropped());
        assert_eq!(l.arm("loss", true), 1);
        assert!(l.send(SimTime(1), up(None), b"x".to_vec()).dropped());
    }
}
