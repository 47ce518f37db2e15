//! Writing a stream of entries (internal order) into new tables, cut after
//! about `cut_bytes` at a user-key boundary (every version of a key lands
//! in the same table, so a level's tables have disjoint key ranges).
//! Compaction output is charged to the rate limiter, if any, every
//! `CHARGE_BYTES` of table written.
//!
//! Range tombstones come in as fragments (`range_del.rs`). A version they
//! hide from every future reader (a covering tombstone at or below the
//! horizon is newer) is dropped. The fragments themselves are cut at the
//! output tables' boundaries: when a table is closed because the next
//! entry's key `k` starts a new one, the fragment parts below `k` go into
//! the closed table and the parts from `k` on stay for the next, so the
//! tables' spans stay disjoint (the closed one ends before `k`, the next
//! starts at `k`) and every key keeps the coverage it had. What is left at
//! the end goes into the last table (a table may hold only tombstones).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tierdb_io::{OpenMode, Result};

use crate::entry::{Entry, InternalIter};
use crate::files::table_path;
use crate::range_del::{Coverage, Fragment, split_below, to_tombstones};
use crate::rate_limiter::RateLimiter;
use crate::retain::Retain;
use crate::sstable::{SstOptions, SstWriter};
use crate::table::{Table, TableEnv};

/// Where new tables go and what they are numbered.
pub(crate) struct WriteCtx<'a> {
    /// The directory, vfs and cache.
    pub(crate) env: &'a TableEnv,
    /// Table options.
    pub(crate) sst: &'a SstOptions,
    /// The next unused table number; advanced for every file created.
    pub(crate) next_table: &'a AtomicU64,
    /// The limiter output writes are charged to (compactions only).
    pub(crate) limit: Option<Limit<'a>>,
}

/// A rate limiter and the flag that cancels its waits.
#[derive(Clone, Copy)]
pub(crate) struct Limit<'a> {
    pub(crate) limiter: &'a RateLimiter,
    pub(crate) cancel: &'a AtomicBool,
}

/// Bytes written between two charges to the rate limiter.
const CHARGE_BYTES: u64 = 16 * 1024;

struct Open {
    writer: SstWriter,
    number: u64,
    last_key: Bytes,
    /// Bytes of this table already charged to the limiter.
    charged: u64,
}

/// Builds the tables of one flush or compaction.
pub(crate) struct TableBuilder<'a, 'b> {
    ctx: &'b mut WriteCtx<'a>,
    cut_bytes: u64,
    open: Option<Open>,
    finished: Vec<Arc<Table>>,
    /// Range tombstone fragments not yet written, sorted by start.
    fragments: Vec<Fragment>,
}

/// The range tombstones of a flush or compaction's inputs.
pub(crate) struct RangeDels {
    /// The inputs' tombstones, fragmented with the horizon.
    pub(crate) fragments: Vec<Fragment>,
    /// The flush or compaction's horizon (see `retain.rs`).
    pub(crate) horizon: u64,
    /// True at the bottom level: tombstones at or below the horizon hide
    /// nothing below, so they are not written.
    pub(crate) drop_settled: bool,
}

impl<'a, 'b> TableBuilder<'a, 'b> {
    /// A builder cutting tables after `cut_bytes`.
    pub(crate) fn new(ctx: &'b mut WriteCtx<'a>, cut_bytes: u64) -> Self {
        TableBuilder {
            ctx,
            cut_bytes,
            open: None,
            finished: Vec::new(),
            fragments: Vec::new(),
        }
    }

    /// Writes every entry of `iter` that no range tombstone hides and
    /// `retain` keeps, and the range tombstones still needed, then finishes.
    pub(crate) fn write_all(
        mut self,
        iter: &mut dyn InternalIter,
        retain: &mut Retain,
        range_dels: RangeDels,
    ) -> Result<Vec<Arc<Table>>> {
        let hides = Coverage::new(to_tombstones(&range_dels.fragments), range_dels.horizon);
        self.fragments = range_dels.fragments;
        if range_dels.drop_settled {
            for f in &mut self.fragments {
                f.seqs.retain(|&s| s > range_dels.horizon);
            }
            self.fragments.retain(|f| !f.seqs.is_empty());
        }
        iter.seek_to_first()?;
        while iter.valid() {
            let entry = iter.entry();
            let hidden = !hides.is_empty() && hides.covering_seq(&entry.key) > entry.seq;
            if !hidden && retain.keep(entry) {
                self.add(iter.entry())?;
            }
            iter.next()?;
        }
        self.finish()
    }

    fn add(&mut self, entry: &Entry) -> Result<()> {
        let full = self.open.as_ref().is_some_and(|o| {
            o.writer.estimated_bytes() >= self.cut_bytes && o.last_key != entry.key
        });
        if full {
            let below = split_below(&mut self.fragments, &entry.key);
            self.add_fragments(&below)?;
            self.finish_open()?;
        }
        if self.open.is_none() {
            self.start()?;
        }
        if let Some(open) = &mut self.open {
            open.writer.add(entry)?;
            open.last_key = entry.key.clone();
            let written = open.writer.estimated_bytes();
            if written >= open.charged + CHARGE_BYTES {
                let delta = written - open.charged;
                open.charged = written;
                self.charge(delta)?;
            }
        }
        Ok(())
    }

    fn add_fragments(&mut self, fragments: &[Fragment]) -> Result<()> {
        if fragments.is_empty() {
            return Ok(());
        }
        if self.open.is_none() {
            self.start()?;
        }
        if let Some(open) = &mut self.open {
            for t in to_tombstones(fragments) {
                open.writer.add_range_tombstone(t)?;
            }
        }
        Ok(())
    }

    fn charge(&self, bytes: u64) -> Result<()> {
        match self.ctx.limit {
            Some(limit) => limit.limiter.acquire(bytes, limit.cancel),
            None => Ok(()),
        }
    }

    fn start(&mut self) -> Result<()> {
        let number = self.ctx.next_table.fetch_add(1, Ordering::Relaxed);
        let path = table_path(&self.ctx.env.dir, number);
        let file = self.ctx.env.vfs.open(&path, OpenMode::Create)?;
        file.set_len(0)?;
        self.open = Some(Open {
            writer: SstWriter::new(file, self.ctx.sst.clone()),
            number,
            last_key: Bytes::new(),
            charged: 0,
        });
        Ok(())
    }

    fn finish_open(&mut self) -> Result<()> {
        if let Some(open) = self.open.take() {
            open.writer.finish()?;
            let table = Table::open(self.ctx.env, open.number)?;
            self.charge(table.file_bytes.saturating_sub(open.charged))?;
            self.finished.push(table);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Arc<Table>>> {
        let rest = std::mem::take(&mut self.fragments);
        self.add_fragments(&rest)?;
        self.finish_open()?;
        Ok(self.finished)
    }
}
