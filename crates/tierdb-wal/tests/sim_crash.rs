//! Power loss at random instants (SimVfs), many seeds: after every crash the
//! recovered records are exactly a prefix of what was appended and include
//! every record whose `sync_to` returned Ok. A failure names its seed.
//!
//! Knobs: `WAL_SEEDS=n` runs seeds `0..n`, `WAL_SEED=s` only seed `s`,
//! `WAL_TRACE=1` prints the files before every reopen.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{Rng, open_collect, wal_dir};
use tierdb_io::{Result, SimVfs, Vfs};
use tierdb_wal::{Recovered, Wal, WalOptions};

const SEEDS: u64 = 300;
const ROUNDS: u64 = 4;

/// What the test knows: every appended payload by lsn (index 0 = lsn 1),
/// the highest lsn acknowledged durable, and the checkpoint (the lsn up to
/// which "the DB" persisted elsewhere and released the log).
#[derive(Default)]
struct Model {
    appended: Vec<Vec<u8>>,
    acked: u64,
    checkpoint: u64,
}

struct Sim {
    seed: u64,
    rng: Rng,
    sim: SimVfs,
    vfs: Arc<dyn Vfs>,
    opts: WalOptions,
    model: Model,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let sim = SimVfs::new(seed);
        let mut opts = WalOptions::new(wal_dir(Path::new("/db")));
        opts.segment_bytes = 200 + rng.below(2000);
        // The flusher never fires: the run is a function of the seed.
        opts.sync_interval = Duration::from_secs(3600);
        Sim {
            seed,
            rng,
            vfs: Arc::new(sim.clone()),
            sim,
            opts,
            model: Model::default(),
        }
    }

    fn ctx(&self, round: u64) -> String {
        format!(
            "seed {} round {round} (segment_bytes {})",
            self.seed, self.opts.segment_bytes
        )
    }

    /// Opens (maybe crashing during recovery and retrying) and checks the
    /// recovered records against the model; trims the model to them.
    fn reopen_and_check(&mut self, round: u64) -> Arc<Wal> {
        let ctx = self.ctx(round);
        self.trace(&ctx);
        for attempt in 0.. {
            if attempt < 3 && self.rng.below(3) == 0 {
                self.sim.crash_after_ops(self.rng.below(8));
            }
            let crashes = self.sim.crashes();
            match open_collect(self.vfs.clone(), self.opts.clone(), self.model.checkpoint) {
                Ok((wal, rec, seen)) => {
                    self.sim.crash_after_ops(u64::MAX);
                    self.check(&rec, &seen, &ctx);
                    return wal;
                }
                Err(e) if self.sim.crashes() > crashes => {
                    let _ = e; // crashed during recovery: recover again
                }
                Err(e) => panic!("{ctx}: open failed: {e}"),
            }
        }
        unreachable!()
    }

    /// With `WAL_TRACE=1`, prints the model and every file's records.
    fn trace(&self, ctx: &str) {
        if std::env::var("WAL_TRACE").is_err() {
            return;
        }
        eprintln!(
            "{ctx}: checkpoint {} acked {} appended {}",
            self.model.checkpoint,
            self.model.acked,
            self.model.appended.len()
        );
        for f in self.sim.files() {
            let b = self.sim.file_contents(&f).unwrap();
            let lsns: Vec<u64> = common::record_offsets(&b).iter().map(|r| r.1).collect();
            eprintln!("  {} len {} lsns {lsns:?}", f.display(), b.len());
        }
    }

    fn check(&mut self, rec: &Recovered, seen: &[(u64, Vec<u8>)], ctx: &str) {
        let m = &mut self.model;
        let last = rec.last_lsn;
        assert!(
            last >= m.acked,
            "{ctx}: lost acknowledged lsn {} (recovered up to {last})",
            m.acked
        );
        assert!(
            last <= m.appended.len() as u64,
            "{ctx}: recovered lsn {last} never appended"
        );
        let want: Vec<u64> = (m.checkpoint + 1..=last).collect();
        let got: Vec<u64> = seen.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            got, want,
            "{ctx}: replayed lsns are not the prefix after the checkpoint"
        );
        for (lsn, payload) in seen {
            assert_eq!(
                payload,
                &m.appended[*lsn as usize - 1],
                "{ctx}: payload of lsn {lsn}"
            );
        }
        assert_eq!(rec.dropped_by_tolerance, None, "{ctx}");
        m.appended.truncate(last as usize);
    }

    /// Random appends, syncs, writes and checkpoints until the step budget
    /// runs out or an operation fails (a crash armed by `crash_after_ops`).
    fn workload(&mut self, wal: &Wal, ctx: &str) {
        for _ in 0..self.rng.below(150) {
            if let Err(e) = self.step(wal) {
                assert!(self.sim.crashes() > 0, "{ctx}: failed without a crash: {e}");
                assert!(
                    wal.append(wal.last_lsn() + 1, b"x").is_err(),
                    "{ctx}: not poisoned after {e}"
                );
                return;
            }
        }
    }

    fn step(&mut self, wal: &Wal) -> Result<()> {
        let last = wal.last_lsn();
        match self.rng.below(100) {
            0..60 => {
                let max_len = if self.rng.below(10) == 0 { 3000 } else { 100 };
                let len = self.rng.below(max_len);
                let payload: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                wal.append(last + 1, &payload)?;
                self.model.appended.push(payload);
            }
            60..80 => {
                let lsn = self.pick_lsn(last);
                wal.sync_to(lsn)?;
                self.model.acked = self.model.acked.max(lsn);
            }
            80..90 => wal.write_to(self.pick_lsn(last))?,
            90..95 => {
                wal.sync_all()?;
                self.model.acked = self.model.acked.max(last);
            }
            _ => {
                // The DB persists its checkpoint first, then releases.
                let checkpoint = wal.synced_lsn();
                self.model.checkpoint = self.model.checkpoint.max(checkpoint);
                wal.release_upto(checkpoint)?;
            }
        }
        Ok(())
    }

    fn pick_lsn(&mut self, last: u64) -> u64 {
        let low = self.model.checkpoint.min(last);
        low + self.rng.below(last - low + 1)
    }

    fn run(mut self) {
        let mut wal = self.reopen_and_check(0);
        for round in 1..=ROUNDS {
            let ctx = self.ctx(round);
            let crash_at = (self.rng.below(2) == 0).then(|| self.rng.below(60));
            if let Some(n) = crash_at {
                self.sim.crash_after_ops(n);
            }
            self.workload(&wal, &ctx);
            if self.sim.crashes() == 0 || crash_at.is_some() {
                self.sim.crash(); // (a second crash after an automatic one is harmless)
            }
            drop(wal);
            wal = self.reopen_and_check(round);
        }
    }
}

