//! `SimVfs`: an in-memory [`Vfs`] that is deterministic from a seed, remembers
//! what a sync has made durable, and simulates power loss and I/O faults.
//!
//! It exists so that crash recovery can be tested the way LevelDB's
//! `fault_injection_test` and RocksDB's `FaultInjectionTestFS` test it: run a
//! workload, cut the power at any instant ([`SimVfs::crash`] or
//! [`SimVfs::crash_after_ops`]), reopen on the same `SimVfs`, and check that
//! what the engine finds is a state it is allowed to find.
//!
//! # The model
//!
//! Paths are purely lexical (`PathBuf` keys, nothing is canonicalised). A
//! directory exists if it was made with [`Vfs::create_dir_all`], if a file was
//! ever created in it (it then stays when the file goes), or if some file or
//! directory lies below it. Directories are durable as soon as they exist,
//! and so is the removal of an empty one (`remove_dir`).
//!
//! **Files** are inodes, reached through names. Each inode has
//! - its *durable* content (what the last [`VfsFile::sync`] saw), and
//! - a log of *pending* changes since then (`write_all_at` and `set_len`, in
//!   order). Reads see the durable content with all pending changes applied.
//!
//! `sync` folds the pending log into the durable content. A handle keeps
//! working on its inode after the name is renamed or removed, as on POSIX.
//!
//! **Names** are a current map `path -> inode` plus a *durable* map and a log
//! of directory operations not yet made durable (create by
//! `open(Create)`/`lock`, `rename`, `remove`). [`Vfs::sync_dir`] of a directory
//! makes durable every logged operation on an entry of that directory (for a
//! rename: on either side), together with every earlier logged operation on
//! the same paths, so the durable map never sees an operation before one it
//! depends on.
//!
//! **A crash** ([`SimVfs::crash`]) then decides, with the seeded RNG:
//! 1. Names: the logged directory operations are, for the whole crash, all
//!    undone, all kept, or each kept with probability 1/2; the kept ones are
//!    replayed on the durable map in their original order (an operation
//!    whose source is not there any more is skipped). So an unsynced create
//!    may vanish, an unsynced remove may come back, and an unsynced rename is
//!    either done or not done — never half done: the target holds the old or
//!    the new file, never a mix.
//! 2. Data, for each surviving inode on its own: the pending changes are all
//!    dropped, all kept, a random subset kept (holes are possible: a later
//!    write can survive an earlier one), or all kept but the last write torn
//!    at a random byte (a torn `set_len` is dropped). Synced content is always
//!    kept.
//! 3. Every handle and lock opened before the crash is dead: each later
//!    operation on it fails with an I/O error ([`std::io::ErrorKind::Other`],
//!    "handle from before a simulated crash"), and dropping an old lock guard
//!    releases nothing. Handles opened afterwards work normally.
//!
//! The OS may write dirty data back at any time; the model uses that freedom
//! to stay bounded: once an inode has more than [`PENDING_CHANGES_MAX`]
//! pending changes, the oldest one is made durable, and once more than
//! [`DIR_OPS_MAX`] directory operations are logged, the oldest one is.
//!
//! What the model does *not* do: it never loses synced data, never corrupts
//! bytes on its own (use [`SimVfs::set_file_contents`] or the `Misdirect` and
//! `CorruptRead` faults), treats directory creation as immediately durable,
//! and a failed `sync` has no effect (the pending changes stay pending).
//!
//! A `SimVfs` (and its clones, which share the same simulated disk) can only
//! kill handles: a dropped pre-crash engine that calls the *vfs* afterwards
//! (open, rename, remove, sync_dir) acts on the post-crash disk. Engines are
//! expected to stop writing once a handle has failed. An engine with
//! threads that may outlive the crash (a background checkpoint) is given a
//! [`SimVfs::session`] instead: every call through it fails after the next
//! crash, as a process that lost power makes no more calls.
//!
//! # Mutating operations and `crash_after_ops`
//!
//! These count as mutating operations: `write_all_at`, `set_len`, `sync`,
//! `open(Create)` of a missing file, `rename`, `remove`, `remove_dir` and
//! `sync_dir` — every
//! call on a live handle or on the vfs, whether it then succeeds or fails
//! (a write on a read-only handle, or any call on a dead handle, is refused
//! first and not counted). `lock` (even if it creates the lock file) and
//! `create_dir_all` do not count. After [`SimVfs::crash_after_ops`]`(n)`, the
//! next `n` mutating operations run and the one after that crashes the
//! simulation before it takes effect and fails. Every crash disarms it.
//!
//! # Chosen crashes
//!
//! To enumerate crash states rather than sample them:
//! [`SimVfs::halt_after_ops`] stops the disk at an operation without
//! crashing it, [`SimVfs::pending_ops`] lists what a crash may keep or drop,
//! [`SimVfs::fork`] copies the disk, [`SimVfs::crash_keeping`] crashes
//! keeping exactly the chosen pending operations, and
//! [`SimVfs::crash_keeping_torn`] does so with one write torn: only its
//! first n bytes (whole sectors, say) survive (module `pending`).
//!
//! # Faults
//!
//! [`SimVfs::inject`] arms a [`Fault`]: an operation kind ([`FaultOp`]), an
//! optional path substring, a number of matching operations to let through
//! (`skip`) and a number of times to fire (`times`). Each operation is offered
//! to the armed faults in the order they were injected; faults still skipping
//! count it, and the first one past its skip with firings left fires. The
//! operations are: `Read` = `read_exact_at`, `Write` = `write_all_at`, `Sync`
//! = `VfsFile::sync`, `SyncDir`, `Create` = `open(Create)` of a missing file,
//! `Rename` (the path filter matches either name), `Remove` (and `remove_dir`). `set_len`, `len`,
//! `lock`, `list`, `exists` and `create_dir_all` are never faulted. A
//! [`FaultKind`] that makes no sense for its operation (`ShortWrite` on a
//! sync, `CorruptRead` on a write, ...) acts as [`FaultKind::Eio`].
//! A fault does not bypass `crash_after_ops`: the crash check comes first.
//!
//! # Determinism
//!
//! All randomness comes from one `StdRng` seeded by [`SimVfs::new`]: the same
//! seed and the same sequence of operations give the same files, byte for
//! byte. (Threads racing on one `SimVfs` make the sequence itself vary.)
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use tierdb_io::{OpenMode, SimVfs, Vfs};
//!
//! let vfs = SimVfs::new(42);
//! let path = Path::new("/db/log");
//! let file = vfs.open(path, OpenMode::Create).unwrap();
//! file.write_all_at(b"durable", 0).unwrap();
//! file.sync().unwrap();
//! vfs.sync_dir(Path::new("/db")).unwrap();
//! file.write_all_at(b" maybe", 7).unwrap();
//! vfs.crash();
//! assert!(file.len().is_err()); // the old handle is dead
//! let after = vfs.file_contents(path).unwrap();
//! assert!(after.starts_with(b"durable"));
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::vfs::{OpenMode, Vfs, VfsFile, VfsLock};
use crate::{Error, Result};

mod pending;

pub use pending::{PendingKind, PendingOp};

/// Largest file the simulation holds (it lives in memory); writes and
/// `set_len` beyond it fail with `ErrorKind::FileTooLarge`.
const FILE_SIZE_MAX_BYTES: u64 = 1 << 30;
/// Pending (unsynced) changes kept per inode before the oldest is written back.
const PENDING_CHANGES_MAX: usize = 4096;
/// Unsynced directory operations kept before the oldest is made durable.
const DIR_OPS_MAX: usize = 4096;
/// Page size used to pick page-aligned offsets for misdirected writes.
const PAGE_BYTES: u64 = 4096;

const DEAD_HANDLE_MESSAGE: &str = "handle from before a simulated crash";

/// The operation a [`Fault`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    /// `VfsFile::read_exact_at` (and so `read_all`).
    Read,
    /// `VfsFile::write_all_at`.
    Write,
    /// `VfsFile::sync`.
    Sync,
    /// `Vfs::sync_dir`.
    SyncDir,
    /// `Vfs::open` with `OpenMode::Create` of a file that does not exist yet.
    Create,
    /// `Vfs::rename` (the path filter matches either name).
    Rename,
    /// `Vfs::remove` and `Vfs::remove_dir`.
    Remove,
}

