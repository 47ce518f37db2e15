//! Runs a phase's operations on one or more threads, timing each, with a
//! progress line on stderr (when it is a terminal).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::engine::Result;
use crate::measure::new_histogram;

/// A worker adds its operations to the shared counts (the progress line's)
/// after this many.
const PUBLISH_EVERY: u64 = 64;

/// When a phase ends.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this many operations in all (split across the threads).
    Ops(u64),
    /// After this long.
    Time(Duration),
}

/// What the operations of a phase did.
pub struct Outcome {
    pub ops: u64,
    /// Key and value bytes the operations wrote.
    pub user_bytes: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

/// Runs `op(thread, i, rng)` on `threads` threads until `stop`; `op`
/// returns the key and value bytes it wrote. The first error stops all
/// threads and is returned.
pub fn run<F>(label: &str, threads: usize, stop: Stop, seed: u64, op: F) -> Result<Outcome>
where
    F: Fn(usize, u64, &mut StdRng) -> Result<u64> + Sync,
{
    let threads = threads.max(1);
    let done_ops = AtomicU64::new(0);
    let user_bytes = AtomicU64::new(0);
    let halt = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    let merged = Mutex::new(new_histogram());
    let start = Instant::now();
    std::thread::scope(|s| {
        let progress = s.spawn(|| show_progress(label, &done_ops, &halt, start));
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (op, done_ops, user_bytes, halt) = (&op, &done_ops, &user_bytes, &halt);
                let (first_error, merged) = (&first_error, &merged);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1000) + t as u64);
                    let mut hist = new_histogram();
                    let quota = match stop {
                        Stop::Ops(total) => {
                            total / threads as u64 + u64::from((t as u64) < total % threads as u64)
                        }
                        Stop::Time(_) => u64::MAX,
                    };
                    // Counts are kept per thread and published every
                    // `PUBLISH_EVERY` operations: shared counters written
                    // by every operation bounce one cache line between the
                    // threads, a cost the engine under test would be
                    // charged for.
                    let (mut ops, mut bytes_written) = (0u64, 0u64);
                    let mut i = 0;
                    while i < quota && !halt.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        if let Stop::Time(limit) = stop
                            && t0.duration_since(start) >= limit
                        {
                            break;
                        }
                        match op(t, i, &mut rng) {
                            Ok(bytes) => {
                                hist.saturating_record(t0.elapsed().as_nanos() as u64);
                                bytes_written += bytes;
                                ops += 1;
                                if ops == PUBLISH_EVERY {
                                    user_bytes.fetch_add(bytes_written, Ordering::Relaxed);
                                    done_ops.fetch_add(ops, Ordering::Relaxed);
                                    (ops, bytes_written) = (0, 0);
                                }
                            }
                            Err(e) => {
                                first_error.lock().expect("error slot").get_or_insert(e);
                                halt.store(true, Ordering::Relaxed);
                            }
                        }
                        i += 1;
                    }
                    user_bytes.fetch_add(bytes_written, Ordering::Relaxed);
                    done_ops.fetch_add(ops, Ordering::Relaxed);
                    merged
                        .lock()
                        .expect("histogram")
                        .add(&hist)
                        .expect("same bounds");
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker thread");
        }
        halt.store(true, Ordering::Relaxed);
        progress.join().expect("progress thread");
    });
    let elapsed = start.elapsed();
    if let Some(e) = first_error.into_inner().expect("error slot") {
        return Err(format!("{label}: {e}").into());
    }
    Ok(Outcome {
        ops: done_ops.into_inner(),
        user_bytes: user_bytes.into_inner(),
        elapsed,
        latency: merged.into_inner().expect("histogram"),
    })
}

fn show_progress(label: &str, done: &AtomicU64, halt: &AtomicBool, start: Instant) {
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return;
    }
    let mut shown = false;
    while !halt.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let secs = start.elapsed().as_secs_f64();
        if secs < 0.5 {
            continue;
        }
        let ops = done.load(Ordering::Relaxed);
        let _ = write!(
            err,
            "\r\x1b[K{label}: {ops} ops in {secs:.1} s, {:.0}/s",
            ops as f64 / secs
        );
        let _ = err.flush();
        shown = true;
    }
    if shown {
        let _ = write!(err, "\r\x1b[K");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_across_threads_and_errors_stop() {
        let out = run("t", 3, Stop::Ops(100), 1, |_, _, _| Ok(2)).unwrap();
        assert_eq!(out.ops, 100);
        assert_eq!(out.user_bytes, 200);
        assert_eq!(out.latency.len(), 100);
        let err = run("t", 2, Stop::Time(Duration::from_secs(30)), 1, |_, i, _| {
            if i == 5 { Err("boom".into()) } else { Ok(0) }
        });
        assert!(err.err().unwrap().to_string().contains("boom"));
    }
}
