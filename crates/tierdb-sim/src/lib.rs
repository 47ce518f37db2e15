//! Deterministic simulation and metamorphic testing of tierdb.
//!
//! - [`sim`]: seeded runs of many logical clients (puts, deletes, range
//!   deletes, transactions under both isolation levels with the conflicts
//!   the model expects, snapshots held across operations, checkpoints,
//!   compactions, splits, merges and tier changes), power losses at random
//!   file-system operations, injected I/O errors and reopenings, all on one
//!   thread over `SimVfs`, so that a failing seed replays exactly.
//! - [`metamorphic`]: one seeded operation stream run under every
//!   configuration of [`config::METAMORPHIC_CONFIGS`]; every read must give
//!   the same result everywhere.
//! - [`history`] and [`model`]: the reference model and the durability
//!   rules a recovery is checked against, reusable by other suites (the
//!   crash suite of the `tierdb` crate uses them).
//!
//! The `tierdb-sim` binary runs either over many seeds or for a time; see
//! `docs/testing.md`.

pub mod client;
pub mod config;
pub mod history;
pub mod metamorphic;
pub mod model;
pub mod seeds;
pub mod sim;
pub mod workload;

pub use config::{Config, METAMORPHIC_CONFIGS, SIM_CONFIGS};
pub use history::History;
pub use model::{Model, Op};
pub use sim::{Tally, Violation, describe, run, run_seed};
pub use workload::{WORKLOADS, Workload};
