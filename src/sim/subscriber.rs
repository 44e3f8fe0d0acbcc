//! The world's records form one stream. The monitor reads it first (and
//! adds its alerts right after the record that raised them); then the
//! journal and every other [`Subscriber`] (the trainer view, a pcap writer,
//! an HTML report, a test) see the same records, in the same order, with
//! the same sequence numbers and virtual times.

use bevy::prelude::*;

use super::record::Record;
use crate::time::SimTime;

/// A consumer of the record stream.
pub trait Subscriber: Send + Sync {
    /// One record, with its sequence number and virtual time.
    fn on_record(&mut self, seq: u64, at: SimTime, record: &Record);

    /// The run is over: write out what is buffered.
    fn on_finish(&mut self) {}
}

/// The subscribers besides the monitor and the journal, in the order they
/// were added.
#[derive(Resource, Default)]
pub struct Subscribers(Vec<Box<dyn Subscriber>>);

impl Subscribers {
    /// Adds a subscriber; it sees every record from the next one on.
    pub fn add(&mut self, s: Box<dyn Subscriber>) {
        self.0.push(s);
    }

    pub(super) fn publish(&mut self, seq: u64, at: SimTime, record: &Record) {
        for s in &mut self.0 {
            s.on_record(seq, at, record);
        }
    }

    pub(super) fn finish(&mut self) {
        for s in &mut self.0 {
            s.on_finish();
        }
    }
}

impl Subscriber for super::Journal {
    fn on_record(&mut self, seq: u64, at: SimTime, record: &Record) {
        self.write(seq, at, record);
    }

    fn on_finish(&mut self) {
        self.flush();
    }
}
