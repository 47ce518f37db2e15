//! fsyncgate: after a failed write or sync the WAL refuses everything and
//! never retries; the background flusher syncs Buffered writes.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{append_range, assert_replayed, open_collect, wal_dir};
use tierdb_io::{Error, Fault, FaultKind, FaultOp, SimVfs, Vfs};
use tierdb_wal::{Wal, WalOptions};

fn is_poisoned<T: std::fmt::Debug>(r: tierdb_io::Result<T>) -> bool {
    matches!(r, Err(Error::Poisoned { .. }))
}

fn fresh(sim: &SimVfs) -> Arc<Wal> {
    let dir = wal_dir(Path::new("/db"));
    let mut opts = WalOptions::new(dir);
    opts.sync_interval = Duration::from_millis(10);
    open_collect(Arc::new(sim.clone()), opts, 0).unwrap().0
}

fn assert_refuses_everything(wal: &Wal, sim: &SimVfs, next_lsn: u64) {
    let ops = sim.mutating_ops();
    assert!(is_poisoned(wal.append(next_lsn, b"x")));
    assert!(is_poisoned(wal.write_to(next_lsn - 1)));
    assert!(is_poisoned(wal.sync_to(next_lsn - 1)));
    assert!(is_poisoned(wal.sync_all()));
    assert!(is_poisoned(wal.close()));
    assert_eq!(
        sim.mutating_ops(),
        ops,
        "a poisoned WAL touched the disk (retried?)"
    );
}

#[test]
fn failed_sync_poisons_and_is_never_retried() {
    let sim = SimVfs::new(20);
    let wal = fresh(&sim);
    append_range(&wal, 1, 5);
    wal.sync_to(5).unwrap();
    sim.inject(Fault::new(FaultOp::Sync, FaultKind::Eio).on_path(".log"));
    append_range(&wal, 6, 8);
    let err = wal.sync_to(7).unwrap_err();
    assert!(
        matches!(&err, Error::Poisoned { reason } if reason.contains("injected")),
        "{err}"
    );
    assert_eq!(wal.synced_lsn(), 5);
    // The fault fired once; a retry would now succeed — it must not happen.
    assert_refuses_everything(&wal, &sim, 9);
    drop(wal);
    sim.crash();
    let (_wal, rec, seen) = open_collect(
        Arc::new(sim.clone()),
        WalOptions::new(wal_dir(Path::new("/db"))),
        0,
    )
    .unwrap();
    assert!(rec.last_lsn >= 5 && rec.last_lsn <= 8, "{rec:?}");
    assert_replayed(&seen, 1, rec.last_lsn, "after poisoned sync");
}

#[test]
fn failed_write_poisons() {
    for kind in [FaultKind::Eio, FaultKind::NoSpace, FaultKind::ShortWrite] {
        let sim = SimVfs::new(21);
        let wal = fresh(&sim);
        sim.inject(Fault::new(FaultOp::Write, kind).on_path(".log"));
        append_range(&wal, 1, 3);
        assert!(is_poisoned(wal.write_to(2)), "{kind:?}");
        assert_refuses_everything(&wal, &sim, 4);
    }
}

#[test]
fn failed_background_sync_poisons_later_calls() {
    let sim = SimVfs::new(22);
    let wal = fresh(&sim);
    sim.inject(Fault::new(FaultOp::Sync, FaultKind::Eio).on_path(".log"));
    append_range(&wal, 1, 3);
    wal.write_to(3).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // write_to(3) is already covered, so it does no I/O: it only reports.
    while !is_poisoned(wal.write_to(3)) {
        assert!(Instant::now() < deadline, "flusher never synced");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(is_poisoned(wal.append(4, b"x")));
    assert!(is_poisoned(wal.sync_to(3)));
}

#[test]
fn flusher_syncs_buffered_writes_within_the_interval() {
    let sim = SimVfs::new(23);
    let wal = fresh(&sim);
    append_range(&wal, 1, 10);
    wal.write_to(10).unwrap();
    assert_eq!(wal.buffered_bytes(), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while wal.synced_lsn() < 10 {
        assert!(Instant::now() < deadline, "flusher never synced");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Volatile records (append only) are left alone by the flusher.
    append_range(&wal, 11, 12);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!((wal.written_lsn(), wal.synced_lsn()), (10, 10));
    // Dropping the last handle ends the thread; it held only a Weak.
    let weak = Arc::downgrade(&wal);
    drop(wal);
    assert!(weak.upgrade().is_none());
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    sim.crash();
    let (_wal, _, seen) = open_collect(vfs, WalOptions::new(wal_dir(Path::new("/db"))), 0).unwrap();
    assert_replayed(&seen, 1, 10, "synced by the flusher");
}
