//! The workloads: what logical clients do, and the invariant each keeps.
//!
//! - [`Workload::RandomKv`]: puts, deletes, range deletes and batches of
//!   them over a small key space, and transactions of random reads and
//!   writes — many conflicts, every operation kind.
//! - [`Workload::Bank`]: transfers between accounts in transactions that
//!   read both balances first; the balances always sum to zero.
//! - [`Workload::Catalog`]: items with a category and a secondary index
//!   (`idx/<category>/<item>`) kept in step by transactions, category scans,
//!   and an atomic purge of both ranges; every item has exactly its index
//!   entry.

use std::ops::Bound;

use rand::Rng;
use rand::rngs::StdRng;
use tierdb::{Durability, Isolation};

use crate::model::{KeyRange, Model, Op, Scan, value_for};

/// A workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Random keys and values, every operation kind.
    RandomKv,
    /// Transfers between accounts; the sum of the balances is zero.
    Bank,
    /// Items and their category index, kept in step.
    Catalog,
}

/// Every workload, in the order seeds cycle through them.
pub const WORKLOADS: &[Workload] = &[Workload::RandomKv, Workload::Bank, Workload::Catalog];

/// A write a transaction makes, resolved against what the transaction reads
/// when it runs (so it depends on the reads, as application code does).
#[derive(Clone, Debug)]
pub enum WriteSpec {
    /// Set a key.
    Set(Vec<u8>, Vec<u8>),
    /// Remove a key.
    Del(Vec<u8>),
    /// Add to the decimal number stored under a key (absent is 0).
    Add(Vec<u8>, i64),
    /// Put an item in a category, moving its index entry.
    Upsert {
        /// The item key.
        item: Vec<u8>,
        /// The new category.
        category: String,
    },
    /// Remove an item and its index entry.
    Remove(Vec<u8>),
}

impl WriteSpec {
    /// The keys this write reads before writing.
    pub fn reads(&self) -> Option<&[u8]> {
        match self {
            WriteSpec::Set(..) | WriteSpec::Del(_) => None,
            WriteSpec::Add(k, _) | WriteSpec::Upsert { item: k, .. } | WriteSpec::Remove(k) => {
                Some(k)
            }
        }
    }

    /// The writes, given the value the transaction read for `reads()`.
    pub fn resolve(&self, read: Option<&[u8]>) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        match self {
            WriteSpec::Set(k, v) => vec![(k.clone(), Some(v.clone()))],
            WriteSpec::Del(k) => vec![(k.clone(), None)],
            WriteSpec::Add(k, delta) => {
                let n = read.map_or(0, parse_number) + delta;
                vec![(k.clone(), Some(n.to_string().into_bytes()))]
            }
            WriteSpec::Upsert { item, category } => {
                let mut w = Vec::new();
                if let Some(old) = read {
                    w.push((index_key(old, item), None));
                }
                w.push((index_key(category.as_bytes(), item), Some(b"1".to_vec())));
                w.push((item.clone(), Some(category.as_bytes().to_vec())));
                w
            }
            WriteSpec::Remove(item) => match read {
                Some(old) => vec![(index_key(old, item), None), (item.clone(), None)],
                None => Vec::new(),
            },
        }
    }
}

/// One step of a transaction.
#[derive(Clone, Debug)]
pub enum TxnStep {
    /// A point read.
    Get(Vec<u8>),
    /// A scan.
    Scan(Scan),
    /// A write.
    Write(WriteSpec),
    /// A range delete.
    DeleteRange(KeyRange),
}

/// What an idle client does next.
#[derive(Clone, Debug)]
pub enum Action {
    /// A write batch (one commit).
    Write(Vec<Op>, Durability),
    /// A point read of the latest state.
    Get(Vec<u8>),
    /// A scan of the latest state.
    Scan(Scan),
    /// A transaction; its steps run one per turn of the client.
    Txn {
        /// Its isolation level.
        isolation: Isolation,
        /// Its durability.
        durability: Durability,
        /// Its reads and writes, in order; then it commits.
        steps: Vec<TxnStep>,
    },
}

fn key(prefix: &str, n: u32, width: usize) -> Vec<u8> {
    format!("{prefix}{n:0width$}").into_bytes()
}

fn index_key(category: &[u8], item: &[u8]) -> Vec<u8> {
    [b"idx/", category, b"/", item].concat()
}

fn parse_number(v: &[u8]) -> i64 {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(i64::MIN / 4)
}

