//! The conformance suite: random operation sequences run against every tier
//! and against a `BTreeMap` model; every read must agree. Written once, run
//! per layout (`common::LAYOUTS`: each tier alone, and mixed partitions of
//! both tiers with transactions spanning them).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use common::{LAYOUTS, Layout, Model, TIERS, borrow, collect, dump, model_range};
use proptest::prelude::*;
use tierdb::{Db, Error, Isolation, SimVfs, Snapshot, Tier, Txn, TxnOptions, WriteBatch};

const KEYS: u8 = 40;
const SLOTS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Put(u8, usize),
    Delete(u8),
    Get(u8),
    Range(Bound<u8>, Bound<u8>, bool),
    Batch(Vec<(u8, Option<usize>)>),
    DeleteRange(u8, u8),
    Begin(usize, bool),
    TxPut(usize, u8, usize),
    TxDelete(usize, u8),
    TxDeleteRange(usize, u8, u8),
    TxGet(usize, u8),
    TxRange(usize, Bound<u8>, Bound<u8>, bool),
    Commit(usize),
    Rollback(usize),
    TakeSnapshot(usize),
    ReadSnapshot(usize, Bound<u8>, Bound<u8>, bool),
    Checkpoint,
    Reopen,
    Split(u8),
    Merge(u8),
    SetTier(u8),
}

fn key(k: u8) -> Vec<u8> {
    // Some long keys, so that branch separators and overflow cells are used.
    if k % 13 == 12 {
        let mut v = format!("key/{k:03}/").into_bytes();
        v.resize(700 + usize::from(k), b'x');
        v
    } else {
        format!("key/{k:03}").into_bytes()
    }
}

fn value(len: usize, counter: u64) -> Vec<u8> {
    common::value_for(b"v", counter, len)
}

fn arb_len() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..40, 2 => 100usize..600, 1 => 1500usize..5000]
}

fn arb_bound() -> impl Strategy<Value = Bound<u8>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => arb_key().prop_map(Bound::Included),
        2 => arb_key().prop_map(Bound::Excluded),
    ]
}

/// Keys, skewed to a few hot ones so that transactions and concurrent
/// writes collide often enough to exercise conflict detection.
fn arb_key() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 0u8..4, 2 => 0..KEYS]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let k = arb_key;
    let s = || 0..SLOTS;
    prop_oneof![
        10 => (k(), arb_len()).prop_map(|(k, l)| Op::Put(k, l)),
        4 => k().prop_map(Op::Delete),
        4 => k().prop_map(Op::Get),
        3 => (arb_bound(), arb_bound(), any::<bool>()).prop_map(|(a, b, r)| Op::Range(a, b, r)),
        2 => proptest::collection::vec((k(), proptest::option::of(arb_len())), 1..8).prop_map(Op::Batch),
        1 => (k(), k()).prop_map(|(a, b)| Op::DeleteRange(a, b)),
        3 => (s(), any::<bool>()).prop_map(|(s, ser)| Op::Begin(s, ser)),
        4 => (s(), k(), arb_len()).prop_map(|(s, k, l)| Op::TxPut(s, k, l)),
        2 => (s(), k()).prop_map(|(s, k)| Op::TxDelete(s, k)),
        3 => (s(), k(), k()).prop_map(|(s, a, b)| Op::TxDeleteRange(s, a, b)),
        3 => (s(), k()).prop_map(|(s, k)| Op::TxGet(s, k)),
        2 => (s(), arb_bound(), arb_bound(), any::<bool>()).prop_map(|(s, a, b, r)| Op::TxRange(s, a, b, r)),
        3 => s().prop_map(Op::Commit),
        1 => s().prop_map(Op::Rollback),
        2 => s().prop_map(Op::TakeSnapshot),
        2 => (s(), arb_bound(), arb_bound(), any::<bool>()).prop_map(|(s, a, b, r)| Op::ReadSnapshot(s, a, b, r)),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        1 => (0..KEYS).prop_map(Op::Split),
        1 => any::<u8>().prop_map(Op::Merge),
        1 => any::<u8>().prop_map(Op::SetTier),
    ]
}

/// True if one of the ranges `[lo, hi)` holds `k`.
fn t_deleted(ranges: &[(Vec<u8>, Vec<u8>)], k: &[u8]) -> bool {
    ranges
        .iter()
        .any(|(lo, hi)| lo.as_slice() <= k && k < hi.as_slice())
}

