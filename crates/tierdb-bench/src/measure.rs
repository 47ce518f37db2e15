//! What a phase measures: latency histogram, bytes written to disk
//! (`/proc/self/io`), space on disk, peak RSS (`/proc/self/status`).

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies in nanoseconds, 3 significant digits, up to an hour.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds")
}

/// Nanoseconds the calling thread has run on a CPU, from
/// `/proc/thread-self/schedstat` (0 where unknown): the CPU-cost examples
/// time one thread's work with it, unmoved by other processes' load.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Bytes this process caused to be written to storage so far
/// (`write_bytes` of `/proc/self/io`; 0 where there is no such file).
pub fn disk_write_bytes() -> u64 {
    proc_field("/proc/self/io", "write_bytes:").unwrap_or(0)
}

/// Peak resident set size since the last `reset_peak_rss`, in bytes.
pub fn peak_rss_bytes() -> u64 {
    proc_field("/proc/self/status", "VmHWM:").unwrap_or(0) * 1024
}

/// Resets the peak RSS counter to the current RSS (Linux: writing 5 to
/// `/proc/self/clear_refs`), so that each phase reports its own peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn proc_field(file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Bytes of the files under `dir` (allocated size is not used: the logical
/// size is what the engine wrote and keeps).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One phase's figures: a table row and a JSON line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhaseResult {
    pub workload: String,
    pub engine: String,
    /// Records (products) in the store.
    pub n: u64,
    pub phase: String,
    /// Operations (a batch counts once; see `unit`).
    pub ops: u64,
    pub unit: String,
    pub secs: f64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Bytes this process wrote to disk during the phase.
    pub disk_write_bytes: u64,
    /// Bytes of keys and values the workload asked to write.
    pub user_write_bytes: u64,
    /// `disk_write_bytes / user_write_bytes`, for phases that write.
    pub write_amp: Option<f64>,
    /// Size of the engine's files at the end of the phase.
    pub disk_bytes: u64,
    /// Keys and values live in the store.
    pub live_bytes: u64,
    /// `disk_bytes / live_bytes`.
    pub space_amp: Option<f64>,
    pub peak_rss_bytes: u64,
}

/// Counts taken at a phase's start; `finish` turns them into a result.
pub struct PhaseStart {
    io: u64,
}

impl PhaseStart {
    pub fn now() -> Self {
        reset_peak_rss();
        PhaseStart {
            io: disk_write_bytes(),
        }
    }

    /// Bytes written to disk since the start.
    pub fn written(&self) -> u64 {
        disk_write_bytes().saturating_sub(self.io)
    }
}

/// The latency percentiles of `h`, in microseconds.
pub fn percentiles_us(h: &Histogram<u64>) -> [f64; 3] {
    [50.0, 99.0, 99.9].map(|q| h.value_at_quantile(q / 100.0) as f64 / 1e3)
}

pub fn rate(ops: u64, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_counters_move() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(dir_bytes(dir.path()), 0);
        std::fs::write(dir.path().join("a"), vec![1u8; 5000]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![1u8; 100]).unwrap();
        assert_eq!(dir_bytes(dir.path()), 5100);
        if Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes() > 0);
        }
    }

    #[test]
    fn percentiles_are_in_microseconds() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let [p50, p99, p999] = percentiles_us(&h);
        assert!((p50 - 500.0).abs() < 2.0, "{p50}");
        assert!((p99 - 990.0).abs() < 2.0, "{p99}");
        assert!(p999 >= p99);
    }
}
