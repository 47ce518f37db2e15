//! Rotation across many segments; release_upto deletes only sealed segments
//! whose every record is persisted elsewhere.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{append_range, assert_replayed, open_collect, segment_names, wal_dir};
use tierdb_io::{SimVfs, Vfs};
use tierdb_wal::WalOptions;

fn small_segments(dir: &Path) -> WalOptions {
    let mut opts = WalOptions::new(dir);
    opts.segment_bytes = 512;
    opts
}

#[test]
fn records_spread_over_many_segments_replay_in_order() {
    let sim = SimVfs::new(1);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let dir = wal_dir(Path::new("/db"));
    let (wal, _, _) = open_collect(vfs.clone(), small_segments(&dir), 0).unwrap();
    for lsn in 1..=400 {
        common::append_range(&wal, lsn, lsn);
        if lsn % 7 == 0 {
            wal.sync_to(lsn).unwrap();
        } else if lsn % 5 == 0 {
            wal.write_to(lsn).unwrap();
        }
    }
    wal.close().unwrap();
    let stats = wal.stats();
    let names = segment_names(&*vfs, &dir);
    assert!(names.len() >= 20, "only {} segments", names.len());
    assert_eq!(stats.segments_live as usize, names.len());
    assert_eq!(stats.records, 400);
    let total: u64 = names
        .iter()
        .map(|n| sim.file_contents(&dir.join(n)).unwrap().len() as u64)
        .sum();
    assert_eq!(wal.live_bytes(), total);
    for name in &names {
        // A segment exceeds segment_bytes by at most one record.
        let len = sim.file_contents(&dir.join(name)).unwrap().len();
        assert!(len < 512 + 24 + 64, "{name} has {len} bytes");
    }
    drop(wal);
    sim.crash(); // everything was synced: nothing may be lost
    let (_wal, rec, seen) = open_collect(vfs, small_segments(&dir), 0).unwrap();
    assert_replayed(&seen, 1, 400, "after rotation");
    assert_eq!(rec.segments, names.len());
    assert_eq!(rec.torn_tail, None);
}

#[test]
fn release_deletes_only_fully_persisted_sealed_segments() {
    let sim = SimVfs::new(2);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let dir = wal_dir(Path::new("/db"));
    let (wal, _, _) = open_collect(vfs.clone(), small_segments(&dir), 0).unwrap();
    append_range(&wal, 1, 300);
    wal.sync_all().unwrap();
    let before = segment_names(&*vfs, &dir);
    let live_before = wal.live_bytes();

    // The last lsn held by the oldest segment, read from its bytes.
    let last_of_first = last_lsn_in(&sim, &dir.join(&before[0]));
    wal.release_upto(last_of_first - 1).unwrap();
    assert_eq!(
        segment_names(&*vfs, &dir),
        before,
        "a segment holding lsn {last_of_first} was deleted"
    );
    wal.release_upto(last_of_first).unwrap();
    assert_eq!(segment_names(&*vfs, &dir), before[1..].to_vec());
    assert!(wal.live_bytes() < live_before);
    assert_eq!(wal.stats().segments_deleted, 1);

    wal.release_upto(u64::MAX).unwrap();
    let after = segment_names(&*vfs, &dir);
    assert_eq!(
        after,
        vec![before.last().unwrap().clone()],
        "the active segment must stay"
    );
    append_range(&wal, 301, 310);
    wal.close().unwrap();
    drop(wal);
    sim.crash();

    // A reopen with the checkpoint at 300 finds only what it needs...
    let (_wal, rec, seen) = open_collect(vfs.clone(), small_segments(&dir), 300).unwrap();
    assert_replayed(&seen, 301, 310, "after release");
    assert_eq!(rec.last_lsn, 310);
    drop(_wal);
    // ...and one that claims an older checkpoint is told records are missing.
    let err = open_collect(vfs, small_segments(&dir), 0).unwrap_err();
    assert!(err.is_corruption(), "{err}");
}

/// The last lsn stored in one segment file.
fn last_lsn_in(sim: &SimVfs, path: &Path) -> u64 {
    let bytes = sim.file_contents(path).unwrap();
    common::record_offsets(&bytes).last().unwrap().1
}
