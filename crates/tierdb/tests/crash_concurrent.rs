//! Power loss while four threads commit at once (group commit in flight).
//!
//! After recovery at sequence `s`: every acknowledged commit with a sequence
//! up to `s` is there in full, every one above it is absent, every commit
//! acknowledged as `Sync` is at or below `s`, and each commit that failed
//! (the crash hit it) is there in full or not at all.
//!
//! Thread scheduling makes these cases not bit-for-bit replayable; the seed
//! reproduces the setup. `TIERDB_CRASH_CASES` scales the count (a tenth of
//! it is run here, at least 100).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use common::{LAYOUTS, Layout};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Durability, SimVfs, TxnOptions};

struct Outcome {
    /// (seq, commit index, durability) of acknowledged commits.
    acked: Vec<(u64, u64, Durability)>,
    /// The commit that failed, if any.
    failed: Option<u64>,
}

fn keys(thread: u64, i: u64) -> [String; 2] {
    [format!("t{thread}/{i:05}/a"), format!("t{thread}/{i:05}/b")]
}

fn committer(db: Db, thread: u64, seed: u64) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed * 31 + thread);
    let mut out = Outcome {
        acked: Vec::new(),
        failed: None,
    };
    for i in 0..200 {
        let durability = match rng.random_range(0..4) {
            0 => Durability::Buffered,
            1 => Durability::Volatile,
            _ => Durability::Sync,
        };
        let mut tx = db.begin_with(TxnOptions::default().durability(durability));
        for k in keys(thread, i) {
            if tx.put(&k, format!("{k}={i}")).is_err() {
                out.failed = Some(i);
                return out;
            }
        }
        match tx.commit() {
            Ok(info) => out.acked.push((info.seq, i, durability)),
            Err(_) => {
                out.failed = Some(i);
                return out;
            }
        }
    }
    out
}

fn check(db: &Db, outcomes: &[Outcome]) -> Result<(), String> {
    let s = db.snapshot().seq();
    let present: BTreeSet<String> = db
        .range(..)
        .map_err(|e| e.to_string())?
        .map(|r| r.map(|(k, _)| String::from_utf8_lossy(&k).into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut expected_keys = 0;
    for (t, out) in outcomes.iter().enumerate() {
        for &(seq, i, durability) in &out.acked {
            let [a, b] = keys(t as u64, i);
            let (has_a, has_b) = (present.contains(&a), present.contains(&b));
            if seq <= s && !(has_a && has_b) {
                return Err(format!(
                    "commit {seq} (<= recovered {s}) is missing or partial"
                ));
            }
            if seq > s && (has_a || has_b) {
                return Err(format!("commit {seq} (> recovered {s}) is visible"));
            }
            if durability == Durability::Sync && seq > s {
                return Err(format!(
                    "Sync-acknowledged commit {seq} lost (recovered {s})"
                ));
            }
            expected_keys += if seq <= s { 2 } else { 0 };
        }
        if let Some(i) = out.failed {
            let [a, b] = keys(t as u64, i);
            match (present.contains(&a), present.contains(&b)) {
                (true, true) => expected_keys += 2,
                (false, false) => {}
                _ => return Err(format!("failed commit t{t}/{i} is partially visible")),
            }
        }
    }
    if present.len() != expected_keys {
        return Err(format!(
            "{} keys present, {expected_keys} expected",
            present.len()
        ));
    }
    Ok(())
}

fn case(layout: Layout, seed: u64) -> Result<(), String> {
    let sim = Arc::new(SimVfs::new(seed));
    let db = Db::open("db", layout.options(&sim)).map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(seed);
    sim.crash_after_ops(rng.random_range(10..600));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            thread::spawn(move || committer(db, t, seed))
        })
        .collect();
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().expect("committer"))
        .collect();
    if sim.crashes() == 0 {
        sim.crash();
    }
    drop(db);
    sim.crash_after_ops(u64::MAX);
    let db = Db::open("db", layout.options(&sim)).map_err(|e| format!("reopen: {e}"))?;
    check(&db, &outcomes)
}

#[test]
fn power_loss_under_concurrent_committers() {
    let n = std::env::var("TIERDB_CRASH_CASES")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(100, |n| (n / 10).max(100));
    let failures: Vec<String> = LAYOUTS
        .iter()
        .flat_map(|&layout| (0..n).map(move |seed| (layout, seed)))
        .filter_map(|(layout, seed)| {
            case(layout, seed)
                .err()
                .map(|e| format!("{} seed {seed}: {e}", layout.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
