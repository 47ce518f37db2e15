//! The one error type of the engine. Every layer returns [`Result`].

use std::path::PathBuf;

/// The result type of every tierdb operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in tierdb.
///
/// Errors are values: bad bytes read from disk give [`Error::Corruption`]
/// naming the file and offset, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error (or one injected by `SimVfs`).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk failed a checksum or do not parse.
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in that file where the damage was detected.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A transaction lost a conflict with a transaction that committed first;
    /// retrying it may succeed.
    #[error("transaction conflict on key {key:?}: {reason}")]
    Conflict {
        /// A key (or range start) on which the conflict was detected, lossily
        /// shown as UTF-8.
        key: String,
        /// Why the commit was refused.
        reason: String,
    },
    /// A caller passed something the engine refuses (an oversized key, say).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The database (or the transaction) was closed; no further calls work.
    #[error("the database is closed")]
    Closed,
    /// Another handle, in this process or another, has the database open.
    #[error("database {path} is already open (lock file held)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The directory exists, is not empty, and is not a tierdb database.
    #[error("{path} is not a tierdb database: {reason}")]
    NotADatabase {
        /// The directory that was opened.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file was written by a format version this build does not read.
    #[error("{file} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The highest version this build supports.
        supported: u32,
    },
    /// An earlier write or sync failed, so the engine no longer knows what is
    /// durable; it refuses further writes. Close and reopen to recover from
    /// the files as they are.
    #[error("database is read-only after an earlier failure: {reason}")]
    Poisoned {
        /// The failure that poisoned the database.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Corruption`] in `file` at `offset`.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}
