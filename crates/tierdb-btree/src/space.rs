//! Free space: which pages a checkpoint may write, and when a freed page may
//! be written again.
//!
//! A page freed by `apply` at sequence `F` (the write set replaced the node
//! or overflow run living there) may be reused only when
//! - the last durable checkpoint has sequence `>= F` (the durable tree no
//!   longer reaches the page), and
//! - no live read view has a sequence `< F` (no view can reach it).
//!
//! Pages that belong to a checkpoint's structure rather than to a tree
//! version — its free-list pages, and nodes it wrote that `apply` replaced
//! before they were swizzled in ("orphans") — are reusable once a later
//! checkpoint generation is durable. Views never reach them.
//!
//! This struct also holds the registry of live views (sequence → count),
//! under the same lock, so "is any view older than F" and "is F freed" are
//! decided together.

use std::collections::BTreeMap;

use tierdb_tier::Seq;

/// A contiguous range of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PageRun {
    /// First page.
    pub(crate) start: u64,
    /// Number of pages (at least 1).
    pub(crate) count: u64,
}

impl PageRun {
    /// One past the last page.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.count
    }
}

/// A freed run waiting until it may be reused.
#[derive(Clone, Copy, Debug)]
struct Pending {
    run: PageRun,
    /// Reusable once the durable checkpoint's sequence is at least this.
    after_seq: Seq,
    /// Reusable once the durable checkpoint's generation is at least this.
    after_generation: u64,
    /// Reusable once no live view has a sequence below this.
    view_seq: Seq,
}

/// The free-space state of one tier file.
#[derive(Debug)]
pub(crate) struct Space {
    /// Reusable runs, coalesced: start → count.
    free: BTreeMap<u64, u64>,
    pending: Vec<Pending>,
    views: BTreeMap<Seq, usize>,
    /// Pages `[0, end)` exist; pages from `end` on are free.
    end: u64,
    durable_seq: Seq,
    durable_generation: u64,
}

impl Space {
    /// The state after opening a checkpoint: `free` from its free list.
    pub(crate) fn new(
        end: u64,
        free: &[PageRun],
        durable_seq: Seq,
        durable_generation: u64,
    ) -> Self {
        let mut space = Space {
            free: BTreeMap::new(),
            pending: Vec::new(),
            views: BTreeMap::new(),
            end,
            durable_seq,
            durable_generation,
        };
        for run in free {
            space.insert_free(*run);
        }
        space
    }

    /// Pages `[0, end)` exist in the file's allocated region.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Records a live view at `seq`.
    pub(crate) fn register_view(&mut self, seq: Seq) {
        *self.views.entry(seq).or_insert(0) += 1;
    }

    /// Forgets a view at `seq`.
    pub(crate) fn unregister_view(&mut self, seq: Seq) {
        if let Some(count) = self.views.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                self.views.remove(&seq);
            }
        }
    }

    /// Frees `run`, replaced by the write set at `seq`.
    pub(crate) fn free_after_seq(&mut self, run: PageRun, seq: Seq) {
        self.pending.push(Pending {
            run,
            after_seq: seq,
            after_generation: 0,
            view_seq: seq,
        });
    }

    /// Frees `run` once checkpoint `generation` is durable.
    pub(crate) fn free_after_generation(&mut self, run: PageRun, generation: u64) {
        self.pending.push(Pending {
            run,
            after_seq: 0,
            after_generation: generation,
            view_seq: 0,
        });
    }

    /// Records that the checkpoint (`seq`, `generation`) is durable.
    pub(crate) fn set_durable(&mut self, seq: Seq, generation: u64) {
        self.durable_seq = seq;
        self.durable_generation = generation;
    }

    /// Moves every pending run whose conditions now hold to the free set.
    pub(crate) fn promote(&mut self) {
        let oldest_view = self.views.keys().next().copied().unwrap_or(Seq::MAX);
        let (durable_seq, durable_generation) = (self.durable_seq, self.durable_generation);
        let (ready, waiting): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| {
                p.after_seq <= durable_seq
                    && p.after_generation <= durable_generation
                    && p.view_seq <= oldest_view
            });
        self.pending = waiting;
        for p in ready {
            self.insert_free(p.run);
        }
    }

    /// Takes `count` contiguous reusable pages (first fit), or extends the
    /// file.
    pub(crate) fn alloc(&mut self, count: u64) -> PageRun {
        let found = self
            .free
            .iter()
            .find(|(_, len)| **len >= count)
            .map(|(s, l)| (*s, *l));
        if let Some((start, len)) = found {
            self.free.remove(&start);
            if len > count {
                self.free.insert(start + count, len - count);
            }
            return PageRun { start, count };
        }
        let run = PageRun {
            start: self.end,
            count,
        };
        self.end += count;
        run
    }

    /// Gives up the reusable run at the end of the file, if any: `end`
    /// moves down to its start, so the next checkpoint header records fewer
    /// pages and the file can be cut there once that header is durable.
    /// Returns the pages given up.
    pub(crate) fn trim_tail(&mut self) -> u64 {
        let Some((&start, &count)) = self.free.iter().next_back() else {
            return 0;
        };
        if start + count != self.end {
            return 0;
        }
        self.free.remove(&start);
        self.end = start;
        count
    }

    /// Returns `run` to the free set at once, coalescing with neighbours.
    pub(crate) fn insert_free(&mut self, run: PageRun) {
        if run.count == 0 {
            return;
        }
        let mut start = run.start;
        let mut count = run.count;
        if let Some((&prev_start, &prev_count)) = self.free.range(..start).next_back() {
            debug_assert!(
                prev_start + prev_count <= start,
                "double free of page {start}"
            );
            if prev_start + prev_count == start {
                self.free.remove(&prev_start);
                start = prev_start;
                count += prev_count;
            }
        }
        if let Some(&next_count) = self.free.get(&(run.start + run.count)) {
            self.free.remove(&(run.start + run.count));
            count += next_count;
        }
        debug_assert!(
            self.free.range(start..start + count).next().is_none(),
            "double free of pages {start}..{}",
            start + count
        );
        self.free.insert(start, count);
    }

    /// The runs that are free on disk once checkpoint (`seq`, `generation`)
    /// is durable and nothing else is live: the free set plus every pending
    /// run that checkpoint no longer reaches. Sorted and coalesced.
    pub(crate) fn durable_free_runs(&self, seq: Seq, generation: u64) -> Vec<PageRun> {
        let mut all: Vec<PageRun> = self
            .free
            .iter()
            .map(|(s, c)| PageRun {
                start: *s,
                count: *c,
            })
            .collect();
        all.extend(
            self.pending
                .iter()
                .filter(|p| p.after_seq <= seq && p.after_generation <= generation)
                .map(|p| p.run),
        );
        coalesce(all)
    }

    /// Pages in the free set now (for statistics and tests).
    pub(crate) fn free_pages(&self) -> u64 {
        self.free.values().sum()
    }

    /// Pages waiting to become reusable.
    pub(crate) fn pending_pages(&self) -> u64 {
        self.pending.iter().map(|p| p.run.count).sum()
    }
}

