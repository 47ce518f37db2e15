//! Bad input: damaged files and API misuse. Damage gives
//! `Error::Corruption` naming the file, or a correct recovery — never a
//! panic, never wrong data. Misuse gives a clear error and changes nothing
//! on disk.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{LAYOUTS, Layout, Model, sim_options, value_for};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tierdb::{Db, Error, MAX_KEY_BYTES, MAX_VALUE_BYTES, Options, SimVfs, Tier};

/// Builds a database on `sim` whose files all hold data: a B+tree
/// checkpointed three times, then WAL records above the checkpoint. Returns the commit
/// history's states: `states[i]` is the contents after `i` commits.
fn build(sim: &Arc<SimVfs>, layout: Layout) -> Vec<Model> {
    let db = Db::open("db", layout.options(sim)).unwrap();
    let mut model = Model::new();
    let mut states = vec![model.clone()];
    for i in 0..400u64 {
        let k = format!("item/{:04}", (i * 37) % 250).into_bytes();
        let v = value_for(&k, i, 10 + (i as usize * 13) % 200);
        db.put(&k, &v).unwrap();
        model.insert(k, v);
        states.push(model.clone());
        // Three checkpoints: an LSM partition's manifest log then holds a
        // snapshot and two edits.
        if i > 0 && i % 100 == 0 && i <= 300 {
            db.checkpoint().unwrap();
        }
    }
    drop(db); // not closed: the WAL keeps the last 99 commits
    states
}

/// Everything readable, or the first error.
fn read_all(db: &Db) -> tierdb::Result<Model> {
    let mut m = Model::new();
    for item in db.range(..)? {
        let (k, v) = item?;
        m.insert(k.to_vec(), v.to_vec());
    }
    for (k, v) in &m {
        if db.get(k)?.as_deref() != Some(v.as_slice()) {
            return Err(Error::InvalidArgument("get disagrees with scan".into()));
        }
    }
    Ok(m)
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    FlipBit,
    Zero,
    Truncate,
}

fn damage(data: &mut Vec<u8>, how: Damage, rng: &mut StdRng) -> usize {
    let at = rng.random_range(0..data.len());
    match how {
        Damage::FlipBit => data[at] ^= 1 << rng.random_range(0..8),
        Damage::Zero => {
            let end = (at + rng.random_range(1..600)).min(data.len());
            data[at..end].fill(0);
        }
        Damage::Truncate => data.truncate(at),
    }
    at
}

/// Damages one file of a built database in many ways; each reopen must give
/// a correct state or `Corruption`.
fn damage_file(layout: Layout, pick: fn(&Path) -> bool, label: &str) {
    let mut outcomes = [0usize; 2];
    for seed in 0..90u64 {
        let sim = Arc::new(SimVfs::new(seed));
        let states = build(&sim, layout);
        let candidates: Vec<PathBuf> = sim.files().into_iter().filter(|p| pick(p)).collect();
        assert!(
            !candidates.is_empty(),
            "no {label} file in {:?}",
            sim.files()
        );
        let file = candidates[seed as usize % candidates.len()].clone();
        let mut data = sim.file_contents(&file).unwrap();
        if data.is_empty() {
            continue;
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let how = [Damage::FlipBit, Damage::Zero, Damage::Truncate][seed as usize % 3];
        let at = damage(&mut data, how, &mut rng);
        sim.set_file_contents(&file, data);
        let ctx = format!("{label} {how:?} at {at} (seed {seed})");
        let result = Db::open("db", layout.options(&sim)).and_then(|db| read_all(&db));
        match result {
            Ok(got) => {
                // A correct recovery: a state the commit history went through
                // (a torn-looking WAL tail may be cut), never anything else.
                assert!(states.contains(&got), "{ctx}: wrong data after damage");
                outcomes[0] += 1;
            }
            Err(Error::Corruption { file: f, .. }) => {
                assert!(f.starts_with("db"), "{ctx}: corruption names {f:?}");
                outcomes[1] += 1;
            }
            Err(e) => panic!("{ctx}: expected Corruption or a correct state, got {e}"),
        }
    }
    // Both outcomes must occur, or the damage never reached anything read.
    assert!(
        outcomes[1] > 0,
        "{label} ({}): no damage was ever detected: {outcomes:?}",
        layout.name
    );
}

#[test]
fn damaged_partition_file_is_detected_or_harmless() {
    for &layout in LAYOUTS {
        if layout.splits.is_empty() && layout.first == Tier::BTree {
            damage_file(
                layout,
                |p| p.extension().is_some_and(|e| e == "btree"),
                "B+tree file",
            );
        } else if layout.splits.is_empty() {
            damage_file(
                layout,
                |p| p.extension().is_some_and(|e| e == "sst"),
                "SSTable",
            );
            let manifest_log = |p: &Path| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("LSM-MANIFEST-"))
            };
            damage_file(layout, manifest_log, "LSM manifest log");
            damage_file(layout, |p| p.ends_with("LSM-CURRENT"), "LSM-CURRENT");
        } else {
            let any = |p: &Path| p.extension().is_some_and(|e| e == "btree" || e == "sst");
            damage_file(layout, any, "partition file of a mixed layout");
        }
    }
}

