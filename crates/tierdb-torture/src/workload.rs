//! What the child and the parent agree on: the database options, the key
//! scheme, the values, and the lines the child reports on its stdout.

use std::path::Path;
use std::sync::Arc;

use tierdb::{Db, EventListener, Options, Result, Tier};

/// Accounts `a/00` .. `a/39`, each starting with [`INITIAL_BALANCE`].
pub const ACCOUNTS: usize = 40;
pub const INITIAL_BALANCE: i64 = 1000;
/// Present once the accounts exist (written in the same commit).
pub const INIT_KEY: &[u8] = b"meta/init";

pub fn account_key(n: usize) -> Vec<u8> {
    format!("a/{n:02}").into_bytes()
}

/// A unique inserted key; `bucket` spreads inserts over several partitions.
pub fn insert_key(bucket: u64, round: u64, thread: usize, n: u64) -> Vec<u8> {
    format!("i/{bucket:02}/{round:06}/{thread}/{n:07}").into_bytes()
}

/// The record a transfer writes in the same commit as its two balances.
pub fn transfer_key(round: u64, thread: usize, n: u64) -> Vec<u8> {
    format!("x/{round:06}/{thread}/{n:07}").into_bytes()
}

/// The value an inserted key carries: derived from the key (so the parent
/// knows it without being told), of a length between 8 and ~1.5 KiB.
pub fn insert_value(key: &[u8]) -> Vec<u8> {
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let len = 8 + (hash % 1500) as usize;
    let mut value = Vec::with_capacity(len);
    while value.len() < len {
        value.extend_from_slice(key);
        value.push(b'|');
    }
    value.truncate(len);
    value
}

/// A transfer record: `from,to,amount`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub from: usize,
    pub to: usize,
    pub amount: i64,
}

impl Transfer {
    pub fn encode(&self) -> String {
        format!("{},{},{}", self.from, self.to, self.amount)
    }

    pub fn decode(text: &str) -> Option<Transfer> {
        let mut parts = text.split(',');
        let transfer = Transfer {
            from: parts.next()?.parse().ok()?,
            to: parts.next()?.parse().ok()?,
            amount: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && transfer.from < ACCOUNTS && transfer.to < ACCOUNTS)
            .then_some(transfer)
    }
}

/// One line of the child's report. `Begin*` is printed before a commit is
/// attempted, `Ack*` after it returned `Ok` with `Durability::Sync`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// The database is open (recovery done) and the accounts exist.
    Ready,
    BeginInit,
    AckInit,
    BeginInsert(String),
    AckInsert(String),
    BeginDelete(String),
    AckDelete(String),
    /// A range delete `[start, end)` of inserted keys.
    BeginDeleteRange(String, String),
    AckDeleteRange(String, String),
    BeginTransfer(String, Transfer),
    AckTransfer(String),
    CheckpointBegin,
    CheckpointEnd,
    Compaction,
    LayoutBegin(String),
    LayoutEnd,
}

impl Report {
    pub fn line(&self) -> String {
        match self {
            Report::Ready => "ready".into(),
            Report::BeginInit => "begin-init".into(),
            Report::AckInit => "ack-init".into(),
            Report::BeginInsert(k) => format!("begin-insert {k}"),
            Report::AckInsert(k) => format!("ack-insert {k}"),
            Report::BeginDelete(k) => format!("begin-delete {k}"),
            Report::AckDelete(k) => format!("ack-delete {k}"),
            Report::BeginDeleteRange(s, e) => format!("begin-delete-range {s} {e}"),
            Report::AckDeleteRange(s, e) => format!("ack-delete-range {s} {e}"),
            Report::BeginTransfer(k, t) => format!("begin-transfer {k} {}", t.encode()),
            Report::AckTransfer(k) => format!("ack-transfer {k}"),
            Report::CheckpointBegin => "checkpoint-begin".into(),
            Report::CheckpointEnd => "checkpoint-end".into(),
            Report::Compaction => "compaction".into(),
            Report::LayoutBegin(what) => format!("layout-begin {what}"),
            Report::LayoutEnd => "layout-end".into(),
        }
    }

    pub fn parse(line: &str) -> Option<Report> {
        let mut words = line.split(' ');
        let word = words.next()?;
        let mut arg = || words.next().map(str::to_string);
        Some(match word {
            "ready" => Report::Ready,
            "begin-init" => Report::BeginInit,
            "ack-init" => Report::AckInit,
            "begin-insert" => Report::BeginInsert(arg()?),
            "ack-insert" => Report::AckInsert(arg()?),
            "begin-delete" => Report::BeginDelete(arg()?),
            "ack-delete" => Report::AckDelete(arg()?),
            "begin-delete-range" => {
                let start = arg()?;
                Report::BeginDeleteRange(start, arg()?)
            }
            "ack-delete-range" => {
                let start = arg()?;
                Report::AckDeleteRange(start, arg()?)
            }
            "begin-transfer" => {
                let key = arg()?;
                Report::BeginTransfer(key, Transfer::decode(&arg()?)?)
            }
            "ack-transfer" => Report::AckTransfer(arg()?),
            "checkpoint-begin" => Report::CheckpointBegin,
            "checkpoint-end" => Report::CheckpointEnd,
            "compaction" => Report::Compaction,
            "layout-begin" => Report::LayoutBegin(arg()?),
            "layout-end" => Report::LayoutEnd,
            _ => return None,
        })
    }
}

/// The options both processes open the database with: real files, mixed
/// tiers, small WAL segments and checkpoint bounds so that background
/// checkpoints, segment removal and LSM compactions happen every few
/// hundred milliseconds.
pub fn options(listener: Option<Arc<dyn EventListener>>) -> Options {
    let opts = Options::default()
        .default_tier(Tier::BTree)
        .cache_bytes(8 << 20)
        .wal_segment_bytes(128 << 10)
        .checkpoint_wal_bytes(512 << 10)
        .checkpoint_dirty_bytes(512 << 10)
        .partition("a/20", Tier::Lsm)
        .partition("i/", Tier::BTree)
        .partition("i/04", Tier::Lsm)
        .partition("i/08", Tier::BTree)
        .partition("i/12", Tier::Lsm)
        .partition("x/", Tier::Lsm);
    match listener {
        Some(l) => opts.listener(l),
        None => opts,
    }
}

pub fn open(dir: &Path, listener: Option<Arc<dyn EventListener>>) -> Result<Db> {
    Db::open(dir, options(listener))
}
