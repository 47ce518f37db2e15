//! SQLite through `rusqlite` (bundled), in WAL mode.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, params};

use crate::engine::{Engine, EngineConfig, Pair, Result};

struct Sqlite {
    path: PathBuf,
    cache_kib: usize,
    /// The one writer, with whether it is in `synchronous=FULL` now.
    writer: Mutex<(Connection, bool)>,
    /// Idle reader connections (WAL mode lets readers run beside the writer).
    readers: Mutex<Vec<Connection>>,
}

fn connect(path: &Path, cache_kib: usize) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -(cache_kib as i64))?;
    Ok(conn)
}

pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    let path = dir.join("data.sqlite");
    let cache_kib = cfg.cache_bytes / 1024;
    let writer = connect(&path, cache_kib)?;
    writer.execute(
        "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
        [],
    )?;
    Ok(Box::new(Sqlite {
        path,
        cache_kib,
        writer: Mutex::new((writer, false)),
        readers: Mutex::new(Vec::new()),
    }))
}

impl Sqlite {
    fn write(&self, pairs: &mut dyn Iterator<Item = (&[u8], &[u8])>, durable: bool) -> Result<()> {
        let mut guard = self.writer.lock();
        let (conn, full) = &mut *guard;
        if *full != durable {
            conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
            *full = durable;
        }
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?;
            for (k, v) in pairs {
                stmt.execute(params![k, v])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => connect(&self.path, self.cache_kib)?,
        };
        let out = f(&conn);
        self.readers.lock().push(conn);
        out
    }
}

impl Engine for Sqlite {
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
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
            let mut rows = stmt.query(params![key])?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get_ref(0)?.as_blob()?.len()),
                None => None,
            })
        })
    }

    fn scan(&self, start: &[u8], limit: usize) -> Result<usize> {
        self.with_reader(|c| {
            let mut stmt =
                c.prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
            let mut rows = stmt.query(params![start, limit as i64])?;
            let mut n = 0;
            while let Some(row) = rows.next()? {
                std::hint::black_box(row.get_ref(1)?.as_blob()?.len());
                n += 1;
            }
            Ok(n)
        })
    }

    fn sync(&self) -> Result<()> {
        let guard = self.writer.lock();
        guard
            .0
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.readers.lock().clear();
        let (conn, _) = self.writer.into_inner();
        conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}
