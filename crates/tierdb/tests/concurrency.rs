//! Concurrency: many threads committing and reading at once. No lost
//! update, no write skew under serializable, stable snapshots, invariants
//! that hold in every snapshot.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::TIERS;
use tierdb::{Db, Durability, Error, Isolation, Options, Tier, TxnOptions};

fn open(tier: Tier) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path().join("db"),
        Options::default()
            .default_tier(tier)
            .page_size(1024)
            .durability(Durability::Buffered),
    )
    .unwrap();
    (dir, db)
}

fn parse(v: Option<bytes::Bytes>) -> i64 {
    v.map_or(0, |b| String::from_utf8_lossy(&b).parse().unwrap())
}

/// Read-modify-write of one counter from several threads, retried on
/// conflict: every increment must count, under both isolation levels.
#[test]
fn no_lost_update_under_contention() {
    for &tier in TIERS {
        for iso in [Isolation::Snapshot, Isolation::Serializable] {
            let (_dir, db) = open(tier);
            let threads = 4;
            let per_thread = 150;
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let db = db.clone();
                    thread::spawn(move || {
                        let mut conflicts = 0;
                        for _ in 0..per_thread {
                            loop {
                                let mut tx = db.begin_with(TxnOptions::default().isolation(iso));
                                let n = parse(tx.get(b"counter").unwrap());
                                tx.put(b"counter", (n + 1).to_string()).unwrap();
                                match tx.commit() {
                                    Ok(_) => break,
                                    Err(Error::Conflict { .. }) => conflicts += 1,
                                    Err(e) => panic!("{e}"),
                                }
                            }
                        }
                        conflicts
                    })
                })
                .collect();
            let conflicts: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(
                parse(db.get(b"counter").unwrap()),
                threads * per_thread,
                "{iso:?}"
            );
            assert_eq!(db.stats().conflicts, conflicts);
            db.close().unwrap();
        }
    }
}

/// Transfers between accounts keep the total; every snapshot a concurrent
/// reader takes sees that total (no partial transaction is ever visible),
/// and a snapshot read twice gives the same answer.
#[test]
fn transfers_keep_the_sum_in_every_snapshot() {
    for &tier in TIERS {
        let (_dir, db) = open(tier);
        let accounts = 16;
        for a in 0..accounts {
            db.put(format!("acct/{a:02}"), "100").unwrap();
        }
        let total = 100 * accounts;
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(4));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (db, start) = (db.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for i in 0..300u64 {
                        let from = (i * 7 + w * 3) % accounts;
                        let to = (i * 11 + w * 5 + 1) % accounts;
                        if from == to {
                            continue;
                        }
                        let mut tx = db.begin();
                        let (kf, kt) = (format!("acct/{from:02}"), format!("acct/{to:02}"));
                        let (f, t) = (parse(tx.get(&kf).unwrap()), parse(tx.get(&kt).unwrap()));
                        tx.put(&kf, (f - 3).to_string()).unwrap();
                        tx.put(&kt, (t + 3).to_string()).unwrap();
                        match tx.commit() {
                            Ok(_) | Err(Error::Conflict { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                        if i % 100 == 0 {
                            db.checkpoint().unwrap();
                        }
                    }
                })
            })
            .collect();
        let reader = {
            let (db, stop, start) = (db.clone(), stop.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut checks = 0;
                while !stop.load(Ordering::Relaxed) || checks < 10 {
                    let snap = db.snapshot();
                    let values = |rev: bool| -> Vec<i64> {
                        common::collect(snap.prefix(b"acct/").unwrap(), rev)
                            .into_iter()
                            .map(|(_, v)| parse(Some(v.into())))
                            .collect()
                    };
                    let first: i64 = values(false).iter().sum();
                    assert_eq!(first, total as i64, "a snapshot saw a partial transfer");
                    assert_eq!(values(true).iter().sum::<i64>(), first);
                    checks += 1;
                }
                checks
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() >= 10);
        db.close().unwrap();
    }
}

