//! redb (a copy-on-write B-tree in Rust).

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use crate::engine::{Engine, EngineConfig, Pair, Result};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");

struct Redb {
    db: Database,
}

pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    let db = Database::builder()
        .set_cache_size(cfg.cache_bytes)
        .create(dir.join("data.redb"))?;
    let tx = db.begin_write()?;
    tx.open_table(ITEMS)?;
    tx.commit()?;
    Ok(Box::new(Redb { db }))
}

impl Redb {
    fn write(&self, pairs: &mut dyn Iterator<Item = (&[u8], &[u8])>, durable: bool) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        {
            let mut table = tx.open_table(ITEMS)?;
            for (k, v) in pairs {
                table.insert(k, v)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Engine for Redb {
    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<()> {
        self.write(&mut std::iter::once((key, value)), durable)
    }

    fn write_batch(&self, pairs: &[Pair], durable: bool) -> Result<()> {
        self.write(
            &mut pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            durable,
        )
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ITEMS)?;
        Ok(table.get(key)?.map(|v| v.value().len()))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Result<usize> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ITEMS)?;
        let mut n = 0;
        for item in table.range::<&[u8]>(start..)?.take(limit) {
            let (_, v) = item?;
            std::hint::black_box(v.value().len());
            n += 1;
        }
        Ok(n)
    }

    fn sync(&self) -> Result<()> {
        self.write(&mut std::iter::empty(), true)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.sync()
    }
}
