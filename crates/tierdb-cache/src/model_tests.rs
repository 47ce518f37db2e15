//! Randomized model test: random operation sequences against a `HashMap`
//! model, checking the budget, pinning and every shard invariant after each
//! operation. On failure proptest prints the minimal failing sequence (and
//! saves its seed in `proptest-regressions/`).

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;

use crate::{CacheValue, PageCache, PageKey};

/// A cached value; `id` is unique per inserted value.
#[derive(Debug)]
struct Page {
    id: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: PageKey,
        charge: usize,
        as_text: bool,
        pin: bool,
    },
    Get {
        key: PageKey,
        pin: bool,
    },
    GetText {
        key: PageKey,
    },
    GetOrLoad {
        key: PageKey,
        charge: usize,
        pin: bool,
    },
    Release {
        index: usize,
    },
    Remove {
        key: PageKey,
    },
    RemoveFile {
        file: u64,
    },
}

fn key_strategy() -> impl Strategy<Value = PageKey> {
    (0..3u64, 0..40u64).prop_map(|(file, page)| PageKey::new(file, page))
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key_strategy(), 0..70usize, any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(key, charge, as_text, pin)| Op::Insert { key, charge, as_text, pin }),
        6 => (key_strategy(), prop::bool::weighted(0.15)).prop_map(|(key, pin)| Op::Get { key, pin }),
        1 => key_strategy().prop_map(|key| Op::GetText { key }),
        3 => (key_strategy(), 1..40usize, prop::bool::weighted(0.15))
            .prop_map(|(key, charge, pin)| Op::GetOrLoad { key, charge, pin }),
        3 => any::<usize>().prop_map(|index| Op::Release { index }),
        1 => key_strategy().prop_map(|key| Op::Remove { key }),
        1 => (0..3u64).prop_map(|file| Op::RemoveFile { file }),
    ]
}

/// What the model expects under a key: the id of the last value inserted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expected {
    Page(u64),
    Text(u64),
}

struct Harness {
    cache: PageCache,
    model: HashMap<PageKey, Expected>,
    /// Values held outside the cache: (key, id, the pin itself).
    pins: Vec<(PageKey, u64, CacheValue)>,
    next_id: u64,
    lookups: u64,
}

impl Harness {
    fn new(capacity_bytes: usize, shards: usize) -> Self {
        let cache = PageCache::with_shards(capacity_bytes, shards);
        Self {
            cache,
            model: HashMap::new(),
            pins: Vec::new(),
            next_id: 0,
            lookups: 0,
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert {
                key,
                charge,
                as_text,
                pin,
            } => self.insert(key, charge, as_text, pin),
            Op::Get { key, pin } => {
                self.lookups += 1;
                let got = self.cache.get::<Page>(key);
                let expected = self.model.get(&key).copied();
                if let Some(page) = &got {
                    assert_eq!(
                        expected,
                        Some(Expected::Page(page.id)),
                        "get({key:?}) returned a stale value"
                    );
                }
                if let (Some(page), true) = (got, pin) {
                    self.pins.push((key, page.id, page));
                }
            }
            Op::GetText { key } => {
                self.lookups += 1;
                if let Some(text) = self.cache.get::<String>(key) {
                    let id: u64 = text.parse().expect("text values are ids");
                    assert_eq!(self.model.get(&key), Some(&Expected::Text(id)));
                }
            }
            Op::GetOrLoad { key, charge, pin } => self.get_or_load(key, charge, pin),
            Op::Release { index } => {
                if !self.pins.is_empty() {
                    let index = index % self.pins.len();
                    self.pins.swap_remove(index);
                }
            }
            Op::Remove { key } => {
                self.cache.remove(key);
                self.model.remove(&key);
            }
            Op::RemoveFile { file } => {
                self.cache.remove_file(file);
                self.model.retain(|key, _| key.file != file);
            }
        }
    }

