//! The child: opens the database on real files and commits until it is
//! killed — transfers between accounts, inserts of unique keys, deletes of
//! earlier ones, one by one or by range deletes — while a maintenance thread checkpoints, compacts, splits,
//! merges and re-tiers partitions. Every commit is reported on stdout:
//! `begin-*` before it is attempted, `ack-*` only after it returned `Ok`
//! with `Durability::Sync`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{CheckpointEvent, Db, Error, EventListener, PartitionId, Tier, WriteBatch};

use crate::workload::{
    ACCOUNTS, INIT_KEY, INITIAL_BALANCE, Report, Transfer, account_key, insert_key, insert_value,
    open, transfer_key,
};

const TRANSFER_THREADS: usize = 2;
/// Partition count the maintenance thread keeps between.
const PARTITIONS_MIN: usize = 4;
const PARTITIONS_MAX: usize = 12;

/// Writes one report line and flushes it into the pipe at once, so that
/// the parent has it even if the process is killed right after.
fn report(r: &Report) {
    let mut out = std::io::stdout().lock();
    // A closed pipe means the parent is gone; nothing left to do then.
    if writeln!(out, "{}", r.line())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(3);
    }
}

/// Reports checkpoints and compactions, so the parent can tell what a kill
/// interrupted.
struct Reporter;

impl EventListener for Reporter {
    fn on_checkpoint_begin(&self, _background: bool) {
        report(&Report::CheckpointBegin);
    }
    fn on_checkpoint_completed(&self, _event: &CheckpointEvent) {
        report(&Report::CheckpointEnd);
    }
    fn on_compaction_completed(&self, _p: PartitionId, _e: &tierdb::CompactionEvent) {
        report(&Report::Compaction);
    }
}

fn text(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// Runs until killed; returns only on an error, which the parent counts as
/// a violation (the child must never fail on its own).
pub fn run(dir: &Path, round: u64, seed: u64) -> Result<(), String> {
    let db = open(dir, Some(Arc::new(Reporter))).map_err(|e| format!("open: {e}"))?;
    init(&db).map_err(|e| format!("init: {e}"))?;
    report(&Report::Ready);
    let mut workers = Vec::new();
    for thread in 0..TRANSFER_THREADS {
        let db = db.clone();
        workers.push(thread::spawn(move || {
            transfers(&db, round, thread, seed ^ thread as u64)
        }));
    }
    let db2 = db.clone();
    workers.push(thread::spawn(move || {
        inserts_and_deletes(&db2, round, seed ^ 0x1157)
    }));
    let db3 = db.clone();
    workers.push(thread::spawn(move || maintenance(&db3, seed ^ 0x3a17)));
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a worker panicked".to_string())??;
    }
    Err("workers ended".into())
}

fn init(db: &Db) -> tierdb::Result<()> {
    if db.get(INIT_KEY)?.is_some() {
        return Ok(());
    }
    let mut batch = WriteBatch::new();
    for n in 0..ACCOUNTS {
        batch.put(account_key(n), INITIAL_BALANCE.to_string());
    }
    batch.put(INIT_KEY, b"1");
    report(&Report::BeginInit);
    db.write(batch)?;
    report(&Report::AckInit);
    Ok(())
}

fn balance(tx: &mut tierdb::Txn, account: usize) -> Result<i64, String> {
    let raw = tx
        .get(account_key(account))
        .map_err(|e| format!("read balance: {e}"))?
        .ok_or_else(|| format!("account {account} missing"))?;
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("account {account} holds {raw:?}"))
}

fn transfers(db: &Db, round: u64, thread: usize, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0.. {
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        let key = transfer_key(round, thread, n);
        let mut tx = db.begin();
        let (a, b) = (balance(&mut tx, from)?, balance(&mut tx, to)?);
        let amount = rng.random_range(0..=a.clamp(0, 100));
        let t = Transfer { from, to, amount };
        let put = |tx: &mut tierdb::Txn, k: Vec<u8>, v: String| {
            tx.put(k, v).map_err(|e| format!("put: {e}"))
        };
        put(&mut tx, account_key(from), (a - amount).to_string())?;
        put(&mut tx, account_key(to), (b + amount).to_string())?;
        put(&mut tx, key.clone(), t.encode())?;
        report(&Report::BeginTransfer(text(&key), t));
        match tx.commit() {
            Ok(_) => report(&Report::AckTransfer(text(&key))),
            // Not written: the parent must then never find the record, so
            // the next transfer takes a new key rather than retrying this one.
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(format!("transfer commit: {e}")),
        }
    }
    Ok(())
}

