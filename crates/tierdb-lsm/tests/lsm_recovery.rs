//! Open and persist edge cases: the write-ahead rule, garbage left in the
//! directory, table numbers never reused, bad options.

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use tierdb_io::{Error, SimVfs, Vfs};
use tierdb_tier::{Tier, WriteOp};

const DIR: &str = "/db/lsm";

fn put(id: u64, seq: u64) -> Vec<WriteOp> {
    vec![WriteOp::Put {
        key: key(id),
        value: value(id, seq, 50),
    }]
}

/// The manifest log the first install after open starts.
fn manifest_path() -> PathBuf {
    Path::new(DIR).join("LSM-MANIFEST-000001")
}

#[test]
fn wal_is_made_durable_before_the_manifest() {
    let sim = SimVfs::new(seed(41));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    tier.apply(1, &put(1, 1)).unwrap();
    persist(&tier);
    tier.apply(2, &put(2, 2)).unwrap();
    tier.apply(3, &put(3, 3)).unwrap();
    let before = sim.file_contents(&manifest_path());
    let asked = Cell::new(0);
    let seq = tier
        .persist(&|s| {
            asked.set(s);
            assert_eq!(
                sim.file_contents(&manifest_path()),
                before,
                "manifest changed first"
            );
            Ok(())
        })
        .unwrap();
    assert_eq!((seq, asked.get()), (3, 3));
    assert_ne!(sim.file_contents(&manifest_path()), before);
}

#[test]
fn a_failing_wal_callback_aborts_the_persist() {
    let sim = SimVfs::new(seed(42));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let mut model = Model::new();
    apply(&tier, &mut model, 1, put(1, 1));
    let result = tier.persist(&|_| Err(Error::Closed));
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    assert_eq!(tier.persisted_seq(), 0);
    assert!(sim.file_contents(&manifest_path()).is_none());
    assert!(
        sim.file_contents(&Path::new(DIR).join("LSM-CURRENT"))
            .is_none()
    );
    assert_equal(&*tier.read_view(), &model, "after aborted persist");
    assert_eq!(persist(&tier), 1, "a later persist works");
    drop(tier);
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    assert_equal(&*tier.read_view(), &model, "reopened");
}

#[test]
fn garbage_is_removed_and_numbers_are_not_reused() {
    let sim = SimVfs::new(seed(43));
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    let mut model = Model::new();
    apply(&tier, &mut model, 1, put(1, 1));
    persist(&tier);
    drop(tier);
    let stray = Path::new(DIR).join("000999.sst");
    let tmp = Path::new(DIR).join("LSM-CURRENT.tmp");
    let old_log = Path::new(DIR).join("LSM-MANIFEST-000002");
    sim.set_file_contents(&stray, b"half a table".to_vec());
    sim.set_file_contents(&tmp, b"half a pointer".to_vec());
    sim.set_file_contents(&old_log, b"a log from a roll that did not finish".to_vec());
    let other = Path::new(DIR).join("notes.txt");
    sim.set_file_contents(&other, b"not ours".to_vec());
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    // Unlisted tables are removed by the compaction thread, soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sim.file_contents(&stray).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(sim.file_contents(&stray).is_none(), "stray table removed");
    assert!(sim.file_contents(&tmp).is_none(), "temp pointer removed");
    assert!(
        sim.file_contents(&old_log).is_none(),
        "stray manifest log removed"
    );
    assert!(
        sim.file_contents(&other).is_some(),
        "unknown files left alone"
    );
    assert_equal(&*tier.read_view(), &model, "reopened");
    apply(&tier, &mut model, 2, put(2, 2));
    persist(&tier);
    let numbers: Vec<String> = sim
        .files()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(
        numbers.iter().any(|n| n.as_str() > "000999.sst"),
        "{numbers:?}"
    );
}

#[test]
fn bad_options_are_refused() {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(1));
    let cache = Arc::new(tierdb_cache::PageCache::new(1 << 20));
    let mut opts = small_options();
    opts.level_size_ratio = 1;
    let result = open_with(&vfs, Path::new(DIR), Arc::clone(&cache), opts);
    assert!(matches!(result, Err(Error::InvalidArgument(_))));
    let mut opts = small_options();
    opts.memtable_bytes = 0;
    let result = open_with(&vfs, Path::new(DIR), cache, opts);
    assert!(matches!(result, Err(Error::InvalidArgument(_))));
}

#[test]
fn applying_an_old_sequence_is_refused() {
    let vfs: Arc<dyn Vfs> = Arc::new(SimVfs::new(2));
    let tier = open(&vfs, Path::new(DIR)).unwrap();
    tier.apply(5, &put(1, 5)).unwrap();
    assert!(matches!(
        tier.apply(5, &put(1, 5)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(tier.applied_seq(), 5);
}
