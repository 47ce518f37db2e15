//! Writing a stream of entries (internal order) into new tables, cut after
//! about `cut_bytes` at a user-key boundary (every version of a key lands
//! in the same table, so a level's tables have disjoint key ranges).

use std::sync::Arc;

use bytes::Bytes;
use tierdb_io::{OpenMode, Result};

use crate::entry::{Entry, InternalIter};
use crate::files::table_path;
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
    pub(crate) next_table: &'a mut u64,
}

struct Open {
    writer: SstWriter,
    number: u64,
    last_key: Bytes,
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
        }
        Ok(())
    }

    fn start(&mut self) -> Result<()> {
        let number = *self.ctx.next_table;
        *self.ctx.next_table += 1;
        let path = table_path(&self.ctx.env.dir, number);
        let file = self.ctx.env.vfs.open(&path, OpenMode::Create)?;
        file.set_len(0)?;
        self.open = Some(Open {
            writer: SstWriter::new(file, self.ctx.sst.clone()),
            number,
            last_key: Bytes::new(),
        });
        Ok(())
    }

    fn finish_open(&mut self) -> Result<()> {
        if let Some(open) = self.open.take() {
            open.writer.finish()?;
            self.finished.push(Table::open(self.ctx.env, open.number)?);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Arc<Table>>> {
        self.finish_open()?;
        Ok(self.finished)
    }
}
