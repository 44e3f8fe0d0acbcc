//! Values keyed by ids that are handed out in order and forgotten in about
//! the same order: the purchases the monitor follows (by purchase id), the
//! host's requests and approvals of each terminal (by STAN).
//!
//! A ring indexed by id keeps what a run is working on next to each other
//! in memory, where a hash map scattered it over a table of tens or hundreds
//! of thousands of entries (on the million-purchase benchmark most look-ups
//! missed the cache; BENCHMARKS.md). An id behind the ring's start (a purchase
//! that never completes, a STAN that wrapped or was replayed) lives in a side
//! map, so the ring stays bounded and any id at all is kept correctly.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

/// How many ids the ring spans at most: two virtual hours of the
/// million-purchase benchmark (30,000 purchases an hour) fit twice over, a
/// terminal's STANs of a day many times.
const SPAN: u64 = 1 << 17;

/// Slots the ring may grow to beyond four per value in it: an id far ahead
/// of the others (a hostile STAN) restarts the ring instead of growing it,
/// so memory stays in proportion to what is kept.
const SLACK: u64 = 256;

/// Values by id: a ring for the window of recent ids, a map for the
/// stragglers behind it.
#[derive(Debug, Clone)]
pub(crate) struct Window<T> {
    /// The id of the ring's first slot.
    base: u64,
    ring: VecDeque<Option<T>>,
    /// How many of the ring's slots hold a value.
    live: u64,
    stragglers: HashMap<u64, T>,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Self { base: 0, ring: VecDeque::new(), live: 0, stragglers: HashMap::default() }
    }
}

impl<T> Window<T> {
    /// Where `id` would be in the ring, or `None` if it belongs in the
    /// side map (below `base`, or `u64::MAX`, which never enters the ring).
    fn slot_of(&self, id: u64) -> Option<u64> {
        (id != u64::MAX).then(|| id.checked_sub(self.base)).flatten()
    }

    /// The value of `id`, if it is kept.
    pub(crate) fn get(&self, id: u64) -> Option<&T> {
        match self.slot_of(id) {
            Some(off) => self.ring.get(usize::try_from(off).ok()?)?.as_ref(),
            None => self.stragglers.get(&id),
        }
    }

