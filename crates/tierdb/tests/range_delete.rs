//! `delete_range` costs O(1) in the log whatever the number of keys, on
//! every layout: the commit record of a range delete over 99,800 keys is a
//! few dozen bytes per partition; a snapshot taken before it keeps reading
//! every key through checkpoints (flushes), compactions and a layout
//! change; and the deleted keys stay deleted after a reopen (WAL replay)
//! and after the layout change rebuilds partitions.

mod common;

use std::sync::Arc;

use common::*;
use tierdb::{Db, SimVfs, WriteBatch};

const N: u64 = 100_000;

fn key(i: u64) -> Vec<u8> {
    format!("k/{i:08}").into_bytes()
}

#[test]
fn range_delete_is_one_small_record_and_snapshots_stay_exact() {
    for layout in LAYOUTS {
        let sim = Arc::new(SimVfs::new(7));
        let db = Db::open("/db", layout.options(&sim)).unwrap();
        for chunk in 0..N / 1000 {
            let mut batch = WriteBatch::new();
            for i in chunk * 1000..(chunk + 1) * 1000 {
                batch.put(key(i), b"value-value-value");
            }
            db.write(batch).unwrap();
        }
        db.checkpoint().unwrap();
        let snap = db.snapshot();
        let wal_before = db.stats().wal_bytes_written;
        db.delete_range(key(100).as_slice()..key(N - 100).as_slice())
            .unwrap();
        let wal_bytes = db.stats().wal_bytes_written - wal_before;
        let partitions = db.partitions().len() as u64;
        eprintln!(
            "{}: range delete of {} keys wrote {wal_bytes} WAL bytes",
            layout.name,
            N - 200
        );
        assert!(
            wal_bytes <= 64 + 48 * partitions,
            "{}: {wal_bytes} WAL bytes for one range delete",
            layout.name
        );
        assert_eq!(db.range(..).unwrap().count(), 200, "{}", layout.name);
        assert_eq!(db.get(key(100)).unwrap(), None);
        assert!(db.get(key(99)).unwrap().is_some());
        assert!(db.get(key(N - 100)).unwrap().is_some());
        for _ in 0..2 {
            db.checkpoint().unwrap();
            db.compact_range(..).unwrap();
            assert_eq!(snap.range(..).unwrap().count() as u64, N, "{}", layout.name);
            assert_eq!(
                snap.range(..).unwrap().rev().count() as u64,
                N,
                "{}",
                layout.name
            );
            assert!(snap.get(key(N / 2)).unwrap().is_some());
        }
        // A layout change rebuilds partitions from visible data.
        db.split_partition(key(N / 2)).unwrap();
        assert_eq!(
            db.range(..).unwrap().count(),
            200,
            "{} after split",
            layout.name
        );
        drop(snap);
        db.close().unwrap();
        let db = Db::open("/db", layout.options(&sim)).unwrap();
        assert_eq!(
            db.range(..).unwrap().count(),
            200,
            "{} reopened",
            layout.name
        );
        assert_eq!(db.get(key(N / 2)).unwrap(), None);
        db.close().unwrap();
    }
}

#[test]
fn range_delete_replays_from_the_wal() {
    for layout in LAYOUTS {
        let sim = Arc::new(SimVfs::new(9));
        let db = Db::open("/db", layout.options(&sim)).unwrap();
        for i in 0..500 {
            db.put(key(i), b"v").unwrap();
        }
        db.checkpoint().unwrap();
        let mut batch = WriteBatch::new();
        batch.put(key(10), b"before");
        batch.delete_range(key(5).as_slice()..=key(400).as_slice());
        batch.put(key(20), b"after");
        db.write(batch).unwrap();
        // Close without a checkpoint of the range delete: reopen replays it.
        drop(db);
        let db = Db::open("/db", layout.options(&sim)).unwrap();
        let keys: Vec<Vec<u8>> = db
            .range(..)
            .unwrap()
            .map(|r| r.unwrap().0.to_vec())
            .collect();
        assert_eq!(keys.len(), 500 - 396 + 1, "{}", layout.name);
        assert_eq!(db.get(key(10)).unwrap(), None, "{}", layout.name);
        assert_eq!(db.get(key(20)).unwrap().as_deref(), Some(&b"after"[..]));
        assert!(db.get(key(401)).unwrap().is_some());
        db.close().unwrap();
    }
}
