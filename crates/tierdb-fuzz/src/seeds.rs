//! Valid encodings for every target, made by the engine's own encoders:
//! the seeds of the checked-in corpus (`fuzz/corpus/<target>/`, written by
//! the `corpus_holds_every_seed` test) and the inputs the tests mutate;
//! and the regression inputs that a format change made stale, rebuilt the
//! same way ([`regressions_for_target`]).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb::Tier;
use tierdb::fuzz_api::{encode_commit_record, encode_manifest};
use tierdb_btree::fuzz_api::{
    PageNode, PageValue, encode_free_list_page, encode_header, encode_node,
};
use tierdb_io::{OpenMode, Vfs};
use tierdb_lsm::entry::{Entry, EntryKind, RangeTombstone};
use tierdb_lsm::fuzz_api::{
    BLOCK_TRAILER_LEN, FOOTER_LEN, FuzzBlock, FuzzBloom, FuzzLsmManifest, FuzzProperties,
    decode_footer, decode_index, encode_block, encode_footer, encode_index, encode_range_dels,
    internal_key, reseal_block, seal_block, unseal_block,
};
use tierdb_lsm::sstable::{SstOptions, SstWriter};
use tierdb_tier::WriteOp;
use tierdb_wal::fuzz_api::{encode_record, encode_segment_header};

/// The seeds of target `name`, each with its mode byte first.
pub fn for_target(name: &str) -> Vec<Vec<u8>> {
    let seeds = match name {
        "wal_record" => wal_records(),
        "wal_segment" => wal_segments(),
        "btree_page" => btree_pages(),
        "btree_header" => btree_headers(),
        "sst_data_block" => data_blocks(),
        "sst_index_block" => index_blocks(),
        "sst_bloom" => blooms(),
        "sst_footer" => footers(),
        "sst_properties" => properties(),
        "sst_range_del" => range_dels(),
        "sst_table" => tables(),
        "lsm_manifest" => lsm_manifests(),
        "db_manifest" => db_manifests(),
        "commit_record" => commit_records(),
        "crash_recovery" => programs(),
        other => panic!("no target {other}"),
    };
    assert!(!seeds.is_empty());
    seeds
}

/// The regression inputs of target `name` that are built here rather than
/// kept as the bytes the fuzzer found, because a format change made those
/// bytes stale (refused by version before reaching the bug): `(file name
/// in fuzz/corpus/<name>/, bytes)`.
pub fn regressions_for_target(name: &str) -> Vec<(&'static str, Vec<u8>)> {
    match name {
        // Found by libFuzzer on a format-1 table; rebuilt as a current one.
        "sst_table" => vec![(
            "regression-sst-index-key-disagrees-with-block",
            with_mode(0, index_key_disagrees_with_block()),
        )],
        _ => Vec::new(),
    }
}

