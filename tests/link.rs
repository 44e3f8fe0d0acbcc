//! The link core at its edges: the send queue measured from the moment a
//! frame is sent, a zero bandwidth taken as no limit, and the netem rules
//! exactly: one bit flipped by a corruption, bursts of loss that last until
//! the link recovers, a delay named for what it is, the rules listed back,
//! and card data a rule reads reported once and owned by no attack unless
//! the rule says so.

use std::sync::Arc;

use possim::link::netem::{BurstLoss, Corrupt, DELAY, Delay};
use possim::link::{Dir, Effect, LinkCore, LinkParams, Meta, Rule, Scope};
use possim::protocol::iso8583::Spec;
use possim::time::{Duration, SimTime};

fn meta(dir: Dir) -> Meta<'static> {
    Meta { dir, mti: None, terminal: None }
}

/// A link with no latency or jitter and these bandwidth and queue limits.
fn line(bandwidth: Option<u64>, queue: u64) -> LinkCore {
    let params = LinkParams {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        bandwidth,
        queue,
        ..LinkParams::default()
    };
    LinkCore::new("l", 1, params, vec![], Arc::new(Spec::iso87_ascii()))
}

#[test]
fn a_frame_waits_only_for_what_is_still_being_sent_when_it_is_sent() {
    // 1,000 bytes a second; a 946-byte frame and its 54 bytes of headers
    // take one second on the wire.
    let mut link = line(Some(1000), 2000);
    let frame = vec![0u8; 946];
    let at = SimTime(5_000_000);
    let first = link.send(at, meta(Dir::Up), frame.clone());
    assert_eq!(first.deliveries[0].at, SimTime(6_000_000));
    // Half a second later, half of the first is still on the wire.
    let second = link.send(SimTime(5_500_000), meta(Dir::Up), frame.clone());
    assert_eq!(second.queued, Duration::from_millis(500));
    assert_eq!(second.deliveries[0].at, SimTime(7_000_000));
    // 1,500 bytes are now waiting or on the wire: 500 more fit, 501 do not.
    assert!(link.send(SimTime(5_500_000), meta(Dir::Up), vec![0u8; 501]).dropped());
    assert!(!link.send(SimTime(5_500_000), meta(Dir::Up), vec![0u8; 500]).dropped());
}

#[test]
fn a_zero_bandwidth_is_no_limit() {
    // Not a division by zero, and no queue to overflow.
    let mut link = line(Some(0), 100);
    for _ in 0..3 {
        let t = link.send(SimTime(1_000), meta(Dir::Down), vec![0u8; 5000]);
        assert_eq!(t.queued, Duration::ZERO, "{t:?}");
        assert_eq!(t.deliveries[0].at, SimTime(1_000), "{t:?}");
    }
}

/// A quiet, unlimited link with these rules, each applying to every frame.
fn with_rules(rules: Vec<Box<dyn Rule>>) -> LinkCore {
    let params =
        LinkParams { latency: Duration::ZERO, jitter: Duration::ZERO, ..LinkParams::default() };
    let rules = rules.into_iter().map(|r| (r, Scope::default())).collect();
    LinkCore::new("l", 7, params, rules, Arc::new(Spec::iso87_ascii()))
}

#[test]
fn a_corruption_flips_exactly_one_bit_and_spares_an_empty_frame() {
    let mut link = with_rules(vec![Box::new(Corrupt { p: 1.0 })]);
    let frame: Vec<u8> = (0..64u8).collect();
    let mut bits_seen = std::collections::BTreeSet::new();
    for i in 0..200 {
        let t = link.send(SimTime(i), meta(Dir::Up), frame.clone());
        let got = &t.deliveries[0].bytes;
        let flipped: u32 = got.iter().zip(&frame).map(|(a, b)| (a ^ b).count_ones()).sum();
        assert_eq!(flipped, 1, "{got:02X?}");
        assert!(t.changed);
        let at = got.iter().zip(&frame).position(|(a, b)| a != b).unwrap();
        bits_seen.insert((got[at] ^ frame[at]).trailing_zeros());
    }
    assert_eq!(bits_seen.len(), 8, "any of a byte's eight bits: {bits_seen:?}");
    let t = link.send(SimTime(500), meta(Dir::Up), vec![]);
    assert_eq!((t.deliveries[0].bytes.len(), t.fired.len(), t.changed), (0, 0, false), "{t:?}");
    // Never at p = 0.
    let mut calm = with_rules(vec![Box::new(Corrupt { p: 0.0 })]);
    for i in 0..50 {
        let t = calm.send(SimTime(i), meta(Dir::Up), frame.clone());
        assert_eq!(t.deliveries[0].bytes, frame);
        assert!(t.fired.is_empty());
    }
}