fn bound(b: &Bound<u8>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(key(*k)),
        Bound::Excluded(k) => Bound::Excluded(key(*k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// An owned key range.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A transaction of the model: its snapshot, its writes, what it read.
struct ModelTxn {
    txn: Txn,
    start_commit: u64,
    snapshot: Model,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Non-empty ranges `[lo, hi)` it deleted; `writes` holds only what it
    /// wrote after them.
    deleted: Vec<(Vec<u8>, Vec<u8>)>,
    serializable: bool,
    reads: BTreeSet<Vec<u8>>,
    ranges: Vec<KeyRange>,
}

impl ModelTxn {
    fn deleted_by_self(&self, k: &[u8]) -> bool {
        t_deleted(&self.deleted, k)
    }

    fn view(&self) -> Model {
        let mut m = self.snapshot.clone();
        m.retain(|k, _| !self.deleted_by_self(k));
        for (k, v) in &self.writes {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        m
    }
}

struct Harness {
    sim: Arc<SimVfs>,
    layout: Layout,
    db: Option<Db>,
    model: Model,
    /// Commit counter (model time) of the last write to each key.
    last_write: BTreeMap<Vec<u8>, u64>,
    /// Ranges `[lo, hi)` deleted with `delete_range`, and the commit that
    /// did it: a range delete conflicts with every key and range inside it,
    /// whether or not keys existed there.
    deleted_ranges: Vec<(Vec<u8>, Vec<u8>, u64)>,
    commits: u64,
    txns: Vec<Option<ModelTxn>>,
    snaps: Vec<Option<(Snapshot, Model)>>,
}

impl Harness {
    fn new(layout: Layout, seed: u64) -> Self {
        let sim = Arc::new(SimVfs::new(seed));
        let db = Db::open("db", layout.options(&sim)).expect("open");
        Harness {
            sim,
            layout,
            db: Some(db),
            model: Model::new(),
            last_write: BTreeMap::new(),
            deleted_ranges: Vec::new(),
            commits: 0,
            txns: (0..SLOTS).map(|_| None).collect(),
            snaps: (0..SLOTS).map(|_| None).collect(),
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("db open")
    }

    fn commit_model(&mut self, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        self.commits += 1;
        for (k, v) in writes {
            match v {
                Some(v) => self.model.insert(k.clone(), v.clone()),
                None => self.model.remove(k),
            };
            self.last_write.insert(k.clone(), self.commits);
        }
    }

    fn changed_since(&self, k: &[u8], since: u64) -> bool {
        self.last_write.get(k).is_some_and(|&c| c > since)
            || self
                .deleted_ranges
                .iter()
                .any(|(lo, hi, c)| *c > since && lo.as_slice() <= k && k < hi.as_slice())
    }

    /// True if a range deleted after `since` meets `(lo, hi)`.
    fn range_deleted_since(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>, since: u64) -> bool {
        self.deleted_ranges.iter().any(|(dlo, dhi, c)| {
            let below_hi = match hi {
                Bound::Included(h) => dlo <= h,
                Bound::Excluded(h) => dlo < h,
                Bound::Unbounded => true,
            };
            let above_lo = match lo {
                Bound::Included(l) | Bound::Excluded(l) => l < dhi,
                Bound::Unbounded => true,
            };
            *c > since && below_hi && above_lo
        })
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Put(k, len) => {
                let v = value(*len, self.commits);
                self.db().put(key(*k), &v).unwrap();
                self.commit_model(&BTreeMap::from([(key(*k), Some(v))]));
            }
            Op::Delete(k) => {
                self.db().delete(key(*k)).unwrap();
                self.commit_model(&BTreeMap::from([(key(*k), None)]));
            }
            Op::Get(k) => {
                let got = self.db().get(key(*k)).unwrap().map(|b| b.to_vec());
                assert_eq!(got, self.model.get(&key(*k)).cloned(), "get {k}");
            }
            Op::Range(a, b, rev) => {
                let (lo, hi) = (bound(a), bound(b));
                let got = collect(self.db().range((borrow(&lo), borrow(&hi))).unwrap(), *rev);
                assert_eq!(
                    got,
                    model_range(&self.model, &lo, &hi, *rev),
                    "range {a:?}..{b:?} rev={rev}"
                );
            }
            Op::Batch(items) => self.batch(items),
            Op::DeleteRange(a, b) => self.delete_range(*a, *b),
            Op::Begin(slot, ser) => self.begin(*slot, *ser),
            Op::TxPut(slot, k, len) => {
                let v = value(*len, 1_000_000 + self.commits);
                if let Some(t) = self.txns[*slot].as_mut() {
                    t.txn.put(key(*k), &v).unwrap();
                    t.writes.insert(key(*k), Some(v));
                }
            }
            Op::TxDelete(slot, k) => {
                if let Some(t) = self.txns[*slot].as_mut() {
                    t.txn.delete(key(*k)).unwrap();
                    t.writes.insert(key(*k), None);
                }
            }
            Op::TxDeleteRange(slot, a, b) => {
                if let Some(t) = self.txns[*slot].as_mut() {
                    let (lo, hi) = (key(*a), key(*b));
                    t.txn.delete_range(lo.as_slice()..hi.as_slice()).unwrap();
                    if lo < hi {
                        t.writes.retain(|k, _| !(lo <= *k && *k < hi));
                        t.deleted.push((lo, hi));
                    }
                }
            }
            Op::TxGet(slot, k) => {
                if let Some(t) = self.txns[*slot].as_mut() {
                    let got = t.txn.get(key(*k)).unwrap().map(|b| b.to_vec());
                    assert_eq!(got, t.view().get(&key(*k)).cloned(), "txn get {k}");
                    if !t.writes.contains_key(&key(*k)) && !t.deleted_by_self(&key(*k)) {
                        t.reads.insert(key(*k));
                    }
                }
            }
            Op::TxRange(slot, a, b, rev) => {
                if let Some(t) = self.txns[*slot].as_mut() {
                    let (lo, hi) = (bound(a), bound(b));
                    let got = collect(t.txn.range((borrow(&lo), borrow(&hi))).unwrap(), *rev);
                    assert_eq!(got, model_range(&t.view(), &lo, &hi, *rev), "txn range");
                    t.ranges.push((lo, hi));
                }
            }
            Op::Commit(slot) => self.commit(*slot),
            Op::Rollback(slot) => {
                if let Some(t) = self.txns[*slot].take() {
                    t.txn.rollback();
                }
            }
            Op::TakeSnapshot(slot) => {
                self.snaps[*slot] = Some((self.db().snapshot(), self.model.clone()));
            }
            Op::ReadSnapshot(slot, a, b, rev) => {
                if let Some((snap, model)) = &self.snaps[*slot] {
                    let (lo, hi) = (bound(a), bound(b));
                    let got = collect(snap.range((borrow(&lo), borrow(&hi))).unwrap(), *rev);
                    assert_eq!(got, model_range(model, &lo, &hi, *rev), "snapshot range");
                    if let Bound::Included(k) = a {
                        let got = snap.get(key(*k)).unwrap().map(|b| b.to_vec());
                        assert_eq!(got, model.get(&key(*k)).cloned(), "snapshot get");
                    }
                }
            }
            Op::Checkpoint => {
                self.db().checkpoint().unwrap();
            }
            Op::Reopen => self.reopen(),
            Op::Split(k) => match self.db().split_partition(key(*k)) {
                Ok(_) | Err(Error::InvalidArgument(_)) => self.check_layout(),
                Err(e) => panic!("split: {e}"),
            },
            Op::Merge(i) => {
                let parts = self.db().partitions();
                if parts.len() >= 2 {
                    let j = usize::from(*i) % (parts.len() - 1);
                    self.db()
                        .merge_partitions(parts[j].id, parts[j + 1].id)
                        .unwrap();
                    self.check_layout();
                }
            }
            Op::SetTier(i) => {
                let parts = self.db().partitions();
                let p = &parts[usize::from(*i) % parts.len()];
                let tier = if p.tier == Tier::BTree {
                    Tier::Lsm
                } else {
                    Tier::BTree
                };
                self.db().set_tier(p.id, tier).unwrap();
                self.check_layout();
            }
        }
    }

    /// Partitions cover the key space in order, and every key reads back.
    fn check_layout(&self) {
        let parts = self.db().partitions();
        assert!(
            parts[0].start.is_empty(),
            "first partition starts at the empty key"
        );
        for w in parts.windows(2) {
            assert!(w[0].start < w[1].start);
            assert_eq!(w[0].end.as_ref(), Some(&w[1].start));
        }
        assert_eq!(
            dump(self.db()),
            self.model,
            "contents after a layout change"
        );
    }

    fn batch(&mut self, items: &[(u8, Option<usize>)]) {
        let mut batch = WriteBatch::new();
        let mut writes = BTreeMap::new();
        for (k, len) in items {
            match len {
                Some(len) => {
                    let v = value(*len, 2_000_000 + self.commits);
                    batch.put(key(*k), &v);
                    writes.insert(key(*k), Some(v));
                }
                None => {
                    batch.delete(key(*k));
                    writes.insert(key(*k), None);
                }
            }
        }
        self.db().write(batch).unwrap();
        self.commit_model(&writes);
    }

    fn delete_range(&mut self, a: u8, b: u8) {
        let (lo, hi) = (key(a), key(b));
        self.db()
            .delete_range(lo.as_slice()..hi.as_slice())
            .unwrap();
        if lo < hi {
            // Commits even if no key is in range: the range itself is the
            // write.
            let doomed: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
                .model
                .range(lo.clone()..hi.clone())
                .map(|(k, _)| (k.clone(), None))
                .collect();
            self.commit_model(&doomed);
            self.deleted_ranges.push((lo, hi, self.commits));
        }
    }

    fn begin(&mut self, slot: usize, serializable: bool) {
        let iso = if serializable {
            Isolation::Serializable
        } else {
            Isolation::Snapshot
        };
        let txn = self.db().begin_with(TxnOptions::default().isolation(iso));
        self.txns[slot] = Some(ModelTxn {
            txn,
            start_commit: self.commits,
            snapshot: self.model.clone(),
            writes: BTreeMap::new(),
            deleted: Vec::new(),
            serializable,
            reads: BTreeSet::new(),
            ranges: Vec::new(),
        });
    }

    fn commit(&mut self, slot: usize) {
        let Some(t) = self.txns[slot].take() else {
            return;
        };
        let since = t.start_commit;
        let mut conflict = t.writes.keys().any(|k| self.changed_since(k, since));
        conflict |= t.deleted.iter().any(|(lo, hi)| {
            let (lo, hi) = (Bound::Included(lo.clone()), Bound::Excluded(hi.clone()));
            self.last_write
                .range((lo.clone(), hi.clone()))
                .any(|(_, &c)| c > since)
                || self.range_deleted_since(&lo, &hi, since)
        });
        if t.serializable {
            conflict |= t.reads.iter().any(|k| self.changed_since(k, since));
            conflict |= t.ranges.iter().any(|(lo, hi)| {
                !common::range_is_empty(lo, hi)
                    && (self
                        .last_write
                        .range((lo.clone(), hi.clone()))
                        .any(|(_, &c)| c > since)
                        || self.range_deleted_since(lo, hi, since))
            });
        }
        let (writes, deleted) = (t.writes.clone(), t.deleted.clone());
        // A transaction without writes commits at its snapshot: it is
        // serializable there, whatever changed since.
        let writes_anything = !writes.is_empty() || !deleted.is_empty();
        conflict &= writes_anything;
        match t.txn.commit() {
            Ok(_) => {
                assert!(
                    !conflict,
                    "commit succeeded but the model expected a conflict"
                );
                if writes_anything {
                    // Its range deletes first, then what it wrote after them.
                    let mut all: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
                        .model
                        .keys()
                        .filter(|k| t_deleted(&deleted, k))
                        .map(|k| (k.clone(), None))
                        .collect();
                    all.extend(writes);
                    self.commit_model(&all);
                    for (lo, hi) in deleted {
                        self.deleted_ranges.push((lo, hi, self.commits));
                    }
                }
            }
            Err(Error::Conflict { .. }) => assert!(conflict, "unexpected conflict"),
            Err(e) => panic!("commit failed: {e}"),
        }
    }

    fn reopen(&mut self) {
        self.txns.iter_mut().for_each(|t| *t = None);
        self.snaps.iter_mut().for_each(|s| *s = None);
        let db = self.db.take().expect("open");
        db.close().unwrap();
        assert!(matches!(db.get(b"x"), Err(Error::Closed)));
        drop(db);
        self.db = Some(Db::open("db", self.layout.options(&self.sim)).expect("reopen"));
        assert_eq!(dump(self.db()), self.model, "after reopen");
    }
}

fn run_ops(layout: Layout, seed: u64, ops: &[Op]) {
    let mut h = Harness::new(layout, seed);
    for op in ops {
        h.run(op);
    }
    assert_eq!(dump(h.db()), h.model, "final contents");
    h.reopen();
}

proptest! {
    // 128 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_match_the_model(
        seed in any::<u64>(),
        ops in proptest::collection::vec(arb_op(), 1..120),
    ) {
        for &layout in LAYOUTS {
            run_ops(layout, seed, &ops);
        }
    }
}

#[test]
fn many_keys_with_checkpoints_and_reopen_on_real_files() {
    for &tier in TIERS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let opts = || {
            tierdb::Options::default()
                .default_tier(tier)
                .page_size(1024)
                .background_checkpoints(false)
        };
        let db = Db::open(&path, opts()).unwrap();
        let mut model = Model::new();
        for i in 0..3000u64 {
            let k = format!("k/{:05}", (i * 7919) % 2000).into_bytes();
            if i % 5 == 4 {
                db.delete(&k).unwrap();
                model.remove(&k);
            } else {
                let v = common::value_for(&k, i, 20 + (i % 300) as usize);
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            if i % 700 == 0 {
                db.checkpoint().unwrap();
            }
        }
        assert_eq!(dump(&db), model);
        let rev: Vec<_> = collect(db.range(..).unwrap(), true);
        assert_eq!(rev.len(), model.len());
        db.close().unwrap();
        let db = Db::open(&path, opts()).unwrap();
        assert_eq!(dump(&db), model);
        db.close().unwrap();
    }
}
