//! Damaged bytes that no crash explains give `Error::Corruption` naming the
//! file and offset; `TolerateCorruption` drops from there and says so.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{
    append_range, assert_replayed, fix_record_crc, open_collect, record_offsets, wal_dir,
};
use tierdb_io::{Error, OsVfs, SimVfs, Vfs};
use tierdb_wal::{RecoveryMode, WalOptions};

fn opts(dir: &Path, segment_bytes: u64, mode: RecoveryMode) -> WalOptions {
    let mut o = WalOptions::new(dir);
    o.segment_bytes = segment_bytes;
    o.recovery = mode;
    o
}

fn expect_corruption(err: Error, file: &Path, offset: u64) {
    match err {
        Error::Corruption {
            file: f,
            offset: o,
            reason,
        } => {
            assert_eq!((f.as_path(), o), (file, offset), "reason: {reason}");
        }
        other => panic!(
            "expected corruption in {} at {offset}, got {other}",
            file.display()
        ),
    }
}

/// Records 1..=300 in segments of ~512 bytes, all synced and closed.
fn many_segments(sim: &SimVfs) -> (PathBuf, Vec<String>) {
    let dir = wal_dir(Path::new("/db"));
    let o = opts(&dir, 512, RecoveryMode::Strict);
    let (wal, _, _) = open_collect(Arc::new(sim.clone()), o, 0).unwrap();
    append_range(&wal, 1, 300);
    wal.close().unwrap();
    let names = common::segment_names(sim, &dir);
    assert!(names.len() > 10);
    (dir, names)
}

/// Flips one bit of the payload of the 3rd record of `path`; returns the
/// record's offset and lsn.
fn flip_third_record(sim: &SimVfs, path: &Path) -> (u64, u64) {
    let mut bytes = sim.file_contents(path).unwrap();
    let (at, lsn, _) = record_offsets(&bytes)[2];
    bytes[at + 24] ^= 0x10;
    sim.set_file_contents(path, bytes);
    (at as u64, lsn)
}

#[test]
fn bit_flip_in_a_middle_segment_is_corruption_at_its_offset() {
    let sim = SimVfs::new(10);
    let (dir, names) = many_segments(&sim);
    let victim = dir.join(&names[names.len() / 2]);
    let (offset, _) = flip_third_record(&sim, &victim);
    let err = open_collect(
        Arc::new(sim.clone()),
        opts(&dir, 512, RecoveryMode::Strict),
        0,
    )
    .unwrap_err();
    expect_corruption(err, &victim, offset);
    // Strict recovery changed nothing: the files are as they were.
    assert_eq!(common::segment_names(&sim, &dir), names);
}

#[test]
fn tolerate_corruption_drops_from_the_bad_record_and_reports_it() {
    let sim = SimVfs::new(11);
    let (dir, names) = many_segments(&sim);
    let k = names.len() / 2;
    let victim = dir.join(&names[k]);
    let (offset, bad_lsn) = flip_third_record(&sim, &victim);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    let tolerant = opts(&dir, 512, RecoveryMode::TolerateCorruption);
    let (wal, rec, seen) = open_collect(vfs.clone(), tolerant, 0).unwrap();
    assert_replayed(&seen, 1, bad_lsn - 1, "tolerant");
    assert_eq!(rec.dropped_by_tolerance, Some((victim.clone(), offset)));
    assert_eq!(rec.last_lsn, bad_lsn - 1);
    assert_eq!(sim.file_contents(&victim).unwrap().len() as u64, offset);
    append_range(&wal, bad_lsn, bad_lsn + 5);
    wal.close().unwrap();
    drop(wal);
    sim.crash();
    let (_wal, rec, seen) = open_collect(vfs, opts(&dir, 512, RecoveryMode::Strict), 0).unwrap();
    assert_replayed(&seen, 1, bad_lsn + 5, "strict after tolerant repair");
    assert_eq!(rec.dropped_by_tolerance, None);
}

/// Records 1..=5 synced, then 6..=10 written in a later group: those later
/// records say the segment was synced up to the end of record 5.
fn synced_then_written(sim: &SimVfs) -> (PathBuf, Vec<(usize, u64, u64)>) {
    let dir = wal_dir(Path::new("/db"));
    let (wal, _, _) = open_collect(Arc::new(sim.clone()), WalOptions::new(&dir), 0).unwrap();
    append_range(&wal, 1, 5);
    wal.sync_to(5).unwrap();
    append_range(&wal, 6, 10);
    wal.write_to(10).unwrap();
    drop(wal);
    let path = dir.join("000001.log");
    let records = record_offsets(&sim.file_contents(&path).unwrap());
    assert_eq!(records.len(), 10);
    assert_eq!(
        records[6].2, records[5].0 as u64,
        "record 7 claims synced up to record 6"
    );
    (path, records)
}

fn flip_record(sim: &SimVfs, path: &Path, at: usize) {
    let mut bytes = sim.file_contents(path).unwrap();
    bytes[at + 26] ^= 0x01;
    sim.set_file_contents(path, bytes);
}

#[test]
fn bit_flip_in_synced_part_of_the_last_segment_is_corruption() {
    for victim_lsn in [1u64, 3, 5] {
        let sim = SimVfs::new(victim_lsn);
        let (path, records) = synced_then_written(&sim);
        let at = records[victim_lsn as usize - 1].0;
        flip_record(&sim, &path, at);
        let dir = path.parent().unwrap();
        let err = open_collect(Arc::new(sim.clone()), WalOptions::new(dir), 0).unwrap_err();
        expect_corruption(err, &path, at as u64);
    }
}

