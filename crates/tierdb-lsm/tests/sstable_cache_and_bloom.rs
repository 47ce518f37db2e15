//! Reads go through the shared page cache; the bloom filter keeps absent
//! keys away from the disk and its false-positive rate is what 10 bits per
//! key promise; the writer refuses bad input.

mod sstable_support;

use std::sync::Arc;

use sstable_support::*;
use tierdb_cache::PageCache;
use tierdb_io::{OpenMode, Vfs};
use tierdb_lsm::entry::{Entry, InternalIter};
use tierdb_lsm::sstable::{GetCost, SstOptions, SstReader, SstWriter};

#[test]
fn sstable_second_read_of_a_block_is_a_cache_hit() {
    let model: Vec<_> = (0..200u32)
        .map(|i| put(format!("k{i:04}").as_bytes(), 1, b"v"))
        .collect();
    let vfs = sim_vfs(20);
    let (file, _) = write_table(&vfs, "c.sst", &model, SstOptions::default());
    let cache = Arc::new(PageCache::new(1 << 20));
    let reader = SstReader::open(file, 42, Arc::clone(&cache)).unwrap();
    let before = cache.stats();
    assert!(reader.get(b"k0100", 5).unwrap().is_some());
    let after_first = cache.stats();
    assert_eq!(after_first.misses - before.misses, 1);
    assert_eq!(reader.stats().blocks_read, 1);
    assert!(reader.get(b"k0101", 5).unwrap().is_some());
    let after_second = cache.stats();
    assert_eq!(
        after_second.hits - after_first.hits,
        1,
        "second read missed the cache"
    );
    assert_eq!(
        reader.stats().blocks_read,
        1,
        "second read went to the file"
    );
    // A second reader of the same file id shares the cached blocks.
    let file = vfs.open(&path("c.sst"), OpenMode::Read).unwrap();
    let again = SstReader::open(file, 42, cache).unwrap();
    assert!(again.get(b"k0100", 5).unwrap().is_some());
    assert_eq!(again.stats().blocks_read, 0);
}

#[test]
fn sstable_bloom_false_positive_rate_at_10_bits_per_key() {
    let keys = 20_000u32;
    let model: Vec<_> = (0..keys)
        .map(|i| put(format!("user{i:08}").as_bytes(), 1, b""))
        .collect();
    let vfs = sim_vfs(21);
    let (file, _) = write_table(&vfs, "b.sst", &model, SstOptions::default());
    let reader = open(file);
    assert!(
        model.iter().all(|e| reader.may_contain(&e.key)),
        "a present key was filtered out"
    );
    let probes = 20_000u32;
    let false_positives = (0..probes)
        .filter(|i| reader.may_contain(format!("user{:08}", keys + i).as_bytes()))
        .count();
    let rate = false_positives as f64 / f64::from(probes);
    println!(
        "bloom false-positive rate at 10 bits/key: {:.3}% ({false_positives}/{probes})",
        rate * 100.0
    );
    assert!(rate < 0.03, "false-positive rate {rate}");
    for i in 0..1000 {
        assert!(
            reader
                .get(format!("user{:08}", keys + i).as_bytes(), 9)
                .unwrap()
                .is_none()
        );
    }
    let stats = reader.stats();
    assert_eq!(stats.bloom_checked, 1000);
    assert!(
        stats.bloom_useful >= 970,
        "bloom useful only {} times",
        stats.bloom_useful
    );
    assert!(stats.blocks_read <= 30);
}

#[test]
fn sstable_no_filter_means_every_key_may_be_present() {
    let model = vec![put(b"a", 1, b"x")];
    let vfs = sim_vfs(22);
    let opts = SstOptions {
        bloom_bits_per_key: 0,
        ..SstOptions::default()
    };
    let (file, _) = write_table(&vfs, "n.sst", &model, opts);
    let reader = open(file);
    assert!(reader.may_contain(b"zzz"));
    assert!(reader.get(b"zzz", 5).unwrap().is_none());
    assert_eq!(reader.stats().bloom_checked, 0);
}

#[test]
fn sstable_writer_refuses_out_of_order_duplicate_and_empty() {
    let vfs = sim_vfs(23);
    let new_writer = |name: &str| {
        SstWriter::new(
            vfs.open(&path(name), OpenMode::Create).unwrap(),
            SstOptions::default(),
        )
    };
    let mut writer = new_writer("o.sst");
    writer.add(&put(b"b", 5, b"")).unwrap();
    for bad in [put(b"a", 9, b""), put(b"b", 5, b""), put(b"b", 6, b"")] {
        let err = writer.add(&bad).unwrap_err();
        assert!(matches!(err, tierdb_io::Error::InvalidArgument(_)), "{err}");
    }
    writer.add(&del(b"b", 4)).unwrap();
    assert!(writer.estimated_bytes() > 0);
    writer.finish().unwrap();
    let err = new_writer("e.sst").finish().unwrap_err();
    assert!(matches!(err, tierdb_io::Error::InvalidArgument(_)), "{err}");
}

