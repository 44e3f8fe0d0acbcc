//! The link core at its edges: the send queue measured from the moment a
//! frame is sent, and a zero bandwidth taken as no limit.

use std::sync::Arc;

use possim::link::{Dir, LinkCore, LinkParams, Meta};
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