/// A valid table (several data blocks, one-level index, bloom filter)
/// whose index entry for data block 0 names the block's second-to-last key
/// instead of its last, checksums intact: a `get` of the block's last key
/// would be sent to block 1 and miss it, unless the reader checks a loaded
/// block's keys against the index.
fn index_key_disagrees_with_block() -> Vec<u8> {
    let opts = SstOptions {
        block_bytes: 128,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        index_partition_bytes: 1 << 20,
    };
    let mut bytes = table(&table_entries(), &[], opts);
    let path = Path::new("/t/000001.sst");
    let footer_at = bytes.len() - FOOTER_LEN;
    let [_, (index_at, index_size), (props_at, props_size)] =
        decode_footer(&bytes[footer_at..], path, footer_at as u64).expect("footer");
    let props = &bytes[props_at as usize..(props_at + props_size) as usize + BLOCK_TRAILER_LEN];
    let props = unseal_block(props, path, props_at).expect("properties block");
    let data_end = FuzzProperties::decode(&props)
        .expect("properties")
        .data_end();
    let (index_at, sealed_len) = (index_at as usize, index_size as usize + BLOCK_TRAILER_LEN);
    let sealed = &bytes[index_at..index_at + sealed_len];
    let contents = unseal_block(sealed, path, index_at as u64).expect("index block");
    let mut rows = decode_index(contents, path, index_at as u64, data_end).expect("index");
    assert!(rows.len() > 2, "the table has several data blocks");
    let (_, offset, size) = rows[0];
    let block0 = &bytes[offset as usize..(offset + size) as usize + BLOCK_TRAILER_LEN];
    let block0 = unseal_block(block0, path, offset).expect("data block 0");
    let keys = FuzzBlock::parse(block0, path, offset)
        .and_then(|b| b.forward())
        .expect("data block 0 reads");
    assert_eq!(keys.last().map(|(k, _)| k), Some(&rows[0].0));
    rows[0].0 = keys[keys.len() - 2].0.clone();
    // Every index entry is a restart point (whole keys) and the keys have
    // one length, so the block keeps its size and nothing else moves.
    let index = seal_block(encode_index(&rows));
    assert_eq!(index.len(), sealed_len);
    bytes[index_at..index_at + sealed_len].copy_from_slice(&index);
    bytes
}

fn with_mode(mode: u8, bytes: Vec<u8>) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend(bytes);
    out
}

fn wal_records() -> Vec<Vec<u8>> {
    vec![
        with_mode(0, encode_record(1, 32, b"hello")),
        with_mode(1, encode_record(u64::MAX - 1, 0, &commit_payload())),
        with_mode(0, encode_record(9, 100, b"")),
    ]
}

fn segment(first_lsn: u64, payloads: &[&[u8]]) -> Vec<u8> {
    let mut seg = encode_segment_header(1, first_lsn);
    for (i, payload) in payloads.iter().enumerate() {
        let synced = seg.len() as u64;
        seg.extend(encode_record(first_lsn + i as u64, synced, payload));
    }
    seg
}

fn wal_segments() -> Vec<Vec<u8>> {
    let full = segment(1, &[b"one", b"two", &commit_payload(), b"four"]);
    let mut torn = full.clone();
    torn.truncate(full.len() - 3);
    vec![
        with_mode(0, full.clone()),
        with_mode(2, torn),
        with_mode(2 | 4, segment(2, &[b"x", b"y"])),
        with_mode(2, encode_segment_header(1, 1)),
        with_mode(2, vec![0; 20]),
    ]
}

fn btree_pages() -> Vec<Vec<u8>> {
    let leaf = PageNode::Leaf(vec![
        (
            Bytes::from_static(b"a"),
            PageValue::Inline(Bytes::from_static(b"1")),
        ),
        (
            Bytes::from_static(b"bb"),
            PageValue::Run(5, 9000, 0xdead_beef),
        ),
        (
            Bytes::from(vec![b'k'; 600]),
            PageValue::Inline(Bytes::from_static(b"big key")),
        ),
    ]);
    let branch = PageNode::Branch(
        vec![Bytes::from_static(b"m"), Bytes::from(vec![b'z'; 700])],
        vec![(2, 1), (3, 2), (4, 3)],
    );
    let (free, _) = encode_free_list_page(1024, 6, &[(2, 3), (10, 1)], Some((7, 42)));
    vec![
        with_mode(0, encode_node(1024, &leaf, 3).expect("leaf fits")),
        with_mode(0, encode_node(1024, &branch, 4).expect("branch fits")),
        with_mode(2, encode_node(4096, &leaf, 9).expect("leaf fits")),
        with_mode(0, free),
    ]
}

fn btree_headers() -> Vec<Vec<u8>> {
    let fields = (
        4096,
        7,
        99,
        Some((12, 0xdead_beef)),
        3,
        Some((4, 5)),
        10,
        40,
        1234,
    );
    let initial = (1024, 0, 0, None, 1, None, 0, 2, 0);
    vec![
        with_mode(0, encode_header(&fields)[..96].to_vec()),
        with_mode(0, encode_header(&initial)[..96].to_vec()),
    ]
}

