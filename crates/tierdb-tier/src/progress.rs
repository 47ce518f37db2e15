//! `Progress`: how a write stall waits for background work. The work calls
//! [`Progress::notify`] each time it may have freed something (an LSM
//! install, a checkpoint); a stalled writer waits in
//! [`Progress::wait_while`] until its condition clears or a deadline
//! passes. Shared by the LSM tier's L0 stall and the database's dirty-memory
//! stall.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Signalled after each step of background progress; stalled writers wait
/// on it.
#[derive(Debug, Default)]
pub struct Progress {
    steps: Mutex<u64>,
    cv: Condvar,
}

impl Progress {
    /// Wakes every stalled writer (call after each step of progress).
    pub fn notify(&self) {
        *self.steps.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.cv.notify_all();
    }

    /// Waits while `stalled()` holds, at most until `deadline`; `stalled`
    /// is checked first and after every `notify`. `kick` runs once the
    /// lock is held, before the first wait, so a wake-up it causes cannot
    /// be missed. Returns true if the wait ran out with `stalled()` still
    /// true.
    pub fn wait_while(
        &self,
        deadline: Instant,
        kick: impl FnOnce(),
        mut stalled: impl FnMut() -> bool,
    ) -> bool {
        let mut steps = self.steps.lock().unwrap_or_else(PoisonError::into_inner);
        kick();
        while stalled() {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            steps = self
                .cv
                .wait_timeout(steps, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        false
    }
}

/// Microseconds since `start`, at least 1 (so a counted wait is never 0).
pub fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A sleep of `duration`, returning the microseconds it took.
pub fn sleep_micros(duration: Duration) -> u64 {
    let start = Instant::now();
    std::thread::sleep(duration);
    micros_since(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_wait_ends_when_progress_clears_the_condition() {
        let progress = Arc::new(Progress::default());
        let busy = Arc::new(AtomicBool::new(true));
        let worker = {
            let (progress, busy) = (Arc::clone(&progress), Arc::clone(&busy));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                busy.store(false, Ordering::SeqCst);
                progress.notify();
            })
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let timed_out = progress.wait_while(deadline, || {}, || busy.load(Ordering::SeqCst));
        assert!(!timed_out);
        worker.join().unwrap();
    }

    #[test]
    fn a_wait_without_progress_runs_out_at_the_deadline() {
        let progress = Progress::default();
        let start = Instant::now();
        let timed_out = progress.wait_while(start + Duration::from_millis(30), || {}, || true);
        assert!(timed_out);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
