//! The virtual clock and the event queue.
//!
//! Headless runs are discrete-event: each `App::update` processes every event
//! due in the next slice of virtual time (a large slice, so updates per
//! purchase stay far below one) in (time, sequence) order. Paced runs (real
//! terminals on sockets) advance the same clock with wall time times a speed
//! factor; the trainer view steps its world to times it chooses (`To`). Either way the order of events, and so the journal, does not
//! depend on the slice size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bevy::prelude::*;

use super::event::SimEvent;
use crate::time::{Duration, SimTime};

/// How the clock advances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// As fast as possible: each update runs this much virtual time.
    Headless {
        /// Virtual time per update.
        slice: Duration,
    },
    /// Tied to wall time: virtual seconds per wall second.
    Paced {
        /// Speed factor (1.0 = real time).
        speed: f64,
    },
    /// Everything up to this virtual time in one update (the trainer view
    /// stepping or running to a screenshot's moment).
    To {
        /// The time to reach.
        until: SimTime,
    },
}

/// Virtual time.
#[derive(Resource, Debug, Clone)]
pub struct Clock {
    /// Now.
    pub now: SimTime,
    /// End of trading (arrivals stop).
    pub end: SimTime,
    /// How it advances.
    pub pacing: Pacing,
    /// Wall time at the last paced update (only paced runs read the wall clock).
    pub(crate) wall: Option<std::time::Instant>,
    /// Set when the run is over.
    pub finished: bool,
    /// Set while a command holds the clock still.
    pub paused: bool,
}

impl Clock {
    /// The latest virtual time this update may reach.
    pub(crate) fn horizon(&mut self, next_event: Option<SimTime>) -> SimTime {
        match self.pacing {
            Pacing::Headless { slice } => next_event.map_or(self.now, |t| t + slice),
            Pacing::To { until } => until.max(self.now),
            Pacing::Paced { speed } => {
                let wall = std::time::Instant::now();
                let elapsed = self.wall.map_or(0.0, |w| wall.duration_since(w).as_secs_f64());
                self.wall = Some(wall);
                self.now + Duration::from_secs_f64(elapsed * speed)
            }
        }
    }
}

#[derive(Debug)]
struct Entry {
    at: SimTime,
    seq: u64,
    event: SimEvent,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Events waiting for their time, in (time, insertion) order.
#[derive(Resource, Debug, Default)]
pub struct Scheduler {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Scheduler {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: SimTime, event: SimEvent) {
        self.seq += 1;
        self.heap.push(Reverse(Entry { at, seq: self.seq, event }));
    }

    /// When the next event is due.
    pub fn next_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// Takes the next event if it is due by `limit`.
    pub fn pop_due(&mut self, limit: SimTime) -> Option<(SimTime, SimEvent)> {
        if self.heap.peek().is_some_and(|e| e.0.at <= limit) {
            self.heap.pop().map(|e| (e.0.at, e.0.event))
        } else {
            None
        }
    }

    /// Frames still travelling (or about to be sent), and the purchases
    /// they belong to (the first few, in id order).
    pub fn in_flight(&self) -> (u64, Vec<u64>) {
        let mut n = 0;
        let mut purchases = std::collections::BTreeSet::new();
        for e in &self.heap {
            let purchase = match &e.0.event {
                SimEvent::Transmit(t) => t.purchase,
                SimEvent::Deliver(a) => a.purchase,
                _ => continue,
            };
            n += 1;
            purchases.extend(purchase);
        }
        (n, purchases.into_iter().take(5).collect())
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
