//! The active segment is grown in zero-filled steps ahead of its records
//! (so `fdatasync` need not update the file size): the zeros must never be
//! read as records, never reach a sealed segment, and never outlive `close`.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{append_range, assert_replayed, open_collect, record_offsets, wal_dir};
use tierdb_io::{SimVfs, Vfs};
use tierdb_wal::WalOptions;

/// End of the last record in a segment image.
fn records_end(bytes: &[u8]) -> usize {
    let records = record_offsets(bytes);
    let (at, _, _) = *records.last().expect("records");
    let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    at + 24 + len
}

#[test]
fn a_crash_leaves_a_zeroed_tail_that_recovery_cuts() {
    let sim = SimVfs::new(7);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let dir = wal_dir(Path::new("/db"));
    let path = dir.join("000001.log");
    let (wal, _, _) = open_collect(vfs.clone(), WalOptions::new(&dir), 0).unwrap();
    append_range(&wal, 1, 50);
    wal.sync_to(50).unwrap();
    drop(wal);
    sim.crash();
    let bytes = sim.file_contents(&path).unwrap();
    let end = records_end(&bytes);
    assert!(bytes.len() > end, "the synced file has a preallocated tail");
    assert!(bytes[end..].iter().all(|&b| b == 0), "the tail is zeros");

    let (wal, rec, seen) = open_collect(vfs.clone(), WalOptions::new(&dir), 0).unwrap();
    assert_replayed(&seen, 1, 50, "after the crash");
    assert_eq!(rec.torn_tail, Some((path.clone(), end as u64)));
    assert_eq!(sim.file_contents(&path).unwrap().len(), end, "tail cut");
    append_range(&wal, 51, 60);
    wal.sync_to(60).unwrap();
    drop(wal);
    sim.crash();
    let (_wal, _, seen) = open_collect(vfs, WalOptions::new(&dir), 0).unwrap();
    assert_replayed(&seen, 1, 60, "after the second crash");
}

#[test]
fn sealed_segments_and_a_closed_log_hold_only_records() {
    let sim = SimVfs::new(8);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let dir = wal_dir(Path::new("/db"));
    let mut opts = WalOptions::new(&dir);
    opts.segment_bytes = 4096;
    let (wal, _, _) = open_collect(vfs.clone(), opts.clone(), 0).unwrap();
    for lsn in 1..=300 {
        append_range(&wal, lsn, lsn);
        wal.sync_to(lsn).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    sim.crash();
    let names = common::segment_names(&*vfs, &dir);
    assert!(names.len() >= 3, "only {} segments", names.len());
    for name in &names {
        let bytes = sim.file_contents(&dir.join(name)).unwrap();
        assert!(bytes.len() <= 4096 + 64, "{name} grew past its size");
        assert_eq!(records_end(&bytes), bytes.len(), "{name} has a tail");
    }
    let (_wal, rec, seen) = open_collect(vfs, opts, 0).unwrap();
    assert_replayed(&seen, 1, 300, "after close");
    assert_eq!(rec.torn_tail, None);
}

/// Buffered groups (`write_to`), the flusher's and background syncs
/// append without zeros, so each byte of the log is written once; only
/// groups a `sync_to` waits on preallocate. The
/// counters say which bytes were zeros, framing, and file.
#[test]
fn only_synced_groups_preallocate_and_the_zeros_are_counted() {
    let sim = SimVfs::new(9);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let dir = wal_dir(Path::new("/db"));
    let path = dir.join("000001.log");
    let mut opts = WalOptions::new(&dir);
    opts.sync_interval = std::time::Duration::from_millis(20);
    let (wal, _, _) = open_collect(vfs.clone(), opts, 0).unwrap();
    append_range(&wal, 1, 50);
    wal.write_to(50).unwrap();
    // Appended after the write: buffered until the flusher's group.
    append_range(&wal, 51, 100);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while wal.synced_lsn() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the flusher never synced"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        wal.written_lsn() > 50,
        "the flusher wrote what was buffered"
    );
    wal.write_to(100).unwrap();
    // A checkpoint's sync (no commit waiting on it) appends too.
    append_range(&wal, 101, 110);
    wal.sync_to_in_background(110).unwrap();
    let stats = wal.stats();
    assert_eq!(
        stats.zero_bytes_written, 0,
        "buffered groups, the flusher's and background syncs write no zeros"
    );
    let len = sim.file_contents(&path).unwrap().len() as u64;
    assert_eq!(len, wal.live_bytes(), "the file ends at its last record");
    assert_eq!(stats.file_bytes, len);
    assert_eq!(stats.frame_bytes_written, 32 + 110 * 24);

    append_range(&wal, 111, 111);
    wal.sync_to(111).unwrap();
    let stats = wal.stats();
    let len = sim.file_contents(&path).unwrap().len() as u64;
    assert!(stats.zero_bytes_written > 0, "a synced group preallocates");
    assert_eq!(stats.file_bytes, len, "file bytes include the zeroed tail");
    assert_eq!(len - wal.live_bytes(), 1 << 20, "1 MiB of zeros ahead");
    assert_eq!(stats.zero_bytes_written, 1 << 20);
    wal.close().unwrap();
    assert_eq!(
        wal.stats().file_bytes,
        wal.live_bytes(),
        "close cuts the tail"
    );
}
