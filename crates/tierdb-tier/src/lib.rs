//! The `Tier` trait: how a partition's data is stored.
//!
//! A tier knows nothing of partitions, transactions or the WAL. It is handed
//! committed write sets in sequence order ([`Tier::apply`]), serves read views
//! of what it has applied ([`Tier::read_view`]), and makes what it has applied
//! durable in its own files on request ([`Tier::persist`]), reporting the
//! sequence number it persisted so the layer above knows which WAL records
//! it must replay after a crash.
#![forbid(unsafe_code)]

mod counter;
mod events;
mod progress;
#[cfg(feature = "testing")]
pub mod testing;
mod tier;
mod write_op;

pub use counter::Counter;
pub use events::{CompactionEvent, EventSink, StallEvent, TierEvents};
pub use progress::{Progress, micros_since, sleep_micros};
pub use tier::{ReadView, Tier, TierIter, TierStats, WalDurableTo, ratio};
pub use write_op::{Seq, WriteOp, range_contains, range_is_empty};
