//! RocksDB through the `rocksdb` crate (built without compression libraries).

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, DB, DBCompressionType, Options, WriteBatch, WriteOptions};

use crate::engine::{Engine, EngineConfig, Pair, Result};

struct Rocks {
    db: DB,
    sync: WriteOptions,
    buffered: WriteOptions,
}

pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(DBCompressionType::None);
    opts.set_bottommost_compression_type(DBCompressionType::None);
    // The two cores of the machine: flushes and compactions in the background.
    opts.increase_parallelism(2);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&Cache::new_lru_cache(cfg.cache_bytes)?);
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    opts.set_block_based_table_factory(&table);
    let db = DB::open(&opts, dir)?;
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    let mut buffered = WriteOptions::default();
    buffered.set_sync(false);
    Ok(Box::new(Rocks { db, sync, buffered }))
}

impl Rocks {
    fn write_options(&self, durable: bool) -> &WriteOptions {
        if durable { &self.sync } else { &self.buffered }
    }
}

impl Engine for Rocks {
    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<()> {
        self.db.put_opt(key, value, self.write_options(durable))?;
        Ok(())
    }

    fn write_batch(&self, pairs: &[Pair], durable: bool) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (k, v) in pairs {
            batch.put(k, v);
        }
        self.db.write_opt(batch, self.write_options(durable))?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get_pinned(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Result<usize> {
        let mut it = self.db.raw_iterator();
        it.seek(start);
        let mut n = 0;
        while n < limit && it.valid() {
            std::hint::black_box(it.value());
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    fn sync(&self) -> Result<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.flush_wal(true)?;
        drop(self);
        Ok(())
    }
}
