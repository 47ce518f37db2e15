//! tierdb's LSM tier (being written).
#![forbid(unsafe_code)]

pub mod entry;
pub mod sstable;