fn prefix_range(prefix: &[u8]) -> KeyRange {
    let mut end = prefix.to_vec();
    *end.last_mut().expect("non-empty prefix") += 1;
    (Bound::Included(prefix.to_vec()), Bound::Excluded(end))
}

/// A random durability, mostly `Sync`.
pub fn random_durability(rng: &mut StdRng) -> Durability {
    match rng.random_range(0..10) {
        0..=5 => Durability::Sync,
        6..=7 => Durability::Buffered,
        _ => Durability::Volatile,
    }
}

fn random_isolation(rng: &mut StdRng) -> Isolation {
    if rng.random_bool(0.5) {
        Isolation::Snapshot
    } else {
        Isolation::Serializable
    }
}

/// A random range with bounds of every kind between two keys.
fn random_bounds(lo: Vec<u8>, hi: Vec<u8>, rng: &mut StdRng) -> KeyRange {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let lo = match rng.random_range(0..5) {
        0 => Bound::Unbounded,
        1 => Bound::Excluded(lo),
        _ => Bound::Included(lo),
    };
    let hi = match rng.random_range(0..5) {
        0 => Bound::Unbounded,
        1 => Bound::Included(hi),
        _ => Bound::Excluded(hi),
    };
    (lo, hi)
}

impl Workload {
    /// Short name, used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::RandomKv => "random-kv",
            Workload::Bank => "bank",
            Workload::Catalog => "catalog",
        }
    }

    /// A workload by name.
    pub fn named(name: &str) -> Option<Workload> {
        WORKLOADS.iter().copied().find(|w| w.name() == name)
    }

    /// A key of the workload's key space.
    pub fn random_key(self, rng: &mut StdRng) -> Vec<u8> {
        match self {
            Workload::RandomKv => key("key/", rng.random_range(0..100), 3),
            Workload::Bank => key("acct/", rng.random_range(0..48), 3),
            Workload::Catalog if rng.random_bool(0.3) => {
                let item = key("item/", rng.random_range(0..300), 4);
                index_key(format!("c{}", rng.random_range(0..6)).as_bytes(), &item)
            }
            Workload::Catalog => key("item/", rng.random_range(0..300), 4),
        }
    }

    /// A range of the workload's key space.
    pub fn random_range(self, rng: &mut StdRng) -> KeyRange {
        let (a, b) = (self.random_key(rng), self.random_key(rng));
        random_bounds(a, b, rng)
    }

    /// A scan of the latest state or a snapshot.
    pub fn random_scan(self, rng: &mut StdRng) -> Scan {
        let range = match self {
            Workload::Bank if rng.random_bool(0.5) => prefix_range(b"acct/"),
            Workload::Catalog if rng.random_bool(0.5) => {
                prefix_range(format!("idx/c{}/", rng.random_range(0..6)).as_bytes())
            }
            _ => self.random_range(rng),
        };
        Scan {
            range,
            reverse: rng.random_bool(0.3),
            limit: if rng.random_bool(0.7) {
                usize::MAX
            } else {
                rng.random_range(1..8)
            },
        }
    }

    /// What an idle client does next. `tick` makes values unique.
    pub fn next_action(self, rng: &mut StdRng, tick: u64) -> Action {
        match self {
            Workload::RandomKv => self.random_kv_action(rng, tick),
            Workload::Bank => self.bank_action(rng),
            Workload::Catalog => self.catalog_action(rng),
        }
    }

    fn random_value(self, k: &[u8], rng: &mut StdRng, tick: u64) -> Vec<u8> {
        let len = if rng.random_bool(0.04) {
            rng.random_range(1500..5000)
        } else {
            rng.random_range(1..120)
        };
        value_for(k, tick, len)
    }

    fn random_kv_action(self, rng: &mut StdRng, tick: u64) -> Action {
        match rng.random_range(0..10) {
            0..=3 => {
                let ops = (0..rng.random_range(1..5))
                    .map(|_| {
                        let k = self.random_key(rng);
                        match rng.random_range(0..10) {
                            0..=5 => {
                                let v = self.random_value(&k, rng, tick);
                                Op::Put(k, v)
                            }
                            6..=8 => Op::Delete(k),
                            _ => Op::DeleteRange(self.random_range(rng)),
                        }
                    })
                    .collect();
                Action::Write(ops, random_durability(rng))
            }
            4 => Action::Get(self.random_key(rng)),
            5 => Action::Scan(self.random_scan(rng)),
            _ => {
                let steps = (0..rng.random_range(1..6))
                    .map(|_| {
                        let k = self.random_key(rng);
                        match rng.random_range(0..12) {
                            0..=2 => TxnStep::Get(k),
                            3 => TxnStep::Scan(self.random_scan(rng)),
                            4..=7 => {
                                let v = self.random_value(&k, rng, tick);
                                TxnStep::Write(WriteSpec::Set(k, v))
                            }
                            8..=9 => TxnStep::Write(WriteSpec::Del(k)),
                            _ => TxnStep::DeleteRange(self.random_range(rng)),
                        }
                    })
                    .collect();
                Action::Txn {
                    isolation: random_isolation(rng),
                    durability: random_durability(rng),
                    steps,
                }
            }
        }
    }

    fn bank_action(self, rng: &mut StdRng) -> Action {
        match rng.random_range(0..10) {
            0 => Action::Scan(self.random_scan(rng)),
            1 => Action::Get(self.random_key(rng)),
            2 => Action::Txn {
                // An audit: reads every balance in one snapshot.
                isolation: Isolation::Serializable,
                durability: Durability::Sync,
                steps: vec![TxnStep::Scan(Scan {
                    range: prefix_range(b"acct/"),
                    reverse: rng.random_bool(0.5),
                    limit: usize::MAX,
                })],
            },
            _ => {
                let (a, b) = (self.random_key(rng), self.random_key(rng));
                let amount = rng.random_range(1..100);
                Action::Txn {
                    isolation: random_isolation(rng),
                    durability: random_durability(rng),
                    steps: vec![
                        TxnStep::Get(a.clone()),
                        TxnStep::Get(b.clone()),
                        TxnStep::Write(WriteSpec::Add(a, -amount)),
                        TxnStep::Write(WriteSpec::Add(b, amount)),
                    ],
                }
            }
        }
    }

    fn catalog_action(self, rng: &mut StdRng) -> Action {
        let item = key("item/", rng.random_range(0..300), 4);
        match rng.random_range(0..40) {
            0 => Action::Write(
                // Purge: both ranges at once, so the index stays exact.
                vec![
                    Op::DeleteRange(prefix_range(b"item/")),
                    Op::DeleteRange(prefix_range(b"idx/")),
                ],
                random_durability(rng),
            ),
            1..=6 => Action::Scan(self.random_scan(rng)),
            7..=9 => Action::Get(item),
            10..=13 => Action::Txn {
                isolation: Isolation::Serializable,
                durability: random_durability(rng),
                steps: vec![
                    TxnStep::Scan(Scan {
                        range: prefix_range(format!("idx/c{}/", rng.random_range(0..6)).as_bytes()),
                        reverse: false,
                        limit: usize::MAX,
                    }),
                    TxnStep::Write(WriteSpec::Remove(item)),
                ],
            },
            _ => {
                let steps = (0..rng.random_range(1..4))
                    .map(|_| {
                        let item = key("item/", rng.random_range(0..300), 4);
                        if rng.random_bool(0.2) {
                            TxnStep::Write(WriteSpec::Remove(item))
                        } else {
                            TxnStep::Write(WriteSpec::Upsert {
                                item,
                                category: format!("c{}", rng.random_range(0..6)),
                            })
                        }
                    })
                    .collect();
                Action::Txn {
                    isolation: random_isolation(rng),
                    durability: random_durability(rng),
                    steps,
                }
            }
        }
    }

    /// Checks the workload's invariant on a state the database holds.
    pub fn check_invariant(self, state: &Model) -> Result<(), String> {
        match self {
            Workload::RandomKv => Ok(()),
            Workload::Bank => {
                let sum: i64 = state
                    .range(prefix_range(b"acct/"))
                    .map(|(_, v)| parse_number(v))
                    .sum();
                if sum == 0 {
                    Ok(())
                } else {
                    Err(format!("bank balances sum to {sum}, not 0"))
                }
            }
            Workload::Catalog => {
                for (k, category) in state.range(prefix_range(b"item/")) {
                    if !state.contains_key(&index_key(category, k)) {
                        return Err(format!(
                            "catalog item {} has no index entry",
                            String::from_utf8_lossy(k)
                        ));
                    }
                }
                for (k, _) in state.range(prefix_range(b"idx/")) {
                    let rest = &k[4..];
                    let slash = rest.iter().position(|&b| b == b'/').unwrap_or(0);
                    let (category, item) = (&rest[..slash], &rest[slash + 1..]);
                    if state.get(item).map(Vec::as_slice) != Some(category) {
                        return Err(format!(
                            "catalog index entry {} names no such item",
                            String::from_utf8_lossy(k)
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}
