//! LSM tier hot paths: memtable insert and get (through the tier, before
//! any flush), SSTable point lookup (index + block seek, block cached), and
//! the bloom filter probe of an absent key.
//!
//! `cargo bench -p tierdb-lsm --bench lsm`

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tierdb_cache::PageCache;
use tierdb_io::{OpenMode, OsVfs, Vfs};
use tierdb_lsm::entry::{Entry, EntryKind};
use tierdb_lsm::sstable::{SstOptions, SstReader, SstWriter};
use tierdb_lsm::{LsmOptions, LsmTier};
use tierdb_tier::{Tier, WriteOp};

const KEYS: u64 = 100_000;

fn key(i: u64) -> Bytes {
    Bytes::from(format!("user{i:016}"))
}

fn bench_memtable(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LsmOptions {
        // Large enough that the benchmark never fills it.
        memtable_bytes: 1 << 30,
        background_compaction: false,
        ..LsmOptions::default()
    };
    let tier = LsmTier::open(
        Arc::new(OsVfs::new()),
        dir.path(),
        Arc::new(PageCache::new(64 << 20)),
        1,
        opts,
    )
    .expect("open");
    let value = Bytes::from(vec![b'v'; 200]);
    let mut seq = 0u64;
    for i in 0..KEYS {
        seq += 1;
        let op = WriteOp::Put {
            key: key(i),
            value: value.clone(),
        };
        tier.apply(seq, &[op]).expect("apply");
    }
    let mut group = c.benchmark_group("memtable");
    let mut i = 0u64;
    group.bench_function("insert", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            seq += 1;
            let op = WriteOp::Put {
                key: key(i),
                value: value.clone(),
            };
            tier.apply(seq, &[op]).expect("apply");
        })
    });
    let view = tier.read_view();
    group.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            view.get(&key(i)).expect("get").expect("present")
        })
    });
    group.finish();
}

fn bench_sstable(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vfs = OsVfs::new();
    let path = dir.path().join("t.sst");
    let file = vfs.open(&path, OpenMode::Create).expect("create");
    let mut writer = SstWriter::new(Arc::clone(&file), SstOptions::default());
    for i in 0..KEYS {
        let entry = Entry {
            key: key(i * 2),
            seq: 1,
            kind: EntryKind::Put,
            value: Bytes::from(vec![b'v'; 200]),
        };
        writer.add(&entry).expect("add");
    }
    writer.finish().expect("finish");
    let file = vfs.open(&path, OpenMode::Read).expect("open");
    let reader = SstReader::open(file, 1, Arc::new(PageCache::new(256 << 20))).expect("reader");
    let mut group = c.benchmark_group("sstable");
    let mut i = 0u64;
    group.bench_function("block_seek_get", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            reader.get(&key(i * 2), 9).expect("get").expect("present")
        })
    });
    group.bench_function("bloom_probe_absent", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            reader.may_contain(&key(i * 2 + 1))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_memtable, bench_sstable);
criterion_main!(benches);