/// The classic write skew: two transactions each read both keys and write
/// one. Snapshot isolation lets both commit; serializable refuses one.
#[test]
fn serializable_prevents_write_skew_and_snapshot_allows_it() {
    for &tier in TIERS {
        for (iso, both_commit) in [
            (Isolation::Snapshot, true),
            (Isolation::Serializable, false),
        ] {
            let (_dir, db) = open(tier);
            db.put(b"x", b"1").unwrap();
            db.put(b"y", b"1").unwrap();
            let opts = TxnOptions::default().isolation(iso);
            let mut t1 = db.begin_with(opts);
            let mut t2 = db.begin_with(opts);
            for t in [&mut t1, &mut t2] {
                t.get(b"x").unwrap();
                t.get(b"y").unwrap();
            }
            t1.put(b"x", b"0").unwrap();
            t2.put(b"y", b"0").unwrap();
            assert!(t1.commit().is_ok());
            let second = t2.commit();
            assert_eq!(second.is_ok(), both_commit, "{iso:?}: {second:?}");
            db.close().unwrap();
        }
    }
}

/// A snapshot held while thousands of writes, deletes and checkpoints go by
/// keeps reading exactly what it saw.
#[test]
fn held_snapshot_is_stable_across_writes_and_checkpoints() {
    for &tier in TIERS {
        let (_dir, db) = open(tier);
        for i in 0..2000 {
            db.put(format!("k/{i:05}"), format!("v{i}")).unwrap();
        }
        let snap = db.snapshot();
        let before: Vec<_> = snap.range(..).unwrap().map(|r| r.unwrap()).collect();
        let writer = {
            let db = db.clone();
            thread::spawn(move || {
                for round in 0..3 {
                    for i in (0..2000).step_by(3) {
                        db.put(format!("k/{i:05}"), format!("round{round}"))
                            .unwrap();
                        if i % 2 == 0 {
                            db.delete(format!("k/{:05}", i + 1)).unwrap();
                        }
                    }
                    db.checkpoint().unwrap();
                }
            })
        };
        for _ in 0..5 {
            let again: Vec<_> = snap.range(..).unwrap().map(|r| r.unwrap()).collect();
            assert_eq!(again, before);
        }
        writer.join().unwrap();
        let after: Vec<_> = snap.range(..).unwrap().rev().map(|r| r.unwrap()).collect();
        assert_eq!(after.into_iter().rev().collect::<Vec<_>>(), before);
        assert_eq!(snap.get(b"k/00001").unwrap().as_deref(), Some(&b"v1"[..]));
        drop(snap);
        db.close().unwrap();
    }
}

/// Writers and readers keep running through a split, a merge and two tier
/// conversions: every snapshot stays exact, every reader sees the transfer
/// invariant, nothing acknowledged is lost, and the layout ends as asked.
#[test]
fn layout_changes_while_reading_and_writing() {
    let (_dir, db) = open(Tier::BTree);
    let accounts = 20;
    for a in 0..accounts {
        db.put(format!("acct/{a:02}"), "100").unwrap();
    }
    let total = 100 * accounts as i64;
    let held = db.snapshot();
    let held_view: Vec<_> = held.range(..).unwrap().map(|r| r.unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let (db, stop) = (db.clone(), stop.clone());
            thread::spawn(move || {
                let mut acked = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let (from, to) = ((i * 7 + w) % accounts, (i * 3 + w + 1) % accounts);
                    let mut tx = db.begin();
                    let (kf, kt) = (format!("acct/{from:02}"), format!("acct/{to:02}"));
                    if from != to {
                        let f = parse(tx.get(&kf).unwrap());
                        let t = parse(tx.get(&kt).unwrap());
                        tx.put(&kf, (f - 1).to_string()).unwrap();
                        tx.put(&kt, (t + 1).to_string()).unwrap();
                    }
                    let log = format!("log/{w}/{i:06}");
                    tx.put(&log, b"x").unwrap();
                    match tx.commit() {
                        Ok(_) => acked.push(log),
                        Err(Error::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                acked
            })
        })
        .collect();
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        thread::spawn(move || {
            let mut checks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let snap = db.snapshot();
                let sum: i64 = common::collect(snap.prefix(b"acct/").unwrap(), checks % 2 == 1)
                    .into_iter()
                    .map(|(_, v)| parse(Some(v.into())))
                    .sum();
                assert_eq!(sum, total, "a snapshot saw a partial transfer");
                checks += 1;
            }
            checks
        })
    };
    let pause = || thread::sleep(std::time::Duration::from_millis(30));
    pause();
    let right = db.split_partition(b"acct/10").unwrap();
    pause();
    let log = db.split_partition(b"log/").unwrap();
    pause();
    db.set_tier(right, Tier::Lsm).unwrap();
    pause();
    db.set_tier(log, Tier::Lsm).unwrap();
    pause();
    let first = db.partitions()[0].id;
    let merged = db.merge_partitions(first, right).unwrap();
    pause();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(reader.join().unwrap() > 0);
    // The held snapshot still reads exactly what it saw.
    let again: Vec<_> = held.range(..).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(again, held_view);
    // Nothing acknowledged was lost, and the invariant holds.
    for key in &acked {
        assert!(db.get(key).unwrap().is_some(), "lost {key}");
    }
    let sum: i64 = db
        .prefix(b"acct/")
        .unwrap()
        .map(|r| parse(Some(r.unwrap().1)))
        .sum();
    assert_eq!(sum, total);
    let parts = db.partitions();
    let tiers: Vec<(Vec<u8>, Tier)> = parts.iter().map(|p| (p.start.to_vec(), p.tier)).collect();
    assert_eq!(
        tiers,
        vec![(b"".to_vec(), Tier::BTree), (b"log/".to_vec(), Tier::Lsm)]
    );
    assert_eq!(parts[0].id, merged);
    // And it all survives a reopen.
    let path = db.path().to_path_buf();
    drop(held);
    db.close().unwrap();
    let db = Db::open(&path, Options::default()).unwrap();
    for key in &acked {
        assert!(db.get(key).unwrap().is_some(), "lost {key} after reopen");
    }
    assert_eq!(db.partitions().len(), 2);
    db.close().unwrap();
}

