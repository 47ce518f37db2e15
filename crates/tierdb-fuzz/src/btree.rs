//! B+tree targets: a node (or free-list) page with its tail pages, and a
//! header slot.

use tierdb_btree::fuzz_api::{
    PAGE_SIZES, PageNode, PageValue, decode_free_list_page, decode_header, decode_node,
    encode_header, encode_node, read_leaf_in_place, reseal_header, reseal_node,
};

use crate::Outcome;
use crate::input::{RESEAL, split_mode};

/// Page type byte of a free-list page (docs/format/btree.md).
const FREE_LIST_PAGE: u8 = 3;
/// The file size free-list pages are checked against.
const TOTAL_PAGES: u64 = 1 << 20;
/// Most pages an input is cut to (one node and its tail).
const MAX_PAGES: usize = 8;

/// A node page and its tail pages. Mode bit 0: re-seal the tail and page
/// checksums; bit 1: 4 KiB pages instead of 1 KiB. The input is padded
/// with zeros to whole pages.
///
/// A decoded node has keys in strictly increasing order, a branch one
/// more child than separators and no child below page 2; re-encoded by
/// the engine's encoder (when it fits) it decodes to the same node. A
/// free-list page's runs and next pointer lie inside the file. A leaf
/// without tail pages read in place, as the cache holds it, gives the
/// decoder's entries, each found by its key, and is refused whenever the
/// decoder refuses that page; searches and point reads of keys near its
/// keys agree with a binary search of the decoded entries. Items: a node's entries or children, a
/// free-list page's runs.
pub fn btree_page(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let page_size = PAGE_SIZES[usize::from((mode >> 1) & 1)];
    let pages = body.len().div_ceil(page_size).clamp(1, MAX_PAGES);
    let mut image = body[..body.len().min(pages * page_size)].to_vec();
    image.resize(pages * page_size, 0);
    if mode & RESEAL != 0 {
        reseal_node(page_size, &mut image);
    }
    if image[4] == FREE_LIST_PAGE {
        return free_list_page(&image[..page_size]);
    }
    same_leaf_in_place(page_size, &image[..page_size]);
    let (node, page) = match decode_node(page_size, &image) {
        Ok(decoded) => decoded,
        Err(reason) => return Outcome::refused(reason),
    };
    let items = match &node {
        PageNode::Leaf(entries) => entries.len(),
        PageNode::Branch(_, children) => children.len(),
    };
    match &node {
        PageNode::Leaf(entries) => {
            assert!(
                entries.windows(2).all(|w| w[0].0 < w[1].0),
                "leaf keys out of order"
            );
            for (_, value) in entries {
                if let PageValue::Run(start, _, _) = value {
                    assert!(*start >= 2, "overflow run in the header pages");
                }
            }
        }
        PageNode::Branch(keys, children) => {
            assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "separators out of order"
            );
            assert_eq!(children.len(), keys.len() + 1);
            assert!(
                children.iter().all(|(p, _)| *p >= 2),
                "child in the header pages"
            );
        }
    }
    if let Ok(encoded) = encode_node(page_size, &node, page) {
        let again = decode_node(page_size, &encoded).expect("re-encoded node decodes");
        assert_eq!(again, (node, page), "re-encoded node decodes differently");
    }
    Outcome::decoded(items)
}

/// A one-page node as the store reads it: a leaf the cache reads in place
/// gives the decoder's entries, and one the decoder takes is not refused
/// in place.
fn same_leaf_in_place(page_size: usize, first: &[u8]) {
    match (
        read_leaf_in_place(page_size, first),
        decode_node(page_size, first),
    ) {
        (Ok(Some(read)), Ok((PageNode::Leaf(entries), _))) => {
            assert_eq!(
                read.entries, entries,
                "leaf read in place differs from its decoding"
            );
            for (i, found) in read.found.iter().enumerate() {
                assert_eq!(
                    *found,
                    Ok(i),
                    "entry {i} of a leaf read in place not found by its key"
                );
                assert_eq!(
                    read.values[i].as_ref(),
                    Some(&entries[i].1),
                    "entry {i} of a leaf read in place: point read of its key"
                );
            }
            for (probe, found, value) in &read.probes {
                let expected = entries.binary_search_by(|(k, _)| k.as_ref().cmp(probe));
                assert_eq!(
                    *found, expected,
                    "search for {probe:?} in a leaf read in place"
                );
                let expected_value = expected.ok().map(|i| &entries[i].1);
                assert_eq!(
                    value.as_ref(),
                    expected_value,
                    "point read of {probe:?} in a leaf read in place"
                );
            }
        }
        (Ok(Some(read)), decoded) => {
            panic!("leaf read in place ({read:?}), but the decoder gives {decoded:?}")
        }
        (Err(reason), Ok((PageNode::Leaf(_), _))) => {
            panic!("the decoder takes the leaf, the in-place reader refuses it: {reason}")
        }
        _ => {}
    }
}

fn free_list_page(page: &[u8]) -> Outcome {
    let number = u64::from_le_bytes(page[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(page[0..4].try_into().expect("4 bytes"));
    let (runs, next) = match decode_free_list_page(page, number, crc, TOTAL_PAGES) {
        Ok(decoded) => decoded,
        Err(reason) => return Outcome::refused(reason),
    };
    for &(start, count) in &runs {
        assert!(start >= 2 && count > 0 && start + count <= TOTAL_PAGES);
    }
    if let Some((next, _)) = next {
        assert!((2..TOTAL_PAGES).contains(&next));
    }
    Outcome::decoded(runs.len())
}

/// A header slot (padded with zeros to its 92 checked bytes). Mode bit 0:
/// re-seal its crc. A decoded header has a valid page size, height and
/// page count, root and free list inside the file, and re-encodes to a
/// slot that decodes to the same fields. Items: 1.
pub fn btree_header(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if bytes.len() < 92 {
        bytes.resize(92, 0);
    }
    if mode & RESEAL != 0 {
        reseal_header(&mut bytes);
    }
    let fields = match decode_header(&bytes) {
        Ok(fields) => fields,
        Err(reason) => {
            return Outcome::refused(reason.unwrap_or_else(|| "unsupported version".into()));
        }
    };
    let (page_size, _, _, root, height, free_list, free_pages, total_pages, _) = fields;
    assert!(page_size.is_power_of_two() && (1024..=65536).contains(&page_size));
    assert!(height >= 1 && total_pages >= 2 && free_pages <= total_pages);
    for at in [root, free_list].into_iter().flatten() {
        assert!((2..total_pages).contains(&at.0), "pointer outside the file");
    }
    let encoded = encode_header(&fields);
    assert_eq!(encoded.len(), page_size as usize);
    assert_eq!(decode_header(&encoded), Ok(fields));
    Outcome::decoded(1)
}
