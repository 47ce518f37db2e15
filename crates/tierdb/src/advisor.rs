//! The tier advisor: for each partition, the tier its observed workload
//! favours, and why, in figures. It only advises; `Db::set_tier` acts.
//!
//! The rule comes from the catalog example's measurements on this
//! project's machine (docs/design.md): an LSM partition took 4.3× the
//! B+tree's load rate and 2.7× its batched-update rate, while the B+tree
//! served 3.2× the point reads and 3.6× the range scans. So each operation
//! is weighed by what it costs where it costs most — a scan as ten reads —
//! and a partition whose weighted write share passes 60 % is advised to the
//! LSM tier, one under 25 % to the B+tree. In between the advice is to stay
//! (the band keeps advice from flapping as the mix wanders around a single
//! threshold). Fewer than `MIN_OPERATIONS` operations give no advice.
//!
//! `Options::auto_tier` has the database act on the advice itself
//! (`auto_tier.rs`).

use crate::{Db, PartitionId, Tier};

/// Operations a partition must have seen since open before it is advised.
pub const MIN_OPERATIONS: u64 = 1000;
/// Weighted write share above which the LSM tier is advised.
const LSM_ABOVE: f64 = 0.60;
/// Weighted write share below which the B+tree tier is advised.
const BTREE_BELOW: f64 = 0.25;
/// A range scan weighs this many point reads.
const SCAN_WEIGHT: u64 = 10;

/// The advisor's view of one partition.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TierAdvice {
    /// The partition.
    pub partition: PartitionId,
    /// Its tier now.
    pub current: Tier,
    /// The tier its workload favours (the current one when it should stay).
    pub recommended: Tier,
    /// Writes divided by weighted operations since open (scans count ten).
    pub write_share: f64,
    /// Point reads, scans and writes since open.
    pub reads: u64,
    /// Range scans since open.
    pub scans: u64,
    /// Writes since open.
    pub writes: u64,
    /// Why, in a sentence with the figures.
    pub reason: String,
}

impl Db {
    /// For each partition, in key order, the tier its workload since open
    /// favours and why. Acting on it is up to the caller (`set_tier`).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = tierdb::Db::open(dir.path().join("db"), tierdb::Options::default()).unwrap();
    /// for advice in db.advise() {
    ///     if advice.recommended != advice.current {
    ///         println!("{}", advice.reason);
    ///         db.set_tier(advice.partition, advice.recommended)?;
    ///     }
    /// }
    /// # Ok::<(), tierdb::Error>(())
    /// ```
    pub fn advise(&self) -> Vec<TierAdvice> {
        self.partitions()
            .into_iter()
            .map(|p| {
                let s = &p.stats;
                advise_one(p.id, p.tier, s.reads, s.scans, s.writes)
            })
            .collect()
    }
}

pub(crate) fn advise_one(
    partition: PartitionId,
    current: Tier,
    reads: u64,
    scans: u64,
    writes: u64,
) -> TierAdvice {
    let weighted = reads + scans * SCAN_WEIGHT + writes;
    let write_share = if weighted == 0 {
        0.0
    } else {
        writes as f64 / weighted as f64
    };
    let figures = format!(
        "{writes} writes, {reads} reads, {scans} scans since open: writes are {:.0}% of weighted operations",
        write_share * 100.0
    );
    let (recommended, why) = if reads + scans + writes < MIN_OPERATIONS {
        (current, format!("too little traffic to judge ({figures})"))
    } else if write_share > LSM_ABOVE {
        (
            Tier::Lsm,
            format!(
                "{figures} (> {:.0}%): an LSM tree turns them into sequential appends",
                LSM_ABOVE * 100.0
            ),
        )
    } else if write_share < BTREE_BELOW {
        (
            Tier::BTree,
            format!(
                "{figures} (< {:.0}%): a B+tree serves reads and scans with fewer lookups",
                BTREE_BELOW * 100.0
            ),
        )
    } else {
        (
            current,
            format!("{figures}: within the band where neither tier clearly wins; stay"),
        )
    };
    TierAdvice {
        partition,
        current,
        recommended,
        write_share,
        reads,
        scans,
        writes,
        reason: format!("partition {partition}: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_the_mix_with_a_band() {
        let id = PartitionId(3);
        assert_eq!(
            advise_one(id, Tier::BTree, 100, 0, 5000).recommended,
            Tier::Lsm
        );
        assert_eq!(
            advise_one(id, Tier::Lsm, 5000, 100, 200).recommended,
            Tier::BTree
        );
        // In the band: stay where you are, whichever that is.
        assert_eq!(
            advise_one(id, Tier::Lsm, 1000, 0, 600).recommended,
            Tier::Lsm
        );
        assert_eq!(
            advise_one(id, Tier::BTree, 1000, 0, 600).recommended,
            Tier::BTree
        );
        // Scans weigh ten reads.
        assert_eq!(
            advise_one(id, Tier::Lsm, 0, 400, 1000).recommended,
            Tier::BTree
        );
        // Too little traffic: no change.
        assert_eq!(
            advise_one(id, Tier::BTree, 1, 0, 500).recommended,
            Tier::BTree
        );
        assert!(
            advise_one(id, Tier::BTree, 100, 0, 5000)
                .reason
                .contains("5000 writes")
        );
    }
}