/// A layout change copies its partitions without holding writers back:
/// commits into the very partition being rebuilt go on completing while
/// the copy runs (no gap between two commits comes near the length of the
/// change, whose time is mostly the copy), and every one of them is in the
/// new partition afterwards — also after a reopen, which replays them from
/// the WAL by key.
#[test]
fn writers_keep_committing_during_a_rebuild() {
    use std::time::{Duration, Instant};
    for &tier in TIERS {
        // No background checkpoint: nothing else holds writers back.
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            dir.path().join("db"),
            Options::default()
                .default_tier(tier)
                .durability(Durability::Buffered)
                .background_checkpoints(false),
        )
        .unwrap();
        let keys = 100_000u32;
        let mut batch = tierdb::WriteBatch::new();
        for i in 0..keys {
            batch.put(format!("item/{i:06}"), [7u8; 64]);
        }
        db.write(batch).unwrap();
        db.checkpoint().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (db, done) = (db.clone(), done.clone());
            thread::spawn(move || {
                let mut completed = Vec::new();
                let mut acked = Vec::new();
                let mut i = 0u32;
                while !done.load(Ordering::SeqCst) {
                    let key = format!("item/{:06}", (u64::from(i) * 7919) % u64::from(keys));
                    let value = format!("v{i}");
                    db.put(&key, &value).unwrap();
                    completed.push(Instant::now());
                    acked.push((key, value));
                    i += 1;
                }
                (completed, acked)
            })
        };
        let other = match tier {
            Tier::BTree => Tier::Lsm,
            Tier::Lsm => Tier::BTree,
        };
        let id = db.partitions()[0].id;
        thread::sleep(Duration::from_millis(20));
        let began = Instant::now();
        db.set_tier(id, other).unwrap();
        let ended = Instant::now();
        thread::sleep(Duration::from_millis(20));
        done.store(true, Ordering::SeqCst);
        let (completed, acked) = writer.join().unwrap();
        let mut inside: Vec<Instant> = completed
            .into_iter()
            .filter(|t| (began..ended).contains(t))
            .collect();
        inside.insert(0, began);
        inside.push(ended);
        let longest_gap = inside.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        let took = ended - began;
        eprintln!(
            "{tier:?} -> {other:?}: change took {took:?}, {} commits completed during it, longest gap between commits {longest_gap:?}",
            inside.len() - 2
        );
        assert!(
            longest_gap * 3 < took,
            "{tier:?}: writers were held back for {longest_gap:?} of a {took:?} change"
        );
        let mut latest = std::collections::HashMap::new();
        for (k, v) in &acked {
            latest.insert(k.clone(), v.clone());
        }
        let check = |db: &Db| {
            for (k, v) in &latest {
                assert_eq!(db.get(k).unwrap().as_deref(), Some(v.as_bytes()), "{k}");
            }
            assert_eq!(db.prefix(b"item/").unwrap().count(), keys as usize);
        };
        check(&db);
        assert_eq!(db.partitions()[0].tier, other);
        let path = db.path().to_path_buf();
        db.close().unwrap();
        let db = Db::open(&path, Options::default()).unwrap();
        check(&db);
        db.close().unwrap();
    }
}
