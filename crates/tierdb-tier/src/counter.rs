//! A statistics counter that many threads add to at once without sharing a
//! cache line: each thread adds to one of several stripes, each on a line
//! of its own, and reading sums them.
//!
//! A single `AtomicU64` bumped on every read makes the cores pass its line
//! back and forth: with a few reader threads that cost more than the rest
//! of a cached point read.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stripes per counter (threads beyond this share stripes).
const STRIPES: usize = 8;

/// One stripe, alone on its cache line (128 bytes: adjacent-line prefetch
/// pairs 64-byte lines on x86).
#[derive(Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A counter of events; see the module docs.
#[derive(Default)]
pub struct Counter {
    stripes: [Stripe; STRIPES],
}

/// This thread's stripe, assigned round-robin at its first use.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.stripes[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The sum of everything added (not one atomic snapshot while threads
    /// add concurrently).
    pub fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_adds_from_many_threads() {
        let c = Counter::new();
        std::thread::scope(|s| {
            for _ in 0..12 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.add(2);
                    }
                });
            }
        });
        assert_eq!(c.get(), 24_000);
    }
}
