//! Turns a phase's outcome into a `PhaseResult`, prints it as a table row
//! and appends it to the JSON lines file.

use std::path::PathBuf;
use std::time::Duration;

use crate::measure::{PhaseResult, PhaseStart, dir_bytes, peak_rss_bytes, percentiles_us, rate};
use crate::report::Output;
use crate::runner::Outcome;

/// The results of one engine on one workload at one N.
pub struct Recorder<'o> {
    pub workload: String,
    pub engine: String,
    pub n: u64,
    /// The store's directory (its size is the space used).
    pub dir: PathBuf,
    /// Key and value bytes live in the store.
    pub live_bytes: u64,
    pub out: &'o mut Output,
}

impl Recorder<'_> {
    /// Records a phase. `items_per_op` counts what one operation handled
    /// (a batch of 1,000 products is 1,000); `extra` is time spent after
    /// the operations that belongs to the phase (a final sync).
    pub fn record(
        &mut self,
        phase: &str,
        unit: &str,
        items_per_op: u64,
        start: &PhaseStart,
        outcome: &Outcome,
        extra: Duration,
    ) -> crate::engine::Result<PhaseResult> {
        let [p50_us, p99_us, p999_us] = percentiles_us(&outcome.latency);
        let disk_write_bytes = start.written();
        let disk_bytes = dir_bytes(&self.dir);
        let items = outcome.ops * items_per_op;
        let user = outcome.user_bytes;
        let result = PhaseResult {
            workload: self.workload.clone(),
            engine: self.engine.clone(),
            n: self.n,
            phase: phase.to_string(),
            ops: items,
            unit: unit.to_string(),
            secs: (outcome.elapsed + extra).as_secs_f64(),
            ops_per_sec: rate(items, outcome.elapsed + extra),
            p50_us,
            p99_us,
            p999_us,
            disk_write_bytes,
            user_write_bytes: user,
            write_amp: (user > 0).then(|| disk_write_bytes as f64 / user as f64),
            disk_bytes,
            live_bytes: self.live_bytes,
            space_amp: (self.live_bytes > 0).then(|| disk_bytes as f64 / self.live_bytes as f64),
            peak_rss_bytes: peak_rss_bytes(),
        };
        self.out.add(&result)?;
        Ok(result)
    }
}
