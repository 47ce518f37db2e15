//! File-protocol enumeration: each small on-disk protocol — WAL segment
//! creation and removal, the B+tree checkpoint publish, the creation of a
//! database (its manifest written last), LSM SSTable install (an edit
//! appended to the LSM manifest log, or a roll to a new log and the
//! `LSM-CURRENT` switch) and compaction, and partition changes (split, set_tier,
//! merge: rebuild and manifest switch) — runs as a small deterministic
//! scenario on `SimVfs`, which is halted after every single mutating
//! file-system operation in turn. For each halt, every subset of the then
//! unsynced operations (creates, renames, removes not yet made durable by
//! `sync_dir`, writes and `set_len`s not yet synced) is kept and the rest
//! dropped — all of them while there are few, a deterministic sample
//! otherwise — and the database recovered from that state must
//! - open without error (no corruption reported on a legitimate crash),
//! - hold exactly the acknowledged commits, plus possibly the one in flight,
//! - have the layout before or after the change in flight, never a mix,
//! - go on working: a commit, a checkpoint and a reopen keep everything.
//!
//! `TIERDB_PROTOCOL_SUBSETS=N` sets the most subsets tried per halt
//! (default 128; every subset is tried while 2^pending <= N, so 1024 is
//! exhaustive up to 10 unsynced operations). `TIERDB_PROTOCOL=name` runs one
//! protocol.
//!
//! Torn writes (see the section at the end): a power loss in the middle of
//! a write may leave only a prefix of it on disk, in whole sectors. For each
//! halt, every unsynced write that spans a sector boundary is torn there —
//! at up to `TIERDB_PROTOCOL_TEARS` boundaries per write (default 2: the
//! first and the last; 0 = every one) — with the other unsynced operations
//! all dropped, all kept, or kept up to the torn one in the order
//! `pending_ops` lists them (`TIERDB_PROTOCOL_TORN_SUBSETS=N` adds the
//! subsets of them that `TIERDB_PROTOCOL_SUBSETS=N` would try); the same
//! checks must hold.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Model, sim_options, value_for};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Options, PendingKind, PendingOp, Result, SimVfs, Tier, WriteBatch};

type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;
/// A layout as the partitions' start keys and tiers.
type Shape = Vec<(Vec<u8>, Tier)>;

const SEED: u64 = 5;
const DIR: &str = "/db";

/// What a run of a scenario did before it stopped.
#[derive(Default)]
struct Run {
    acked: Vec<Writes>,
    /// The commit the halt hit (it may or may not have become durable).
    failed: Option<Writes>,
    /// The layout after the open, then after every completed change.
    shapes: Vec<Shape>,
}

impl Run {
    fn commit(&mut self, db: &Db, writes: Writes) -> Result<()> {
        let mut batch = WriteBatch::new();
        for (k, v) in &writes {
            match v {
                Some(v) => {
                    batch.put(k, v);
                }
                None => {
                    batch.delete(k);
                }
            }
        }
        match db.write(batch) {
            Ok(_) => {
                self.acked.push(writes);
                Ok(())
            }
            Err(e) => {
                self.failed = Some(writes);
                Err(e)
            }
        }
    }

    /// `count` commits of `per` puts (and a delete every third commit),
    /// numbered from `from`, with values of `len` bytes.
    fn commits(&mut self, db: &Db, from: u64, count: u64, per: u64, len: usize) -> Result<()> {
        for i in from..from + count {
            let mut writes: Writes = (0..per)
                .map(|j| {
                    let k = key(i * 7 + j * 13);
                    let v = value_for(&k, i, len);
                    (k, Some(v))
                })
                .collect();
            if i % 3 == 2 {
                writes.push((key(i * 5), None));
            }
            self.commit(db, writes)?;
        }
        Ok(())
    }

    fn opened(&mut self, db: &Db) {
        self.shapes.push(shape(db));
    }

