//! Damaged tables: every single-byte flip and every truncation of a small
//! table, and random flips in a big one, must give `Error::Corruption` at
//! open or on a read — never a panic, never an entry that was not written.

mod sstable_support;

use std::sync::Arc;

use bytes::Bytes;
use sstable_support::*;
use tierdb_cache::PageCache;
use tierdb_io::{Error, OpenMode, SimVfs, Vfs};
use tierdb_lsm::entry::{Entry, RangeTombstone};
use tierdb_lsm::sstable::{SstOptions, SstReader, SstWriter};

fn small_model() -> Vec<Entry> {
    let mut entries = Vec::new();
    for i in 0..40u32 {
        let key = format!("key{:03}", i / 2);
        if i % 5 == 0 {
            entries.push(del(key.as_bytes(), 100 - u64::from(i)));
        } else {
            entries.push(put(
                key.as_bytes(),
                100 - u64::from(i),
                format!("value{i}").as_bytes(),
            ));
        }
    }
    normalize(entries)
}

fn small_options() -> SstOptions {
    SstOptions {
        block_bytes: 128,
        restart_interval: 3,
        bloom_bits_per_key: 10,
        index_partition_bytes: 16 * 1024,
    }
}

/// Both index kinds: one index block, and a two-level index (partitions of
/// about 64 bytes: two or three data blocks each).
fn both_index_kinds() -> [(&'static str, SstOptions); 2] {
    [
        ("single index", small_options()),
        (
            "two-level index",
            SstOptions {
                index_partition_bytes: 64,
                ..small_options()
            },
        ),
    ]
}

/// Opens `bytes` as a table and reads everything (scans both ways, gets of
/// every model key). Returns the first error; panics on a wrong entry.
fn open_and_read_all(vfs: &SimVfs, bytes: &[u8], model: &[Entry]) -> Result<(), Error> {
    let file = raw_file(vfs, "damaged.sst", bytes);
    let reader = SstReader::open(file, 7, Arc::new(PageCache::new(1 << 20)))?;
    let forward = scan_forward(&reader)?;
    assert_eq!(forward, model, "a damaged table returned wrong entries");
    assert_eq!(scan_backward(&reader)?, model, "wrong entries backward");
    for entry in model {
        let got = reader.get(&entry.key, entry.seq)?;
        assert_eq!(got.as_ref(), Some(entry), "wrong get");
    }
    Ok(())
}

fn assert_corruption(result: Result<(), Error>, what: &str) {
    match result {
        Err(err) if err.is_corruption() => {
            let Error::Corruption { file, .. } = &err else {
                unreachable!()
            };
            assert!(
                file.ends_with("damaged.sst"),
                "{what}: error names {file:?}"
            );
        }
        Err(err) => panic!("{what}: expected corruption, got {err}"),
        Ok(()) => panic!("{what}: damage went unnoticed"),
    }
}

#[test]
fn sstable_every_byte_flip_of_a_small_table_is_detected() {
    let model = small_model();
    let vfs = sim_vfs(10);
    for (kind, opts) in both_index_kinds() {
        let (file, _) = write_table(&vfs, "small.sst", &model, opts);
        let good = file.read_all().unwrap();
        assert!(
            good.len() > 500,
            "table too small to be interesting: {}",
            good.len()
        );
        open_and_read_all(&vfs, &good, &model).unwrap();
        for at in 0..good.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= mask;
                assert_corruption(
                    open_and_read_all(&vfs, &bad, &model),
                    &format!("{kind}: flip {mask:#x} at {at}"),
                );
            }
        }
    }
}

#[test]
fn sstable_every_truncation_of_a_small_table_is_detected() {
    let model = small_model();
    let vfs = sim_vfs(11);
    for (kind, opts) in both_index_kinds() {
        let (file, _) = write_table(&vfs, "small.sst", &model, opts);
        let good = file.read_all().unwrap();
        for len in 0..good.len() {
            assert_corruption(
                open_and_read_all(&vfs, &good[..len], &model),
                &format!("{kind}: truncated to {len}"),
            );
        }
    }
}

