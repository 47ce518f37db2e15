//! Test support shared by every tier's test suite (feature `testing`): a
//! seeded PRNG, a `BTreeMap` model, and checks of a tier's read views
//! against it — gets, ranges both ways and ranges consumed from both ends.
//! Each tier's tests add how to open it and the keys and values they use.
#![allow(clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use tierdb_io::Result;

use crate::{ReadView, Seq, Tier, WriteOp};

/// The model: what the tier should hold.
pub type Model = BTreeMap<Bytes, Bytes>;

/// xorshift64*: small, deterministic, good enough for test workloads.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits. (Not an `Iterator`: it never ends.)
    #[allow(clippy::should_implement_trait)]
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

pub fn apply(tier: &dyn Tier, model: &mut Model, seq: Seq, ops: Vec<WriteOp>) {
    tier.apply(seq, &ops).expect("apply");
    apply_to_model(model, ops);
}

/// Applies `ops` to the model alone.
pub fn apply_to_model(model: &mut Model, ops: Vec<WriteOp>) {
    for op in ops {
        match op {
            WriteOp::Put { key, value } => {
                model.insert(key, value);
            }
            WriteOp::Delete { key } => {
                model.remove(&key);
            }
            WriteOp::DeleteRange { start, end } => {
                model.retain(|k, _| !crate::range_contains(&start, end.as_deref(), k));
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

pub fn model_range(
    model: &Model,
    lower: &Bound<Bytes>,
    upper: &Bound<Bytes>,
) -> Vec<(Bytes, Bytes)> {
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

/// A random `DeleteRange` over keys `key(0..key_space)`: usually a short
/// run of ids, sometimes open-ended or empty.
pub fn random_delete_range(rng: &mut Rng, key_space: u64, key: fn(u64) -> Bytes) -> WriteOp {
    let first = rng.below(key_space);
    let start = if rng.chance(10) {
        Bytes::new()
    } else {
        key(first)
    };
    let end = if rng.chance(10) {
        None
    } else {
        Some(key(first + rng.below(key_space / 8 + 2)))
    };
    WriteOp::DeleteRange { start, end }
}

fn keys_of(pairs: &[(Bytes, Bytes)]) -> Vec<String> {
    pairs
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn random_bound(rng: &mut Rng, key_space: u64, key: fn(u64) -> Bytes) -> Bound<Bytes> {
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
    key: fn(u64) -> Bytes,
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
        let (lower, upper) = (
            random_bound(rng, key_space, key),
            random_bound(rng, key_space, key),
        );
        let expected = model_range(model, &lower, &upper);
        let got = collect(view, lower.clone(), upper.clone());
        assert!(
            got == expected,
            "{context}: range {lower:?}..{upper:?}: got keys {:?}, expected {:?}",
            keys_of(&got),
            keys_of(&expected)
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
        assert!(
            front == expected,
            "{context}: two-ended range: got keys {:?}, expected {:?}",
            keys_of(&front),
            keys_of(&expected)
        );
    }
}
