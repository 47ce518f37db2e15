//! `Db::stats()` carries each tier's read, space and bloom figures per
//! partition, and adds them up in `Stats::totals`.

mod common;

use std::sync::Arc;

use tierdb::{Db, SimVfs, Tier, WriteBatch};

fn key(prefix: &str, i: u64) -> Vec<u8> {
    format!("{prefix}/{i:06}").into_bytes()
}

#[test]
fn partitions_report_read_space_and_bloom_figures() {
    let sim = Arc::new(SimVfs::new(5));
    // Keys "a/.." in a B+tree partition, "s/.." in an LSM partition.
    let opts = || common::sim_options(&sim, Tier::BTree).partition(b"s/", Tier::Lsm);
    let db = Db::open("db", opts()).unwrap();
    for round in 0..3u64 {
        let mut batch = WriteBatch::new();
        // Then 100 and 50 of them again: each flush smaller than the
        // table before it, so none merges it (`LsmOptions::l0_merge_bytes`).
        let ids = [500, 100, 50][round as usize];
        for i in 0..ids {
            // Even ids only: odd ids are absent keys inside the range.
            batch.put(key("a", i * 2), [round as u8; 40]);
            batch.put(key("s", i * 2), [round as u8; 40]);
        }
        db.write(batch).unwrap();
        db.checkpoint().unwrap();
    }
    let parts = db.stats().partitions;
    let lsm = &parts[1].stats;
    assert_eq!(parts[1].tier, Tier::Lsm);
    // Three L0 tables (below the compaction trigger): 500 keys, then
    // second copies of 100 and of 50 of them, counted live once.
    assert_eq!(lsm.level_tables[0], 3, "{lsm:?}");
    let amp = lsm.space_amplification().unwrap();
    assert!((1.2..1.45).contains(&amp), "{amp} {lsm:?}");
    db.compact_range(..).unwrap();
    drop(db);

    let db = Db::open("db", opts()).unwrap();
    for i in 0..500 {
        assert!(db.get(key("a", i * 2)).unwrap().is_some());
        assert!(db.get(key("s", i * 2)).unwrap().is_some());
        assert!(db.get(key("a", i * 2 + 1)).unwrap().is_none());
        assert!(db.get(key("s", i * 2 + 1)).unwrap().is_none());
    }
    let stats = db.stats();
    let (btree, lsm) = (&stats.partitions[0].stats, &stats.partitions[1].stats);
    assert_eq!((btree.gets, lsm.gets), (1000, 1000));
    // B+tree: every read walks root to leaf, all on disk after the reopen.
    let btree_amp = btree.read_amplification().unwrap();
    assert!((2.0..=4.0).contains(&btree_amp), "{btree:?}");
    assert_eq!(btree.bloom_useful + btree.bloom_ineffective, 0);
    assert!(btree.space_amplification().unwrap() >= 1.0, "{btree:?}");
    // LSM, compacted into one run: one block per present key, blocks for
    // absent keys only on bloom false positives.
    assert_eq!(lsm.space_amplification(), Some(1.0), "{lsm:?}");
    assert!(lsm.bloom_useful > 450, "{lsm:?}");
    assert_eq!(lsm.get_blocks, 500 + lsm.bloom_ineffective, "{lsm:?}");
    assert!(lsm.bloom_false_positive_rate().unwrap() < 0.05, "{lsm:?}");

    let totals = stats.totals();
    assert_eq!(totals.gets, 2000);
    assert_eq!(totals.get_blocks, btree.get_blocks + lsm.get_blocks);
    assert_eq!(totals.disk_bytes, stats.disk_bytes());
    assert_eq!(totals.bloom_useful, lsm.bloom_useful);
    // Write amplification counts from open; nothing was written since.
    assert_eq!(totals.write_amplification(), None);
}

/// Where the written bytes went: the WAL (records, of which framing; the
/// zeros of preallocation apart) and each partition's checkpoints,
/// compactions per level and metadata, adding up to its `bytes_written`.
#[test]
fn written_bytes_are_broken_down_by_component() {
    let sim = Arc::new(SimVfs::new(6));
    let opts = common::sim_options(&sim, Tier::BTree).partition(b"s/", Tier::Lsm);
    let db = Db::open("db", opts).unwrap();
    for round in 0..3u64 {
        let mut batch = WriteBatch::new();
        // Then 100 and 50 of them again: each flush smaller than the
        // table before it, so none merges it (`LsmOptions::l0_merge_bytes`).
        let ids = [500, 100, 50][round as usize];
        for i in 0..ids {
            batch.put(key("a", i), [round as u8; 40]);
            batch.put(key("s", i), [round as u8; 40]);
        }
        db.write(batch).unwrap();
        db.checkpoint().unwrap();
    }
    db.compact_range(..).unwrap();
    let stats = db.stats();
    // Three commit records of 1,000 puts: 24 bytes of framing each, and at
    // least the segment header.
    assert!(stats.wal_frame_bytes_written >= 3 * 24 + 32, "{stats:?}");
    assert!(stats.wal_frame_bytes_written < stats.wal_bytes_written / 10);
    assert!(stats.wal_file_bytes >= stats.wal_live_bytes, "{stats:?}");
    let (btree, lsm) = (&stats.partitions[0].stats, &stats.partitions[1].stats);
    for p in [btree, lsm] {
        let compaction: u64 = p.compaction_bytes_written.iter().sum();
        assert_eq!(
            p.bytes_written,
            p.persist_bytes_written + compaction + p.metadata_bytes_written,
            "{p:?}"
        );
        assert!(p.persist_bytes_written > 0 && p.metadata_bytes_written > 0);
    }
    assert!(btree.compaction_bytes_written.iter().all(|&b| b == 0));
    assert!(
        lsm.compaction_bytes_written.iter().sum::<u64>() > 0,
        "{lsm:?}"
    );
    assert_eq!(lsm.level_disk_bytes.iter().sum::<u64>(), lsm.disk_bytes);
    let totals = stats.totals();
    assert_eq!(
        totals.persist_bytes_written,
        btree.persist_bytes_written + lsm.persist_bytes_written
    );
    assert_eq!(totals.level_disk_bytes, lsm.level_disk_bytes);
}
