//! The bottom layer of tierdb: every byte the engine reads or writes goes through
//! the [`Vfs`] trait defined here.
//!
//! - [`OsVfs`] maps the trait onto `std::fs` (real files, `fdatasync`, `flock`).
//! - [`SimVfs`] keeps files in memory, deterministic from a seed, remembers what
//!   has been made durable by a sync, and can simulate a power loss
//!   ([`SimVfs::crash`]) and inject I/O faults.
//!
//! The engine-wide [`Error`] type lives here too, so that every layer above
//! returns the same `Result`.
#![forbid(unsafe_code)]

mod error;
mod os_lock;
mod os_vfs;
mod sim_vfs;
mod vfs;

pub use error::{Error, Result};
pub use os_vfs::OsVfs;
pub use sim_vfs::{Fault, FaultKind, FaultOp, PendingKind, PendingOp, SimVfs};
pub use vfs::{OpenMode, Vfs, VfsFile, VfsLock};
