//! FIFO queues of keys with lazy deletion, for the S3-FIFO shard.
//!
//! A queue holds `(key, slot)` pairs. A slot id names one placement of one
//! entry; the shard's map records the slot id each resident entry (or ghost)
//! currently owns. A pair whose slot no longer matches is *stale* and is
//! skipped when it reaches the head. Removing an entry from the middle of a
//! queue is therefore O(1): forget it in the map and let the slot go stale.
//! Stale slots are bounded: once they outnumber the live ones (plus a small
//! slack) the queue is compacted in one O(len) pass, which is O(1) amortized.

use std::collections::VecDeque;

use crate::PageKey;

/// Stale slots tolerated beyond the live count before a compaction.
const STALE_SLOTS_SLACK: usize = 32;

/// Identity of one placement of an entry in a queue. Unique per shard.
pub(crate) type SlotId = u64;

#[derive(Default)]
pub(crate) struct SlotQueue {
    slots: VecDeque<(PageKey, SlotId)>,
    /// Slots that still name a resident entry (or ghost).
    live: usize,
    /// Sum of the charges of the live entries (unused for the ghost queue).
    bytes: usize,
}

impl SlotQueue {
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(crate) fn slots_len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn push_back(&mut self, key: PageKey, slot: SlotId, charge_bytes: usize) {
        self.slots.push_back((key, slot));
        self.live += 1;
        self.bytes += charge_bytes;
        debug_assert!(self.live <= self.slots.len());
    }

    /// Pops the head slot, live or stale; the caller decides which it is and
    /// then calls [`Self::forget_popped`], [`Self::requeue`] or nothing (stale).
    pub(crate) fn pop_front(&mut self) -> Option<(PageKey, SlotId)> {
        self.slots.pop_front()
    }

    /// Puts a popped live slot back at the tail, unchanged.
    pub(crate) fn requeue(&mut self, key: PageKey, slot: SlotId) {
        self.slots.push_back((key, slot));
    }

    /// Accounts for a live slot that was popped and is not coming back.
    pub(crate) fn forget_popped(&mut self, charge_bytes: usize) {
        self.live -= 1;
        self.bytes -= charge_bytes;
    }

    /// Accounts for a live slot that stays in the queue but is now stale.
    pub(crate) fn unlink(
        &mut self,
        charge_bytes: usize,
        is_live: impl FnMut(&PageKey, SlotId) -> bool,
    ) {
        self.live -= 1;
        self.bytes -= charge_bytes;
        self.compact_if_sparse(is_live);
    }

    /// Changes the charge of a live entry that keeps its slot.
    pub(crate) fn recharge(&mut self, old_charge_bytes: usize, new_charge_bytes: usize) {
        self.bytes = self.bytes - old_charge_bytes + new_charge_bytes;
    }

    /// Drops stale slots once they outnumber the live ones.
    pub(crate) fn compact_if_sparse(&mut self, mut is_live: impl FnMut(&PageKey, SlotId) -> bool) {
        if self.slots.len() <= 2 * self.live + STALE_SLOTS_SLACK {
            return;
        }
        self.slots.retain(|(key, slot)| is_live(key, *slot));
        assert_eq!(self.slots.len(), self.live, "queue live count out of sync");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_slots_stay_bounded() {
        let mut queue = SlotQueue::default();
        let key = PageKey::new(1, 1);
        queue.push_back(key, 0, 1);
        for slot in 1..10_000u64 {
            // The previous placement goes stale, as a remove would make it.
            queue.unlink(1, |_, s| s == slot);
            queue.push_back(key, slot, 1);
            assert!(queue.slots_len() <= 2 * queue.live() + STALE_SLOTS_SLACK + 1);
        }
        assert_eq!(queue.live(), 1);
        assert_eq!(queue.bytes(), 1);
    }
}
