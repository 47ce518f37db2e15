//! Append, sync, reopen, replay — on real files.

mod common;

use std::sync::Arc;

use common::{append_range, assert_replayed, open_collect, payload, segment_names, wal_dir};
use tierdb_io::{Error, OsVfs, Vfs};
use tierdb_wal::WalOptions;

fn os() -> Arc<dyn Vfs> {
    Arc::new(OsVfs::new())
}

#[test]
fn records_synced_before_close_are_replayed_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    let (wal, rec, seen) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    assert_eq!((rec.last_lsn, rec.records, rec.segments), (0, 0, 0));
    assert!(seen.is_empty());
    append_range(&wal, 1, 100);
    wal.sync_to(60).unwrap();
    assert!(wal.synced_lsn() >= 60);
    wal.sync_all().unwrap();
    assert_eq!((wal.last_lsn(), wal.synced_lsn()), (100, 100));
    wal.close().unwrap();
    drop(wal);

    let (wal, rec, seen) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    assert_replayed(&seen, 1, 100, "reopen");
    assert_eq!((rec.last_lsn, rec.records, rec.segments), (100, 100, 1));
    assert_eq!(
        (rec.torn_tail.clone(), rec.dropped_by_tolerance.clone()),
        (None, None)
    );
    append_range(&wal, 101, 120);
    wal.close().unwrap();
    drop(wal);

    let (_wal, rec, seen) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    assert_replayed(&seen, 1, 120, "second reopen");
    assert_eq!(rec.last_lsn, 120);
}

#[test]
fn replay_after_skips_persisted_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    let (wal, _, _) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    append_range(&wal, 1, 50);
    wal.close().unwrap();
    drop(wal);
    let (_wal, rec, seen) = open_collect(os(), WalOptions::new(&dir), 30).unwrap();
    assert_replayed(&seen, 31, 50, "replay_after 30");
    assert_eq!((rec.last_lsn, rec.records), (50, 20));
}

#[test]
fn replay_after_beyond_the_log_continues_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    let (wal, _, _) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    append_range(&wal, 1, 10);
    wal.close().unwrap();
    drop(wal);
    // The DB checkpointed up to 25 (records 11..=25 never reached the log).
    let (wal, rec, seen) = open_collect(os(), WalOptions::new(&dir), 25).unwrap();
    assert!(seen.is_empty());
    assert_eq!(rec.last_lsn, 25);
    assert!(matches!(
        wal.append(11, b"x"),
        Err(Error::InvalidArgument(_))
    ));
    append_range(&wal, 26, 30);
    wal.close().unwrap();
    drop(wal);
    let (_wal, rec, seen) = open_collect(os(), WalOptions::new(&dir), 25).unwrap();
    assert_replayed(&seen, 26, 30, "after the gap");
    assert_eq!(rec.last_lsn, 30);
}

#[test]
fn records_needed_for_replay_missing_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    let (wal, _, _) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    append_range(&wal, 1, 10);
    wal.close().unwrap();
    drop(wal);
    let (_wal, _, _) = open_collect(os(), WalOptions::new(&dir), 25).unwrap();
    // The log now has 1..=10, then a segment starting at 26: fine while the
    // DB's checkpoint is at 25, corruption if it claims only 5.
    let err = open_collect(os(), WalOptions::new(&dir), 5).unwrap_err();
    assert!(err.is_corruption(), "{err}");
}

#[test]
fn append_checks_lsns_and_close() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = open_collect(os(), WalOptions::new(wal_dir(tmp.path())), 0).unwrap();
    assert!(matches!(
        wal.append(2, b"x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(wal.sync_to(1), Err(Error::InvalidArgument(_))));
    wal.append(1, b"x").unwrap();
    assert!(matches!(
        wal.append(1, b"x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(wal.buffered_bytes() > 0);
    wal.write_to(1).unwrap();
    assert_eq!(wal.buffered_bytes(), 0);
    wal.close().unwrap();
    assert!(matches!(wal.append(2, b"x"), Err(Error::Closed)));
    assert_eq!(wal.synced_lsn(), 1);
    wal.sync_to(1).unwrap();
    wal.close().unwrap();
}

#[test]
fn reopening_without_appends_does_not_pile_up_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    for round in 0..5 {
        let (wal, _, seen) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
        assert_eq!(seen.len(), if round == 0 { 0 } else { 3 });
        if round == 0 {
            append_range(&wal, 1, 3);
        }
        wal.close().unwrap();
    }
    // The segment with the records, and one empty active segment that each
    // reopen reuses.
    assert_eq!(
        segment_names(&OsVfs::new(), &dir),
        ["000001.log", "000002.log"]
    );
}

#[test]
fn payload_sizes_round_trip_including_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    let sizes = [0usize, 1, 23, 24, 25, 4095, 4096, 70_000];
    let (wal, _, _) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    for (i, size) in sizes.iter().enumerate() {
        wal.append(i as u64 + 1, &vec![i as u8; *size]).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    let (_wal, _, seen) = open_collect(os(), WalOptions::new(&dir), 0).unwrap();
    let got: Vec<usize> = seen.iter().map(|(_, p)| p.len()).collect();
    assert_eq!(got, sizes);
    assert_eq!(seen[2].1, vec![2u8; 23]);
    let _ = payload(1);
}