#[test]
fn sstable_estimated_bytes_tracks_the_file_size() {
    let vfs = sim_vfs(24);
    let file = vfs.open(&path("s.sst"), OpenMode::Create).unwrap();
    let mut writer = SstWriter::new(Arc::clone(&file), SstOptions::default());
    for i in 0..5000u32 {
        writer
            .add(&put(format!("key{i:06}").as_bytes(), 1, &[1u8; 50]))
            .unwrap();
    }
    let estimate = writer.estimated_bytes();
    let meta = writer.finish().unwrap();
    let ratio = estimate as f64 / meta.file_bytes as f64;
    assert!(
        (0.9..1.1).contains(&ratio),
        "estimate {estimate} vs actual {}",
        meta.file_bytes
    );
}

#[test]
fn sstable_reader_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SstReader>();
    assert_send_sync::<Arc<SstReader>>();
}

#[test]
fn sstable_real_files_and_concurrent_readers() {
    use tierdb_io::OsVfs;
    use tierdb_lsm::entry::InternalIter;

    let dir = tempfile::tempdir().unwrap();
    let vfs = OsVfs::new();
    let file = vfs
        .open(&dir.path().join("000001.sst"), OpenMode::Create)
        .unwrap();
    let mut writer = SstWriter::new(file, SstOptions::default());
    let model: Vec<_> = (0..3000u32)
        .map(|i| put(format!("k{i:05}").as_bytes(), 10, &i.to_le_bytes()))
        .collect();
    for entry in &model {
        writer.add(entry).unwrap();
    }
    writer.finish().unwrap();
    let file = vfs
        .open(&dir.path().join("000001.sst"), OpenMode::Read)
        .unwrap();
    let reader = SstReader::open(file, 3, Arc::new(PageCache::new(64 << 10))).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4usize {
            let reader = Arc::clone(&reader);
            let model = &model;
            scope.spawn(move || {
                for entry in model.iter().skip(thread).step_by(7) {
                    assert_eq!(reader.get(&entry.key, 10).unwrap().as_ref(), Some(entry));
                }
                let mut iter = reader.iter();
                iter.seek(b"k01500").unwrap();
                assert_eq!(iter.entry(), &model[1500]);
            });
        }
    });
    assert_eq!(scan_forward(&reader).unwrap(), model);
}

/// A table whose index passes `index_partition_bytes` (default options,
/// 40,000 entries in about 1,140 data blocks, a 50 KiB index) gets a
/// two-level index: gets
/// and scans in both directions read right, and a cold get reads two
/// blocks from the file (an index partition, then a data block), a warm
/// one only the data block, from the cache (the partition stays pinned).
#[test]
fn sstable_large_table_gets_a_two_level_index() {
    let model: Vec<Entry> = (0..40_000u32)
        .map(|i| {
            put(
                format!("key{i:08}").as_bytes(),
                u64::from(i) + 1,
                &[(i % 251) as u8; 100],
            )
        })
        .collect();
    let vfs = sim_vfs(25);
    let (file, meta) = write_table(&vfs, "big.sst", &model, SstOptions::default());
    let reader = open(file);
    let partitions = reader.index_partitions();
    assert!(partitions >= 2, "{partitions} partitions for {meta:?}");
    assert_eq!(scan_forward(&reader).unwrap(), model);
    assert_eq!(scan_backward(&reader).unwrap(), model);
    for i in (0..40_000u32).step_by(97) {
        let e = &model[i as usize];
        assert_eq!(reader.get(&e.key, u64::MAX).unwrap().as_ref(), Some(e));
        assert!(
            reader
                .get(format!("key{i:08}x").as_bytes(), u64::MAX)
                .unwrap()
                .is_none()
        );
    }
    let mut iter = reader.iter();
    iter.seek(b"key00020000").unwrap();
    assert_eq!(iter.entry(), &model[20_000]);
    iter.seek_for_prev(b"key00030000x").unwrap();
    assert_eq!(iter.entry(), &model[30_000]);

    // Cold and warm point reads through a fresh cache.
    let (file, _) = write_table(&vfs, "big2.sst", &model, SstOptions::default());
    let reader = open(file);
    let mut cold = GetCost::default();
    let key = &model[12_345].key;
    reader
        .get_counted(key, u64::MAX, &mut cold)
        .unwrap()
        .unwrap();
    assert_eq!((cold.blocks, cold.blocks_read), (2, 2), "{cold:?}");
    let mut warm = GetCost::default();
    reader
        .get_counted(key, u64::MAX, &mut warm)
        .unwrap()
        .unwrap();
    assert_eq!((warm.blocks, warm.blocks_read), (1, 0), "{warm:?}");
}
