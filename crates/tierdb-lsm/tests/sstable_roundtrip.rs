//! Tables written and read back: random entry sets against a sorted-`Vec`
//! model (scan both ways, `get` at many snapshots, seeks and direction
//! changes), plus huge keys and values.

mod sstable_support;

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use sstable_support::*;
use tierdb_lsm::entry::{Entry, EntryKind, InternalIter};
use tierdb_lsm::sstable::{SstOptions, SstReader};

fn arb_entry() -> impl Strategy<Value = Entry> {
    // Few, short keys so that versions pile up; values often empty.
    let key = prop::collection::vec(0u8..4, 0..4);
    let value = prop::collection::vec(any::<u8>(), 0..40);
    (key, 0u64..50, any::<bool>(), value).prop_map(|(key, seq, is_put, value)| {
        if is_put {
            put(&key, seq, &value)
        } else {
            del(&key, seq)
        }
    })
}

fn arb_options() -> impl Strategy<Value = SstOptions> {
    (
        prop::sample::select(vec![64usize, 256, 4096]),
        1usize..20,
        prop::sample::select(vec![0u32, 1, 10]),
        // Tiny partitions make most tables two-level; 16 KiB, single.
        prop::sample::select(vec![1usize, 100, 16 * 1024]),
    )
        .prop_map(
            |(block_bytes, restart_interval, bloom_bits_per_key, index_partition_bytes)| {
                SstOptions {
                    block_bytes,
                    restart_interval,
                    bloom_bits_per_key,
                    index_partition_bytes,
                }
            },
        )
}

fn probe_keys() -> Vec<Vec<u8>> {
    let mut keys = vec![vec![], vec![4], vec![255, 255]];
    for a in 0u8..4 {
        keys.push(vec![a]);
        for b in 0u8..4 {
            keys.push(vec![a, b]);
            keys.push(vec![a, b, 1]);
        }
    }
    keys
}

fn check_gets(reader: &SstReader, model: &[Entry]) {
    for key in probe_keys() {
        for snapshot in [0, 1, 7, 20, 25, 49, 50, u64::MAX] {
            let got = reader.get(&key, snapshot).unwrap();
            assert_eq!(
                got.as_ref(),
                model_get(model, &key, snapshot),
                "get {key:?} @ {snapshot}"
            );
        }
    }
}

fn check_seeks(reader: &Arc<SstReader>, model: &[Entry]) {
    let mut iter = reader.iter();
    for key in probe_keys() {
        iter.seek(&key).unwrap();
        check_position(&mut iter, model, model_seek(model, &key));
        iter.seek_for_prev(&key).unwrap();
        check_position(&mut iter, model, model_seek_for_prev(model, &key));
    }
}

/// Checks the position, then walks next, prev, prev, next (direction
/// changes) and checks again at every step.
fn check_position(iter: &mut impl InternalIter, model: &[Entry], expected: Option<usize>) {
    let at = |iter: &dyn Fn() -> Option<Entry>, want: Option<usize>| {
        assert_eq!(iter(), want.and_then(|i| model.get(i)).cloned());
    };
    let Some(start) = expected else {
        assert!(!iter.valid());
        return;
    };
    at(&|| Some(iter.entry().clone()), Some(start));
    let mut position = Some(start);
    for forward in [true, false, false, true] {
        if forward {
            iter.next().unwrap()
        } else {
            iter.prev().unwrap()
        }
        position = position.and_then(|p| {
            if forward {
                p.checked_add(1)
            } else {
                p.checked_sub(1)
            }
        });
        position = position.filter(|&p| p < model.len());
        let current = iter.valid().then(|| iter.entry().clone());
        at(&|| current.clone(), position);
        if position.is_none() {
            return;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sstable_random_tables_match_the_model(entries in prop::collection::vec(arb_entry(), 1..300), opts in arb_options()) {
        let model = normalize(entries);
        let vfs = sim_vfs(1);
        let (file, meta) = write_table(&vfs, "t.sst", &model, opts);
        let reader = open(file);
        prop_assert_eq!(reader.meta(), &meta);
        prop_assert_eq!(meta.entries, model.len() as u64);
        let tombstones = model.iter().filter(|e| e.kind == EntryKind::Delete).count() as u64;
        prop_assert_eq!(meta.tombstones, tombstones);
        prop_assert_eq!(scan_forward(&reader).unwrap(), model.clone());
        prop_assert_eq!(scan_backward(&reader).unwrap(), model.clone());
        check_gets(&reader, &model);
        check_seeks(&reader, &model);
    }
}

#[test]
fn sstable_meta_describes_the_table() {
    let model = vec![
        put(b"a", 9, b"x"),
        del(b"a", 3),
        put(b"b", 5, b""),
        del(b"c", 12),
    ];
    let vfs = sim_vfs(2);
    let (file, meta) = write_table(&vfs, "m.sst", &model, SstOptions::default());
    assert_eq!(meta.entries, 4);
    assert_eq!(meta.tombstones, 2);
    assert_eq!(&meta.smallest_key[..], b"a");
    assert_eq!(&meta.largest_key[..], b"c");
    assert_eq!((meta.min_seq, meta.max_seq), (3, 12));
    assert_eq!(meta.file_bytes, file.len().unwrap());
    assert_eq!(open(file).meta(), &meta);
}

#[test]
fn sstable_huge_keys_and_values_round_trip() {
    let big_key = |c: u8| vec![c; 16 << 10];
    let model = vec![
        put(&big_key(b'a'), 3, b"small"),
        put(&big_key(b'b'), 9, &vec![7u8; 3 << 20]),
        put(&big_key(b'b'), 2, b""),
        put(b"c", 1, &vec![9u8; 5 << 20]),
        del(b"d", 4),
    ];
    let vfs = sim_vfs(3);
    let (file, _) = write_table(&vfs, "big.sst", &model, SstOptions::default());
    let reader = open(file);
    assert_eq!(scan_forward(&reader).unwrap(), model);
    assert_eq!(scan_backward(&reader).unwrap(), model);
    let got = reader.get(&big_key(b'b'), 5).unwrap().unwrap();
    assert_eq!((got.seq, got.value.len()), (2, 0));
    assert_eq!(reader.get(b"c", 1).unwrap().unwrap().value.len(), 5 << 20);
}

#[test]
fn sstable_a_64_mib_value_round_trips() {
    let value = Bytes::from(vec![0x5au8; 64 << 20]);
    let model = vec![
        put(b"k", 1, b"a"),
        Entry {
            key: Bytes::from_static(b"l"),
            seq: 2,
            kind: EntryKind::Put,
            value,
        },
    ];
    let vfs = sim_vfs(4);
    let (file, _) = write_table(&vfs, "huge.sst", &model, SstOptions::default());
    let reader = open(file);
    let got = reader.get(b"l", 10).unwrap().unwrap();
    assert_eq!(got, model[1]);
}