#[test]
fn damaged_wal_segment_is_detected_or_cut_as_a_torn_tail() {
    for &layout in LAYOUTS {
        damage_file(
            layout,
            |p| p.extension().is_some_and(|e| e == "log"),
            "WAL segment",
        );
    }
}

#[test]
fn damaged_manifest_is_detected() {
    for &layout in LAYOUTS {
        damage_file(layout, |p| p.ends_with("MANIFEST"), "manifest");
    }
}

#[test]
fn oversized_key_and_value_are_refused_and_change_nothing() {
    let sim = Arc::new(SimVfs::new(1));
    let db = Db::open("db", sim_options(&sim, Tier::BTree)).unwrap();
    db.put(b"a", b"1").unwrap();
    let seq = db.snapshot().seq();
    let big_key = vec![b'k'; MAX_KEY_BYTES + 1];
    let big_value = vec![b'v'; MAX_VALUE_BYTES + 1];
    for r in [
        db.put(&big_key, b"x"),
        db.put(b"b", &big_value),
        db.delete(&big_key),
    ] {
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    }
    let mut tx = db.begin();
    assert!(matches!(
        tx.put(&big_key, b"x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(db.get(&big_key), Err(Error::InvalidArgument(_))));
    assert_eq!(db.snapshot().seq(), seq);
    // The limits themselves are accepted.
    let max_key = vec![b'k'; MAX_KEY_BYTES];
    db.put(&max_key, b"edge").unwrap();
    assert_eq!(db.get(&max_key).unwrap().as_deref(), Some(&b"edge"[..]));
}

#[test]
fn use_after_close_is_an_error() {
    let sim = Arc::new(SimVfs::new(2));
    let db = Db::open("db", sim_options(&sim, Tier::BTree)).unwrap();
    db.put(b"a", b"1").unwrap();
    let snap = db.snapshot();
    let mut tx = db.begin();
    let mut iter = db.range(..).unwrap();
    let clone = db.clone();
    db.close().unwrap();
    assert!(matches!(db.get(b"a"), Err(Error::Closed)));
    assert!(matches!(clone.put(b"a", b"2"), Err(Error::Closed)));
    assert!(matches!(snap.get(b"a"), Err(Error::Closed)));
    assert!(matches!(tx.put(b"a", b"3"), Err(Error::Closed)));
    assert!(matches!(iter.next(), Some(Err(Error::Closed))));
    assert!(matches!(db.checkpoint(), Err(Error::Closed)));
    assert!(matches!(db.close(), Err(Error::Closed)));
    // The lock was released: the database opens again, unchanged.
    drop((db, clone, snap, tx, iter));
    let db = Db::open("db", sim_options(&sim, Tier::BTree)).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn a_directory_that_is_not_a_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photos");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("cat.jpg"), b"not a database").unwrap();
    let err = Db::open(&path, Options::default()).err().expect("refused");
    assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    let names: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("cat.jpg")]);
    assert_eq!(
        std::fs::read(path.join("cat.jpg")).unwrap(),
        b"not a database"
    );
    // A plain file where the directory should be is refused too.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(Db::open(&file, Options::default()).is_err());
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_newer_format_version_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    Db::open(&path, Options::default())
        .unwrap()
        .close()
        .unwrap();
    let manifest = path.join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    let n = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&manifest, &bytes).unwrap();
    let err = Db::open(&path, Options::default()).err().expect("refused");
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 99, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&manifest).unwrap(), bytes);
}

#[test]
fn conflicting_options_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for opts in [
        Options::default().page_size(1000),
        Options::default().page_size(1 << 20),
        Options::default().wal_segment_bytes(10),
    ] {
        let err = Db::open(&path, opts).err().expect("refused");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(!path.exists());
    }
}

#[test]
fn a_second_handle_in_this_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open(&path, Options::default()).unwrap();
    db.put(b"k", b"v").unwrap();
    let err = Db::open(&path, Options::default()).err().expect("refused");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    db.close().unwrap();
    Db::open(&path, Options::default())
        .unwrap()
        .close()
        .unwrap();
}

/// Run as a child process by the next test: tries to open the database the
/// parent holds, and must be refused.
#[test]
fn child_process_open_attempt() {
    let Ok(path) = std::env::var("TIERDB_CHILD_OPEN") else {
        return;
    };
    match Db::open(&path, Options::default()) {
        Err(Error::Locked { .. }) => println!("CHILD: refused as locked"),
        Err(e) => panic!("CHILD: unexpected error {e}"),
        Ok(_) => panic!("CHILD: opened a database another process holds"),
    }
}

#[test]
fn another_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open(&path, Options::default()).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_open_attempt",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TIERDB_CHILD_OPEN", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD: refused as locked"), "{stdout}");
    db.close().unwrap();
}
