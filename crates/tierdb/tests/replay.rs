//! WAL replay at open on every layout: several MiB of commits behind a
//! checkpoint (many chunks for the applier thread, LSM memtables filling
//! and freezing mid-replay) come back exactly; and a record that passes
//! the WAL's checksum but does not decode fails the open with
//! `Error::Corruption`, whichever chunk it falls in.

mod common;

use std::sync::Arc;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Durability, Error, SimVfs, Vfs, WriteBatch};
use tierdb_wal::{Wal, WalOptions};

fn key(i: u64) -> Vec<u8> {
    format!("key/{i:05}").into_bytes()
}

/// Random commits of 100 writes (puts of 100-400 bytes, deletes, now and
/// then a range delete), applied to the model too. ~2.5 MiB per 100.
/// Returns the last commit's sequence.
fn write(db: &Db, model: &mut Model, rng: &mut StdRng, commits: u64) -> u64 {
    let mut last = 0;
    for _ in 0..commits {
        let mut batch = WriteBatch::new();
        for _ in 0..100 {
            let k = key(rng.random_range(0..30_000));
            match rng.random_range(0..100) {
                0 => {
                    let end = key(rng.random_range(0..30_000));
                    let (lo, hi) = if k <= end { (k, end) } else { (end, k) };
                    batch.delete_range(lo.as_slice()..hi.as_slice());
                    let gone: Vec<Vec<u8>> = model
                        .range(lo.clone()..hi.clone())
                        .map(|(k, _)| k.clone())
                        .collect();
                    gone.iter().for_each(|k| {
                        model.remove(k);
                    });
                }
                1..=10 => {
                    batch.delete(&k);
                    model.remove(&k);
                }
                _ => {
                    let len = rng.random_range(100..400);
                    let value = vec![rng.random::<u8>(); len];
                    batch.put(&k, &value);
                    model.insert(k, value);
                }
            }
        }
        last = db.write(batch).unwrap().seq;
    }
    last
}

#[test]
fn megabytes_behind_a_checkpoint_replay_exactly() {
    for layout in LAYOUTS {
        let sim = Arc::new(SimVfs::new(11));
        let opts = || {
            layout
                .options(&sim)
                .durability(Durability::Buffered)
                .wal_segment_bytes(1 << 20)
                .lsm_memtable_bytes(512 * 1024)
        };
        let mut rng = StdRng::seed_from_u64(5);
        let mut model = Model::new();
        let db = Db::open("/db", opts()).unwrap();
        write(&db, &mut model, &mut rng, 60);
        db.checkpoint().unwrap();
        write(&db, &mut model, &mut rng, 400);
        // Not closed: the reopen replays the ~10 MiB after the checkpoint.
        drop(db);
        let db = Db::open("/db", opts()).unwrap();
        assert!(
            db.stats().open_replayed_records >= 400,
            "{}: replayed {}",
            layout.name,
            db.stats().open_replayed_records
        );
        assert!(dump(&db) == model, "{}: after replay", layout.name);
        write(&db, &mut model, &mut rng, 50);
        db.close().unwrap();
        let db = Db::open("/db", opts()).unwrap();
        assert!(dump(&db) == model, "{}: after close", layout.name);
        db.close().unwrap();
    }
}

#[test]
fn an_undecodable_commit_record_is_corruption() {
    // Right after the checkpoint, or ~6 MiB later (past the first chunks).
    for after in [3u64, 250] {
        for layout in LAYOUTS {
            let sim = Arc::new(SimVfs::new(12));
            let opts = || {
                layout
                    .options(&sim)
                    .durability(Durability::Buffered)
                    .wal_segment_bytes(1 << 20)
            };
            let mut rng = StdRng::seed_from_u64(6);
            let mut model = Model::new();
            let db = Db::open("/db", opts()).unwrap();
            write(&db, &mut model, &mut rng, 20);
            db.checkpoint().unwrap();
            let last = write(&db, &mut model, &mut rng, after);
            drop(db);
            // A record with a valid WAL frame and checksum, but a payload
            // that is no commit record.
            let mut wal_opts = WalOptions::new("/db/wal");
            wal_opts.segment_bytes = 1 << 20;
            let vfs: Arc<dyn Vfs> = sim.clone();
            let (wal, recovered) = Wal::open(vfs, wal_opts, last, &mut |_, _| Ok(())).unwrap();
            assert_eq!(recovered.last_lsn, last, "{}", layout.name);
            wal.append(last + 1, b"\x07 not a commit record").unwrap();
            wal.sync_all().unwrap();
            wal.close().unwrap();
            drop(wal);
            match Db::open("/db", opts()) {
                Err(Error::Corruption { file, reason, .. }) => {
                    assert!(file.ends_with("wal"), "{}: {file:?}", layout.name);
                    let lsn = format!("lsn {}", last + 1);
                    assert!(reason.contains(&lsn), "{}: {reason}", layout.name);
                }
                Ok(_) => panic!("{}: opened over a bad record", layout.name),
                Err(e) => panic!("{}: expected Corruption, got {e}", layout.name),
            }
        }
    }
}