    fn insert(&mut self, key: PageKey, charge: usize, as_text: bool, pin: bool) {
        let id = self.fresh_id();
        let (value, expected): (CacheValue, Expected) = if as_text {
            (Arc::new(id.to_string()), Expected::Text(id))
        } else {
            (Arc::new(Page { id }), Expected::Page(id))
        };
        if pin {
            self.pins.push((key, id, Arc::clone(&value)));
        }
        let fits = charge.max(1) <= self.cache.shard_of(key).write().capacity_bytes();
        if fits {
            self.model.insert(key, expected);
        } else {
            // Too big to ever fit: not cached, and the old value is gone.
            self.model.remove(&key);
        }
        // `insert` is generic; go through the typed path like real callers.
        match value.downcast::<Page>() {
            Ok(page) => self.cache.insert(key, page, charge),
            Err(text) => {
                let text = text.downcast::<String>().expect("only pages and text");
                self.cache.insert(key, text, charge);
            }
        }
        if fits {
            self.check_shard_budget(key);
        }
    }

    fn get_or_load(&mut self, key: PageKey, charge: usize, pin: bool) {
        self.lookups += 1;
        let id = self.fresh_id();
        let mut loaded = false;
        let page = self
            .cache
            .get_or_load(key, || {
                loaded = true;
                Ok::<_, ()>((Arc::new(Page { id }), charge))
            })
            .expect("loader never fails");
        if loaded {
            assert_eq!(page.id, id);
            let fits = charge <= self.cache.shard_of(key).write().capacity_bytes();
            if fits {
                self.model.insert(key, Expected::Page(id));
                // While `page` is held it is pinned, as it was during eviction.
                self.check_shard_budget(key);
            } else {
                self.model.remove(&key);
            }
        } else {
            assert_eq!(self.model.get(&key), Some(&Expected::Page(page.id)));
        }
        if pin {
            self.pins.push((key, page.id, page));
        }
    }

    /// Right after an insert into a shard, it fits its budget, or all that
    /// it holds is pinned.
    fn check_shard_budget(&self, key: PageKey) {
        let shard = self.cache.shard_of(key).write();
        let (used, capacity, pinned) = (
            shard.used_bytes(),
            shard.capacity_bytes(),
            shard.pinned_bytes(),
        );
        assert!(
            used <= capacity || used == pinned,
            "over budget: used {used}, capacity {capacity}, pinned {pinned}"
        );
    }

    fn check_invariants(&self) {
        for shard in self.cache.shards() {
            shard.write().check_invariants();
        }
        // A pinned value that is still the current one can't have been evicted.
        for (key, id, _) in &self.pins {
            let current = matches!(self.model.get(key), Some(Expected::Page(i) | Expected::Text(i)) if i == id);
            if current {
                let resident = self.cache.shard_of(*key).write().peek_any(*key);
                assert!(resident.is_some(), "pinned {key:?} (id {id}) was evicted");
            }
        }
        let stats = self.cache.stats();
        assert_eq!(stats.hits + stats.misses, self.lookups);
        let resident = self
            .cache
            .shards()
            .iter()
            .map(|s| s.write().used_bytes())
            .sum::<usize>();
        assert_eq!(stats.used_bytes, resident as u64);
        // Everything the cache holds is what the model says was last inserted.
        assert!(stats.entries <= self.model.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_ops_match_model_and_budget(
        shards in 1..4usize,
        capacity_bytes in 20..300usize,
        ops in prop::collection::vec(op_strategy(), 1..400),
    ) {
        let mut harness = Harness::new(capacity_bytes, shards);
        for op in &ops {
            harness.apply(op);
            harness.check_invariants();
        }
        // Once every pin is released, one more insert per shard restores the budget.
        harness.pins.clear();
        for page in 0..10_000 {
            let key = PageKey::new(9, page);
            harness.cache.insert(key, Arc::new(Page { id: 0 }), 1);
            if harness.cache.stats().used_bytes <= capacity_bytes as u64 {
                break;
            }
        }
        prop_assert!(harness.cache.stats().used_bytes <= capacity_bytes as u64);
    }
}
