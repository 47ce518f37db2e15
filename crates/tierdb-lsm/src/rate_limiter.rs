//! A token bucket limiting the bytes compaction writes per second.
//!
//! The bucket holds at most `burst` bytes of credit (a tenth of a second's
//! worth, at least 4 KiB) and refills at `rate` bytes per second. A charge
//! always succeeds at once, possibly driving the credit negative; the
//! caller then sleeps until the debt is repaid. So writing `n` bytes takes
//! at least `(n - burst) / rate` seconds. Sleeps are cut into short slices
//! so a shutdown (the `cancel` flag) is noticed quickly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tierdb_io::{Error, Result};

/// The longest single sleep between checks of the cancel flag.
const SLICE: Duration = Duration::from_millis(20);

/// The smallest burst, in bytes.
const MIN_BURST: u64 = 4096;

/// A token bucket shared by the compactions of one tier.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: u64,
    burst: u64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes of credit (negative: debt).
    tokens: f64,
    refilled: Instant,
}

impl RateLimiter {
    /// A limiter of `rate` (> 0) bytes per second, starting with a full burst.
    pub(crate) fn new(rate: u64) -> Self {
        let rate = rate.max(1);
        let burst = (rate / 10).max(MIN_BURST);
        RateLimiter {
            rate,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: to_f64(burst),
                refilled: Instant::now(),
            }),
        }
    }

    /// The credit a full bucket holds.
    #[cfg(test)]
    pub(crate) fn burst(&self) -> u64 {
        self.burst
    }

    /// Takes `bytes` of credit, then sleeps until the bucket is out of
    /// debt. `Error::Closed` if `cancel` is set meanwhile.
    pub(crate) fn acquire(&self, bytes: u64, cancel: &AtomicBool) -> Result<()> {
        let mut wait = self.charge(bytes);
        while !wait.is_zero() {
            if cancel.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            std::thread::sleep(wait.min(SLICE));
            wait = self.charge(0);
        }
        Ok(())
    }

    /// Refills, takes `bytes`, and returns how long until the debt is paid.
    fn charge(&self, bytes: u64) -> Duration {
        let mut b = self.bucket.lock();
        let now = Instant::now();
        let earned = now.duration_since(b.refilled).as_secs_f64() * to_f64(self.rate);
        b.tokens = (b.tokens + earned).min(to_f64(self.burst)) - to_f64(bytes);
        b.refilled = now;
        if b.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-b.tokens / to_f64(self.rate))
    }
}

#[allow(clippy::cast_precision_loss)]
fn to_f64(x: u64) -> f64 {
    x as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_at_least_bytes_over_rate_minus_a_burst() {
        let limiter = RateLimiter::new(100_000);
        let cancel = AtomicBool::new(false);
        let start = Instant::now();
        let total = 50_000u64;
        for _ in 0..50 {
            limiter.acquire(total / 50, &cancel).unwrap();
        }
        let min = (total - limiter.burst()) as f64 / 100_000.0;
        let took = start.elapsed().as_secs_f64();
        assert!(took >= min * 0.95, "took {took} s, expected >= {min} s");
        assert!(took < 2.0, "took {took} s");
    }

    #[test]
    fn cancel_interrupts_a_long_wait() {
        let limiter = RateLimiter::new(1);
        let cancel = AtomicBool::new(true);
        let start = Instant::now();
        assert!(matches!(
            limiter.acquire(1 << 30, &cancel),
            Err(Error::Closed)
        ));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn within_the_burst_does_not_wait() {
        let limiter = RateLimiter::new(1000);
        let cancel = AtomicBool::new(false);
        let start = Instant::now();
        limiter.acquire(limiter.burst(), &cancel).unwrap();
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
