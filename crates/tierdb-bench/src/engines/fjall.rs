//! fjall (an LSM tree in Rust), built without its lz4 feature.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::engine::{Engine, EngineConfig, Pair, Result};

struct Fjall {
    db: Database,
    items: Keyspace,
}

pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    let db = Database::builder(dir)
        .cache_size(cfg.cache_bytes as u64)
        .open()?;
    let items = db.keyspace("items", KeyspaceCreateOptions::default)?;
    Ok(Box::new(Fjall { db, items }))
}

fn mode(durable: bool) -> PersistMode {
    if durable {
        PersistMode::SyncData
    } else {
        PersistMode::Buffer
    }
}

impl Engine for Fjall {
    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<()> {
        self.items.insert(key, value)?;
        self.db.persist(mode(durable))?;
        Ok(())
    }

    fn write_batch(&self, pairs: &[Pair], durable: bool) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(mode(durable)));
        for (k, v) in pairs {
            batch.insert(&self.items, k.as_slice(), v.as_slice());
        }
        batch.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.items.get(key)?.map(|v| v.len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Result<usize> {
        let mut n = 0;
        for guard in self.items.range(start..).take(limit) {
            std::hint::black_box(guard.into_inner()?);
            n += 1;
        }
        Ok(n)
    }

    fn sync(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}