fn inserts_and_deletes(db: &Db, round: u64, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    // Keys committed earlier (any round) are candidates for deletion too.
    let mut existing: Vec<Vec<u8>> = db
        .prefix(b"i/")
        .map_err(|e| format!("scan: {e}"))?
        .map(|r| r.map(|(k, _)| k.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("scan: {e}"))?;
    for n in 0.. {
        if !existing.is_empty() && rng.random_ratio(1, 16) {
            let (start, end) = pick_range(&mut rng, &existing);
            report(&Report::BeginDeleteRange(text(&start), text(&end)));
            db.delete_range(start.as_slice()..end.as_slice())
                .map_err(|e| format!("delete_range: {e}"))?;
            report(&Report::AckDeleteRange(text(&start), text(&end)));
            existing.retain(|k| !(start <= *k && *k < end));
        } else if !existing.is_empty() && rng.random_ratio(1, 3) {
            let key = existing.swap_remove(rng.random_range(0..existing.len()));
            report(&Report::BeginDelete(text(&key)));
            db.delete(&key).map_err(|e| format!("delete: {e}"))?;
            report(&Report::AckDelete(text(&key)));
        } else {
            let batch_len = rng.random_range(1..=4);
            let keys: Vec<Vec<u8>> = (0..batch_len)
                .map(|i| insert_key(rng.random_range(0..16), round, 0, n * 4 + i))
                .collect();
            let mut batch = WriteBatch::new();
            for key in &keys {
                batch.put(key, insert_value(key));
                report(&Report::BeginInsert(text(key)));
            }
            db.write(batch).map_err(|e| format!("insert: {e}"))?;
            for key in keys {
                report(&Report::AckInsert(text(&key)));
                existing.push(key);
            }
        }
    }
    Ok(())
}

/// A range `[start, end)` of insert keys to delete: between two keys
/// committed earlier (the end key itself stays), or whole buckets (one to
/// three, so the range often spans partitions: `i/04`, `i/08` and `i/12`
/// start partitions, and splits cut at bucket prefixes).
fn pick_range(rng: &mut StdRng, existing: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    if rng.random_bool(0.5) {
        let a = &existing[rng.random_range(0..existing.len())];
        let b = &existing[rng.random_range(0..existing.len())];
        let (start, end) = if a <= b { (a, b) } else { (b, a) };
        if start < end {
            return (start.clone(), end.clone());
        }
    }
    let bucket = rng.random_range(0..16);
    let width = rng.random_range(1..=3);
    (
        format!("i/{bucket:02}/").into_bytes(),
        format!("i/{:02}/", bucket + width).into_bytes(),
    )
}

/// Checkpoints, compactions and layout changes at random moments.
fn maintenance(db: &Db, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        thread::sleep(Duration::from_millis(rng.random_range(20..200)));
        let parts = db.partitions();
        let action = rng.random_range(0..10);
        let result = match action {
            0..=2 => db.checkpoint().map(drop),
            3 => db.compact_range(..),
            4..=5 if parts.len() < PARTITIONS_MAX => {
                let at = match rng.random_range(0..3) {
                    0 => format!("a/{:02}", rng.random_range(1..ACCOUNTS)),
                    1 => format!("i/{:02}/", rng.random_range(0..16)),
                    _ => format!("x/{:06}", rng.random_range(0..1000)),
                };
                report(&Report::LayoutBegin(format!("split:{at}")));
                db.split_partition(at.as_bytes()).map(drop)
            }
            4..=7 if parts.len() > PARTITIONS_MIN => {
                let i = rng.random_range(0..parts.len() - 1);
                report(&Report::LayoutBegin(format!("merge:{}", parts[i].id)));
                db.merge_partitions(parts[i].id, parts[i + 1].id).map(drop)
            }
            _ => {
                let p = &parts[rng.random_range(0..parts.len())];
                let tier = match p.tier {
                    Tier::BTree => Tier::Lsm,
                    Tier::Lsm => Tier::BTree,
                };
                report(&Report::LayoutBegin(format!("set_tier:{}", p.id)));
                db.set_tier(p.id, tier)
            }
        };
        if (4..10).contains(&action) {
            report(&Report::LayoutEnd);
        }
        match result {
            // A split at an existing boundary.
            Ok(()) | Err(Error::InvalidArgument(_)) => {}
            Err(e) => return Err(format!("maintenance action {action}: {e}")),
        }
    }
}
