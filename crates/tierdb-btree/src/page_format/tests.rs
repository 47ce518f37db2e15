//! Encode/decode round trips of node pages, and decoding of damaged pages.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::split::{Cut, split_body};

fn leaf_entries() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>, bool)>> {
    let key = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 200..3000),
    ];
    let value = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..60),
        1 => proptest::collection::vec(any::<u8>(), 200..2000),
    ];
    proptest::collection::vec((key, value, any::<bool>()), 0..120)
}

fn page_sizes() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1024usize), Just(4096), Just(16384)]
}

/// Builds sorted, deduplicated entries; values that must spill (or, at
/// random, any) become overflow references.
fn build_entries(layout: Layout, raw: Vec<(Vec<u8>, Vec<u8>, bool)>) -> Vec<Entry> {
    let mut raw = raw;
    raw.sort_by(|a, b| a.0.cmp(&b.0));
    raw.dedup_by(|a, b| a.0 == b.0);
    raw.into_iter()
        .enumerate()
        .map(|(i, (key, value, as_run))| {
            let spill = as_run || !layout.leaf_value_inline(key.len(), value.len() as u64);
            let value = if spill {
                Value::Overflow(RunRef {
                    start_page: 2 + i as u64,
                    len: value.len() as u64,
                    checksum: crc32fast::hash(&value),
                })
            } else {
                Value::Inline(Bytes::from(value))
            };
            Entry {
                key: Bytes::from(key),
                value,
            }
        })
        .collect()
}

fn cells(entries: &[Entry]) -> Vec<(&[u8], ValueCell<'_>)> {
    entries
        .iter()
        .map(|e| {
            let cell = match &e.value {
                Value::Inline(v) => ValueCell::Inline(v),
                Value::Overflow(run) => ValueCell::Run(*run),
            };
            (e.key.as_ref(), cell)
        })
        .collect()
}

fn decode_image(layout: Layout, image: &Image) -> DecodeResult<Node> {
    let (first, tail) = image.bytes.split_at(layout.page_size);
    let header = parse_header(first)?;
    decode_node(
        layout,
        &Bytes::copy_from_slice(first),
        &Bytes::copy_from_slice(tail),
        &header,
    )
}

proptest! {
    #[test]
    fn leaf_round_trips(page_size in page_sizes(), raw in leaf_entries(), page in 2u64..1_000_000) {
        let layout = Layout::new(page_size);
        let entries = build_entries(layout, raw);
        // Cut into pieces that fit, as the tree would, and round-trip each.
        for (_, body) in split_body(layout, Body::Leaf(Leaf { entries: entries.clone() }), Cut::Balanced(1)) {
            let Body::Leaf(piece) = body else { panic!("leaf expected") };
            let mut image = encode_leaf(layout, &cells(&piece.entries)).unwrap();
            prop_assert_eq!(layout.node_bytes(&Body::Leaf(piece.clone())) <= page_size, true);
            let crc = image.seal(page, page_size);
            let node = decode_image(layout, &image).unwrap();
            prop_assert_eq!(node.origin, Some(Origin { page, page_count: image.page_count, checksum: crc }));
            let Body::Leaf(decoded) = node.body else { panic!("leaf expected") };
            prop_assert_eq!(decoded.entries, piece.entries);
        }
    }

    #[test]
    fn branch_round_trips(page_size in page_sizes(), raw in leaf_entries(), page in 2u64..1_000_000) {
        let layout = Layout::new(page_size);
        let keys: Vec<Bytes> = build_entries(layout, raw).into_iter().map(|e| e.key).collect();
        let children: Vec<Child> = (0..=keys.len() as u64)
            .map(|i| Child::Disk(DiskRef { page: 10 + i, checksum: i as u32 * 7 }))
            .collect();
        for (_, body) in split_body(layout, Body::Branch(Branch { keys: keys.into(), children: children.into() }), Cut::Balanced(1)) {
            let Body::Branch(piece) = body else { panic!("branch expected") };
            let refs: Vec<DiskRef> = piece.children.iter().map(|c| match c { Child::Disk(d) => *d, Child::Mem(_) => unreachable!() }).collect();
            let mut image = encode_branch(layout, &piece.keys, &refs).unwrap();
            image.seal(page, page_size);
            let Body::Branch(decoded) = decode_image(layout, &image).unwrap().body else { panic!("branch expected") };
            prop_assert_eq!(&decoded.keys, &piece.keys);
            let decoded_refs: Vec<DiskRef> = decoded.children.iter().map(|c| match c { Child::Disk(d) => *d, Child::Mem(_) => unreachable!() }).collect();
            prop_assert_eq!(decoded_refs, refs);
        }
    }

    #[test]
    fn damaged_pages_never_panic(raw in leaf_entries(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let layout = Layout::new(1024);
        let entries = build_entries(layout, raw);
        let pieces = split_body(layout, Body::Leaf(Leaf { entries }), Cut::Balanced(1));
        let Some((_, Body::Leaf(first))) = pieces.into_iter().next() else { return Ok(()) };
        let mut image = encode_leaf(layout, &cells(&first.entries)).unwrap();
        image.seal(9, 1024);
        let len = image.bytes.len();
        let mut positions = std::collections::BTreeMap::new();
        for (at, bits) in flips {
            positions.insert(at % len, bits | 1);
        }
        for (at, bits) in positions {
            image.bytes[at] ^= bits;
        }
        // Checksums catch the damage; decoding what passes must not panic.
        prop_assert!(decode_image(layout, &image).is_err());
        let (first_page, tail) = image.bytes.split_at(1024);
        let tail_pages = (tail.len() / 1024) as u64;
        let header = PageHeader { crc: 0, page_type: first_page[4], count: usize::from(u16::from_le_bytes([first_page[6], first_page[7]])), page: 9, tail_pages, tail_crc: crc32fast::hash(tail) };
        let _ = decode_node(layout, &Bytes::copy_from_slice(first_page), &Bytes::copy_from_slice(tail), &header);
    }
}