#[test]
fn bad_record_in_unsynced_part_of_the_last_segment_is_a_crash_hole() {
    // A power loss may keep record 9 and lose record 7: legitimate, since
    // nothing written after record 7 claims it was synced.
    for victim_lsn in [6u64, 7, 10] {
        let sim = SimVfs::new(victim_lsn);
        let (path, records) = synced_then_written(&sim);
        let at = records[victim_lsn as usize - 1].0;
        flip_record(&sim, &path, at);
        let dir = path.parent().unwrap();
        let (_wal, rec, seen) = open_collect(Arc::new(sim.clone()), WalOptions::new(dir), 0)
            .unwrap_or_else(|e| panic!("victim {victim_lsn}: {e}"));
        assert_replayed(&seen, 1, victim_lsn - 1, &format!("victim {victim_lsn}"));
        assert_eq!(rec.torn_tail, Some((path.clone(), at as u64)));
    }
}

#[test]
fn wrong_lsn_with_a_valid_checksum_is_corruption() {
    let sim = SimVfs::new(12);
    let (path, records) = synced_then_written(&sim);
    let mut bytes = sim.file_contents(&path).unwrap();
    let at = records[8].0; // lsn 9 -> 42
    bytes[at + 8..at + 16].copy_from_slice(&42u64.to_le_bytes());
    fix_record_crc(&mut bytes, at);
    sim.set_file_contents(&path, bytes);
    let err = open_collect(
        Arc::new(sim.clone()),
        WalOptions::new(path.parent().unwrap()),
        0,
    )
    .unwrap_err();
    expect_corruption(err, &path, at as u64);
}

#[test]
fn missing_middle_segment_is_corruption() {
    let sim = SimVfs::new(13);
    let (dir, names) = many_segments(&sim);
    let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
    vfs.remove(&dir.join(&names[3])).unwrap();
    let err = open_collect(vfs.clone(), opts(&dir, 512, RecoveryMode::Strict), 0).unwrap_err();
    expect_corruption(err, &dir.join(&names[4]), 0);
    let tolerant = opts(&dir, 512, RecoveryMode::TolerateCorruption);
    let (_wal, rec, seen) = open_collect(vfs, tolerant, 0).unwrap();
    assert_eq!(rec.dropped_by_tolerance, Some((dir.join(&names[4]), 0)));
    let last = seen.last().unwrap().0;
    assert_replayed(&seen, 1, last, "up to the gap");
}

#[test]
fn damaged_segment_header_is_corruption() {
    let sim = SimVfs::new(14);
    let (dir, names) = many_segments(&sim);
    for victim in [&names[0], &names[5], names.last().unwrap()] {
        let path = dir.join(victim);
        let good = sim.file_contents(&path).unwrap();
        let mut bad = good.clone();
        bad[15] ^= 0x40; // inside the segment number
        sim.set_file_contents(&path, bad);
        let err = open_collect(
            Arc::new(sim.clone()),
            opts(&dir, 512, RecoveryMode::Strict),
            0,
        )
        .unwrap_err();
        expect_corruption(err, &path, 0);
        sim.set_file_contents(&path, good);
    }
}

#[test]
fn newer_format_version_is_refused() {
    let sim = SimVfs::new(15);
    let (path, _) = synced_then_written(&sim);
    let mut bytes = sim.file_contents(&path).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    sim.set_file_contents(&path, bytes);
    let err = open_collect(
        Arc::new(sim.clone()),
        WalOptions::new(path.parent().unwrap()),
        0,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bit_flip_in_a_middle_segment_on_real_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = wal_dir(tmp.path());
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let (wal, _, _) = open_collect(vfs.clone(), opts(&dir, 1024, RecoveryMode::Strict), 0).unwrap();
    append_range(&wal, 1, 200);
    wal.close().unwrap();
    drop(wal);
    let names = common::segment_names(&*vfs, &dir);
    assert!(names.len() >= 4, "{names:?}");
    let victim = dir.join(&names[1]);
    let mut bytes = std::fs::read(&victim).unwrap();
    let (at, _, _) = record_offsets(&bytes)[4];
    bytes[at + 2] ^= 0x80; // inside the stored crc
    std::fs::write(&victim, &bytes).unwrap();
    let err = open_collect(vfs, opts(&dir, 1024, RecoveryMode::Strict), 0).unwrap_err();
    expect_corruption(err, &victim, at as u64);
}

/// A sealed segment replay needs no record of (the next one starts at or
/// below `replay_after + 1`) is not read past its header: a bit flip in
/// its records goes unseen and the replay above `replay_after` is whole;
/// with a lower `replay_after` the same segment is scanned and the flip is
/// corruption. Its header is still checked.
#[test]
fn segments_wholly_below_replay_after_are_not_read() {
    let sim = SimVfs::new(12);
    let (dir, names) = many_segments(&sim);
    let victim = dir.join(&names[2]);
    let (offset, lsn) = flip_third_record(&sim, &victim);
    let next_first = record_offsets(&sim.file_contents(&dir.join(&names[3])).unwrap())[0].1;
    let o = || opts(&dir, 512, RecoveryMode::Strict);
    let (wal, rec, seen) = open_collect(Arc::new(sim.clone()), o(), next_first - 1).unwrap();
    assert_replayed(&seen, next_first, 300, "above a skipped segment");
    assert_eq!(rec.last_lsn, 300);
    drop(wal);
    let err = open_collect(Arc::new(sim.clone()), o(), lsn).unwrap_err();
    expect_corruption(err, &victim, offset);
    let mut bytes = sim.file_contents(&victim).unwrap();
    bytes[12] ^= 1; // the header's segment number
    sim.set_file_contents(&victim, bytes);
    let err = open_collect(Arc::new(sim.clone()), o(), 300).unwrap_err();
    expect_corruption(err, &victim, 0);
}