/// What an armed [`Fault`] does to the operation it fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The operation fails with an I/O error (`ErrorKind::Other`, "injected
    /// EIO") and has no effect.
    Eio,
    /// The operation fails with `ErrorKind::StorageFull` and has no effect.
    NoSpace,
    /// Write only: a random strict prefix of the buffer is written (unsynced),
    /// then the operation fails with an I/O error.
    ShortWrite,
    /// Write only: the data lands (unsynced) at a wrong offset in the same
    /// file — page-aligned or arbitrary, never the right one — and the
    /// operation reports success.
    Misdirect,
    /// Read only: the returned bytes have one flipped bit (the file itself is
    /// unchanged) and the operation reports success.
    CorruptRead,
}

/// A fault to inject with [`SimVfs::inject`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The operation it applies to.
    pub op: FaultOp,
    /// What it does.
    pub kind: FaultKind,
    /// Only operations on paths containing this substring (`None`: any path).
    pub path_contains: Option<String>,
    /// Matching operations to let through before firing.
    pub skip: u64,
    /// How many times to fire, then stay quiet (`u64::MAX`: forever).
    pub times: u64,
}

impl Fault {
    /// A fault that fires once, on the next `op` on any path.
    pub fn new(op: FaultOp, kind: FaultKind) -> Self {
        Fault {
            op,
            kind,
            path_contains: None,
            skip: 0,
            times: 1,
        }
    }

    /// Only on paths containing `substring`.
    #[must_use]
    pub fn on_path(mut self, substring: impl Into<String>) -> Self {
        self.path_contains = Some(substring.into());
        self
    }

    /// Lets `count` matching operations through first.
    #[must_use]
    pub fn skip(mut self, count: u64) -> Self {
        self.skip = count;
        self
    }

    /// Fires `count` times (`u64::MAX`: forever).
    #[must_use]
    pub fn times(mut self, count: u64) -> Self {
        self.times = count;
        self
    }

    fn matches(&self, op: FaultOp, paths: &[&Path]) -> bool {
        self.op == op
            && match &self.path_contains {
                None => true,
                Some(needle) => paths
                    .iter()
                    .any(|p| p.to_string_lossy().contains(needle.as_str())),
            }
    }
}

/// An in-memory [`Vfs`], deterministic from a seed, that simulates power
/// loss ([`SimVfs::crash`], [`SimVfs::crash_after_ops`]) and I/O faults
/// ([`SimVfs::inject`]). Clones share the same simulated disk.
///
/// The durability model, in short:
/// - Per file, synced content always survives a crash; the writes and
///   `set_len`s since the last sync are, per file and per crash, all dropped,
///   all kept, a random subset kept (holes possible), or all kept with the
///   last write torn at a random byte.
/// - A create, rename or remove is durable only after `sync_dir` of its
///   parent; otherwise a crash may undo it (all, none, or each at random).
///   Renames are atomic: the target holds the old or the new file.
/// - After a crash every earlier handle and lock guard fails every operation
///   with an I/O error (`ErrorKind::Other`) and releases nothing; locks are
///   free and new handles see the surviving state.
/// - Directories are durable as soon as they exist; paths are lexical.
/// - Every random decision comes from one RNG seeded by [`SimVfs::new`]: the
///   same seed and operations give the same bytes.
///
/// Mutating operations (counted by [`SimVfs::mutating_ops`]) are
/// `write_all_at`, `set_len`, `sync`, `open(Create)` of a missing file,
/// `rename`, `remove`, `remove_dir` and `sync_dir`.
///
/// ```
/// use std::path::Path;
/// use tierdb_io::{Fault, FaultKind, FaultOp, OpenMode, SimVfs, Vfs};
///
/// let vfs = SimVfs::new(7);
/// let wal = vfs.open(Path::new("/db/000001.log"), OpenMode::Create).unwrap();
/// vfs.inject(Fault::new(FaultOp::Sync, FaultKind::Eio).on_path(".log"));
/// wal.write_all_at(b"record", 0).unwrap();
/// assert!(wal.sync().is_err()); // injected, once
/// wal.sync().unwrap();
/// vfs.crash(); // the create was never made durable by sync_dir: it may vanish
/// assert!(wal.len().is_err());
/// ```
#[derive(Clone)]
pub struct SimVfs {
    state: Arc<Mutex<State>>,
    /// For a [`SimVfs::session`]: the epoch it belongs to. Once a crash
    /// ends that epoch, every call through it fails, as the calls of a
    /// process that died with the power would never have happened.
    session: Option<u64>,
}

impl fmt::Debug for SimVfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("SimVfs")
            .field("seed", &s.seed)
            .field("files", &s.names.len())
            .field("mutating_ops", &s.mutating_ops)
            .field("crashes", &s.crashes)
            .field("faults", &s.faults.len())
            .finish_non_exhaustive()
    }
}

impl SimVfs {
    /// An empty simulated disk whose every random decision derives from `seed`.
    pub fn new(seed: u64) -> Self {
        SimVfs {
            state: Arc::new(Mutex::new(State::new(seed))),
            session: None,
        }
    }

    /// A view of the same disk for one process lifetime: after the next
    /// crash, every call through it (and through its handles) fails with an
    /// I/O error, so that an engine still running after a simulated power
    /// loss — a background thread finishing a checkpoint, say — cannot
    /// remove or rename files on the disk that survived it. Give each
    /// opening of a database its own session when threads may outlive the
    /// crash; a plain `SimVfs` only kills handles.
    pub fn session(&self) -> SimVfs {
        SimVfs {
            state: Arc::clone(&self.state),
            session: Some(self.state.lock().epoch),
        }
    }