fn ikey_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..40u32 {
        let user = format!("key{:04}", i * 3).into_bytes();
        out.push((
            internal_key(&user, 100 + u64::from(i), EntryKind::Put),
            format!("v{i}").into_bytes(),
        ));
        if i % 5 == 0 {
            out.push((internal_key(&user, 50, EntryKind::Delete), Vec::new()));
        }
    }
    out
}

fn data_blocks() -> Vec<Vec<u8>> {
    let entries = ikey_entries();
    vec![
        with_mode(0, seal_block(encode_block(&entries, 16))),
        with_mode(2, seal_block(encode_block(&entries[..5], 1))),
        with_mode(0, seal_block(encode_block(&[], 16))),
    ]
}

fn index_blocks() -> Vec<Vec<u8>> {
    let entries = ikey_entries();
    let rows = vec![
        (entries[3].0.clone(), 0, 100),
        (entries[20].0.clone(), 105, 37),
        (entries[40].0.clone(), 147, 4000),
    ];
    let data_end: u32 = 147 + 4000 + 5;
    let mut seed = data_end.to_le_bytes().to_vec();
    seed.extend(seal_block(encode_index(&rows)));
    vec![with_mode(0, seed)]
}

fn blooms() -> Vec<Vec<u8>> {
    let keys: Vec<Vec<u8>> = (0..50).map(|i| format!("key{i:04}").into_bytes()).collect();
    let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    vec![
        with_mode(10 << 1, seal_block(FuzzBloom::build(&refs, 10))),
        with_mode(0, seal_block(Vec::new())),
    ]
}

fn footers() -> Vec<Vec<u8>> {
    vec![with_mode(
        0,
        encode_footer([(4000, 70), (4075, 300), (4380, 120)]),
    )]
}

fn properties() -> Vec<Vec<u8>> {
    let table = tables().remove(0);
    // The properties block of a real table: the footer's third handle.
    let file = &table[1..];
    let (offset, size) = props_handle(file);
    vec![with_mode(
        0,
        file[offset..offset + size + BLOCK_TRAILER_LEN].to_vec(),
    )]
}

fn tombstones() -> Vec<RangeTombstone> {
    vec![
        RangeTombstone {
            start: Bytes::from_static(b"key0003"),
            end: Some(Bytes::from_static(b"key0030")),
            seq: 120,
        },
        RangeTombstone {
            start: Bytes::from_static(b"key0003"),
            end: None,
            seq: 60,
        },
        RangeTombstone {
            start: Bytes::from_static(b"key0090"),
            end: Some(Bytes::from_static(b"key0091")),
            seq: 7,
        },
    ]
}

fn range_dels() -> Vec<Vec<u8>> {
    vec![
        with_mode(0, seal_block(encode_range_dels(&tombstones()))),
        with_mode(0, seal_block(encode_range_dels(&[]))),
    ]
}

/// Writes a table with `SstWriter` on a simulated file system.
fn table(entries: &[Entry], tombstones: &[RangeTombstone], opts: SstOptions) -> Vec<u8> {
    let vfs = tierdb::SimVfs::new(1);
    let path = Path::new("/t/000001.sst");
    let file = vfs.open(path, OpenMode::Create).expect("create");
    let mut writer = SstWriter::new(Arc::clone(&file), opts);
    for e in entries {
        writer.add(e).expect("add");
    }
    for t in tombstones {
        writer
            .add_range_tombstone(t.clone())
            .expect("add tombstone");
    }
    writer.finish().expect("finish");
    let mut bytes = vfs.file_contents(path).expect("written");
    // Zero the creation time in the properties block (and re-seal it), so
    // that the seeds are the same bytes on every run.
    let (offset, size) = props_handle(&bytes);
    let created = offset + 4 + 7 * 8;
    bytes[created..created + 8].fill(0);
    let mut block = bytes[offset..offset + size + BLOCK_TRAILER_LEN].to_vec();
    reseal_block(&mut block);
    bytes[offset..offset + block.len()].copy_from_slice(&block);
    bytes
}

