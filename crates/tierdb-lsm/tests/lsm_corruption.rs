//! Damaged files give `Error::Corruption`, never a panic and never wrong
//! data: a flipped byte anywhere in a table, a truncated table, a damaged
//! manifest.

mod common;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use tierdb_io::{Error, Result, SimVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

/// A tier with a few tables; returns the model.
fn build(sim: &SimVfs) -> Model {
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let mut model = Model::new();
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
        persist(&tier);
    }
    model
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

#[test]
fn a_damaged_manifest_is_corruption() {
    let sim = SimVfs::new(seed(23));
    let model = build(&sim);
    let path = Path::new(DIR).join("LSM-MANIFEST");
    let good = sim.file_contents(&path).unwrap();
    for pos in 0..good.len() {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        sim.set_file_contents(&path, bad);
        match read_all(&sim, &model) {
            Err(Error::Corruption { .. } | Error::UnsupportedVersion { .. }) => {}
            other => panic!("manifest byte {pos}: {other:?}"),
        }
    }
    sim.set_file_contents(&path, good);
    assert!(read_all(&sim, &model).unwrap());
}