/// Which of 40 frames sent up a link with this burst loss arrive.
fn arrivals(rule: BurstLoss) -> Vec<bool> {
    let mut link = with_rules(vec![Box::new(rule)]);
    (0..40).map(|i| !link.send(SimTime(i), meta(Dir::Up), vec![1, 2, 3]).dropped()).collect()
}

#[test]
fn a_burst_of_loss_lasts_until_the_link_recovers() {
    // Always into the bad state, never out of it: everything lost.
    assert!(arrivals(BurstLoss::new(1.0, 0.0, 1.0, 0.0)).iter().all(|&a| !a));
    // Into the bad state and straight out again: every other frame lost.
    let alternate: Vec<bool> = (0..40).map(|i| i % 2 == 1).collect();
    assert_eq!(arrivals(BurstLoss::new(1.0, 1.0, 1.0, 0.0)), alternate);
    // Never bad, no loss when good: everything arrives.
    assert!(arrivals(BurstLoss::new(0.0, 0.5, 1.0, 0.0)).iter().all(|&a| a));
}

#[test]
fn a_delay_is_journalled_under_its_name_with_what_it_added() {
    let mut link = with_rules(vec![Box::new(Delay {
        name: DELAY,
        extra: Duration::from_millis(5),
        jitter: Duration::ZERO,
    })]);
    let t = link.send(SimTime(1_000), meta(Dir::Down), vec![9; 10]);
    assert_eq!(t.deliveries[0].at, SimTime(6_000));
    assert_eq!(t.fired.len(), 1);
    assert_eq!(
        (t.fired[0].fault, &t.fired[0].effect),
        ("delay", &Effect::Delayed { extra_us: 5_000 })
    );
    let names: Vec<&str> = link.rules().iter().map(|r| r.rule.name()).collect();
    assert_eq!(names, ["delay"]);
}

#[test]
fn a_link_lists_its_rules_in_order_and_arms_them_by_name() {
    let mut link = with_rules(vec![
        Box::new(Corrupt { p: 0.0 }),
        Box::new(Delay { name: DELAY, extra: Duration::ZERO, jitter: Duration::ZERO }),
    ]);
    let listed = |l: &LinkCore| -> Vec<(String, bool)> {
        l.rules().iter().map(|r| (r.rule.name().to_string(), r.armed)).collect()
    };
    assert_eq!(listed(&link), [("corrupt".to_string(), true), ("delay".to_string(), true)]);
    assert_eq!(link.arm("delay", false), 1);
    assert_eq!(listed(&link)[1], ("delay".to_string(), false));
}

/// A rule written outside the crate that reads card data off the wire and
/// says nothing of who installed it.
#[derive(Debug, Default)]
struct Sniffer(Vec<possim::attack::Theft>);

impl Rule for Sniffer {
    fn name(&self) -> &'static str {
        "sniffer"
    }
    fn on_frame(
        &mut self,
        _: &possim::link::Frame<'_>,
        _: &mut possim::link::Draw<'_>,
    ) -> possim::link::Verdict {
        self.0.push(possim::attack::Theft {
            pan: "4073662585178123".into(),
            stolen: possim::attack::Stolen::Pin("1234".into()),
        });
        possim::link::Verdict::Pass
    }
    fn take(&mut self) -> Vec<possim::attack::Theft> {
        std::mem::take(&mut self.0)
    }
}

#[test]
fn what_a_rule_reads_off_the_wire_is_reported_once_and_owned_by_no_attack_unless_it_says() {
    let mut link = with_rules(vec![Box::new(Sniffer::default())]);
    let t = link.send(SimTime(0), meta(Dir::Up), vec![1, 2, 3]);
    assert_eq!(t.stolen.len(), 1, "{t:?}");
    assert_eq!(t.stolen[0].0, None, "not an attack's: the default owner is none");
    assert_eq!(t.stolen[0].1.pan, "4073662585178123");
    assert_eq!(link.send(SimTime(1), meta(Dir::Up), vec![1]).stolen.len(), 1, "taken, not kept");
}
