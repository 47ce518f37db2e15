//! One shard of the page cache: a map plus the S3-FIFO queues, all behind
//! the shard's lock. See the crate docs for the algorithm.

use std::any::Any;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::key::PageKeyHasher;
use crate::queue::{SlotId, SlotQueue};
use crate::{CacheStats, CacheValue, PageKey};

type KeyMap<V> = HashMap<PageKey, V, BuildHasherDefault<PageKeyHasher>>;

/// The frequency counter is two bits wide.
const FREQ_MAX: u8 = 3;
/// Share of a shard's capacity reserved for the small (probationary) queue.
const SMALL_QUEUE_PERCENT: usize = 10;
/// Fewest ghost keys a shard remembers, however few entries it holds.
const GHOST_KEYS_MIN: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Queue {
    Small,
    Main,
}

struct Entry {
    value: CacheValue,
    charge_bytes: usize,
    /// Hits since the entry was inserted or last passed the queue head.
    /// Raised by hits under the shard's read lock (only while below
    /// [`FREQ_MAX`], so a hot entry's line is not written per hit); read
    /// and lowered by eviction under the write lock.
    freq: AtomicU8,
    queue: Queue,
    slot: SlotId,
}

impl Entry {
    /// Someone outside the cache holds the value. New clones are handed out
    /// under the shard's read lock only, and eviction holds the write lock,
    /// so under it a pin can appear only through a holder that already pins
    /// it: an unpinned entry stays unpinned.
    fn is_pinned(&self) -> bool {
        Arc::strong_count(&self.value) > 1
    }
}

/// What one eviction step did.
enum Step {
    /// Evicted, promoted, or aged an entry: finite work, resets skip streaks.
    Progress,
    /// The head was pinned and went back to the tail.
    PinnedSkip,
    /// The head slot was stale and was dropped.
    Stale,
}

#[derive(Default)]
struct Counters {
    /// Counted under the read lock, hence atomic (relaxed: statistics).
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: u64,
    evictions: u64,
    pinned_skips: u64,
}

pub(crate) struct Shard {
    capacity_bytes: usize,
    small_target_bytes: usize,
    used_bytes: usize,
    entries: KeyMap<Entry>,
    small: SlotQueue,
    main: SlotQueue,
    ghost: SlotQueue,
    /// Keys recently evicted from the small queue, with their ghost slot.
    ghost_keys: KeyMap<SlotId>,
    next_slot: SlotId,
    counters: Counters,
}

