//! Helpers shared by the LSM integration tests: a seeded PRNG, tier
//! opening with small sizes (so flushes and compactions happen often), and
//! comparison against a `BTreeMap` model.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb_cache::PageCache;
use tierdb_io::{Result, Vfs};
use tierdb_lsm::sstable::SstOptions;
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{ReadView, Seq, Tier, WriteOp};

/// The model: what the tier should hold.
pub type Model = BTreeMap<Bytes, Bytes>;

/// xorshift64*: small, deterministic, good enough for test workloads.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A seed from `TIERDB_SEED` or a fixed default; printed so a failure can be
/// reproduced.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("TIERDB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("seed = {seed} (set TIERDB_SEED to reproduce)");
    seed
}

pub fn no_wal(_: Seq) -> Result<()> {
    Ok(())
}

/// Small sizes: 16 KiB memtables, 1 KiB blocks, 8 KiB tables, 32 KiB L1.
pub fn small_options() -> LsmOptions {
    LsmOptions {
        memtable_bytes: 16 * 1024,
        l0_compaction_trigger: 3,
        level_size_ratio: 4,
        l1_target_bytes: 32 * 1024,
        target_file_bytes: 8 * 1024,
        sst: SstOptions {
            block_bytes: 1024,
            ..SstOptions::default()
        },
        ..LsmOptions::default()
    }
}

pub fn open(vfs: &Arc<dyn Vfs>, dir: &Path) -> Result<LsmTier> {
    open_with(vfs, dir, Arc::new(PageCache::new(1 << 20)), small_options())
}

pub fn open_with(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    cache: Arc<PageCache>,
    opts: LsmOptions,
) -> Result<LsmTier> {
    LsmTier::open(Arc::clone(vfs), dir, cache, 1 << 32, opts)
}

pub fn persist(tier: &LsmTier) -> Seq {
    tier.persist(&no_wal).expect("persist")
}

/// Key `id` of a workload.
pub fn key(id: u64) -> Bytes {
    Bytes::from(format!("key{id:08}"))
}

/// A value for (key id, seq) of length `len`.
pub fn value(id: u64, seq: Seq, len: usize) -> Bytes {
    let mut v = format!("v{id}@{seq}:").into_bytes();
    let mut x = id.wrapping_mul(31).wrapping_add(seq);
    while v.len() < len {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        v.push((x >> 56) as u8);
    }
    v.truncate(len.max(1));
    Bytes::from(v)
}

/// A random value length: mostly small, some larger than a block.
pub fn value_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=84 => rng.below(60) as usize,
        85..=97 => 100 + rng.below(900) as usize,
        _ => 1000 + rng.below(4000) as usize,
    }
}

pub fn apply(tier: &LsmTier, model: &mut Model, seq: Seq, ops: Vec<WriteOp>) {
    tier.apply(seq, &ops).expect("apply");
    for op in ops {
        match op {
            WriteOp::Put { key, value } => {
                model.insert(key, value);
            }
            WriteOp::Delete { key } => {
                model.remove(&key);
            }
        }
    }
}

pub fn collect(
    view: &dyn ReadView,
    lower: Bound<Bytes>,
    upper: Bound<Bytes>,
) -> Vec<(Bytes, Bytes)> {
    view.range(lower, upper)
        .expect("range")
        .collect::<Result<Vec<_>>>()
        .expect("range item")
}

pub fn collect_rev(
    view: &dyn ReadView,
    lower: Bound<Bytes>,
    upper: Bound<Bytes>,
) -> Vec<(Bytes, Bytes)> {
    view.range(lower, upper)
        .expect("range")
        .rev()
        .collect::<Result<Vec<_>>>()
        .expect("range item")
}

fn model_range(model: &Model, lower: &Bound<Bytes>, upper: &Bound<Bytes>) -> Vec<(Bytes, Bytes)> {
    if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) =
        (lower, upper)
    {
        let empty = l > u
            || (l == u
                && !(matches!(lower, Bound::Included(_)) && matches!(upper, Bound::Included(_))));
        if empty {
            return Vec::new();
        }
    }
    model
        .range((lower.clone(), upper.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Full scans both ways equal the model.
pub fn assert_equal(view: &dyn ReadView, model: &Model, context: &str) {
    let forward = collect(view, Bound::Unbounded, Bound::Unbounded);
    let expected: Vec<(Bytes, Bytes)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(
        forward.len(),
        expected.len(),
        "{context}: forward scan length"
    );
    assert!(forward == expected, "{context}: forward scan differs");
    let mut backward = collect_rev(view, Bound::Unbounded, Bound::Unbounded);
    backward.reverse();
    assert!(backward == expected, "{context}: backward scan differs");
}

fn random_bound(rng: &mut Rng, key_space: u64) -> Bound<Bytes> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng.below(key_space))),
        _ => Bound::Excluded(key(rng.below(key_space))),
    }
}

/// Random gets, random ranges both ways, and a range consumed from both
/// ends at once, against the model.
pub fn spot_check(
    view: &dyn ReadView,
    model: &Model,
    rng: &mut Rng,
    key_space: u64,
    context: &str,
) {
    for _ in 0..20 {
        let k = key(rng.below(key_space));
        assert_eq!(
            view.get(&k).expect("get"),
            model.get(&k).cloned(),
            "{context}: get"
        );
    }
    for _ in 0..4 {
        let (lower, upper) = (random_bound(rng, key_space), random_bound(rng, key_space));
        let expected = model_range(model, &lower, &upper);
        assert!(
            collect(view, lower.clone(), upper.clone()) == expected,
            "{context}: range {lower:?}..{upper:?}"
        );
        let mut rev = collect_rev(view, lower.clone(), upper.clone());
        rev.reverse();
        assert!(rev == expected, "{context}: reverse range");
        let mut iter = view.range(lower, upper).expect("range");
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            let item = if rng.chance(50) {
                iter.next().map(|r| (true, r))
            } else {
                iter.next_back().map(|r| (false, r))
            };
            match item {
                Some((true, r)) => front.push(r.expect("item")),
                Some((false, r)) => back.push(r.expect("item")),
                None => break,
            }
        }
        back.reverse();
        front.extend(back);
        assert!(front == expected, "{context}: two-ended range");
    }
}
