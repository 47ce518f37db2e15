//! Random operation sequences against a `BTreeMap` model: puts and deletes,
//! gets and ranges both ways (and from both ends at once), views held
//! across applies, persists (flushes + compactions), `compact_all` and
//! reopens, write sets replayed as at a database open (`apply_recovered`).
//! A reopened tier equals the model as of the persisted sequence;
//! a held view stays exact whatever happens after it was made.

mod common;

use std::sync::Arc;

use common::*;
use tierdb_cache::PageCache;
use tierdb_io::{OsVfs, SimVfs, Vfs};
use tierdb_lsm::{CompactionStyle, LsmOptions};
use tierdb_tier::{ReadView, Seq, Tier, WriteOp};

struct HeldView {
    view: Arc<dyn ReadView>,
    model: Model,
}

fn random_batch(rng: &mut Rng, seq: Seq, key_space: u64) -> Vec<WriteOp> {
    let size = if rng.chance(5) {
        100 + rng.below(300)
    } else {
        1 + rng.below(20)
    };
    (0..size)
        .map(|_| {
            let id = rng.below(key_space);
            if rng.chance(1) {
                random_delete_range(rng, key_space, key)
            } else if rng.chance(30) {
                WriteOp::Delete { key: key(id) }
            } else {
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, value_len(rng)),
                }
            }
        })
        .collect()
}

struct Run {
    rng: Rng,
    vfs: Arc<dyn Vfs>,
    dir: std::path::PathBuf,
    /// `None` only while reopening (the old tier and its compactor must be
    /// gone before a new one opens the directory).
    tier: Option<tierdb_lsm::LsmTier>,
    model: Model,
    durable: Model,
    seq: Seq,
    held: Vec<HeldView>,
    key_space: u64,
    opts: LsmOptions,
}

impl Run {
    fn tier(&self) -> &tierdb_lsm::LsmTier {
        self.tier.as_ref().expect("tier open")
    }

    fn step(&mut self, context: &str) {
        match self.rng.below(100) {
            0..=7 => self.replay(context),
            8..=64 => {
                self.seq += 1;
                let ops = random_batch(&mut self.rng, self.seq, self.key_space);
                let tier = self.tier.as_ref().expect("tier open");
                apply(tier, &mut self.model, self.seq, ops);
            }
            65..=74 => spot_check(
                &*self.tier().read_view(),
                &self.model,
                &mut self.rng,
                self.key_space,
                context,
            ),
            75..=82 => {
                assert_eq!(persist(self.tier()), self.seq, "{context}");
                self.durable = self.model.clone();
            }
            83..=84 => self.tier().compact_all().expect("compact_all"),
            85..=89 => self.hold_view(context),
            90..=95 => self.check_held(context),
            _ => self.reopen(context),
        }
    }

    /// Write sets as a database open replays them (`apply_recovered`: a
    /// run at a time, inserted in key order, frozen at the memtable size).
    fn replay(&mut self, context: &str) {
        let mut sets = Vec::new();
        for _ in 0..1 + self.rng.below(12) {
            self.seq += 1;
            let ops = random_batch(&mut self.rng, self.seq, self.key_space);
            sets.push((self.seq, ops.clone()));
            apply_to_model(&mut self.model, ops);
        }
        self.tier().apply_recovered(&sets).expect("apply_recovered");
        assert_eq!(self.tier().applied_seq(), self.seq, "{context}: replayed");
        let stale = self.tier().apply_recovered(&sets[..1]);
        assert!(stale.is_err(), "{context}: a replayed set applied twice");
    }

    fn hold_view(&mut self, context: &str) {
        if self.held.len() > 4 {
            let i = self.rng.below(self.held.len() as u64) as usize;
            let old = self.held.remove(i);
            assert_equal(&*old.view, &old.model, &format!("{context}: held view"));
        }
        self.held.push(HeldView {
            view: self.tier().read_view(),
            model: self.model.clone(),
        });
    }

    fn check_held(&mut self, context: &str) {
        for h in &self.held {
            spot_check(
                &*h.view,
                &h.model,
                &mut self.rng,
                self.key_space,
                &format!("{context}: held view at {}", h.view.seq()),
            );
        }
    }

    fn reopen(&mut self, context: &str) {
        self.held.clear();
        self.tier = None;
        let tier = open_opts(&self.vfs, &self.dir, &self.opts).expect("reopen");
        self.tier = Some(tier);
        self.seq = self.tier().persisted_seq();
        self.model = self.durable.clone();
        assert_eq!(self.tier().applied_seq(), self.seq);
        assert_equal(
            &*self.tier().read_view(),
            &self.model,
            &format!("{context}: reopened"),
        );
    }
}

fn open_opts(
    vfs: &Arc<dyn Vfs>,
    dir: &std::path::Path,
    opts: &LsmOptions,
) -> tierdb_io::Result<tierdb_lsm::LsmTier> {
    open_with(vfs, dir, Arc::new(PageCache::new(1 << 20)), opts.clone())
}

fn run_model(vfs: Arc<dyn Vfs>, dir: &std::path::Path, seed: u64, steps: usize, key_space: u64) {
    run_model_with(vfs, dir, seed, steps, key_space, small_options());
}

fn run_model_with(
    vfs: Arc<dyn Vfs>,
    dir: &std::path::Path,
    seed: u64,
    steps: usize,
    key_space: u64,
    opts: LsmOptions,
) {
    let tier = open_opts(&vfs, dir, &opts).unwrap();
    let mut run = Run {
        rng: Rng::new(seed),
        vfs,
        dir: dir.to_path_buf(),
        tier: Some(tier),
        model: Model::new(),
        durable: Model::new(),
        seq: 0,
        held: Vec::new(),
        key_space,
        opts,
    };
    for step in 0..steps {
        run.step(&format!("seed {seed} step {step}"));
    }
    assert_equal(&*run.tier().read_view(), &run.model, "final");
    for h in &run.held {
        assert_equal(&*h.view, &h.model, "final held view");
    }
    let stats = run.tier().lsm_stats();
    eprintln!("seed {seed}: {stats:?}");
    persist(run.tier());
    run.held.clear();
    run.tier = None;
    let tier = open_opts(&run.vfs, &run.dir, &run.opts).unwrap();
    assert_equal(&*tier.read_view(), &run.model, "final reopen");
}

#[test]
fn random_ops_on_disk() {
    let seed = seed(1);
    for i in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
        run_model(vfs, dir.path(), seed + i, 800, 2000);
    }
}

#[test]
fn random_ops_small_key_space_many_deletes() {
    let seed = seed(200);
    for i in 0..3 {
        let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed + i));
        run_model(vfs, std::path::Path::new("/db/lsm"), seed + i, 1000, 60);
    }
}

#[test]
fn random_ops_sim_vfs() {
    let seed = seed(300);
    for i in 0..3 {
        let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed + i));
        run_model(vfs, std::path::Path::new("/db/lsm"), seed + i, 1000, 800);
    }
}

/// Size-tiered compaction against the same model, deterministic
/// (compaction inside persist) and with the background compactor.
#[test]
fn random_ops_tiered_compaction() {
    let seed = seed(400);
    for i in 0..4 {
        let opts = LsmOptions {
            compaction_style: CompactionStyle::Tiered,
            background_compaction: i % 2 == 0,
            ..small_options()
        };
        let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(seed + i));
        let dir = std::path::Path::new("/db/lsm");
        run_model_with(vfs, dir, seed + i, 800, 400 + 400 * i, opts);
    }
}