impl Shard {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            small_target_bytes: (capacity_bytes * SMALL_QUEUE_PERCENT / 100).max(1),
            used_bytes: 0,
            entries: KeyMap::default(),
            small: SlotQueue::default(),
            main: SlotQueue::default(),
            ghost: SlotQueue::default(),
            ghost_keys: KeyMap::default(),
            next_slot: 0,
            counters: Counters::default(),
        }
    }

    pub(crate) fn get<T: Any + Send + Sync>(&self, key: PageKey) -> Option<Arc<T>> {
        let value = self.hit::<T>(key, true)?;
        Arc::clone(value).downcast::<T>().ok()
    }

    /// `f` on the resident value of `key`, borrowed; where `f` declines
    /// (`None`), the value's `Arc` instead. Counts a hit as `get` does, but
    /// not a miss (see `PageCache::borrow_or_get`).
    pub(crate) fn borrow_or_get<R>(
        &self,
        key: PageKey,
        f: impl FnOnce(&(dyn Any + Send + Sync)) -> Option<R>,
    ) -> Option<Result<R, CacheValue>> {
        let value = self.hit_where(key, false, |_| true)?;
        match f(value.as_ref()) {
            Some(r) => Some(Ok(r)),
            None => Some(Err(Arc::clone(value))),
        }
    }

    /// The resident value of `key` if it is a `T`: counts a hit and raises
    /// the entry's frequency, or counts a miss if `count_miss`. Needs only
    /// the read lock.
    fn hit<T: Any + Send + Sync>(&self, key: PageKey, count_miss: bool) -> Option<&CacheValue> {
        self.hit_where(key, count_miss, |value| value.is::<T>())
    }

    /// The resident value of `key` if `accept` takes it, counted as
    /// [`hit`](Self::hit) does.
    fn hit_where(
        &self,
        key: PageKey,
        count_miss: bool,
        accept: impl Fn(&CacheValue) -> bool,
    ) -> Option<&CacheValue> {
        let found = self
            .entries
            .get(&key)
            .filter(|entry| accept(&entry.value))
            .inspect(|entry| {
                let freq = entry.freq.load(Ordering::Relaxed);
                if freq < FREQ_MAX {
                    // Racing hits may store the same value: a hint, not a count.
                    entry.freq.store(freq + 1, Ordering::Relaxed);
                }
            });
        if found.is_some() {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
        } else if count_miss {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
        }
        found.map(|entry| &entry.value)
    }

    /// The resident value of `key`, of any type, counted as `get` counts.
    pub(crate) fn get_value(&self, key: PageKey) -> Option<CacheValue> {
        self.hit_where(key, true, |_| true).map(Arc::clone)
    }

    /// The resident value of `key`, of any type, without counting.
    pub(crate) fn peek_value(&self, key: PageKey) -> Option<CacheValue> {
        self.entries.get(&key).map(|entry| Arc::clone(&entry.value))
    }

    /// Returns the resident value of type `T` without counting a hit or a
    /// miss (used by `get_or_load` after a load raced with another loader).
    pub(crate) fn peek<T: Any + Send + Sync>(&self, key: PageKey) -> Option<Arc<T>> {
        let entry = self.entries.get(&key)?;
        Arc::clone(&entry.value).downcast::<T>().ok()
    }

    pub(crate) fn insert(&mut self, key: PageKey, value: CacheValue, charge_bytes: usize) {
        // A zero charge would let the entry count grow without bound.
        let charge_bytes = charge_bytes.max(1);
        if charge_bytes > self.capacity_bytes {
            // Could never fit: do not cache it, and drop the stale old value.
            self.remove(key);
            return;
        }
        self.counters.inserts += 1;
        if let Some(entry) = self.entries.get_mut(&key) {
            // Replace in place: keeps queue position and frequency.
            let old_charge_bytes = std::mem::replace(&mut entry.charge_bytes, charge_bytes);
            entry.value = value;
            let queue = entry.queue;
            self.queue_mut(queue)
                .recharge(old_charge_bytes, charge_bytes);
            self.used_bytes = self.used_bytes - old_charge_bytes + charge_bytes;
        } else {
            let queue = if self.take_ghost(key) {
                Queue::Main
            } else {
                Queue::Small
            };
            let slot = self.new_slot();
            self.queue_mut(queue).push_back(key, slot, charge_bytes);
            let entry = Entry {
                value,
                charge_bytes,
                freq: AtomicU8::new(0),
                queue,
                slot,
            };
            self.entries.insert(key, entry);
            self.used_bytes += charge_bytes;
        }
        self.evict_to_budget();
    }

    pub(crate) fn remove(&mut self, key: PageKey) {
        if let Some(entry) = self.entries.remove(&key) {
            self.used_bytes -= entry.charge_bytes;
            let entries = &self.entries;
            let is_live = |k: &PageKey, s: SlotId| entries.get(k).is_some_and(|e| e.slot == s);
            match entry.queue {
                Queue::Small => self.small.unlink(entry.charge_bytes, is_live),
                Queue::Main => self.main.unlink(entry.charge_bytes, is_live),
            }
        }
    }

    /// Drops every entry and ghost of `file`. O(entries in the shard).
    pub(crate) fn remove_file(&mut self, file: u64) {
        let doomed: Vec<PageKey> = self
            .entries
            .keys()
            .filter(|k| k.file == file)
            .copied()
            .collect();
        for key in doomed {
            self.remove(key);
        }
        let ghosts: Vec<PageKey> = self
            .ghost_keys
            .keys()
            .filter(|k| k.file == file)
            .copied()
            .collect();
        for key in ghosts {
            self.take_ghost(key);
        }
    }

    pub(crate) fn add_stats(&self, stats: &mut CacheStats) {
        stats.hits += self.counters.hits.load(Ordering::Relaxed);
        stats.misses += self.counters.misses.load(Ordering::Relaxed);
        stats.inserts += self.counters.inserts;
        stats.evictions += self.counters.evictions;
        stats.pinned_skips += self.counters.pinned_skips;
        stats.used_bytes += self.used_bytes as u64;
        stats.entries += self.entries.len() as u64;
    }

    fn new_slot(&mut self) -> SlotId {
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }

    fn queue_mut(&mut self, queue: Queue) -> &mut SlotQueue {
        match queue {
            Queue::Small => &mut self.small,
            Queue::Main => &mut self.main,
        }
    }

    /// Forgets `key` as a ghost; true if it was one.
    fn take_ghost(&mut self, key: PageKey) -> bool {
        if self.ghost_keys.remove(&key).is_none() {
            return false;
        }
        let ghost_keys = &self.ghost_keys;
        self.ghost.unlink(0, |k, s| ghost_keys.get(k) == Some(&s));
        true
    }

    /// Remembers a key evicted from the small queue. The ghost holds at most
    /// as many keys as the shard has entries (at least [`GHOST_KEYS_MIN`]).
    fn push_ghost(&mut self, key: PageKey) {
        let slot = self.new_slot();
        self.ghost_keys.insert(key, slot);
        self.ghost.push_back(key, slot, 0);
        let ghost_keys_max = self.entries.len().max(GHOST_KEYS_MIN);
        while self.ghost.live() > ghost_keys_max {
            let Some((old_key, old_slot)) = self.ghost.pop_front() else {
                break;
            };
            if self.ghost_keys.get(&old_key) == Some(&old_slot) {
                self.ghost_keys.remove(&old_key);
                self.ghost.forget_popped(0);
            }
        }
        debug_assert_eq!(self.ghost.live(), self.ghost_keys.len());
    }

    /// Evicts until the shard fits its budget or every resident entry has
    /// been seen pinned. Terminates: `Progress` steps are finite (each entry
    /// is promoted at most once, aged at most `FREQ_MAX` times, evicted once;
    /// nothing raises a frequency while the write lock is held), stale slots are
    /// finite, and between two `Progress` steps a queue is skipped at most
    /// once per live entry before it counts as fully pinned.
    fn evict_to_budget(&mut self) {
        let mut small_skip_streak = 0usize;
        let mut main_skip_streak = 0usize;
        while self.used_bytes > self.capacity_bytes {
            let small_open = self.small.live() > small_skip_streak;
            let main_open = self.main.live() > main_skip_streak;
            let queue = match (small_open, main_open) {
                (false, false) => break,
                (true, false) => Queue::Small,
                (false, true) => Queue::Main,
                (true, true) if self.small.bytes() >= self.small_target_bytes => Queue::Small,
                (true, true) => Queue::Main,
            };
            let step = match queue {
                Queue::Small => self.evict_step_small(),
                Queue::Main => self.evict_step_main(),
            };
            match (step, queue) {
                (Step::Progress, _) => {
                    small_skip_streak = 0;
                    main_skip_streak = 0;
                }
                (Step::PinnedSkip, Queue::Small) => small_skip_streak += 1,
                (Step::PinnedSkip, Queue::Main) => main_skip_streak += 1,
                (Step::Stale, _) => {}
            }
        }
    }

    /// Head of the small queue: promote if it was hit, else evict it to the
    /// ghost, unless it is pinned.
    fn evict_step_small(&mut self) -> Step {
        let Some((key, slot)) = self.small.pop_front() else {
            debug_assert!(false, "small queue has live entries but no slots");
            return Step::Stale;
        };
        let Some(entry) = self.entries.get_mut(&key).filter(|e| e.slot == slot) else {
            return Step::Stale;
        };
        let charge_bytes = entry.charge_bytes;
        if *entry.freq.get_mut() > 0 {
            let new_slot = self.next_slot;
            self.next_slot += 1;
            *entry.freq.get_mut() = 0;
            entry.queue = Queue::Main;
            entry.slot = new_slot;
            self.small.forget_popped(charge_bytes);
            self.main.push_back(key, new_slot, charge_bytes);
            Step::Progress
        } else if entry.is_pinned() {
            self.small.requeue(key, slot);
            self.counters.pinned_skips += 1;
            Step::PinnedSkip
        } else {
            self.small.forget_popped(charge_bytes);
            self.evict_entry(key, charge_bytes);
            self.push_ghost(key);
            Step::Progress
        }
    }

    /// Head of the main queue (CLOCK): age and reinsert if it was hit, else
    /// evict it, unless it is pinned.
    fn evict_step_main(&mut self) -> Step {
        let Some((key, slot)) = self.main.pop_front() else {
            debug_assert!(false, "main queue has live entries but no slots");
            return Step::Stale;
        };
        let Some(entry) = self.entries.get_mut(&key).filter(|e| e.slot == slot) else {
            return Step::Stale;
        };
        let charge_bytes = entry.charge_bytes;
        if *entry.freq.get_mut() > 0 {
            *entry.freq.get_mut() -= 1;
            self.main.requeue(key, slot);
            Step::Progress
        } else if entry.is_pinned() {
            self.main.requeue(key, slot);
            self.counters.pinned_skips += 1;
            Step::PinnedSkip
        } else {
            self.main.forget_popped(charge_bytes);
            self.evict_entry(key, charge_bytes);
            Step::Progress
        }
    }

    fn evict_entry(&mut self, key: PageKey, charge_bytes: usize) {
        let removed = self.entries.remove(&key);
        debug_assert!(removed.is_some_and(|e| Arc::strong_count(&e.value) == 1));
        self.used_bytes -= charge_bytes;
        self.counters.evictions += 1;
    }

    /// The resident value of `key`, whatever its type, without counting.
    #[cfg(test)]
    pub(crate) fn peek_any(&self, key: PageKey) -> Option<CacheValue> {
        self.entries.get(&key).map(|e| Arc::clone(&e.value))
    }

    #[cfg(test)]
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Sum of the charges of resident entries held outside the cache.
    #[cfg(test)]
    pub(crate) fn pinned_bytes(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.is_pinned())
            .map(|e| e.charge_bytes)
            .sum()
    }

    /// Checks every structural invariant; panics on the first one broken.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let charges: usize = self.entries.values().map(|e| e.charge_bytes).sum();
        assert_eq!(self.used_bytes, charges, "used_bytes != sum of charges");
        assert_eq!(self.small.bytes() + self.main.bytes(), self.used_bytes);
        assert_eq!(self.small.live() + self.main.live(), self.entries.len());
        let in_small = self
            .entries
            .values()
            .filter(|e| e.queue == Queue::Small)
            .count();
        assert_eq!(self.small.live(), in_small);
        assert!(
            self.entries
                .values()
                .all(|e| e.freq.load(Ordering::Relaxed) <= FREQ_MAX && e.charge_bytes > 0)
        );
        assert!(
            self.entries
                .values()
                .all(|e| e.charge_bytes <= self.capacity_bytes)
        );
        assert_eq!(self.ghost.live(), self.ghost_keys.len());
        assert!(
            self.ghost_keys
                .keys()
                .all(|k| !self.entries.contains_key(k)),
            "ghost and resident"
        );
        for queue in [&self.small, &self.main, &self.ghost] {
            assert!(queue.live() <= queue.slots_len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(page: u64) -> PageKey {
        PageKey::new(1, page)
    }

    fn insert(shard: &mut Shard, page: u64) {
        shard.insert(key(page), Arc::new(page), 1);
        shard.check_invariants();
    }

    fn queue_of(shard: &Shard, page: u64) -> Option<Queue> {
        shard.entries.get(&key(page)).map(|e| e.queue)
    }

    /// Fills a 10-byte shard with pages 0..10, all promoted to main, and
    /// leaves page 10 in the ghost.
    fn shard_with_full_main() -> Shard {
        let mut shard = Shard::new(10);
        for page in 0..10 {
            insert(&mut shard, page);
            assert!(shard.get::<u64>(key(page)).is_some());
        }
        insert(&mut shard, 10);
        assert!((0..10).all(|page| queue_of(&shard, page) == Some(Queue::Main)));
        assert_eq!(queue_of(&shard, 10), None);
        assert!(shard.ghost_keys.contains_key(&key(10)));
        shard
    }

    #[test]
    fn small_queue_promotes_hit_entries_and_ghosts_the_rest() {
        let shard = shard_with_full_main();
        assert_eq!(shard.counters.evictions, 1);
        assert_eq!(shard.small.live(), 0);
    }

    #[test]
    fn ghost_hit_goes_straight_to_main() {
        let mut shard = shard_with_full_main();
        insert(&mut shard, 10);
        assert_eq!(queue_of(&shard, 10), Some(Queue::Main));
        assert!(!shard.ghost_keys.contains_key(&key(10)));
    }

    #[test]
    fn main_queue_reinserts_hit_entries_clock_style() {
        let mut shard = shard_with_full_main();
        for page in 0..5 {
            assert!(shard.get::<u64>(key(page)).is_some());
        }
        // Page 10 is a ghost, so it enters main and forces a main eviction:
        // pages 0..5 were hit and go round again; page 5 is the victim.
        insert(&mut shard, 10);
        assert!((0..5).all(|page| queue_of(&shard, page) == Some(Queue::Main)));
        assert_eq!(queue_of(&shard, 5), None, "the first unhit page is evicted");
        assert!(
            (0..5).all(|page| shard.entries[&key(page)].freq.load(Ordering::Relaxed) == 0),
            "hits were spent"
        );
        assert!(
            !shard.ghost_keys.contains_key(&key(5)),
            "main evictions are not ghosted"
        );
    }

    #[test]
    fn frequency_saturates_at_two_bits() {
        let mut shard = Shard::new(10);
        insert(&mut shard, 1);
        for _ in 0..10 {
            assert!(shard.get::<u64>(key(1)).is_some());
        }
        assert_eq!(
            shard.entries[&key(1)].freq.load(Ordering::Relaxed),
            FREQ_MAX
        );
    }

    #[test]
    fn ghost_is_bounded() {
        let mut shard = Shard::new(20);
        for page in 0..10_000 {
            insert(&mut shard, page);
            assert!(shard.ghost_keys.len() <= shard.entries.len().max(GHOST_KEYS_MIN));
            assert!(shard.ghost.slots_len() <= 2 * GHOST_KEYS_MIN + 64);
        }
        assert_eq!(shard.used_bytes(), 20);
    }
}