    /// The value of `id`, to change.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        match self.slot_of(id) {
            Some(off) => self.ring.get_mut(usize::try_from(off).ok()?)?.as_mut(),
            None => self.stragglers.get_mut(&id),
        }
    }

    /// Sets the value of `id`.
    pub(crate) fn insert(&mut self, id: u64, value: T) {
        match self.get_mut(id) {
            Some(slot) => *slot = value,
            None => {
                self.get_or_insert_with(id, || value);
            }
        }
    }

    /// The value of `id`, made with `make` if it was not kept yet.
    ///
    /// The ring only restarts for an id past its end, so every id in the
    /// side map stays below `base` and every id from `base` on is in the
    /// ring: the rule the look-ups rely on.
    pub(crate) fn get_or_insert_with(&mut self, id: u64, make: impl FnOnce() -> T) -> &mut T {
        // u64::MAX stays in the side map, so `base` and the ring's ids never
        // pass it (STANs and purchase ids are far below it).
        let Some(off) = self.slot_of(id) else {
            return self.stragglers.entry(id).or_insert_with(make);
        };
        let past_end = off >= self.ring.len() as u64;
        if past_end && (off >= SPAN || off >= 4 * self.live + SLACK) {
            self.restart_at(id);
        }
        // Below SPAN, or 0 after a restart, so it fits a usize.
        let at = (id - self.base) as usize;
        if at >= self.ring.len() {
            self.ring.resize_with(at + 1, || None);
        }
        // The ring was just made longer than `at`.
        #[allow(clippy::indexing_slicing)]
        let slot = &mut self.ring[at];
        if slot.is_none() {
            self.live += 1;
        }
        slot.get_or_insert_with(make)
    }

    /// Stops keeping `id`, returning its value.
    pub(crate) fn remove(&mut self, id: u64) -> Option<T> {
        let Some(off) = self.slot_of(id) else {
            return self.stragglers.remove(&id);
        };
        let value = self.ring.get_mut(usize::try_from(off).ok()?)?.take();
        if value.is_some() {
            self.live -= 1;
        }
        while matches!(self.ring.front(), Some(None)) {
            self.ring.pop_front();
            self.base += 1;
        }
        value
    }

    /// Every id kept, in no particular order.
    pub(crate) fn ids(&self) -> Vec<u64> {
        let ring = self.ring.iter().zip(self.base..).filter(|(v, _)| v.is_some()).map(|(_, id)| id);
        self.stragglers.keys().copied().chain(ring).collect()
    }

    /// Sends everything in the ring to the stragglers and starts it again
    /// at `base`.
    fn restart_at(&mut self, base: u64) {
        for (id, v) in (self.base..).zip(self.ring.drain(..)) {
            if let Some(v) = v {
                self.stragglers.insert(id, v);
            }
        }
        self.base = base;
        self.live = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// xorshift64: a spread of ids and operations, the same every run.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// The window behaves as a map for any order of inserts and removals,
    /// including ids far behind and far ahead of the ring.
    #[test]
    fn a_window_is_a_map() {
        let mut w = Window::default();
        let mut m = BTreeMap::new();
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..200_000u64 {
            let x = next(&mut seed);
            // Mostly recent ids, sometimes old ones, sometimes a jump ahead.
            let id = match x % 10 {
                0 => x % (step + 1),
                1 => step + SPAN + x % 1000,
                _ => step.saturating_sub(x % 500),
            };
            if x.is_multiple_of(3) {
                assert_eq!(w.remove(id), m.remove(&id), "remove {id} at step {step}");
            } else if x.is_multiple_of(7) {
                w.insert(id, step);
                m.insert(id, step);
                if let (Some(a), Some(b)) = (w.get_mut(id), m.get_mut(&id)) {
                    *a += 1;
                    *b += 1;
                }
            } else {
                let v = *w.get_or_insert_with(id, || step);
                assert_eq!(v, *m.entry(id).or_insert(step), "insert {id} at step {step}");
            }
            assert_eq!(w.get(id), m.get(&id));
        }
        let mut ids = w.ids();
        ids.sort_unstable();
        assert_eq!(ids, m.keys().copied().collect::<Vec<_>>());
        assert!(w.ring.len() as u64 <= SPAN);
        assert_eq!(w.live, w.ring.iter().filter(|v| v.is_some()).count() as u64);
    }

    /// Found by review: with most of a long ring removed, a value near its
    /// end must be found, not replaced by a fresh one (the ring restarted
    /// inside itself and hid what it had moved aside).
    #[test]
    fn a_thinned_ring_keeps_finding_its_values() {
        let mut w = Window::default();
        for id in 0..300 {
            w.get_or_insert_with(id, || id);
        }
        for id in 1..=298 {
            assert_eq!(w.remove(id), Some(id));
        }
        assert_eq!(*w.get_or_insert_with(299, || 7), 299);
        let mut ids = w.ids();
        ids.sort_unstable();
        assert_eq!(ids, [0, 299]);
        assert_eq!(w.remove(299), Some(299));
        assert_eq!(w.get(299), None);
        // Far ahead of a thinned ring: a restart, and nothing lost.
        w.insert(100_000, 1);
        assert_eq!((w.get(0), w.get(100_000)), (Some(&0), Some(&1)));
        assert_eq!(w.get_or_insert_with(u64::MAX, || 9), &9);
        assert_eq!(w.remove(u64::MAX), Some(9));
    }

    /// A random mix of operations in a narrow band of ids, where removals
    /// thin the ring and restarts are frequent, against a `BTreeMap`.
    #[test]
    fn a_window_is_a_map_when_thinned() {
        let mut w = Window::default();
        let mut m = BTreeMap::new();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..200_000u64 {
            let x = next(&mut seed);
            let id = (step / 4) + x % 2_000;
            match x % 5 {
                0 | 1 => assert_eq!(w.remove(id), m.remove(&id), "remove {id} at {step}"),
                2 => {
                    w.insert(id, step);
                    m.insert(id, step);
                }
                _ => assert_eq!(*w.get_or_insert_with(id, || step), *m.entry(id).or_insert(step)),
            }
            assert_eq!(w.get(id), m.get(&id), "get {id} at {step}");
        }
        let mut ids = w.ids();
        ids.sort_unstable();
        assert_eq!(ids, m.keys().copied().collect::<Vec<_>>());
        assert_eq!(w.live, w.ring.iter().filter(|v| v.is_some()).count() as u64);
    }

    /// Ids far apart (hostile STANs) cost memory for what is kept, not for
    /// the distance between them.
    #[test]
    fn ids_far_apart_do_not_grow_the_ring() {
        let mut w = Window::default();
        for i in 0..10_000u64 {
            w.insert(i * 100_000, i);
        }
        assert!(w.ring.len() as u64 <= SLACK, "{} slots", w.ring.len());
        assert_eq!(w.get(9_999 * 100_000), Some(&9_999));
        assert_eq!(w.get(5 * 100_000), Some(&5));
        assert_eq!(w.ids().len(), 10_000);
    }
}