    /// The state, locked, if this view is still alive.
    fn live_state(&self, path: &Path) -> Result<parking_lot::MutexGuard<'_, State>> {
        let s = self.state.lock();
        if let Some(epoch) = self.session {
            s.check_epoch(epoch, path)?;
        }
        Ok(s)
    }

    /// Power loss now; see the module docs for what survives.
    pub fn crash(&self) {
        self.state.lock().crash();
    }

    /// Lets `n` more mutating operations run, then crashes on the next one,
    /// which fails without effect.
    pub fn crash_after_ops(&self, n: u64) {
        let mut s = self.state.lock();
        s.crash_at_op = Some(s.mutating_ops.saturating_add(n));
    }

    /// Mutating operations performed so far (the crashing one not included).
    pub fn mutating_ops(&self) -> u64 {
        self.state.lock().mutating_ops
    }

    /// Crashes so far, manual and automatic.
    pub fn crashes(&self) -> u64 {
        self.state.lock().crashes
    }

    /// The operation (`set_len` reported as `Write`) and path the last
    /// crash fired on, if it was an automatic one ([`SimVfs::crash_after_ops`]);
    /// `None` after a manual [`SimVfs::crash`] or before any crash. Lets a
    /// crash suite count where its power losses landed.
    pub fn last_crash_point(&self) -> Option<(FaultOp, PathBuf)> {
        self.state.lock().crash_point.clone()
    }

    /// Arms `fault` (after the faults already armed).
    pub fn inject(&self, fault: Fault) {
        self.state.lock().faults.push(ArmedFault {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// The current (not necessarily durable) bytes of the file at `path`.
    pub fn file_contents(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.state.lock();
        let id = s.names.get(path)?;
        s.inodes.get(id).map(|inode| inode.current.clone())
    }

    /// Replaces the bytes of the file at `path` (creating it if missing), as
    /// durable content with a durable name. Bypasses faults and
    /// `crash_after_ops`. Does nothing if `path` is a directory.
    pub fn set_file_contents(&self, path: &Path, data: Vec<u8>) {
        self.state.lock().set_file_contents(path, data);
    }

    /// Every file path that currently exists, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.state.lock().names.keys().cloned().collect()
    }
}

type InodeId = u64;

/// An unsynced change to a file's content.
#[derive(Clone, Debug)]
enum Change {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

impl Change {
    fn apply(&self, content: &mut Vec<u8>) {
        match self {
            Change::Write { offset, data } => write_into(content, *offset, data),
            Change::SetLen(len) => content.resize(to_usize(*len), 0),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: VecDeque<Change>,
    open_handles: u64,
}

impl Inode {
    fn change(&mut self, change: Change) {
        change.apply(&mut self.current);
        self.pending.push_back(change);
        if self.pending.len() > PENDING_CHANGES_MAX
            && let Some(oldest) = self.pending.pop_front()
        {
            oldest.apply(&mut self.durable);
        }
    }

    fn sync(&mut self) {
        self.durable.clone_from(&self.current);
        self.pending.clear();
    }

    /// Power loss: decides what of the pending log reaches the durable content.
    fn settle_after_crash(&mut self, rng: &mut StdRng) {
        let pending = std::mem::take(&mut self.pending);
        match below(rng, 4) {
            0 => {}
            1 => pending.iter().for_each(|c| c.apply(&mut self.durable)),
            2 => {
                for change in &pending {
                    if rng.random_bool(0.5) {
                        change.apply(&mut self.durable);
                    }
                }
            }
            _ => {
                let mut changes = pending.iter();
                let last = changes.next_back();
                changes.for_each(|c| c.apply(&mut self.durable));
                if let Some(Change::Write { offset, data }) = last {
                    let kept = to_usize(below(rng, data.len() as u64));
                    write_into(&mut self.durable, *offset, data.get(..kept).unwrap_or(&[]));
                }
            }
        }
        self.current.clone_from(&self.durable);
        self.open_handles = 0;
    }
}

/// A directory operation not yet made durable by `sync_dir`.
#[derive(Clone, Debug)]
enum DirOp {
    Create {
        path: PathBuf,
        inode: InodeId,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        inode: InodeId,
    },
    Remove {
        path: PathBuf,
        inode: InodeId,
    },
}

impl DirOp {
    fn paths(&self) -> [&Path; 2] {
        match self {
            DirOp::Create { path, .. } | DirOp::Remove { path, .. } => [path, path],
            DirOp::Rename { from, to, .. } => [from, to],
        }
    }

    fn inode(&self) -> InodeId {
        match self {
            DirOp::Create { inode, .. }
            | DirOp::Rename { inode, .. }
            | DirOp::Remove { inode, .. } => *inode,
        }
    }

    fn touches_dir(&self, dir: &Path) -> bool {
        self.paths().iter().any(|p| p.parent() == Some(dir))
    }

    fn shares_path_with(&self, other: &DirOp) -> bool {
        self.paths().iter().any(|p| other.paths().contains(p))
    }

    /// Replays the operation on a name map; skipped if its source is gone.
    fn apply(&self, names: &mut BTreeMap<PathBuf, InodeId>) {
        match self {
            DirOp::Create { path, inode } => {
                names.entry(path.clone()).or_insert(*inode);
            }
            DirOp::Rename { from, to, inode } => {
                if names.get(from) == Some(inode) {
                    names.remove(from);
                    names.insert(to.clone(), *inode);
                }
            }
            DirOp::Remove { path, inode } => {
                if names.get(path) == Some(inode) {
                    names.remove(path);
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
struct ArmedFault {
    fault: Fault,
    seen: u64,
    fired: u64,
}

#[derive(Clone)]
struct State {
    seed: u64,
    rng: StdRng,
    /// Bumped by every crash; handles and locks of an older epoch are dead.
    epoch: u64,
    inodes: BTreeMap<InodeId, Inode>,
    next_inode: InodeId,
    /// The names as they are now.
    names: BTreeMap<PathBuf, InodeId>,
    /// The names a crash starts from before replaying `dir_log`.
    durable_names: BTreeMap<PathBuf, InodeId>,
    dir_log: VecDeque<DirOp>,
    dirs: BTreeSet<PathBuf>,
    /// Held locks: path -> lock id.
    locks: BTreeMap<PathBuf, u64>,
    next_lock_id: u64,
    faults: Vec<ArmedFault>,
    mutating_ops: u64,
    crash_at_op: Option<u64>,
    /// The operation an automatic crash fired on, until the next crash.
    crash_point: Option<(FaultOp, PathBuf)>,
    /// The armed `crash_at_op` halts ([`SimVfs::halt_after_ops`]) instead.
    halt_at_op: bool,
    /// The power is out: every operation fails until the next crash.
    halted: bool,
    crashes: u64,
}

impl State {
    fn new(seed: u64) -> Self {
        State {
            seed,
            rng: StdRng::seed_from_u64(seed),
            epoch: 0,
            inodes: BTreeMap::new(),
            next_inode: 1,
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            dir_log: VecDeque::new(),
            dirs: BTreeSet::new(),
            locks: BTreeMap::new(),
            next_lock_id: 1,
            faults: Vec::new(),
            mutating_ops: 0,
            crash_at_op: None,
            crash_point: None,
            halt_at_op: false,
            halted: false,
            crashes: 0,
        }
    }

    fn crash(&mut self) {
        self.cut_power();
        self.crashes += 1;
        self.crash_point = None;
        self.halted = false;
        self.settle_names_after_crash();
        let survivors: BTreeSet<InodeId> = self.names.values().copied().collect();
        self.inodes.retain(|id, _| survivors.contains(id));
        for inode in self.inodes.values_mut() {
            inode.settle_after_crash(&mut self.rng);
        }
    }

    /// What every crash and halt does first: handles and locks die and no
    /// crash stays armed.
    fn cut_power(&mut self) {
        self.epoch += 1;
        self.crash_at_op = None;
        self.halt_at_op = false;
        self.locks.clear();
    }

    fn settle_names_after_crash(&mut self) {
        let log = std::mem::take(&mut self.dir_log);
        let mode = below(&mut self.rng, 3);
        let mut names = std::mem::take(&mut self.durable_names);
        for op in &log {
            let keep = match mode {
                0 => false,
                1 => true,
                _ => self.rng.random_bool(0.5),
            };
            if keep {
                op.apply(&mut names);
            }
        }
        self.names.clone_from(&names);
        self.durable_names = names;
    }

    /// Counts a mutating operation, or crashes and fails if one is armed.
    fn begin_mutation(&mut self, op: FaultOp, path: &Path) -> Result<()> {
        self.check_power(path)?;
        if self.crash_at_op.is_some_and(|at| self.mutating_ops >= at) {
            if self.halt_at_op {
                self.halt();
            } else {
                self.crash();
            }
            self.crash_point = Some((op, path.to_path_buf()));
            return Err(io_error(path, io::ErrorKind::Other, "simulated power loss"));
        }
        self.mutating_ops += 1;
        Ok(())
    }

    /// Fails every operation while halted.
    fn check_power(&self, path: &Path) -> Result<()> {
        if self.halted {
            Err(io_error(
                path,
                io::ErrorKind::Other,
                "simulated power loss (halted)",
            ))
        } else {
            Ok(())
        }
    }

    fn take_fault(&mut self, op: FaultOp, paths: &[&Path]) -> Option<FaultKind> {
        let mut hit = None;
        for armed in self
            .faults
            .iter_mut()
            .filter(|a| a.fault.matches(op, paths))
        {
            if armed.seen < armed.fault.skip {
                armed.seen += 1;
            } else if hit.is_none() && armed.fired < armed.fault.times {
                armed.fired += 1;
                hit = Some(armed.fault.kind);
            }
        }
        hit
    }

    /// Fails with the error of a fault that has no partial effect.
    fn check_fault(&mut self, op: FaultOp, paths: &[&Path]) -> Result<()> {
        match (self.take_fault(op, paths), paths.first()) {
            (Some(kind), Some(path)) => Err(fault_error(path, kind)),
            _ => Ok(()),
        }
    }

    fn check_epoch(&self, epoch: u64, path: &Path) -> Result<()> {
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(io_error(path, io::ErrorKind::Other, DEAD_HANDLE_MESSAGE))
        }
    }

    fn inode_mut(&mut self, id: InodeId, path: &Path) -> Result<&mut Inode> {
        self.inodes
            .get_mut(&id)
            .ok_or_else(|| io_error(path, io::ErrorKind::Other, "simulated inode vanished"))
    }

    fn dir_exists(&self, path: &Path) -> bool {
        path.parent().is_none()
            || path.as_os_str().is_empty()
            || self.dirs.contains(path)
            || self.dirs.range_keys(path).next().is_some()
            || self.names.range_keys(path).next().is_some()
    }

    /// Fails if a file sits where a parent directory of `path` should be.
    fn check_parents(&self, path: &Path) -> Result<()> {
        match path
            .ancestors()
            .skip(1)
            .find(|a| self.names.contains_key(*a))
        {
            Some(file) => Err(io_error(
                file,
                io::ErrorKind::NotADirectory,
                "a file is in the way",
            )),
            None => Ok(()),
        }
    }

    fn log_dir_op(&mut self, op: DirOp) {
        self.dir_log.push_back(op);
        if self.dir_log.len() > DIR_OPS_MAX
            && let Some(oldest) = self.dir_log.pop_front()
        {
            oldest.apply(&mut self.durable_names);
        }
    }

    fn create_file(&mut self, path: &Path) -> InodeId {
        self.remember_parent(path);
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(id, Inode::default());
        self.names.insert(path.to_path_buf(), id);
        self.log_dir_op(DirOp::Create {
            path: path.to_path_buf(),
            inode: id,
        });
        id
    }

    /// Makes the implicit parent directory of `path` explicit, so that it
    /// outlives its last file.
    fn remember_parent(&mut self, path: &Path) {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            self.dirs.insert(parent.to_path_buf());
        }
    }

    /// The inode at `path`, created (an unsynced create) if missing.
    fn open_or_create(&mut self, path: &Path, counted: bool) -> Result<InodeId> {
        if let Some(&id) = self.names.get(path) {
            return Ok(id);
        }
        if self.dir_exists(path) {
            return Err(io_error(
                path,
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        if counted {
            self.begin_mutation(FaultOp::Create, path)?;
            self.check_fault(FaultOp::Create, &[path])?;
        }
        self.check_parents(path)?;
        Ok(self.create_file(path))
    }

    /// Makes durable the logged operations on entries of `dir`, with every
    /// earlier logged operation on the same paths.
    fn commit_dir(&mut self, dir: &Path) {
        let log = std::mem::take(&mut self.dir_log);
        let mut marked: Vec<bool> = log.iter().map(|op| op.touches_dir(dir)).collect();
        for (i, op) in log.iter().enumerate().rev() {
            if marked.get(i) != Some(&true) {
                continue;
            }
            for (earlier, mark) in log.iter().zip(marked.iter_mut()).take(i) {
                if !*mark && earlier.shares_path_with(op) {
                    *mark = true;
                }
            }
        }
        for (op, mark) in log.into_iter().zip(marked) {
            if mark {
                op.apply(&mut self.durable_names);
            } else {
                self.dir_log.push_back(op);
            }
        }
    }

    /// Drops inodes nothing can reach any more.
    fn collect_garbage(&mut self) {
        let live: BTreeSet<InodeId> = self
            .names
            .values()
            .chain(self.durable_names.values())
            .copied()
            .chain(self.dir_log.iter().map(DirOp::inode))
            .collect();
        self.inodes
            .retain(|id, inode| inode.open_handles > 0 || live.contains(id));
    }

    fn release_handle(&mut self, id: InodeId, epoch: u64) {
        if epoch != self.epoch {
            return;
        }
        if let Some(inode) = self.inodes.get_mut(&id) {
            inode.open_handles = inode.open_handles.saturating_sub(1);
            if inode.open_handles == 0 {
                self.collect_garbage();
            }
        }
    }

    fn set_file_contents(&mut self, path: &Path, data: Vec<u8>) {
        let id = match self.names.get(path) {
            Some(&id) => id,
            None if self.dir_exists(path) => return,
            None => self.create_file(path),
        };
        self.durable_names.insert(path.to_path_buf(), id);
        if let Some(inode) = self.inodes.get_mut(&id) {
            inode.durable.clone_from(&data);
            inode.current = data;
            inode.pending.clear();
        }
    }

    fn misdirected_offset(&mut self, id: InodeId, offset: u64, len: u64) -> Option<u64> {
        let file_len = self.inodes.get(&id).map_or(0, |i| i.current.len() as u64);
        let span = file_len.max(offset.saturating_add(len));
        let mut wrong = if self.rng.random_bool(0.5) {
            below(&mut self.rng, span / PAGE_BYTES + 1) * PAGE_BYTES
        } else {
            below(&mut self.rng, span.saturating_add(1))
        };
        if wrong == offset {
            wrong = offset
                .checked_sub(PAGE_BYTES)
                .unwrap_or(offset + PAGE_BYTES);
        }
        (wrong.checked_add(len)? <= FILE_SIZE_MAX_BYTES).then_some(wrong)
    }
}

/// Names of the entries directly below `dir` among `keys`.
fn children<'a>(keys: impl Iterator<Item = &'a PathBuf>, dir: &Path, out: &mut BTreeSet<String>) {
    for key in keys {
        if let Ok(rest) = key.strip_prefix(dir)
            && let Some(first) = rest.components().next()
        {
            out.insert(first.as_os_str().to_string_lossy().into_owned());
        }
    }
}

/// Keys strictly below directory `dir`. Paths are ordered by component, so
/// the descendants of `dir` directly follow it.
trait SetLike {
    fn range_keys<'a>(&'a self, dir: &'a Path) -> Box<dyn Iterator<Item = &'a PathBuf> + 'a>;
}

impl<V> SetLike for BTreeMap<PathBuf, V> {
    fn range_keys<'a>(&'a self, dir: &'a Path) -> Box<dyn Iterator<Item = &'a PathBuf> + 'a> {
        Box::new(
            self.range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
                .map(|(k, _)| k)
                .take_while(move |k| k.starts_with(dir)),
        )
    }
}

impl SetLike for BTreeSet<PathBuf> {
    fn range_keys<'a>(&'a self, dir: &'a Path) -> Box<dyn Iterator<Item = &'a PathBuf> + 'a> {
        Box::new(
            self.range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
                .take_while(move |k| k.starts_with(dir)),
        )
    }
}

fn write_into(content: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = to_usize(offset);
    let end = start.saturating_add(data.len());
    if content.len() < end {
        content.resize(end, 0);
    }
    if let Some(target) = content.get_mut(start..end) {
        target.copy_from_slice(data);
    }
}

/// `x` as usize; callers have checked it against [`FILE_SIZE_MAX_BYTES`].
fn to_usize(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

/// A uniform number in `0..n` (0 if `n` is 0).
fn below(rng: &mut StdRng, n: u64) -> u64 {
    if n == 0 { 0 } else { rng.random_range(0..n) }
}

fn io_error(path: &Path, kind: io::ErrorKind, message: &str) -> Error {
    Error::io(path, io::Error::new(kind, message.to_string()))
}

fn fault_error(path: &Path, kind: FaultKind) -> Error {
    match kind {
        FaultKind::NoSpace => io_error(path, io::ErrorKind::StorageFull, "injected ENOSPC"),
        FaultKind::ShortWrite => io_error(path, io::ErrorKind::Other, "injected short write"),
        FaultKind::Eio | FaultKind::Misdirect | FaultKind::CorruptRead => {
            io_error(path, io::ErrorKind::Other, "injected EIO")
        }
    }
}

fn check_size(path: &Path, offset: u64, len: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= FILE_SIZE_MAX_BYTES => Ok(()),
        _ => Err(io_error(
            path,
            io::ErrorKind::FileTooLarge,
            "beyond the simulated file size limit",
        )),
    }
}

impl Vfs for SimVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> Result<Arc<dyn VfsFile>> {
        let mut s = self.live_state(path)?;
        s.check_power(path)?;
        let id = match mode {
            OpenMode::Read | OpenMode::ReadWrite => match s.names.get(path) {
                Some(&id) => id,
                None if s.dir_exists(path) => {
                    return Err(io_error(
                        path,
                        io::ErrorKind::IsADirectory,
                        "is a directory",
                    ));
                }
                None => return Err(io_error(path, io::ErrorKind::NotFound, "no such file")),
            },
            OpenMode::Create => s.open_or_create(path, true)?,
        };
        s.inode_mut(id, path)?.open_handles += 1;
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
            inode: id,
            epoch: s.epoch,
            writable: mode != OpenMode::Read,
        }))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let s = self.live_state(path)?;
        Ok(s.names.contains_key(path) || s.dir_exists(path))
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        let mut s = self.live_state(path)?;
        s.check_power(path)?;
        if s.names.contains_key(path) {
            return Err(io_error(
                path,
                io::ErrorKind::AlreadyExists,
                "a file exists there",
            ));
        }
        s.check_parents(path)?;
        s.dirs.insert(path.to_path_buf());
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let s = self.live_state(dir)?;
        if s.names.contains_key(dir) {
            return Err(io_error(
                dir,
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        if !s.dir_exists(dir) {
            return Err(io_error(dir, io::ErrorKind::NotFound, "no such directory"));
        }
        let mut names = BTreeSet::new();
        children(s.names.range_keys(dir), dir, &mut names);
        children(s.dirs.range_keys(dir), dir, &mut names);
        Ok(names.into_iter().collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = self.live_state(from)?;
        s.begin_mutation(FaultOp::Rename, from)?;
        s.check_fault(FaultOp::Rename, &[from, to])?;
        let Some(&id) = s.names.get(from) else {
            let kind = if s.dir_exists(from) {
                io::ErrorKind::Unsupported
            } else {
                io::ErrorKind::NotFound
            };
            return Err(io_error(from, kind, "SimVfs renames existing files only"));
        };
        if from == to {
            return Ok(());
        }
        if !s.names.contains_key(to) && s.dir_exists(to) {
            return Err(io_error(to, io::ErrorKind::IsADirectory, "is a directory"));
        }
        s.check_parents(to)?;
        s.names.remove(from);
        s.names.insert(to.to_path_buf(), id);
        s.remember_parent(to);
        s.log_dir_op(DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            inode: id,
        });
        s.collect_garbage();
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut s = self.live_state(path)?;
        s.begin_mutation(FaultOp::Remove, path)?;
        s.check_fault(FaultOp::Remove, &[path])?;
        let Some(id) = s.names.remove(path) else {
            return Err(io_error(path, io::ErrorKind::NotFound, "no such file"));
        };
        s.log_dir_op(DirOp::Remove {
            path: path.to_path_buf(),
            inode: id,
        });
        s.collect_garbage();
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> Result<()> {
        let mut s = self.live_state(path)?;
        s.begin_mutation(FaultOp::Remove, path)?;
        s.check_fault(FaultOp::Remove, &[path])?;
        if s.names.contains_key(path) {
            return Err(io_error(
                path,
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        if !s.dir_exists(path) {
            return Err(io_error(path, io::ErrorKind::NotFound, "no such directory"));
        }
        if s.names.range_keys(path).next().is_some() || s.dirs.range_keys(path).next().is_some() {
            return Err(io_error(
                path,
                io::ErrorKind::DirectoryNotEmpty,
                "directory not empty",
            ));
        }
        // The parent stays, even if only this directory made it exist.
        s.remember_parent(path);
        s.dirs.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut s = self.live_state(dir)?;
        s.begin_mutation(FaultOp::SyncDir, dir)?;
        s.check_fault(FaultOp::SyncDir, &[dir])?;
        if !s.names.contains_key(dir) && !s.dir_exists(dir) {
            return Err(io_error(dir, io::ErrorKind::NotFound, "no such directory"));
        }
        s.commit_dir(dir);
        s.collect_garbage();
        Ok(())
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn VfsLock>> {
        let mut s = self.live_state(path)?;
        s.check_power(path)?;
        if s.locks.contains_key(path) {
            return Err(Error::Locked {
                path: path.to_path_buf(),
            });
        }
        s.open_or_create(path, false)?;
        let id = s.next_lock_id;
        s.next_lock_id += 1;
        s.locks.insert(path.to_path_buf(), id);
        Ok(Box::new(SimLock {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
            id,
        }))
    }
}

/// A handle on one inode, valid until the next crash.
struct SimFile {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    inode: InodeId,
    epoch: u64,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("inode", &self.inode)
            .field("epoch", &self.epoch)
            .field("writable", &self.writable)
            .finish()
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        self.state.lock().release_handle(self.inode, self.epoch);
    }
}

impl SimFile {
    /// Locks the state, refusing dead handles (and writes to read-only ones).
    fn live(&self, write: bool) -> Result<parking_lot::MutexGuard<'_, State>> {
        let s = self.state.lock();
        s.check_epoch(self.epoch, &self.path)?;
        if write && !self.writable {
            return Err(io_error(
                &self.path,
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ));
        }
        Ok(s)
    }
}

impl VfsFile for SimFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut s = self.live(false)?;
        let fault = s.take_fault(FaultOp::Read, &[&self.path]);
        if let Some(kind) = fault.filter(|k| *k != FaultKind::CorruptRead) {
            return Err(fault_error(&self.path, kind));
        }
        let content = &s.inode_mut(self.inode, &self.path)?.current;
        let source = usize::try_from(offset)
            .ok()
            .and_then(|start| content.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| {
                io_error(
                    &self.path,
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the file",
                )
            })?;
        buf.copy_from_slice(source);
        if fault == Some(FaultKind::CorruptRead) {
            let bit = below(&mut s.rng, buf.len() as u64 * 8);
            if let Some(byte) = buf.get_mut(to_usize(bit / 8)) {
                *byte ^= 1 << (bit % 8);
            }
        }
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut s = self.live(true)?;
        s.begin_mutation(FaultOp::Write, &self.path)?;
        let fault = s.take_fault(FaultOp::Write, &[&self.path]);
        let len = buf.len() as u64;
        check_size(&self.path, offset, len)?;
        let (offset, data, result) = match fault {
            None => (offset, buf, Ok(())),
            Some(FaultKind::ShortWrite) => {
                let kept = to_usize(below(&mut s.rng, len));
                (
                    offset,
                    buf.get(..kept).unwrap_or(&[]),
                    Err(fault_error(&self.path, FaultKind::ShortWrite)),
                )
            }
            Some(FaultKind::Misdirect) => match s.misdirected_offset(self.inode, offset, len) {
                Some(wrong) => (wrong, buf, Ok(())),
                None => return Err(fault_error(&self.path, FaultKind::Eio)),
            },
            Some(kind) => return Err(fault_error(&self.path, kind)),
        };
        if !data.is_empty() {
            let change = Change::Write {
                offset,
                data: data.to_vec(),
            };
            s.inode_mut(self.inode, &self.path)?.change(change);
        }
        result
    }

    fn len(&self) -> Result<u64> {
        let mut s = self.live(false)?;
        Ok(s.inode_mut(self.inode, &self.path)?.current.len() as u64)
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let mut s = self.live(true)?;
        // A change of length counts as a write.
        s.begin_mutation(FaultOp::Write, &self.path)?;
        check_size(&self.path, 0, len)?;
        s.inode_mut(self.inode, &self.path)?
            .change(Change::SetLen(len));
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let mut s = self.live(false)?;
        s.begin_mutation(FaultOp::Sync, &self.path)?;
        s.check_fault(FaultOp::Sync, &[&self.path])?;
        s.inode_mut(self.inode, &self.path)?.sync();
        Ok(())
    }
}

/// A lock guard; releases its lock on drop unless a crash already did.
struct SimLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    id: u64,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLock")
            .field("path", &self.path)
            .field("id", &self.id)
            .finish()
    }
}

impl VfsLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        if s.locks.get(&self.path) == Some(&self.id) {
            s.locks.remove(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: u64 = 200;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn io_kind(err: &Error) -> Option<io::ErrorKind> {
        match err {
            Error::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }

    /// Creates `path` with `data`, synced, with a synced directory entry.
    fn durable_file(vfs: &SimVfs, path: &str, data: &[u8]) -> Arc<dyn VfsFile> {
        let path = p(path);
        let file = vfs.open(&path, OpenMode::Create).unwrap();
        file.write_all_at(data, 0).unwrap();
        file.sync().unwrap();
        vfs.sync_dir(path.parent().unwrap()).unwrap();
        file
    }

    #[test]
    fn synced_data_survives_every_crash() {
        for seed in 0..SEEDS {
            let vfs = SimVfs::new(seed);
            let file = durable_file(&vfs, "/db/a", b"hello");
            file.write_all_at(b" world", 5).unwrap();
            file.sync().unwrap();
            vfs.crash();
            assert_eq!(
                vfs.file_contents(&p("/db/a")).unwrap(),
                b"hello world",
                "seed {seed}"
            );
            let reopened = vfs.open(&p("/db/a"), OpenMode::Read).unwrap();
            assert_eq!(reopened.read_all().unwrap(), b"hello world", "seed {seed}");
        }
    }

    #[test]
    fn a_session_makes_no_calls_after_the_crash_that_ends_it() {
        let vfs = SimVfs::new(3);
        let old = vfs.session();
        durable_file(&old, "/db/a", b"kept");
        vfs.crash();
        let ops = vfs.mutating_ops();
        for result in [
            old.remove(&p("/db/a")),
            old.rename(&p("/db/a"), &p("/db/b")),
            old.sync_dir(&p("/db")),
            old.open(&p("/db/c"), OpenMode::Create).map(|_| ()),
            old.lock(&p("/db/LOCK")).map(|_| ()),
        ] {
            assert_eq!(io_kind(&result.unwrap_err()), Some(io::ErrorKind::Other));
        }
        assert_eq!(vfs.mutating_ops(), ops, "refused calls are not counted");
        assert_eq!(vfs.files(), vec![p("/db/a")]);
        // A new session, like the plain vfs, works on the surviving disk.
        let new = vfs.session();
        new.remove(&p("/db/a")).unwrap();
        assert!(vfs.files().is_empty());
    }

    /// Base of 64 synced bytes, then three unsynced 32-byte appends of b, c, d.
    fn unsynced_appends_outcome(seed: u64) -> Vec<u8> {
        let vfs = SimVfs::new(seed);
        let file = durable_file(&vfs, "/db/log", &[b'a'; 64]);
        for (i, letter) in [b'b', b'c', b'd'].into_iter().enumerate() {
            file.write_all_at(&[letter; 32], 64 + 32 * i as u64)
                .unwrap();
        }
        assert_eq!(file.len().unwrap(), 160);
        vfs.crash();
        vfs.file_contents(&p("/db/log")).unwrap()
    }

    #[test]
    fn unsynced_writes_are_dropped_kept_holed_or_torn_across_seeds() {
        let (mut dropped, mut kept, mut holed, mut torn) = (0, 0, 0, 0);
        for seed in 0..SEEDS {
            let data = unsynced_appends_outcome(seed);
            assert!(
                data.len() >= 64 && data.len() <= 160,
                "seed {seed}: len {}",
                data.len()
            );
            assert_eq!(&data[..64], &[b'a'; 64], "seed {seed}: synced bytes lost");
            let chunks: Vec<&[u8]> = data[64..].chunks(32).collect();
            for (chunk, letter) in chunks.iter().zip([b'b', b'c', b'd']) {
                assert!(
                    chunk.iter().all(|&b| b == letter) || chunk.iter().all(|&b| b == 0),
                    "seed {seed}: chunk is neither its write nor a hole: {chunk:?}"
                );
            }
            let is_hole = |c: &&[u8]| c.len() == 32 && c.iter().all(|&b| b == 0);
            if data.len() == 64 {
                dropped += 1;
            } else if data.len() == 160 && !chunks.iter().any(is_hole) {
                kept += 1;
            } else if !(data.len() - 64).is_multiple_of(32) {
                torn += 1;
            } else if chunks.iter().any(is_hole) {
                holed += 1;
            }
        }
        assert!(dropped > 0, "no seed dropped all unsynced writes");
        assert!(kept > 0, "no seed kept all unsynced writes");
        assert!(
            holed > 0,
            "no seed kept a later write but not an earlier one"
        );
        assert!(torn > 0, "no seed tore the last write");
    }

    #[test]
    fn unsynced_set_len_may_be_lost_synced_set_len_is_not() {
        let mut outcomes = BTreeSet::new();
        for seed in 0..SEEDS {
            let vfs = SimVfs::new(seed);
            let file = durable_file(&vfs, "/a", &[7; 100]);
            file.set_len(10).unwrap();
            assert_eq!(file.len().unwrap(), 10);
            vfs.crash();
            outcomes.insert(vfs.file_contents(&p("/a")).unwrap().len());

            let file = vfs.open(&p("/a"), OpenMode::ReadWrite).unwrap();
            file.set_len(5).unwrap();
            file.sync().unwrap();
            vfs.crash();
            assert_eq!(
                vfs.file_contents(&p("/a")).unwrap(),
                vec![7; 5],
                "seed {seed}"
            );
        }
        assert_eq!(outcomes, BTreeSet::from([10, 100]));
    }

    #[test]
    fn create_without_sync_dir_can_vanish_with_sync_dir_survives() {
        let (mut vanished, mut survived) = (0, 0);
        for seed in 0..SEEDS {
            let vfs = SimVfs::new(seed);
            vfs.create_dir_all(&p("/db")).unwrap();
            let file = vfs.open(&p("/db/new"), OpenMode::Create).unwrap();
            file.write_all_at(b"data", 0).unwrap();
            file.sync().unwrap();
            // Syncing another directory does not help.
            vfs.create_dir_all(&p("/other")).unwrap();
            vfs.sync_dir(&p("/other")).unwrap();
            vfs.crash();
            match vfs.file_contents(&p("/db/new")) {
                None => vanished += 1,
                Some(data) => {
                    assert_eq!(data, b"data", "seed {seed}");
                    survived += 1;
                }
            }
            assert!(vfs.exists(&p("/db")).unwrap(), "directories are durable");

            let file = vfs.open(&p("/db/synced"), OpenMode::Create).unwrap();
            file.write_all_at(b"data", 0).unwrap();
            vfs.sync_dir(&p("/db")).unwrap();
            vfs.crash();
            // The name survives; its unsynced content may not.
            let data = vfs.file_contents(&p("/db/synced")).unwrap();
            assert!(b"data".starts_with(&data), "seed {seed}: {data:?}");
        }
        assert!(
            vanished > 0 && survived > 0,
            "vanished {vanished}, survived {survived}"
        );
    }

    #[test]
    fn rename_is_atomic_and_durable_after_sync_dir() {
        let (mut old, mut new) = (0, 0);
        for seed in 0..SEEDS {
            let vfs = SimVfs::new(seed);
            durable_file(&vfs, "/db/CURRENT", b"old contents");
            durable_file(&vfs, "/db/CURRENT.tmp", b"new");
            vfs.rename(&p("/db/CURRENT.tmp"), &p("/db/CURRENT"))
                .unwrap();
            assert_eq!(vfs.files(), vec![p("/db/CURRENT")]);
            vfs.crash();
            let current = vfs.file_contents(&p("/db/CURRENT")).unwrap();
            let tmp = vfs.file_contents(&p("/db/CURRENT.tmp"));
            if current == b"old contents" {
                assert_eq!(
                    tmp.as_deref(),
                    Some(&b"new"[..]),
                    "seed {seed}: undone rename loses the source"
                );
                old += 1;
            } else {
                assert_eq!(current, b"new", "seed {seed}: a mix");
                assert_eq!(tmp, None, "seed {seed}");
                new += 1;
            }

            durable_file(&vfs, "/db/x.tmp", b"next");
            vfs.rename(&p("/db/x.tmp"), &p("/db/CURRENT")).unwrap();
            vfs.sync_dir(&p("/db")).unwrap();
            vfs.crash();
            assert_eq!(
                vfs.file_contents(&p("/db/CURRENT")).unwrap(),
                b"next",
                "seed {seed}"
            );
            assert!(!vfs.exists(&p("/db/x.tmp")).unwrap(), "seed {seed}");
        }
        assert!(old > 0 && new > 0, "old {old}, new {new}");
    }

    #[test]
    fn remove_without_sync_dir_may_come_back_with_durable_content() {
        let (mut back, mut gone) = (0, 0);
        for seed in 0..SEEDS {
            let vfs = SimVfs::new(seed);
            let file = durable_file(&vfs, "/db/old.sst", b"synced");
            file.write_all_at(b"!", 6).unwrap();
            vfs.remove(&p("/db/old.sst")).unwrap();
            // A handle outlives the name, as on POSIX.
            assert_eq!(file.read_all().unwrap(), b"synced!");
            assert!(vfs.open(&p("/db/old.sst"), OpenMode::Read).is_err());
            vfs.crash();
            match vfs.file_contents(&p("/db/old.sst")) {
                Some(data) => {
                    assert!(
                        data == b"synced" || data == b"synced!",
                        "seed {seed}: {data:?}"
                    );
                    back += 1;
                }
                None => gone += 1,
            }
            if vfs.exists(&p("/db/old.sst")).unwrap() {
                vfs.remove(&p("/db/old.sst")).unwrap();
                vfs.sync_dir(&p("/db")).unwrap();
                vfs.crash();
                assert!(!vfs.exists(&p("/db/old.sst")).unwrap(), "seed {seed}");
            }
        }
        assert!(back > 0 && gone > 0, "back {back}, gone {gone}");
    }

    #[test]
    fn old_handles_and_locks_are_dead_after_a_crash() {
        let vfs = SimVfs::new(1);
        let file = durable_file(&vfs, "/db/wal", b"abc");
        let guard = vfs.lock(&p("/db/LOCK")).unwrap();
        assert!(matches!(
            vfs.lock(&p("/db/LOCK")),
            Err(Error::Locked { .. })
        ));
        vfs.crash();
        let dead = |r: Result<()>| {
            let err = r.unwrap_err();
            assert_eq!(io_kind(&err), Some(io::ErrorKind::Other));
            assert!(err.to_string().contains(DEAD_HANDLE_MESSAGE), "{err}");
        };
        let ops = vfs.mutating_ops();
        dead(file.write_all_at(b"x", 0));
        dead(file.read_exact_at(&mut [0; 1], 0));
        dead(file.sync());
        dead(file.set_len(0));
        dead(file.len().map(drop));
        assert_eq!(vfs.mutating_ops(), ops, "dead handles do not count");

        let new_guard = vfs.lock(&p("/db/LOCK")).unwrap();
        drop(guard); // must not release the lock taken after the crash
        assert!(matches!(
            vfs.lock(&p("/db/LOCK")),
            Err(Error::Locked { .. })
        ));
        drop(new_guard);
        let _again = vfs.lock(&p("/db/LOCK")).unwrap();

        let fresh = vfs.open(&p("/db/wal"), OpenMode::ReadWrite).unwrap();
        assert_eq!(fresh.read_all().unwrap(), b"abc");
        fresh.write_all_at(b"d", 3).unwrap();
        assert_eq!(vfs.file_contents(&p("/db/wal")).unwrap(), b"abcd");
        drop(file);
        assert_eq!(fresh.read_all().unwrap(), b"abcd");
    }

    #[test]
    fn open_read_list_and_errors() {
        let vfs = SimVfs::new(2);
        let err = vfs.open(&p("/db/missing"), OpenMode::Read).unwrap_err();
        assert_eq!(io_kind(&err), Some(io::ErrorKind::NotFound));
        let err = vfs
            .open(&p("/db/missing"), OpenMode::ReadWrite)
            .unwrap_err();
        assert_eq!(io_kind(&err), Some(io::ErrorKind::NotFound));
        assert!(!vfs.exists(&p("/db")).unwrap());
        vfs.create_dir_all(&p("/db/sub/deeper")).unwrap();
        assert!(vfs.exists(&p("/db")).unwrap());
        let file = vfs.open(&p("/db/b"), OpenMode::Create).unwrap();
        vfs.open(&p("/db/a"), OpenMode::Create).unwrap();
        vfs.open(&p("/db/implicit/c"), OpenMode::Create).unwrap();
        assert_eq!(
            vfs.list(&p("/db")).unwrap(),
            vec!["a", "b", "implicit", "sub"]
        );
        assert_eq!(vfs.list(&p("/db/sub")).unwrap(), vec!["deeper"]);
        assert!(vfs.list(&p("/db/sub/deeper")).unwrap().is_empty());
        assert_eq!(
            io_kind(&vfs.list(&p("/nope")).unwrap_err()),
            Some(io::ErrorKind::NotFound)
        );
        assert_eq!(
            vfs.files(),
            vec![p("/db/a"), p("/db/b"), p("/db/implicit/c")]
        );

        file.write_all_at(b"0123456789", 0).unwrap();
        let mut buf = [0; 4];
        file.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"6789");
        let err = file.read_exact_at(&mut buf, 7).unwrap_err();
        assert_eq!(io_kind(&err), Some(io::ErrorKind::UnexpectedEof));
        let err = file.read_exact_at(&mut buf, u64::MAX).unwrap_err();
        assert_eq!(io_kind(&err), Some(io::ErrorKind::UnexpectedEof));
        let err = file.write_all_at(b"x", u64::MAX).unwrap_err();
        assert_eq!(io_kind(&err), Some(io::ErrorKind::FileTooLarge));
        assert!(file.set_len(u64::MAX).is_err());
        file.write_all_at(b"z", 12).unwrap();
        assert_eq!(file.read_all().unwrap(), b"0123456789\0\0z");

        let read_only = vfs.open(&p("/db/b"), OpenMode::Read).unwrap();
        let err = read_only.write_all_at(b"x", 0).unwrap_err();
        assert_eq!(io_kind(&err), Some(io::ErrorKind::PermissionDenied));
        assert!(vfs.rename(&p("/db/none"), &p("/db/x")).is_err());
        assert!(vfs.remove(&p("/db/none")).is_err());
        assert!(vfs.open(&p("/db/b/inside"), OpenMode::Create).is_err());
        assert!(vfs.open(&p("/db/sub"), OpenMode::Create).is_err());
    }

    #[test]
    fn crash_after_ops_fires_on_the_right_op() {
        // Runs until the first failure, as an engine would; returns the
        // number of operations that succeeded and how it ended.
        let workload = |vfs: &SimVfs| -> (u64, Result<()>) {
            let mut done = 0;
            let result = (|| -> Result<()> {
                let file = vfs.open(&p("/w/f"), OpenMode::Create)?;
                done += 1;
                file.write_all_at(b"one", 0)?;
                done += 1;
                file.sync()?;
                done += 1;
                vfs.sync_dir(&p("/w"))?;
                done += 1;
                file.write_all_at(b"two", 3)?;
                done += 1;
                file.set_len(6)?;
                done += 1;
                vfs.rename(&p("/w/f"), &p("/w/g"))?;
                done += 1;
                vfs.remove(&p("/w/g"))?;
                done += 1;
                Ok(())
            })();
            (done, result)
        };
        let measure = SimVfs::new(3);
        let (done, result) = workload(&measure);
        assert!(result.is_ok());
        assert_eq!(done, 8);
        assert_eq!(measure.mutating_ops(), 8);
        assert_eq!(measure.crashes(), 0);

        for n in 0..8 {
            let vfs = SimVfs::new(3);
            vfs.crash_after_ops(n);
            let (done, result) = workload(&vfs);
            assert_eq!(done, n, "the crash fired at the wrong op");
            let err = result.unwrap_err();
            assert_eq!(io_kind(&err), Some(io::ErrorKind::Other), "n {n}");
            assert!(
                err.to_string().contains("simulated power loss"),
                "n {n}: {err}"
            );
            assert_eq!(vfs.crashes(), 1, "n {n}");
            assert_eq!(vfs.mutating_ops(), n, "n {n}");
            let (f, g, w) = (p("/w/f"), p("/w/g"), p("/w"));
            let expected = [
                (FaultOp::Create, &f),
                (FaultOp::Write, &f),
                (FaultOp::Sync, &f),
                (FaultOp::SyncDir, &w),
                (FaultOp::Write, &f),
                (FaultOp::Write, &f),
                (FaultOp::Rename, &f),
                (FaultOp::Remove, &g),
            ][n as usize];
            let point = vfs.last_crash_point();
            assert_eq!(point, Some((expected.0, expected.1.clone())), "n {n}");
            vfs.crash();
            assert_eq!(vfs.last_crash_point(), None, "a manual crash has no point");
        }
        let vfs = SimVfs::new(3);
        vfs.crash_after_ops(8);
        assert!(workload(&vfs).1.is_ok());
        assert_eq!(vfs.crashes(), 0);

        // Crash after the sync of a durable create: the data must be there.
        let vfs = SimVfs::new(4);
        vfs.crash_after_ops(4);
        assert_eq!(workload(&vfs).0, 4);
        assert_eq!(vfs.file_contents(&p("/w/f")).unwrap(), b"one");
        // Disarmed by the crash.
        vfs.open(&p("/w/h"), OpenMode::Create)
            .unwrap()
            .sync()
            .unwrap();
        assert_eq!(vfs.crashes(), 1);
    }

    #[test]
    fn eio_and_nospace_respect_skip_times_and_path() {
        let vfs = SimVfs::new(5);
        let wal = vfs.open(&p("/db/000001.log"), OpenMode::Create).unwrap();
        let sst = vfs.open(&p("/db/000002.sst"), OpenMode::Create).unwrap();
        vfs.inject(
            Fault::new(FaultOp::Write, FaultKind::Eio)
                .on_path(".log")
                .skip(2)
                .times(2),
        );
        let results: Vec<bool> = (0..6u64)
            .map(|i| wal.write_all_at(b"x", i).is_ok())
            .collect();
        assert_eq!(results, [true, true, false, false, true, true]);
        assert_eq!(
            vfs.file_contents(&p("/db/000001.log")).unwrap(),
            b"xx\0\0xx"
        );
        for i in 0..5 {
            sst.write_all_at(b"y", i).unwrap();
        }
        let err = {
            vfs.inject(Fault::new(FaultOp::Sync, FaultKind::Eio));
            wal.sync().unwrap_err()
        };
        assert_eq!(io_kind(&err), Some(io::ErrorKind::Other));
        wal.sync().unwrap();

        vfs.inject(Fault::new(FaultOp::Write, FaultKind::NoSpace).times(u64::MAX));
        for _ in 0..3 {
            let err = sst.write_all_at(b"z", 0).unwrap_err();
            assert_eq!(io_kind(&err), Some(io::ErrorKind::StorageFull));
        }
        assert_eq!(vfs.file_contents(&p("/db/000002.sst")).unwrap(), b"yyyyy");
        vfs.clear_faults();
        sst.write_all_at(b"z", 0).unwrap();

        for (op, run) in [
            (
                FaultOp::Create,
                Box::new(|v: &SimVfs| v.open(&p("/db/c"), OpenMode::Create).map(drop))
                    as Box<dyn Fn(&SimVfs) -> Result<()>>,
            ),
            (
                FaultOp::Rename,
                Box::new(|v: &SimVfs| v.rename(&p("/db/000002.sst"), &p("/db/r"))),
            ),
            (
                FaultOp::Remove,
                Box::new(|v: &SimVfs| v.remove(&p("/db/000002.sst"))),
            ),
            (
                FaultOp::SyncDir,
                Box::new(|v: &SimVfs| v.sync_dir(&p("/db"))),
            ),
        ] {
            let before = vfs.files();
            vfs.inject(Fault::new(op, FaultKind::NoSpace));
            let err = run(&vfs).unwrap_err();
            assert_eq!(io_kind(&err), Some(io::ErrorKind::StorageFull), "{op:?}");
            assert_eq!(vfs.files(), before, "{op:?} had an effect");
        }
        // A fault whose path filter matches nothing never fires.
        vfs.inject(Fault::new(FaultOp::Read, FaultKind::Eio).on_path("nomatch"));
        let mut buf = [0; 1];
        wal.read_exact_at(&mut buf, 0).unwrap();
    }

    #[test]
    fn short_write_writes_a_prefix_and_fails() {
        let mut lengths = BTreeSet::new();
        for seed in 0..50 {
            let vfs = SimVfs::new(seed);
            let file = vfs.open(&p("/f"), OpenMode::Create).unwrap();
            vfs.inject(Fault::new(FaultOp::Write, FaultKind::ShortWrite).skip(1));
            file.write_all_at(b"first", 0).unwrap();
            let err = file.write_all_at(b"0123456789", 5).unwrap_err();
            assert_eq!(io_kind(&err), Some(io::ErrorKind::Other));
            let data = vfs.file_contents(&p("/f")).unwrap();
            assert!(data.len() < 15, "seed {seed}: the whole buffer was written");
            assert_eq!(data[..], b"first0123456789"[..data.len()], "seed {seed}");
            lengths.insert(data.len());
            file.write_all_at(b"ok", 0).unwrap();
        }
        assert!(lengths.len() > 3, "prefix lengths do not vary: {lengths:?}");
    }

    #[test]
    fn misdirected_write_lands_elsewhere_and_reports_success() {
        for seed in 0..50 {
            let vfs = SimVfs::new(seed);
            let file = vfs.open(&p("/f"), OpenMode::Create).unwrap();
            file.write_all_at(&[0; 3 * 4096], 0).unwrap();
            vfs.inject(Fault::new(FaultOp::Write, FaultKind::Misdirect));
            file.write_all_at(&[0xAB; 100], 4096).unwrap();
            let data = vfs.file_contents(&p("/f")).unwrap();
            assert_ne!(
                data[4096..4196],
                [0xAB; 100],
                "seed {seed}: landed at the right offset"
            );
            let at = data
                .iter()
                .position(|&b| b == 0xAB)
                .expect("the data landed somewhere");
            assert_ne!(at, 4096, "seed {seed}");
            assert_eq!(data[at..at + 100], [0xAB; 100], "seed {seed}");
        }
    }

    #[test]
    fn corrupt_read_flips_exactly_one_bit_and_leaves_the_file() {
        let vfs = SimVfs::new(6);
        let file = vfs.open(&p("/f"), OpenMode::Create).unwrap();
        let data: Vec<u8> = (0..=255).collect();
        file.write_all_at(&data, 0).unwrap();
        vfs.inject(Fault::new(FaultOp::Read, FaultKind::CorruptRead).times(3));
        for _ in 0..3 {
            let read = file.read_all().unwrap();
            let flipped: u32 = read
                .iter()
                .zip(&data)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(flipped, 1);
        }
        assert_eq!(file.read_all().unwrap(), data);
        assert_eq!(vfs.file_contents(&p("/f")).unwrap(), data);
    }

    #[test]
    fn remove_dir_removes_empty_directories_only() {
        let vfs = SimVfs::new(8);
        durable_file(&vfs, "/db/part.lsm/1.sst", b"x");
        let kind = |r: Result<()>| io_kind(&r.unwrap_err());
        assert_eq!(
            kind(vfs.remove_dir(&p("/db/part.lsm"))),
            Some(io::ErrorKind::DirectoryNotEmpty)
        );
        assert_eq!(
            kind(vfs.remove_dir(&p("/db/part.lsm/1.sst"))),
            Some(io::ErrorKind::NotADirectory)
        );
        assert_eq!(
            kind(vfs.remove_dir(&p("/db/none"))),
            Some(io::ErrorKind::NotFound)
        );
        vfs.remove(&p("/db/part.lsm/1.sst")).unwrap();
        vfs.sync_dir(&p("/db/part.lsm")).unwrap();
        let ops = vfs.mutating_ops();
        vfs.remove_dir(&p("/db/part.lsm")).unwrap();
        assert_eq!(vfs.mutating_ops(), ops + 1);
        assert!(!vfs.exists(&p("/db/part.lsm")).unwrap());
        assert!(vfs.list(&p("/db")).unwrap().is_empty());
        vfs.crash();
        assert!(!vfs.exists(&p("/db/part.lsm")).unwrap());
    }

    #[test]
    fn set_file_contents_is_durable() {
        let vfs = SimVfs::new(7);
        vfs.set_file_contents(&p("/db/MANIFEST"), b"fixture".to_vec());
        vfs.crash();
        assert_eq!(vfs.file_contents(&p("/db/MANIFEST")).unwrap(), b"fixture");
        let file = vfs.open(&p("/db/MANIFEST"), OpenMode::ReadWrite).unwrap();
        file.write_all_at(b"unsynced", 0).unwrap();
        vfs.set_file_contents(&p("/db/MANIFEST"), b"fiXture".to_vec());
        assert_eq!(file.read_all().unwrap(), b"fiXture");
        vfs.crash();
        assert_eq!(vfs.file_contents(&p("/db/MANIFEST")).unwrap(), b"fiXture");
    }

    /// A workload with unsynced writes, renames and removes, cut by a crash.
    fn chaotic_run(seed: u64) -> Vec<(PathBuf, Vec<u8>)> {
        let vfs = SimVfs::new(seed);
        for i in 0..8u8 {
            let path = p(&format!("/db/{i}"));
            let file = vfs.open(&path, OpenMode::Create).unwrap();
            for j in 0..4u8 {
                file.write_all_at(&[i * 16 + j; 10], u64::from(j) * 7)
                    .unwrap();
                if j == 1 && i % 2 == 0 {
                    file.sync().unwrap();
                }
            }
            if i % 3 == 0 {
                vfs.sync_dir(&p("/db")).unwrap();
            }
        }
        vfs.rename(&p("/db/1"), &p("/db/2")).unwrap();
        vfs.remove(&p("/db/3")).unwrap();
        vfs.crash();
        vfs.files()
            .into_iter()
            .map(|f| {
                let data = vfs.file_contents(&f).unwrap();
                (f, data)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_result_different_seeds_differ() {
        let outcomes: BTreeSet<_> = (0..20).map(chaotic_run).collect();
        assert!(
            outcomes.len() > 10,
            "seeds barely matter: {} outcomes",
            outcomes.len()
        );
        for seed in 0..20 {
            assert_eq!(chaotic_run(seed), chaotic_run(seed), "seed {seed}");
        }
    }

    #[test]
    fn sim_vfs_is_send_sync_and_a_vfs() {
        fn check<T: Vfs + Send + Sync + Clone + 'static>() {}
        check::<SimVfs>();
        let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(0));
        assert!(format!("{vfs:?}").contains("SimVfs"));
    }
}