#[test]
fn power_loss_at_random_points_recovers_a_prefix_with_every_synced_record() {
    let only: Option<u64> = std::env::var("WAL_SEED").ok().and_then(|s| s.parse().ok());
    let seeds: u64 = std::env::var("WAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS);
    for seed in (0..seeds).filter(|s| only.is_none_or(|o| o == *s)) {
        Sim::new(seed).run();
    }
}

#[test]
fn every_crash_point_of_a_small_workload() {
    // Exhaustive over the mutating operations of one short, fixed workload.
    let dir: PathBuf = wal_dir(Path::new("/db"));
    for crash_at in 0..120 {
        let sim = SimVfs::new(crash_at);
        let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
        let mut opts = WalOptions::new(&dir);
        opts.segment_bytes = 300;
        let (wal, _, _) = open_collect(vfs.clone(), opts.clone(), 0).unwrap();
        sim.crash_after_ops(crash_at);
        let mut acked = 0;
        for lsn in 1..=40u64 {
            if wal.append(lsn, &common::payload(lsn)).is_err() {
                break;
            }
            let r = if lsn % 3 == 0 {
                wal.sync_to(lsn)
            } else {
                wal.write_to(lsn)
            };
            match r {
                Ok(()) if lsn % 3 == 0 => acked = lsn,
                Ok(()) => {}
                Err(_) => break,
            }
        }
        sim.crash();
        drop(wal);
        let ctx = format!("crash after {crash_at} ops");
        let (_wal, rec, seen) = open_collect(vfs, opts, 0).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(
            rec.last_lsn >= acked,
            "{ctx}: lost acked {acked}, got {}",
            rec.last_lsn
        );
        common::assert_replayed(&seen, 1, rec.last_lsn, &ctx);
    }
}

/// Threads committing concurrently (Sync and Buffered, the flusher running
/// every millisecond) while the power fails. Thread timing makes these runs
/// vary; the seed still names the crash point and the disk's choices.
#[test]
fn power_loss_under_concurrent_committers_and_flusher() {
    use std::sync::atomic::{AtomicU64, Ordering};
    for seed in 0..40u64 {
        let sim = SimVfs::new(seed);
        let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
        let mut opts = WalOptions::new(wal_dir(Path::new("/db")));
        opts.segment_bytes = 1024;
        opts.sync_interval = Duration::from_millis(1);
        let (wal, _, _) = open_collect(vfs.clone(), opts.clone(), 0).unwrap();
        let acked = Arc::new(AtomicU64::new(0));
        let commit_lock = Arc::new(parking_lot::Mutex::new(()));
        sim.crash_after_ops(20 + Rng::new(seed).below(300));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (wal, acked, lock) = (wal.clone(), acked.clone(), commit_lock.clone());
                std::thread::spawn(move || {
                    for i in 0..400u64 {
                        let lsn = {
                            let _g = lock.lock();
                            let lsn = wal.last_lsn() + 1;
                            if wal.append(lsn, &common::payload(lsn)).is_err() {
                                return;
                            }
                            lsn
                        };
                        let sync = (t + i) % 2 == 0;
                        let done = if sync {
                            wal.sync_to(lsn)
                        } else {
                            wal.write_to(lsn)
                        };
                        match done {
                            Ok(()) if sync => {
                                acked.fetch_max(lsn, Ordering::Relaxed);
                            }
                            Ok(()) => {}
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        if sim.crashes() == 0 {
            sim.crash();
        }
        drop(wal);
        let ctx = format!("seed {seed} (concurrent)");
        let acked = acked.load(Ordering::Relaxed);
        let (_wal, rec, seen) =
            open_collect(vfs, opts, 0).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"));
        assert!(
            rec.last_lsn >= acked,
            "{ctx}: lost acked {acked}, recovered {}",
            rec.last_lsn
        );
        common::assert_replayed(&seen, 1, rec.last_lsn, &ctx);
    }
}
