//! Which seeds a run covers: a range, or consecutive seeds for a time; from
//! the command line or from environment variables in the test suites.

use std::time::{Duration, Instant};

/// Seeds to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedPlan {
    /// Seeds `a` (inclusive) to `b` (exclusive).
    Range(u64, u64),
    /// Consecutive seeds from `start` until the time is up.
    For(Duration, u64),
}

impl SeedPlan {
    /// The seeds; a timed plan checks the clock before each one.
    pub fn seeds(self) -> impl Iterator<Item = u64> {
        let (range, deadline) = match self {
            SeedPlan::Range(a, b) => (a..b, None),
            SeedPlan::For(time, start) => (start..u64::MAX, Some(Instant::now() + time)),
        };
        range.take_while(move |_| deadline.is_none_or(|d| Instant::now() < d))
    }

    /// A single seed to replay, if that is the plan.
    pub fn single(self) -> Option<u64> {
        match self {
            SeedPlan::Range(a, b) if b == a + 1 => Some(a),
            _ => None,
        }
    }

    /// Parses `N` (seeds 0..N) or `A..B`.
    pub fn parse_range(s: &str) -> Result<SeedPlan, String> {
        let number = |s: &str| s.trim().parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
        match s.split_once("..") {
            Some((a, b)) => Ok(SeedPlan::Range(number(a)?, number(b)?)),
            None => Ok(SeedPlan::Range(0, number(s)?)),
        }
    }

    /// The plan of a test suite: `<PREFIX>_SEED=S` replays one seed,
    /// `<PREFIX>_SEEDS=N` or `=A..B` runs a range, `<PREFIX>_SECONDS=T`
    /// runs for a time; otherwise seeds `0..default`.
    pub fn from_env(prefix: &str, default: u64) -> SeedPlan {
        let var = |name: &str| std::env::var(format!("{prefix}_{name}")).ok();
        let parse = |v: &str, what: &str| -> u64 {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("{prefix}_{what}={v}: {e}"))
        };
        if let Some(s) = var("SEED") {
            let s = parse(&s, "SEED");
            return SeedPlan::Range(s, s + 1);
        }
        if let Some(r) = var("SEEDS") {
            return SeedPlan::parse_range(&r).unwrap_or_else(|e| panic!("{prefix}_SEEDS: {e}"));
        }
        if let Some(t) = var("SECONDS") {
            return SeedPlan::For(Duration::from_secs(parse(&t, "SECONDS")), 0);
        }
        SeedPlan::Range(0, default)
    }
}
