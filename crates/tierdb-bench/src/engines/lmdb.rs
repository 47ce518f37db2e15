//! LMDB through `heed`.

use std::ops::Bound;
use std::path::Path;

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions};

use crate::engine::{Engine, EngineConfig, Pair, Result};

struct Lmdb {
    env: Env,
    items: Database<Bytes, Bytes>,
}

pub fn open(dir: &Path, _cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    let mut opts = EnvOpenOptions::new();
    opts.map_size(64 << 30).max_dbs(1);
    // SAFETY: LMDB requires that a process opens an environment once and
    // that the file is not modified by other means; the benchmark opens
    // each directory once at a time (closing before reopening) and nothing
    // else touches it. NO_SYNC: commits are synced explicitly (`force_sync`)
    // when the caller asks for durability.
    #[allow(unsafe_code)]
    let env = unsafe {
        opts.flags(EnvFlags::NO_SYNC);
        opts.open(dir)?
    };
    let mut tx = env.write_txn()?;
    let items = env.create_database(&mut tx, None)?;
    tx.commit()?;
    Ok(Box::new(Lmdb { env, items }))
}

impl Lmdb {
    fn write(&self, pairs: &mut dyn Iterator<Item = (&[u8], &[u8])>, durable: bool) -> Result<()> {
        let mut tx = self.env.write_txn()?;
        for (k, v) in pairs {
            self.items.put(&mut tx, k, v)?;
        }
        tx.commit()?;
        if durable {
            self.env.force_sync()?;
        }
        Ok(())
    }
}

impl Engine for Lmdb {
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
        let tx = self.env.read_txn()?;
        Ok(self.items.get(&tx, key)?.map(<[u8]>::len))
    }

    fn scan(&self, start: &[u8], limit: usize) -> Result<usize> {
        let tx = self.env.read_txn()?;
        let range = (Bound::Included(start), Bound::Unbounded);
        let mut n = 0;
        for item in self.items.range(&tx, &range)?.take(limit) {
            let (_, v) = item?;
            std::hint::black_box(v.len());
            n += 1;
        }
        Ok(n)
    }

    fn sync(&self) -> Result<()> {
        self.env.force_sync()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.env.force_sync()?;
        Ok(())
    }
}
