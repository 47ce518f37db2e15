//! Writing a stream of entries (internal order) into new tables, cut after
//! about `cut_bytes` at a user-key boundary (every version of a key lands
//! in the same table, so a level's tables have disjoint key ranges).
//! Compaction output is charged to the rate limiter, if any, every
//! `CHARGE_BYTES` of table written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tierdb_io::{OpenMode, Result};

use crate::entry::{Entry, InternalIter};
use crate::files::table_path;
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
}

impl<'a, 'b> TableBuilder<'a, 'b> {
    /// A builder cutting tables after `cut_bytes`.
    pub(crate) fn new(ctx: &'b mut WriteCtx<'a>, cut_bytes: u64) -> Self {
        TableBuilder {
            ctx,
            cut_bytes,
            open: None,
            finished: Vec::new(),
        }
    }

    /// Writes every entry of `iter` that `retain` keeps, then finishes.
    pub(crate) fn write_all(
        mut self,
        iter: &mut dyn InternalIter,
        retain: &mut Retain,
    ) -> Result<Vec<Arc<Table>>> {
        iter.seek_to_first()?;
        while iter.valid() {
            if retain.keep(iter.entry()) {
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
        self.finish_open()?;
        Ok(self.finished)
    }
}
