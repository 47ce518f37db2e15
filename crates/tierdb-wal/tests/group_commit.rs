//! Concurrent Sync committers share writes and fdatasyncs.

mod common;

use std::sync::Arc;
use std::thread;

use common::{assert_replayed, open_collect, payload, wal_dir};
use parking_lot::Mutex;
use tierdb_io::{OsVfs, SimVfs, Vfs};
use tierdb_wal::{Wal, WalOptions};

const THREADS: u64 = 4;
const COMMITS_PER_THREAD: u64 = 200;

/// Each thread: take the "commit mutex", append the next lsn, release it,
/// then `sync_to` its own lsn — the DB's commit pipeline in miniature.
fn run_committers(wal: &Arc<Wal>) {
    let commit_lock = Arc::new(Mutex::new(()));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let wal = Arc::clone(wal);
            let commit_lock = Arc::clone(&commit_lock);
            thread::spawn(move || {
                for _ in 0..COMMITS_PER_THREAD {
                    let lsn = {
                        let _g = commit_lock.lock();
                        let lsn = wal.last_lsn() + 1;
                        wal.append(lsn, &payload(lsn)).unwrap();
                        lsn
                    };
                    wal.sync_to(lsn).unwrap();
                    assert!(wal.synced_lsn() >= lsn);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// `require_grouping`: on real files an fdatasync is slow enough that
/// committers pile up behind the leader; SimVfs syncs in memory, so there the
/// test only checks that concurrent commits are all recovered in order.
fn check_grouping(vfs: Arc<dyn Vfs>, dir: &std::path::Path, label: &str, require_grouping: bool) {
    let (wal, _, _) = open_collect(vfs.clone(), WalOptions::new(dir), 0).unwrap();
    let syncs_at_open = wal.stats().syncs;
    run_committers(&wal);
    let commits = THREADS * COMMITS_PER_THREAD;
    let stats = wal.stats();
    assert_eq!(stats.records, commits, "{label}");
    let syncs = stats.syncs - syncs_at_open;
    assert!(
        syncs <= commits && stats.group_writes <= commits,
        "{label}: {stats:?}"
    );
    if require_grouping {
        assert!(
            syncs < commits,
            "{label}: {syncs} syncs for {commits} commits: no grouping"
        );
        assert!(
            stats.group_writes < commits,
            "{label}: {} group writes",
            stats.group_writes
        );
    }
    eprintln!(
        "{label}: {commits} commits, {syncs} syncs, {} group writes",
        stats.group_writes
    );
    wal.close().unwrap();
    drop(wal);
    let (_wal, _, seen) = open_collect(vfs, WalOptions::new(dir), 0).unwrap();
    assert_replayed(&seen, 1, commits, label);
}

#[test]
fn four_threads_syncing_share_fdatasyncs_on_real_files() {
    let tmp = tempfile::tempdir().unwrap();
    check_grouping(Arc::new(OsVfs::new()), &wal_dir(tmp.path()), "OsVfs", true);
}

#[test]
fn four_threads_syncing_on_simvfs_recover_in_order() {
    let sim = SimVfs::new(99);
    check_grouping(
        Arc::new(sim),
        &wal_dir(std::path::Path::new("/db")),
        "SimVfs",
        false,
    );
}