    fn model(&self, with_failed: bool) -> Model {
        let mut model = Model::new();
        let failed = self.failed.iter().filter(|_| with_failed);
        for writes in self.acked.iter().chain(failed) {
            for (k, v) in writes {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
        }
        model
    }
}

/// Keys spread over `a/..` to `z/..`, so that every partition gets some.
fn key(n: u64) -> Vec<u8> {
    let letter = b'a' + (n % 26) as u8;
    format!("{}/{:03}", letter as char, n % 97).into_bytes()
}

/// Everything in the database; an error instead of a panic, so that one
/// bad crash state is reported with the others.
fn dump(db: &Db) -> Result<Model> {
    db.range(..)?
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect()
}

fn shape(db: &Db) -> Shape {
    db.partitions()
        .into_iter()
        .map(|p| (p.start.to_vec(), p.tier))
        .collect()
}

/// A scenario opens the database itself and calls `arm` where the
/// enumerated part begins.
type Scenario = fn(&Arc<SimVfs>, &mut Run, &mut dyn FnMut()) -> Result<()>;

struct Protocol {
    name: &'static str,
    options: fn(&Arc<SimVfs>) -> Options,
    scenario: Scenario,
}

fn btree(sim: &Arc<SimVfs>) -> Options {
    sim_options(sim, Tier::BTree).wal_segment_bytes(4096)
}

fn lsm(sim: &Arc<SimVfs>) -> Options {
    sim_options(sim, Tier::Lsm)
}

fn mixed(sim: &Arc<SimVfs>) -> Options {
    sim_options(sim, Tier::BTree)
        .partition("h", Tier::Lsm)
        .partition("q", Tier::BTree)
}

fn open(sim: &Arc<SimVfs>, options: fn(&Arc<SimVfs>) -> Options) -> Result<Db> {
    Db::open(DIR, options(sim))
}

const PROTOCOLS: &[Protocol] = &[
    Protocol {
        name: "wal_segments",
        options: btree,
        // Rotation to new segments (4 KiB each), then their removal by a
        // checkpoint, then writing on.
        scenario: |sim, run, arm| {
            let db = open(sim, btree)?;
            run.opened(&db);
            run.commits(&db, 0, 2, 2, 50)?;
            arm();
            run.commits(&db, 2, 8, 2, 500)?;
            db.checkpoint()?;
            run.commits(&db, 10, 3, 2, 500)
        },
    },
    Protocol {
        name: "btree_checkpoint",
        options: btree,
        // Two checkpoints in a row publish both alternating headers.
        scenario: |sim, run, arm| {
            let db = open(sim, btree)?;
            run.opened(&db);
            run.commits(&db, 0, 12, 3, 40)?;
            db.checkpoint()?;
            arm();
            run.commits(&db, 12, 4, 3, 40)?;
            db.checkpoint()?;
            run.commits(&db, 16, 3, 3, 300)?;
            db.checkpoint().map(drop)
        },
    },
    Protocol {
        name: "db_creation_manifest",
        options: mixed,
        // The creation of a database with three partitions: partition files
        // first, the manifest last; then the first commits.
        scenario: |sim, run, arm| {
            arm();
            let db = open(sim, mixed)?;
            run.opened(&db);
            run.commits(&db, 0, 2, 3, 30)
        },
    },
    Protocol {
        name: "lsm_install",
        options: lsm,
        // Five flushes (SSTable written and installed in the LSM manifest
        // log); the fourth L0 table triggers a compaction inside the
        // checkpoint. The first install after each open rolls to a new
        // manifest log (snapshot, `LSM-CURRENT` switch, removal of the old
        // log), the others append one edit each; the reopen after the
        // second flush makes the third one roll from log 1 to log 2.
        scenario: |sim, run, arm| {
            let mut db = open(sim, lsm)?;
            run.opened(&db);
            run.commits(&db, 0, 3, 3, 40)?;
            arm();
            for round in 0..5 {
                run.commits(&db, 3 + round * 2, 2, 3, 40)?;
                db.checkpoint()?;
                if round == 1 {
                    drop(db);
                    db = open(sim, lsm)?;
                    run.opened(&db);
                }
            }
            Ok(())
        },
    },
    Protocol {
        name: "partition_change",
        options: mixed,
        // Split a B+tree partition, move the new one to the LSM tier, merge
        // it with its LSM neighbour, move the result back to the B+tree:
        // each rebuilds partition files and switches the manifest; commits
        // in between.
        scenario: |sim, run, arm| {
            let db = open(sim, mixed)?;
            run.opened(&db);
            run.commits(&db, 0, 8, 3, 40)?;
            db.checkpoint()?;
            arm();
            let new = db.split_partition("c")?;
            run.opened(&db);
            run.commits(&db, 8, 1, 3, 40)?;
            db.set_tier(new, Tier::Lsm)?;
            run.opened(&db);
            run.commits(&db, 9, 1, 3, 40)?;
            let parts = db.partitions();
            let merged = db.merge_partitions(parts[1].id, parts[2].id)?;
            run.opened(&db);
            run.commits(&db, 10, 1, 3, 40)?;
            db.set_tier(merged, Tier::BTree)?;
            run.opened(&db);
            run.commits(&db, 11, 1, 3, 40)
        },
    },
];

/// Runs a scenario, halting the disk after `halt_after` operations of its
/// enumerated part; returns the disk, what the run did and how many
/// operations the enumerated part performed.
fn run_scenario(p: &Protocol, halt_after: Option<u64>) -> (Arc<SimVfs>, Run, u64, Result<()>) {
    let sim = Arc::new(SimVfs::new(SEED));
    let mut run = Run::default();
    let mut start = None;
    let result = (p.scenario)(&sim, &mut run, &mut || {
        start = Some(sim.mutating_ops());
        if let Some(n) = halt_after {
            sim.halt_after_ops(n);
        }
    });
    let ops = sim.mutating_ops() - start.expect("the scenario never armed");
    (sim, run, ops, result)
}

/// The subsets of `pending` unsynced operations to keep: all of them while
/// there are at most `limit`, else none, all, every one alone dropped and
/// alone kept, and seeded random ones, `limit` in all.
fn subsets(pending: usize, limit: usize, seed: u64) -> Vec<Vec<bool>> {
    if pending < usize::BITS as usize && 1usize << pending <= limit {
        return (0..1usize << pending)
            .map(|mask| (0..pending).map(|i| mask >> i & 1 == 1).collect())
            .collect();
    }
    let mut chosen: BTreeSet<Vec<bool>> = BTreeSet::new();
    chosen.insert(vec![false; pending]);
    chosen.insert(vec![true; pending]);
    for i in 0..pending {
        for kept in [false, true] {
            let mut s = vec![!kept; pending];
            s[i] = kept;
            chosen.insert(s);
        }
    }
    let mut chosen: Vec<Vec<bool>> = chosen.into_iter().collect();
    chosen.truncate(limit.max(2));
    let mut rng = StdRng::seed_from_u64(seed);
    while chosen.len() < limit {
        chosen.push((0..pending).map(|_| rng.random_bool(0.5)).collect());
    }
    chosen
}

/// Recovers from `sim` and checks it against the run; `shapes` are the
/// layouts of the complete run.
fn check_recovery(
    p: &Protocol,
    sim: &Arc<SimVfs>,
    run: &Run,
    shapes: &[Shape],
) -> Result<(), String> {
    let db = Db::open(DIR, (p.options)(sim)).map_err(|e| format!("open failed: {e}"))?;
    let got = dump(&db).map_err(|e| format!("reading after recovery: {e}"))?;
    let (without, with) = (run.model(false), run.model(true));
    if got != without && got != with {
        let lost: Vec<_> = without
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(3)
            .collect();
        return Err(format!(
            "recovered {} keys, acknowledged state has {} (with the commit in flight {}); \
             missing e.g. {lost:?}",
            got.len(),
            without.len(),
            with.len()
        ));
    }
    // The layout reached, or the next one of the complete run.
    let reached = run.shapes.len().saturating_sub(1);
    let allowed = &shapes[reached..shapes.len().min(reached + 2)];
    let recovered = shape(&db);
    if !allowed.contains(&recovered) {
        return Err(format!(
            "recovered layout {recovered:?}, allowed {allowed:?}"
        ));
    }
    // Nothing left behind: one file (B+tree) or directory (LSM) per
    // partition, whatever the crash interrupted.
    let files = partition_entries(sim);
    if files.len() != recovered.len() {
        return Err(format!(
            "{} partitions, but these partition entries on disk: {files:?}",
            recovered.len()
        ));
    }
    // The recovered database goes on working.
    let k = b"zz/after".to_vec();
    db.put(&k, b"v")
        .map_err(|e| format!("commit after recovery: {e}"))?;
    db.checkpoint()
        .map_err(|e| format!("checkpoint after recovery: {e}"))?;
    drop(db);
    let db = Db::open(DIR, (p.options)(sim)).map_err(|e| format!("second open failed: {e}"))?;
    let mut expected = got;
    expected.insert(k, b"v".to_vec());
    if dump(&db).map_err(|e| format!("reading after the second open: {e}"))? != expected {
        return Err(
            "the commit after recovery or the data before it is gone after a reopen".into(),
        );
    }
    Ok(())
}

/// Crashes the recovery from `sim` after each of its operations in turn
/// (keeping none, then all, of what it left unsynced) and checks the
/// recovery from there. Returns the states checked and the failures.
fn crash_during_recovery(
    p: &Protocol,
    sim: &SimVfs,
    run: &Run,
    shapes: &[Shape],
) -> (u64, Vec<String>) {
    let measure = Arc::new(sim.fork());
    let start = measure.mutating_ops();
    drop(Db::open(DIR, (p.options)(&measure)));
    let ops = measure.mutating_ops() - start;
    let (mut checked, mut failures) = (0, Vec::new());
    for j in 0..ops {
        let halted = Arc::new(sim.fork());
        halted.halt_after_ops(j);
        drop(Db::open(DIR, (p.options)(&halted)));
        for keep_all in [false, true] {
            let after = Arc::new(halted.fork());
            after.crash_keeping(&vec![keep_all; after.pending_ops().len()]);
            checked += 1;
            if let Err(e) = check_recovery(p, &after, run, shapes) {
                failures.push(format!(
                    "recovery halted after its operation {j} of {ops}, unsynced {}: {e}",
                    if keep_all { "kept" } else { "dropped" }
                ));
            }
        }
    }
    (checked, failures)
}

/// The partition files and directories (`p<id>g<generation>.<tier>`) in
/// the database directory.
fn partition_entries(sim: &SimVfs) -> Vec<String> {
    use tierdb::Vfs;
    let mut names = sim.list(std::path::Path::new(DIR)).unwrap_or_default();
    names.retain(|n| n.starts_with('p') && (n.ends_with(".btree") || n.ends_with(".lsm")));
    names
}

fn describe(ops: &[PendingOp], keep: &[bool]) -> String {
    ops.iter()
        .zip(keep)
        .map(|(op, k)| {
            format!(
                "  {} {:?} {:?}",
                if *k { "kept   " } else { "dropped" },
                op.path,
                op.kind
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_crash_point_and_unsynced_subset_recovers() {
    let limit = env_number("TIERDB_PROTOCOL_SUBSETS", 128);
    let only = std::env::var("TIERDB_PROTOCOL").ok();
    let mut failures = Vec::new();
    for p in PROTOCOLS
        .iter()
        .filter(|p| only.as_deref().is_none_or(|o| o == p.name))
    {
        let (_, complete, ops, result) = run_scenario(p, None);
        result.unwrap_or_else(|e| panic!("{}: the scenario fails without a crash: {e}", p.name));
        let (mut states, mut recovery_states) = (0, 0);
        let mut most_pending = 0;
        for n in 0..ops {
            let (sim, run, _, result) = run_scenario(p, Some(n));
            assert!(
                sim.is_halted() && result.is_err(),
                "{}: halting after {n} operations did not stop the scenario",
                p.name
            );
            let pending = sim.pending_ops();
            most_pending = most_pending.max(pending.len());
            let chosen = subsets(pending.len(), limit, n);
            let last = chosen.len() - 1;
            for (i, keep) in chosen.into_iter().enumerate() {
                let fork = Arc::new(sim.fork());
                fork.crash_keeping(&keep);
                let context = || format!("{}: halted after operation {n} of {ops}", p.name);
                // Recovery is a protocol too (first, as the check below
                // writes to `fork`): for the states where nothing and where
                // everything unsynced survived, crash it after
                // each of its operations in turn, likewise keeping nothing
                // and everything it left unsynced.
                if i == 0 || i == last {
                    let (checked, failed) = crash_during_recovery(p, &fork, &run, &complete.shapes);
                    recovery_states += checked;
                    failures.extend(failed.into_iter().map(|e| format!("{}: {e}", context())));
                }
                states += 1;
                if let Err(e) = check_recovery(p, &fork, &run, &complete.shapes) {
                    failures.push(format!("{}: {e}\n{}", context(), describe(&pending, &keep)));
                }
            }
        }
        println!(
            "{}: {ops} crash points, {states} crash states checked (at most {most_pending} \
             unsynced operations pending, up to {limit} subsets each), {recovery_states} more \
             with a second crash during recovery",
            p.name
        );
    }
    assert_no_failures("", &failures);
}

/// Found by `crash_torture`: a layout change emptied the directory of a
/// replaced LSM partition but left it behind (the `Vfs` had no directory
/// removal), so every split, merge or tier change of an LSM partition left
/// one more empty directory — 120 after 340 torture rounds — each listed
/// and synced again at every open.
#[test]
fn replaced_lsm_partition_directories_are_removed() {
    let sim = Arc::new(SimVfs::new(1));
    let db = open(&sim, lsm).unwrap();
    let mut run = Run::default();
    run.commits(&db, 0, 10, 3, 40).unwrap();
    let right = db.split_partition("m").unwrap();
    let left = db.partitions()[0].id;
    db.set_tier(right, Tier::BTree).unwrap();
    db.set_tier(left, Tier::BTree).unwrap();
    db.set_tier(left, Tier::Lsm).unwrap();
    db.merge_partitions(left, right).unwrap();
    assert_eq!(
        partition_entries(&sim).len(),
        1,
        "{:?}",
        partition_entries(&sim)
    );
    drop(db);
    // And on real files.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().default_tier(Tier::Lsm)).unwrap();
    db.put("a", "1").unwrap();
    let right = db.split_partition("m").unwrap();
    db.set_tier(right, Tier::BTree).unwrap();
    db.merge_partitions(db.partitions()[0].id, right).unwrap();
    db.close().unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('p'))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[test]
fn subsets_are_exhaustive_when_few_and_sampled_otherwise() {
    assert_eq!(subsets(0, 16, 0), vec![Vec::<bool>::new()]);
    let all = subsets(4, 16, 0);
    assert_eq!(all.len(), 16);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 16);
    let sampled = subsets(20, 64, 1);
    assert_eq!(sampled.len(), 64);
    assert!(sampled.contains(&vec![false; 20]) && sampled.contains(&vec![true; 20]));
    assert_eq!(sampled, subsets(20, 64, 1), "deterministic");
}

// ---------------------------------------------------------------------
// Torn writes: a crash in the middle of a write keeps a prefix of it.
// ---------------------------------------------------------------------

/// The disk's unit of atomic writes: a torn write keeps a prefix that ends
/// at a sector boundary of the file.
const SECTOR: u64 = 512;

/// How many bytes a tear may leave of a write of `len` bytes at `offset`:
/// one per sector boundary strictly inside it; at most `most` of them (the
/// first and the last, then evenly between), all if `most` is 0.
fn tear_points(offset: u64, len: u64, most: usize) -> Vec<u64> {
    let first = (offset / SECTOR + 1) * SECTOR;
    let all: Vec<u64> = (first..offset + len)
        .step_by(SECTOR as usize)
        .map(|boundary| boundary - offset)
        .collect();
    if most == 0 || all.len() <= most {
        return all;
    }
    if most == 1 {
        return vec![all[0]];
    }
    let last = all.len() - 1;
    let mut picked: Vec<u64> = (0..most).map(|i| all[i * last / (most - 1)]).collect();
    picked.dedup();
    picked
}

/// What else survives next to torn write `torn` of `pending` operations:
/// nothing, everything, or what `pending_ops` lists before it; and, if
/// `limit` asks for more, the subsets `subsets` picks (`seed`).
fn torn_keeps(pending: usize, torn: usize, limit: usize, seed: u64) -> Vec<Vec<bool>> {
    let mut keeps = vec![
        vec![false; pending],
        vec![true; pending],
        (0..pending).map(|i| i < torn).collect(),
    ];
    if limit > keeps.len() {
        keeps.extend(subsets(pending, limit, seed));
    }
    // The torn write's own entry does not matter: one state per choice of
    // the others.
    for keep in &mut keeps {
        keep[torn] = false;
    }
    keeps.sort();
    keeps.dedup();
    keeps
}

#[test]
fn every_torn_unsynced_write_recovers() {
    let most = env_number("TIERDB_PROTOCOL_TEARS", 2);
    let limit = env_number("TIERDB_PROTOCOL_TORN_SUBSETS", 3);
    let only = std::env::var("TIERDB_PROTOCOL").ok();
    let mut failures = Vec::new();
    for p in PROTOCOLS
        .iter()
        .filter(|p| only.as_deref().is_none_or(|o| o == p.name))
    {
        let (_, complete, ops, result) = run_scenario(p, None);
        result.unwrap_or_else(|e| panic!("{}: the scenario fails without a crash: {e}", p.name));
        let (mut states, mut torn_writes) = (0, 0);
        for n in 0..ops {
            let (sim, run, _, _) = run_scenario(p, Some(n));
            let pending = sim.pending_ops();
            for (w, op) in pending.iter().enumerate() {
                let PendingKind::Write { offset, len } = op.kind else {
                    continue;
                };
                let tears = tear_points(offset, len, most);
                torn_writes += u64::from(!tears.is_empty());
                for bytes in tears {
                    for keep in torn_keeps(pending.len(), w, limit, n) {
                        let fork = Arc::new(sim.fork());
                        fork.crash_keeping_torn(&keep, w, bytes);
                        states += 1;
                        if let Err(e) = check_recovery(p, &fork, &run, &complete.shapes) {
                            failures.push(format!(
                                "{}: halted after operation {n} of {ops}, write {w} ({:?} at \
                                 {offset}) torn after {bytes} of its {len} bytes: {e}\n\
                                 the other unsynced operations:\n{}",
                                p.name,
                                op.path,
                                describe(&pending, &keep)
                            ));
                        }
                    }
                }
            }
        }
        println!(
            "{}: {ops} crash points, {torn_writes} unsynced writes spanning a sector boundary, \
             {states} torn crash states checked",
            p.name
        );
    }
    assert_no_failures("torn ", &failures);
}

#[test]
fn tears_fall_on_sector_boundaries_inside_the_write() {
    assert_eq!(
        tear_points(0, 512, 0),
        Vec::<u64>::new(),
        "one whole sector"
    );
    assert_eq!(tear_points(500, 20, 0), vec![12]);
    assert_eq!(tear_points(0, 2048, 0), vec![512, 1024, 1536]);
    assert_eq!(tear_points(0, 2048, 2), vec![512, 1536]);
    assert_eq!(tear_points(100, 4000, 3), vec![412, 1948, 3996]);
    assert_eq!(torn_keeps(3, 1, 3, 0).len(), 3);
    assert_eq!(
        torn_keeps(1, 0, 3, 0).len(),
        1,
        "only the torn write is pending"
    );
    assert_eq!(torn_keeps(4, 2, 0, 0).len(), 3);
    assert_eq!(
        torn_keeps(4, 2, 16, 0).len(),
        8,
        "every subset of the other three"
    );
}

/// Fails with the count and the first three failed crash states.
fn assert_no_failures(kind: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {kind}crash states failed; first:\n{}",
        failures.len(),
        failures[..failures.len().min(3)].join("\n")
    );
}
