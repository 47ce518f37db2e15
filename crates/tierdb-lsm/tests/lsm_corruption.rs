//! Damaged files give `Error::Corruption`, never a panic and never wrong
//! data: a flipped byte anywhere in a table, a truncated table, a damaged
//! manifest log or `LSM-CURRENT`. A manifest log cut short is the one
//! exception: its last complete record is a version the tier went
//! through, and that version is what opens.

mod common;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use tierdb_io::{Error, Result, SimVfs, Vfs};
use tierdb_lsm::LsmOptions;
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

/// A tier with a few tables; returns the model.
fn build(sim: &SimVfs) -> Model {
    build_states(sim, small_options()).pop().unwrap()
}

/// A tier with a few tables; returns the contents after each sequence
/// (`states[s]` after sequence `s`).
fn build_states(sim: &SimVfs, opts: LsmOptions) -> Vec<Model> {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    let tier = open_with(&vfs, Path::new(DIR), cache, opts).unwrap();
    let mut model = Model::new();
    let mut states = vec![model.clone()];
    for seq in 1..=4u64 {
        let ops = (0..200u64)
            .map(|i| {
                let id = i * 4 + seq;
                WriteOp::Put {
                    key: key(id),
                    value: value(id, seq, 30 + (i % 40) as usize),
                }
            })
            .collect::<Vec<WriteOp>>();
        apply(&tier, &mut model, seq, ops);
        states.push(model.clone());
        persist(&tier);
    }
    states
}

fn tables(sim: &SimVfs) -> Vec<PathBuf> {
    sim.files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect()
}

/// Opens and reads everything; `Ok(true)` if it all equals the model.
fn read_all(sim: &SimVfs, model: &Model) -> Result<bool> {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR))?;
    let view = tier.read_view();
    let scanned = view
        .range(Bound::Unbounded, Bound::Unbounded)?
        .collect::<Result<Vec<_>>>()?;
    let backward = view
        .range(Bound::Unbounded, Bound::Unbounded)?
        .rev()
        .collect::<Result<Vec<_>>>()?;
    let mut same = scanned.len() == model.len() && backward.len() == model.len();
    for (k, v) in model {
        same &= view.get(k)?.as_ref() == Some(v);
    }
    same &= scanned
        .iter()
        .zip(model)
        .all(|(a, (k, v))| a.0 == k && a.1 == v);
    Ok(same)
}

fn expect_corruption(sim: &SimVfs, model: &Model, context: &str) {
    match read_all(sim, model) {
        Err(Error::Corruption { .. }) => {}
        Ok(same) => panic!("{context}: no error (data equal to model: {same})"),
        Err(e) => panic!("{context}: expected corruption, got {e}"),
    }
}

#[test]
fn a_flipped_table_byte_is_corruption() {
    let sim = SimVfs::new(seed(21));
    let model = build(&sim);
    assert!(read_all(&sim, &model).unwrap());
    let tables = tables(&sim);
    assert!(!tables.is_empty());
    for path in &tables {
        let good = sim.file_contents(path).unwrap();
        let step = (good.len() / 150).max(1);
        let positions = (0..good.len())
            .step_by(step)
            .chain(good.len() - 80..good.len());
        for pos in positions {
            let mut bad = good.clone();
            bad[pos] ^= 0x10;
            sim.set_file_contents(path, bad);
            expect_corruption(&sim, &model, &format!("{} byte {pos}", path.display()));
        }
        sim.set_file_contents(path, good);
    }
    assert!(read_all(&sim, &model).unwrap());
}

#[test]
fn a_truncated_table_is_corruption() {
    let sim = SimVfs::new(seed(22));
    let model = build(&sim);
    let path = tables(&sim)[0].clone();
    let good = sim.file_contents(&path).unwrap();
    for len in [0, 10, good.len() / 2, good.len() - 1] {
        sim.set_file_contents(&path, good[..len].to_vec());
        expect_corruption(&sim, &model, &format!("truncated to {len}"));
    }
}

/// A table the manifest lists whose file is gone (only damage does that:
/// tables are deleted after a record no longer listing them is durable,
/// so a log cut back past that record lists a deleted table) is
/// corruption naming the manifest log, not an I/O error.
#[test]
fn a_missing_listed_table_is_corruption_of_the_manifest() {
    let sim = SimVfs::new(seed(23));
    let model = build(&sim);
    let path = tables(&sim)[0].clone();
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    vfs.remove(&path).unwrap();
    match read_all(&sim, &model) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(file, manifest_log(&sim), "{reason}");
            assert!(reason.contains("missing"), "{reason}");
        }
        Ok(same) => panic!("no error (data equal to model: {same})"),
        Err(e) => panic!("expected corruption, got {e}"),
    }
}

