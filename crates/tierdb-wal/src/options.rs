//! `WalOptions` and `RecoveryMode`.

use std::path::PathBuf;
use std::time::Duration;

use tierdb_io::{Error, Result};

/// Default [`WalOptions::segment_bytes`]: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Default [`WalOptions::sync_interval`]: 100 ms.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// What recovery does with a bad record that is not a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Corruption of data that was synced fails `Wal::open` with
    /// `Error::Corruption { file, offset, .. }`. Torn tails are still cut.
    #[default]
    Strict,
    /// Recovery stops at the first bad record anywhere, drops everything
    /// after it (truncating that segment, removing later ones) and reports
    /// it in `Recovered::dropped_by_tolerance` instead of failing.
    TolerateCorruption,
}

/// How a [`crate::Wal`] is laid out and run.
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Directory holding the segments (`000001.log`, ...). Created if missing.
    pub dir: PathBuf,
    /// A segment is sealed and the next one started once the active segment
    /// reaches this many bytes. A segment may exceed it by one record.
    /// Default 64 MiB.
    pub segment_bytes: u64,
    /// How to treat corruption during recovery. Default `Strict`.
    pub recovery: RecoveryMode,
    /// Upper bound on how long data written by `Wal::write_to` (Buffered
    /// durability) stays unsynced before the background flusher syncs it.
    /// Default 100 ms.
    pub sync_interval: Duration,
}

impl WalOptions {
    /// Options for a WAL in `dir`, every other field at its default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalOptions {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            recovery: RecoveryMode::default(),
            sync_interval: DEFAULT_SYNC_INTERVAL,
        }
    }

    /// Rejects options the WAL cannot run with.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.segment_bytes == 0 {
            return Err(Error::InvalidArgument(
                "WalOptions::segment_bytes must be > 0".into(),
            ));
        }
        if self.sync_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "WalOptions::sync_interval must be > 0".into(),
            ));
        }
        Ok(())
    }
}
