//! A dropped WAL leaves no thread behind. Alone in its test binary, because
//! it counts the process's threads (Linux `/proc`).

use std::sync::Arc;
use std::time::Duration;

use tierdb_io::SimVfs;
use tierdb_wal::{Wal, WalOptions};

/// Threads of this process, if `/proc` says.
fn threads() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// Found by the `crash_recovery` fuzz target (its leak check): dropping a
/// WAL without `close` stopped the flusher but did not wait for it, so the
/// thread of a dropped database could still be running when the next one
/// opened. Drop now joins it.
#[test]
fn regression_dropped_wal_joins_its_flusher() {
    if threads().is_none() {
        return;
    }
    let mut opts = WalOptions::new("/db/wal");
    opts.sync_interval = Duration::from_secs(3600);
    let vfs = Arc::new(SimVfs::new(1));
    for _ in 0..3 {
        // Counted around each step rather than against one baseline taken
        // at the start: the test harness's own threads may come and go.
        let before_open = threads();
        let (wal, _) = Wal::open(vfs.clone(), opts.clone(), 0, &mut |_, _| Ok(())).unwrap();
        let lsn = wal.last_lsn() + 1;
        wal.append(lsn, b"x").unwrap();
        wal.write_to(lsn).unwrap();
        let running = threads();
        assert_eq!(running, before_open.map(|n| n + 1), "the flusher runs");
        drop(wal);
        assert_eq!(
            threads(),
            running.map(|n| n - 1),
            "the flusher outlived its WAL"
        );
    }
}
