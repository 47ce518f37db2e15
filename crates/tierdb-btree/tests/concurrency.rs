//! One thread applies while others read views and one persists: every view
//! equals the model as of its sequence, and the persisted state reopens
//! exactly.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::*;
use parking_lot::Mutex;
use tierdb_io::{OsVfs, Vfs};
use tierdb_tier::{Seq, Tier, WriteOp};

const KEY_SPACE: u64 = 1500;

#[test]
fn apply_read_and_persist_concurrently() {
    let seed = seed(7);
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("concurrent.btree");
    let tier = Arc::new(open(&vfs, &path, 1024).unwrap());
    let models: Arc<Mutex<BTreeMap<Seq, Arc<Model>>>> = Arc::new(Mutex::new(BTreeMap::new()));
    models.lock().insert(0, Arc::new(Model::new()));
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (tier, models) = (Arc::clone(&tier), Arc::clone(&models));
        thread::spawn(move || {
            let mut rng = Rng::new(seed);
            let mut model = Model::new();
            for seq in 1..=1500u64 {
                let ops: Vec<WriteOp> = (0..1 + rng.below(12))
                    .map(|_| {
                        let id = rng.below(KEY_SPACE);
                        if rng.chance(25) {
                            WriteOp::Delete { key: key(id) }
                        } else {
                            WriteOp::Put {
                                key: key(id),
                                value: value(id, seq, value_len(&mut rng) % 3000),
                            }
                        }
                    })
                    .collect();
                let mut next = model.clone();
                for op in &ops {
                    match op {
                        WriteOp::Put { key, value } => next.insert(key.clone(), value.clone()),
                        WriteOp::Delete { key } => next.remove(key),
                        WriteOp::DeleteRange { .. } => unreachable!("no range deletes here"),
                    };
                }
                models.lock().insert(seq, Arc::new(next.clone()));
                tier.apply(seq, &ops).unwrap();
                model = next;
            }
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (tier, models, done) = (Arc::clone(&tier), Arc::clone(&models), Arc::clone(&done));
            thread::spawn(move || {
                let mut rng = Rng::new(seed ^ ((r + 1) * 0x1234));
                let mut checks = 0;
                while !done.load(Ordering::Relaxed) {
                    let view = tier.read_view();
                    let model = models
                        .lock()
                        .get(&view.seq())
                        .cloned()
                        .expect("model for the view's seq");
                    spot_check(
                        &*view,
                        &model,
                        &mut rng,
                        KEY_SPACE,
                        &format!("reader {r} at seq {}", view.seq()),
                    );
                    if checks % 10 == 0 {
                        assert_equal(&*view, &model, &format!("reader {r} at seq {}", view.seq()));
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let persister = {
        let (tier, done) = (Arc::clone(&tier), Arc::clone(&done));
        thread::spawn(move || {
            let mut persists = 0;
            while !done.load(Ordering::Relaxed) {
                persist(&tier);
                persists += 1;
                thread::sleep(std::time::Duration::from_millis(2));
            }
            persists
        })
    };
    writer.join().unwrap();
    done.store(true, Ordering::Relaxed);
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let persists = persister.join().unwrap();
    eprintln!("{checks} reader checks, {persists} persists");
    assert!(persists > 0 && checks > 0);

    let persisted = persist(&tier);
    assert_eq!(persisted, 1500);
    tier.verify().unwrap();
    drop(tier);
    let tier = open(&vfs, &path, 1024).unwrap();
    let model = models.lock().get(&persisted).cloned().unwrap();
    assert_equal(&*tier.read_view(), &model, "reopened");
    tier.verify().unwrap();
}

/// Point reads search cached leaves in place, under the cache shard's read
/// lock (`Store::search_leaf`). Here a cache of a few pages evicts all the
/// time, a persister checkpoints every millisecond (so freed pages are
/// reused and the cache holds stale copies of them), and a writer applies
/// small batches to a few hot keys: every get of every reader must return
/// the value its view's sequence had.
#[test]
fn point_reads_race_writes_checkpoints_and_eviction() {
    const KEYS: u64 = 400;
    const SEQS: u64 = 2000;
    let seed = seed(11);
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let path = dir.path().join("point_reads.btree");
    // 64 KiB over 4 shards: a few dozen decoded 1 KiB pages in all.
    let cache = Arc::new(tierdb_cache::PageCache::with_shards(64 << 10, 4));
    let tier = Arc::new(open_with_cache(&vfs, &path, 1024, Arc::clone(&cache)).unwrap());
    let short_key = |id: u64| bytes::Bytes::from(format!("key{id:08}"));
    // Fill once and persist, so reads start from pages on disk.
    let mut model = Model::new();
    let fill: Vec<WriteOp> = (0..KEYS)
        .map(|id| WriteOp::Put {
            key: short_key(id),
            value: value(id, 0, 40),
        })
        .collect();
    for op in &fill {
        if let WriteOp::Put { key, value } = op {
            model.insert(key.clone(), value.clone());
        }
    }
    tier.apply(1, &fill).unwrap();
    persist(&tier);
    let models: Arc<Mutex<BTreeMap<Seq, Arc<Model>>>> = Arc::new(Mutex::new(BTreeMap::new()));
    models.lock().insert(1, Arc::new(model.clone()));
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let (tier, models, done) = (Arc::clone(&tier), Arc::clone(&models), Arc::clone(&done));
            thread::spawn(move || {
                let mut rng = Rng::new(seed ^ ((r + 1) * 0x9e37));
                let mut gets = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let view = tier.read_view();
                    let model = models.lock().get(&view.seq()).cloned().expect("model");
                    for _ in 0..50 {
                        // Skewed: half the reads on the first tenth of the keys.
                        let id = if rng.chance(50) {
                            rng.below(KEYS / 10)
                        } else {
                            rng.below(KEYS + 20)
                        };
                        let k = short_key(id);
                        assert_eq!(
                            view.get(&k).expect("get"),
                            model.get(&k).cloned(),
                            "reader {r}, key {id}, seq {}",
                            view.seq()
                        );
                        gets += 1;
                    }
                }
                gets
            })
        })
        .collect();
    let persister = {
        let (tier, done) = (Arc::clone(&tier), Arc::clone(&done));
        thread::spawn(move || {
            let mut persists = 0u64;
            while !done.load(Ordering::Relaxed) {
                persist(&tier);
                persists += 1;
                thread::sleep(std::time::Duration::from_millis(1));
            }
            persists
        })
    };
    let mut rng = Rng::new(seed);
    for seq in 2..=SEQS {
        let ops: Vec<WriteOp> = (0..1 + rng.below(4))
            .map(|_| {
                let id = rng.below(KEYS / 10) * 10 + rng.below(10);
                if rng.chance(10) {
                    WriteOp::Delete { key: short_key(id) }
                } else {
                    WriteOp::Put {
                        key: short_key(id),
                        value: value(id, seq, rng.below(200) as usize),
                    }
                }
            })
            .collect();
        for op in &ops {
            match op {
                WriteOp::Put { key, value } => model.insert(key.clone(), value.clone()),
                WriteOp::Delete { key } => model.remove(key),
                WriteOp::DeleteRange { .. } => unreachable!("no range deletes here"),
            };
        }
        models.lock().insert(seq, Arc::new(model.clone()));
        tier.apply(seq, &ops).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let gets: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let persists = persister.join().unwrap();
    let stats = cache.stats();
    eprintln!("{gets} gets, {persists} persists, cache {stats:?}");
    assert!(gets > 0 && persists > 0);
    assert!(stats.evictions > 0, "the cache never evicted: {stats:?}");
    assert_eq!(persist(&tier), SEQS);
    assert_equal(&*tier.read_view(), &model, "after the race");
    tier.verify().unwrap();
}
