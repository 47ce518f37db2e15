//! `apply`, `persist` (with compactions) and reads on three threads: every
//! view is consistent with exactly its sequence.
//!
//! Write set `s` sets `counter` to `s` and `key(s % 97)` to a value naming
//! `s`, and deletes `key((s + 50) % 97)`. A view at `S` must read
//! `counter == S` and, by range, the same pairs forwards and backwards.

mod common;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use common::*;
use tierdb_io::{SimVfs, Vfs};
use tierdb_lsm::LsmTier;
use tierdb_tier::{Tier, WriteOp};

const WRITES: u64 = 3000;

fn ops(seq: u64) -> Vec<WriteOp> {
    vec![
        WriteOp::Put {
            key: Bytes::from_static(b"counter"),
            value: Bytes::from(seq.to_string()),
        },
        WriteOp::Put {
            key: key(seq % 97),
            value: value(seq % 97, seq, 40),
        },
        WriteOp::Delete {
            key: key((seq + 50) % 97),
        },
    ]
}

fn check_view(tier: &LsmTier) {
    let view = tier.read_view();
    let seq = view.seq();
    let counter = view.get(b"counter").unwrap();
    let expected = (seq > 0).then(|| Bytes::from(seq.to_string()));
    assert_eq!(counter, expected, "view at {seq}");
    let forward: Vec<_> = view
        .range(Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut backward: Vec<_> = view
        .range(Bound::Unbounded, Bound::Unbounded)
        .unwrap()
        .rev()
        .map(|r| r.unwrap())
        .collect();
    backward.reverse();
    assert_eq!(forward, backward, "view at {seq}");
    if seq > 0 {
        let last = key(seq % 97);
        let found = forward
            .iter()
            .find(|(k, _)| *k == last)
            .map(|p| p.1.clone());
        assert_eq!(found, Some(value(seq % 97, seq, 40)), "view at {seq}");
    }
}

/// Lets the persister catch up, so persists interleave with applies.
fn wait_for_persist(tier: &LsmTier, seq: u64) {
    let start = std::time::Instant::now();
    while tier.persisted_seq() < seq {
        assert!(start.elapsed().as_secs() < 20, "persister stuck");
        std::thread::yield_now();
    }
}

#[test]
fn apply_persist_and_read_concurrently() {
    let sim = SimVfs::new(seed(31));
    let vfs: Arc<dyn Vfs> = Arc::new(sim);
    let mut opts = small_options();
    opts.memtable_bytes = 4 * 1024;
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    let tier = Arc::new(open_with(&vfs, Path::new("/db/lsm"), cache, opts).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let persister = {
        let (tier, done) = (Arc::clone(&tier), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                persist(&tier);
                std::thread::yield_now();
            }
        })
    };
    let reader = {
        let (tier, done) = (Arc::clone(&tier), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut checked = 0u64;
            loop {
                check_view(&tier);
                checked += 1;
                if done.load(Ordering::Relaxed) {
                    return checked;
                }
            }
        })
    };
    for seq in 1..=WRITES {
        tier.apply(seq, &ops(seq)).unwrap();
        if seq.is_multiple_of(250) {
            wait_for_persist(&tier, seq - 250);
        }
    }
    done.store(true, Ordering::Relaxed);
    persister.join().unwrap();
    let checked = reader.join().unwrap();
    assert!(checked > 0);
    assert_eq!(persist(&tier), WRITES);
    check_view(&tier);
    // The compactor runs on its own thread; on a loaded machine it may not
    // have finished its first compaction yet. Give it time, boundedly.
    let start = std::time::Instant::now();
    while tier.lsm_stats().compactions == 0 && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    check_view(&tier);
    let stats = tier.lsm_stats();
    eprintln!("{checked} views checked; {stats:?}");
    assert!(stats.compactions > 0, "{stats:?}");
}