/// Sorts runs and merges adjacent ones.
pub(crate) fn coalesce(mut runs: Vec<PageRun>) -> Vec<PageRun> {
    runs.sort();
    let mut out: Vec<PageRun> = Vec::with_capacity(runs.len());
    for run in runs {
        match out.last_mut() {
            Some(last) if last.end() == run.start => last.count += run.count,
            _ => out.push(run),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u64, count: u64) -> PageRun {
        PageRun { start, count }
    }

    #[test]
    fn frees_wait_for_the_durable_checkpoint_and_old_views() {
        let mut space = Space::new(10, &[], 5, 1);
        space.register_view(6);
        space.free_after_seq(run(3, 1), 7);
        space.promote();
        assert_eq!(
            space.free_pages(),
            0,
            "durable checkpoint is older than the free"
        );
        space.set_durable(7, 2);
        space.promote();
        assert_eq!(space.free_pages(), 0, "a view at 6 may still read page 3");
        space.unregister_view(6);
        space.promote();
        assert_eq!(space.alloc(1), run(3, 1));
        assert_eq!(space.alloc(2), run(10, 2));
    }

    #[test]
    fn generation_frees_ignore_views() {
        let mut space = Space::new(10, &[], 5, 1);
        space.register_view(1);
        space.free_after_generation(run(4, 2), 2);
        assert_eq!(space.durable_free_runs(5, 2), vec![run(4, 2)]);
        assert!(space.durable_free_runs(5, 1).is_empty());
        space.set_durable(6, 2);
        space.promote();
        assert_eq!(space.free_pages(), 2);
    }

    #[test]
    fn the_free_tail_is_given_up_but_pending_pages_are_not() {
        let mut space = Space::new(20, &[run(4, 2), run(16, 4)], 0, 0);
        space.free_after_seq(run(10, 6), 3);
        assert_eq!(space.trim_tail(), 4);
        assert_eq!(space.end(), 16);
        assert_eq!(space.trim_tail(), 0, "pages 10..16 wait for a checkpoint");
        space.set_durable(3, 1);
        space.promote();
        assert_eq!(space.trim_tail(), 6);
        assert_eq!(space.end(), 10);
        assert_eq!(
            space.alloc(3),
            run(10, 3),
            "the file grows again from the cut"
        );
        assert_eq!(space.durable_free_runs(3, 1), vec![run(4, 2)]);
    }

    #[test]
    fn free_runs_coalesce_and_allocate_first_fit() {
        let mut space = Space::new(20, &[run(2, 2), run(6, 1)], 0, 0);
        space.insert_free(run(4, 2));
        assert_eq!(space.durable_free_runs(0, 0), vec![run(2, 5)]);
        assert_eq!(space.alloc(3), run(2, 3));
        assert_eq!(space.alloc(3), run(20, 3));
        assert_eq!(space.alloc(2), run(5, 2));
    }
}
