//! Runs independent jobs on a fixed number of worker threads and returns
//! their results in job order (so output never depends on thread timing).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The default number of workers: one per core.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Runs `f` on every item with `workers` threads; results in item order.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let (Some(item), Some(slot)) = (items.get(i), slots.get(i)) else { break };
                    let r = f(i, item);
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(r);
                    }
                }
            });
        }
    });
    slots.into_iter().filter_map(|s| s.into_inner().ok().flatten()).collect()
}