/// The live manifest log of the tier.
fn manifest_log(sim: &SimVfs) -> PathBuf {
    let logs: Vec<PathBuf> = sim
        .files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("LSM-MANIFEST-"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

fn expect_corruption_or_newer(sim: &SimVfs, model: &Model, context: &str) {
    match read_all(sim, model) {
        Err(Error::Corruption { file, .. } | Error::UnsupportedVersion { file, .. }) => {
            assert!(file.starts_with(DIR), "{context}: names {file:?}")
        }
        other => panic!("{context}: {other:?}"),
    }
}

#[test]
fn a_flipped_manifest_log_or_current_byte_is_corruption() {
    let base = SimVfs::new(seed(23));
    let model = build(&base);
    let current = Path::new(DIR).join("LSM-CURRENT");
    for path in [manifest_log(&base), current] {
        let good = base.file_contents(&path).unwrap();
        for pos in 0..good.len() {
            for bit in [0x01, 0x80] {
                let sim = base.fork();
                let mut bad = good.clone();
                bad[pos] ^= bit;
                sim.set_file_contents(&path, bad);
                let context = format!("{} byte {pos} ^ {bit:#x}", path.display());
                expect_corruption_or_newer(&sim, &model, &context);
            }
        }
    }
    assert!(read_all(&base, &model).unwrap());
}

#[test]
fn a_cut_manifest_log_opens_an_earlier_version_or_is_corruption() {
    let base = SimVfs::new(seed(24));
    // Flushes only: a cut that dropped an acknowledged compaction's edit
    // would list its input tables, deleted since (`Error::Io`, not found).
    let no_compaction = LsmOptions {
        background_compaction: false,
        l0_compaction_trigger: 100,
        l0_slowdown_tables: 100,
        l0_stop_tables: 100,
        ..small_options()
    };
    let states = build_states(&base, no_compaction);
    let path = manifest_log(&base);
    let good = base.file_contents(&path).unwrap();
    // The stamp (20 bytes), then the snapshot: its length is at 20..24.
    let snapshot_end = 32 + u32::from_le_bytes(good[20..24].try_into().unwrap()) as usize;
    let mut versions = std::collections::BTreeSet::new();
    for len in 0..good.len() {
        let sim = base.fork();
        sim.set_file_contents(&path, good[..len].to_vec());
        let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
        match open(&vfs, Path::new(DIR)) {
            Ok(tier) => {
                assert!(
                    len >= snapshot_end,
                    "cut to {len}: opened without a snapshot"
                );
                let seq = tier.persisted_seq();
                assert_equal(
                    &*tier.read_view(),
                    &states[seq as usize],
                    &format!("cut to {len}"),
                );
                versions.insert(seq);
            }
            Err(Error::Corruption { file, offset, .. }) => {
                assert!(
                    len < snapshot_end,
                    "cut to {len}: a complete snapshot refused"
                );
                assert_eq!(file, path);
                assert!(offset <= len as u64);
            }
            Err(e) => panic!("cut to {len}: {e}"),
        }
    }
    // Cuts inside the edits reach earlier versions.
    assert!(versions.len() > 1, "{versions:?}");
    let current = Path::new(DIR).join("LSM-CURRENT");
    let pointer = base.file_contents(&current).unwrap();
    for len in 0..pointer.len() {
        let sim = base.fork();
        sim.set_file_contents(&current, pointer[..len].to_vec());
        expect_corruption(
            &sim,
            states.last().unwrap(),
            &format!("LSM-CURRENT cut to {len}"),
        );
    }
}

#[test]
fn a_missing_manifest_log_is_corruption_and_format_1_is_refused() {
    let base = SimVfs::new(seed(25));
    let model = build(&base);
    let sim = base.fork();
    sim.set_file_contents(&manifest_log(&base), Vec::new());
    expect_corruption(&sim, &model, "empty log");
    // A log under another number than LSM-CURRENT names.
    let sim = base.fork();
    let log = manifest_log(&base);
    let data = sim.file_contents(&log).unwrap();
    sim.set_file_contents(&Path::new(DIR).join("LSM-MANIFEST-000099"), data);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    vfs.remove(&log).unwrap();
    expect_corruption(&sim, &model, "log missing");
    // A directory of the format 1 manifest.
    let sim = base.fork();
    let mut v1 = b"TLSM".to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&[0; 8]);
    sim.set_file_contents(&Path::new(DIR).join("LSM-MANIFEST"), v1);
    match read_all(&sim, &model) {
        Err(Error::UnsupportedVersion {
            found: 1,
            supported: 2,
            ..
        }) => {}
        other => panic!("format 1: {other:?}"),
    }
}
