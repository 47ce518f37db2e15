//! A crash tears the tail of the last segment at any byte: recovery keeps
//! the valid prefix, cuts the rest, and reports it — never an error.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{append_range, assert_replayed, open_collect, payload, segment_names, wal_dir};
use tierdb_io::{SimVfs, Vfs};
use tierdb_wal::WalOptions;

const HEADER: usize = 32;
const RECORD_HEADER: usize = 24;

/// A log of records 1..=`n` in one segment, as bytes, and its path.
fn one_segment_log(n: u64) -> (PathBuf, Vec<u8>) {
    let sim = SimVfs::new(0);
    let dir = wal_dir(Path::new("/db"));
    let (wal, _, _) = open_collect(Arc::new(sim.clone()), WalOptions::new(&dir), 0).unwrap();
    append_range(&wal, 1, n);
    wal.close().unwrap();
    let path = dir.join("000001.log");
    let bytes = sim.file_contents(&path).unwrap();
    (path, bytes)
}

/// Offset where record `lsn` starts in a segment holding 1..
fn record_offset(lsn: u64) -> usize {
    HEADER
        + (1..lsn)
            .map(|l| RECORD_HEADER + payload(l).len())
            .sum::<usize>()
}

#[test]
fn truncating_the_last_record_at_every_byte_recovers_the_prefix() {
    let (path, bytes) = one_segment_log(20);
    let start = record_offset(20);
    assert_eq!(bytes.len(), start + RECORD_HEADER + payload(20).len());
    for cut in start..=bytes.len() {
        let sim = SimVfs::new(cut as u64);
        sim.set_file_contents(&path, bytes[..cut].to_vec());
        let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
        let dir = path.parent().unwrap().to_path_buf();
        let (wal, rec, seen) = open_collect(vfs.clone(), WalOptions::new(&dir), 0)
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let last = if cut == bytes.len() { 20 } else { 19 };
        assert_replayed(&seen, 1, last, &format!("cut at {cut}"));
        let torn = (cut != start && cut != bytes.len()).then(|| (path.clone(), start as u64));
        assert_eq!(rec.torn_tail, torn, "cut at {cut}");
        assert_eq!(
            sim.file_contents(&path).unwrap().len(),
            if last == 20 { cut } else { start }
        );
        // The log goes on from the prefix, and the cut is durable.
        append_range(&wal, last + 1, last + 2);
        wal.sync_all().unwrap();
        drop(wal);
        sim.crash();
        let (_wal, _, seen) = open_collect(vfs, WalOptions::new(&dir), 0).unwrap();
        assert_replayed(&seen, 1, last + 2, &format!("cut at {cut}, reopened"));
    }
}

#[test]
fn garbage_or_zeros_after_the_last_record_is_cut() {
    let (path, bytes) = one_segment_log(10);
    for (name, tail) in [
        ("zeros", vec![0u8; 300]),
        ("garbage", (0..300).map(|i| (i * 37 % 251) as u8).collect()),
    ] {
        let sim = SimVfs::new(3);
        let mut damaged = bytes.clone();
        damaged.extend_from_slice(&tail);
        sim.set_file_contents(&path, damaged);
        let dir = path.parent().unwrap();
        let (_wal, rec, seen) =
            open_collect(Arc::new(sim.clone()), WalOptions::new(dir), 0).unwrap();
        assert_replayed(&seen, 1, 10, name);
        assert_eq!(
            rec.torn_tail,
            Some((path.clone(), bytes.len() as u64)),
            "{name}"
        );
    }
}

#[test]
fn a_half_created_last_segment_is_removed() {
    let (path, bytes) = one_segment_log(10);
    let next = path.with_file_name("000002.log");
    let header_of_next: Vec<u8> = {
        // A real header for segment 2, to tear.
        let sim = SimVfs::new(4);
        sim.set_file_contents(&path, bytes.clone());
        let dir = path.parent().unwrap();
        let (wal, _, _) = open_collect(Arc::new(sim.clone()), WalOptions::new(dir), 0).unwrap();
        wal.close().unwrap();
        sim.file_contents(&next).unwrap()
    };
    assert_eq!(header_of_next.len(), HEADER);
    let cases: Vec<Vec<u8>> = (0..HEADER)
        .map(|cut| header_of_next[..cut].to_vec())
        .chain([vec![0u8; HEADER], vec![0u8; 500]])
        .collect();
    for (i, content) in cases.into_iter().enumerate() {
        let sim = SimVfs::new(5);
        sim.set_file_contents(&path, bytes.clone());
        sim.set_file_contents(&next, content);
        let vfs: Arc<dyn Vfs> = Arc::new(sim.clone());
        let dir = path.parent().unwrap();
        let (wal, rec, seen) = open_collect(vfs.clone(), WalOptions::new(dir), 0)
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_replayed(&seen, 1, 10, &format!("case {i}"));
        assert_eq!(rec.torn_tail, Some((next.clone(), 0)), "case {i}");
        assert_eq!(rec.segments, 1, "case {i}");
        append_range(&wal, 11, 11);
        wal.close().unwrap();
        assert_eq!(
            segment_names(&*vfs, dir),
            ["000001.log", "000002.log"],
            "case {i}"
        );
    }
}