/// The properties block's offset and size, from a table's footer.
fn props_handle(file: &[u8]) -> (usize, usize) {
    let footer = &file[file.len() - 64..];
    let offset = u64::from_le_bytes(footer[32..40].try_into().expect("8 bytes")) as usize;
    let size = u64::from_le_bytes(footer[40..48].try_into().expect("8 bytes")) as usize;
    (offset, size)
}

/// [`ikey_entries`] as table entries.
fn table_entries() -> Vec<Entry> {
    ikey_entries()
        .into_iter()
        .map(|(ikey, value)| {
            let user = &ikey[..ikey.len() - 9];
            let (_, seq, kind) =
                tierdb_lsm::fuzz_api::parse_internal_key(&ikey).expect("valid key");
            Entry {
                key: Bytes::copy_from_slice(user),
                seq,
                kind,
                value: Bytes::from(value),
            }
        })
        .collect()
}

fn tables() -> Vec<Vec<u8>> {
    let entries = table_entries();
    let small = SstOptions {
        block_bytes: 128,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        // Small partitions: the seed's index is two-level.
        index_partition_bytes: 64,
    };
    let no_filter = SstOptions {
        bloom_bits_per_key: 0,
        ..SstOptions::default()
    };
    vec![
        with_mode(0, table(&entries, &tombstones(), small)),
        with_mode(0, table(&entries[..3], &[], no_filter)),
    ]
}

fn lsm_manifests() -> Vec<Vec<u8>> {
    let m = FuzzLsmManifest::new(77, 9, vec![vec![(8, 100)], vec![], vec![(3, 5), (4, 6)]]);
    // The same log after a flush (table 9 into L0) and a compaction (L0
    // into L1): a snapshot and two edits.
    let mut log = m.clone();
    assert!(log.push_version(
        80,
        10,
        vec![vec![(9, 50), (8, 100)], vec![], vec![(3, 5), (4, 6)]]
    ));
    assert!(log.push_version(
        80,
        12,
        vec![vec![], vec![(10, 140), (11, 10)], vec![(3, 5), (4, 6)]]
    ));
    vec![
        with_mode(0, m.encode()),
        with_mode(0, FuzzLsmManifest::new(0, 1, Vec::new()).encode()),
        with_mode(0, log.encode()),
    ]
}

fn db_manifests() -> Vec<Vec<u8>> {
    let parts = vec![
        (0, Bytes::new(), Tier::BTree, 4096, 0),
        (3, Bytes::from_static(b"acct/020"), Tier::Lsm, 4096, 2),
        (1, Bytes::from_static(b"t/"), Tier::BTree, 4096, 1),
    ];
    vec![
        with_mode(0, encode_manifest(4, &parts)),
        with_mode(0, encode_manifest(1, &parts[..1])),
    ]
}

fn commit_payload() -> Vec<u8> {
    encode_commit_record(&[
        (
            0,
            WriteOp::Put {
                key: Bytes::from_static(b"acct/001"),
                value: Bytes::from_static(b"100"),
            },
        ),
        (
            2,
            WriteOp::Delete {
                key: Bytes::from_static(b"acct/031"),
            },
        ),
    ])
}

fn commit_records() -> Vec<Vec<u8>> {
    vec![
        with_mode(0, commit_payload()),
        with_mode(0, encode_commit_record(&[])),
    ]
}

/// Programs for `crash_recovery`: pseudo-random bytes (a fixed
/// generator), which `step` reads as a mix of every operation, on each
/// layout (mode 0-3).
fn programs() -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..8u8)
        .map(|i| {
            let body: Vec<u8> = (0..240)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            with_mode(i % 4, body)
        })
        .collect()
}