#[test]
fn sstable_random_flips_in_a_big_table_are_detected() {
    let model: Vec<Entry> = (0..5000u32)
        .map(|i| {
            put(
                format!("k{i:06}").as_bytes(),
                u64::from(i) + 1,
                &vec![(i % 251) as u8; (i % 97) as usize],
            )
        })
        .collect();
    let vfs = sim_vfs(12);
    let (file, _) = write_table(&vfs, "big.sst", &model, SstOptions::default());
    let good = file.read_all().unwrap();
    let seed = 0x5eed_u64;
    println!("random flips seed {seed:#x}, table {} bytes", good.len());
    let mut state = seed;
    for round in 0..60 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let at = (state >> 33) as usize % good.len();
        let mut bad = good.clone();
        bad[at] ^= ((state >> 13) as u8) | 1;
        assert_corruption(
            open_and_read_all(&vfs, &bad, &model),
            &format!("seed {seed:#x} round {round} flip at {at}"),
        );
    }
}

#[test]
fn sstable_corruption_names_the_damaged_block_offset() {
    let model = small_model();
    let vfs = sim_vfs(13);
    let (file, _) = write_table(&vfs, "small.sst", &model, small_options());
    let mut bad = file.read_all().unwrap();
    bad[1] ^= 0x40; // inside data block 0, which starts at offset 0
    let reader = SstReader::open(raw_file(&vfs, "damaged.sst", &bad), 1, cache()).unwrap();
    match scan_forward(&reader) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, 0),
        other => panic!("expected corruption at block 0, got {other:?}"),
    }
}

fn tombstones() -> Vec<RangeTombstone> {
    let t = |start: &[u8], end: Option<&[u8]>, seq| RangeTombstone {
        start: Bytes::copy_from_slice(start),
        end: end.map(Bytes::copy_from_slice),
        seq,
    };
    // In block order: start ascending, then sequence descending.
    vec![
        t(b"a", Some(b"k"), 9),
        t(b"a", Some(b"c"), 4),
        t(b"m", None, 7),
    ]
}

/// Opens `bytes`, reads the entries and range tombstones; panics on wrong
/// contents, returns the first error.
fn open_with_tombstones(vfs: &SimVfs, bytes: &[u8], model: &[Entry]) -> Result<(), Error> {
    let file = raw_file(vfs, "damaged.sst", bytes);
    let reader = SstReader::open(file, 7, Arc::new(PageCache::new(1 << 20)))?;
    assert_eq!(reader.range_tombstones(), tombstones().as_slice());
    assert_eq!(reader.meta().range_tombstones, 3);
    if !model.is_empty() {
        assert_eq!(scan_forward(&reader)?, model, "wrong entries");
    }
    Ok(())
}

/// Range tombstones round-trip (with and without entries, given in any
/// order) and every byte flip of such a table is caught.
#[test]
fn sstable_range_tombstones_round_trip_and_flips_are_detected() {
    let vfs = sim_vfs(12);
    for model in [small_model()[..5].to_vec(), Vec::new()] {
        let file = vfs.open(&path("rt.sst"), OpenMode::Create).unwrap();
        file.set_len(0).unwrap();
        let mut writer = SstWriter::new(Arc::clone(&file), small_options());
        for entry in &model {
            writer.add(entry).unwrap();
        }
        for t in tombstones().into_iter().rev() {
            writer.add_range_tombstone(t).unwrap();
        }
        let meta = writer.finish().unwrap();
        assert_eq!(
            (meta.entries, meta.range_tombstones),
            (model.len() as u64, 3)
        );
        assert!(meta.max_seq >= 9 && meta.min_seq <= 4, "{meta:?}");
        let good = file.read_all().unwrap();
        open_with_tombstones(&vfs, &good, &model).unwrap();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert_corruption(
                open_with_tombstones(&vfs, &bad, &model),
                &format!("flip at {at} of a table with {} entries", model.len()),
            );
        }
    }
}
