//! The purchases the monitor is following, by id.
//!
//! Purchase ids are handed out in order, and the monitor forgets a purchase
//! a fixed time after it completes, so the ids it follows are a sliding
//! window. A ring indexed by id keeps the purchases a run is working on next
//! to each other in memory, where a hash map scattered them over a table of
//! tens of thousands (on the million-purchase benchmark most look-ups missed
//! the cache; BENCHMARKS.md). An id that falls too far behind the newest (a
//! purchase that never completes) moves to a side map, so the ring stays
//! bounded and nothing is lost.

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

/// How many ids the ring spans at most: two virtual hours of the
/// million-purchase benchmark (30,000 purchases an hour) fit twice over.
const SPAN: u64 = 1 << 17;

/// Values by purchase id: a ring for the window of recent ids, a map for
/// the stragglers behind it.
#[derive(Debug)]
pub(super) struct Window<T> {
    /// The id of the ring's first slot.
    base: u64,
    ring: VecDeque<Option<T>>,
    stragglers: HashMap<u64, T>,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Self { base: 0, ring: VecDeque::new(), stragglers: HashMap::default() }
    }
}

impl<T> Window<T> {
    /// The value of `id`, if it is followed.
    pub(super) fn get(&self, id: u64) -> Option<&T> {
        match id.checked_sub(self.base) {
            Some(off) => self.ring.get(usize::try_from(off).ok()?)?.as_ref(),
            None => self.stragglers.get(&id),
        }
    }

    /// The value of `id`, made with `make` if it was not followed yet.
    pub(super) fn get_or_insert_with(&mut self, id: u64, make: impl FnOnce() -> T) -> &mut T {
        if id < self.base {
            return self.stragglers.entry(id).or_insert_with(make);
        }
        if id - self.base >= SPAN {
            self.slide_to(id + 1 - SPAN);
        }
        // Below SPAN after the slide, so it fits a usize.
        let at = (id - self.base) as usize;
        if at >= self.ring.len() {
            self.ring.resize_with(at + 1, || None);
        }
        match self.ring.get_mut(at) {
            Some(slot) => slot.get_or_insert_with(make),
            // Unreachable: the ring was just made long enough.
            None => self.stragglers.entry(id).or_insert_with(make),
        }
    }

    /// Stops following `id`, returning its value.
    pub(super) fn remove(&mut self, id: u64) -> Option<T> {
        let Some(off) = id.checked_sub(self.base) else {
            return self.stragglers.remove(&id);
        };
        let value = self.ring.get_mut(usize::try_from(off).ok()?)?.take();
        while matches!(self.ring.front(), Some(None)) {
            self.ring.pop_front();
            self.base += 1;
        }
        value
    }

    /// Every id followed, in no particular order.
    pub(super) fn ids(&self) -> Vec<u64> {
        let ring = self.ring.iter().zip(self.base..).filter(|(v, _)| v.is_some()).map(|(_, id)| id);
        self.stragglers.keys().copied().chain(ring).collect()
    }

    /// Moves the ring's start to `base`, sending what it leaves behind to
    /// the stragglers.
    fn slide_to(&mut self, base: u64) {
        while self.base < base {
            match self.ring.pop_front() {
                Some(Some(v)) => {
                    self.stragglers.insert(self.base, v);
                }
                Some(None) => {}
                None => {
                    self.base = base;
                    return;
                }
            }
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The window behaves as a map for any order of inserts and removals,
    /// including ids far behind and far ahead of the ring.
    #[test]
    fn a_window_is_a_map() {
        let mut w = Window::default();
        let mut m = BTreeMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly recent ids, sometimes old ones, sometimes a jump ahead.
            let id = match x % 10 {
                0 => x % (step + 1),
                1 => step + SPAN + x % 1000,
                _ => step.saturating_sub(x % 500),
            };
            if x % 3 == 0 {
                assert_eq!(w.remove(id), m.remove(&id), "remove {id} at step {step}");
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
    }
}
