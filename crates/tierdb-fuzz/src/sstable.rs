//! SSTable targets: each block kind on its own (data, index, filter,
//! properties, footer), and a whole table opened and read as the LSM tier
//! reads it.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tierdb::{SimVfs, Vfs};
use tierdb_cache::PageCache;
use tierdb_io::OpenMode;
use tierdb_lsm::entry::InternalIter;
use tierdb_lsm::fuzz_api::{
    BLOCK_TRAILER_LEN, FOOTER_LEN, FuzzBlock, FuzzBloom, FuzzProperties, compare_internal_keys,
    decode_footer, decode_index, decode_range_dels, encode_block, encode_footer, encode_index,
    encode_range_dels, parse_internal_key, reseal_block, reseal_footer, reseal_table, unseal_block,
};
use tierdb_lsm::sstable::SstReader;

use crate::Outcome;
use crate::check::expect_damage_report;
use crate::input::{RESEAL, split_mode};

/// The file the blocks are said to come from, and where.
const FILE: &str = "000007.sst";
const OFFSET: u64 = 4096;

/// Unseals `sealed` (re-sealed first if asked): the contents, or the
/// refusal after checking that the error is a proper corruption report.
fn contents(mode: u8, sealed: &[u8]) -> Result<Bytes, Outcome> {
    let mut sealed = sealed.to_vec();
    if mode & RESEAL != 0 {
        reseal_block(&mut sealed);
    }
    unseal_block(&sealed, Path::new(FILE), OFFSET)
        .map_err(|e| expect_damage_report(&e, Path::new(FILE), OFFSET))
}

/// A sealed data block. Mode bit 0: re-seal; bits 1-3: restart interval
/// for the re-encoding. Entries read forward are in strictly increasing
/// internal-key order and every key parses; backward gives the same
/// entries reversed; seeking each key finds it; re-encoding gives a block
/// that reads back the same. Damage is `Corruption` at the block. Items:
/// the entries.
pub fn sst_data_block(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let contents = match contents(mode, body) {
        Ok(contents) => contents,
        Err(refused) => return refused,
    };
    let block = match FuzzBlock::parse(contents, Path::new(FILE), OFFSET) {
        Ok(block) => block,
        Err(e) => return expect_damage_report(&e, Path::new(FILE), OFFSET),
    };
    let forward = match block.forward() {
        Ok(entries) => entries,
        Err(e) => return expect_damage_report(&e, Path::new(FILE), OFFSET),
    };
    check_sorted(forward.iter().map(|(k, _)| k.as_slice()));
    let mut backward = block
        .backward()
        .expect("a block read forward reads backward");
    backward.reverse();
    assert_eq!(backward, forward, "backward is not forward reversed");
    for (key, value) in &forward {
        let found = block.seek(key).expect("seek in a readable block");
        assert_eq!(found.as_ref(), Some(&(key.clone(), value.clone())));
    }
    let raw: Vec<(Vec<u8>, Vec<u8>)> = forward
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    let interval = usize::from((mode >> 1) & 7) + 1;
    let encoded = Bytes::from(encode_block(&raw, interval));
    let again = FuzzBlock::parse(encoded, Path::new(FILE), 0)
        .and_then(|b| b.forward())
        .expect("re-encoded block reads");
    assert_eq!(again, forward);
    Outcome::decoded(forward.len())
}

fn check_sorted<'a>(keys: impl Iterator<Item = &'a [u8]>) {
    let mut prev: Option<&[u8]> = None;
    for key in keys {
        parse_internal_key(key).expect("a key the block gave parses");
        if let Some(prev) = prev {
            assert_eq!(
                compare_internal_keys(prev, key),
                Ordering::Less,
                "keys out of order"
            );
        }
        prev = Some(key);
    }
}

/// An index block: 4 bytes of `data_end` (where the data blocks end), then
/// the sealed block. Mode bit 0: re-seal. A decoded index tiles
/// `[0, data_end)` with its blocks in key order and re-encodes to an index
/// that decodes the same. Items: the rows.
pub fn sst_index_block(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let (end_bytes, sealed) = body.split_at(body.len().min(4));
    let mut end = [0u8; 4];
    end[..end_bytes.len()].copy_from_slice(end_bytes);
    let data_end = u64::from(u32::from_le_bytes(end));
    let contents = match contents(mode, sealed) {
        Ok(contents) => contents,
        Err(refused) => return refused,
    };
    let rows = match decode_index(contents, Path::new(FILE), OFFSET, data_end) {
        Ok(rows) => rows,
        Err(e) => return expect_damage_report(&e, Path::new(FILE), OFFSET),
    };
    check_sorted(rows.iter().map(|(k, _, _)| k.as_slice()));
    let mut expected = 0;
    for (_, offset, size) in &rows {
        assert_eq!(*offset, expected, "index blocks not contiguous");
        expected = offset + size + BLOCK_TRAILER_LEN as u64;
    }
    assert_eq!(expected, data_end);
    let again = decode_index(
        Bytes::from(encode_index(&rows)),
        Path::new(FILE),
        0,
        data_end,
    )
    .expect("re-encoded index decodes");
    assert_eq!(again, rows);
    Outcome::decoded(rows.len())
}

/// A filter block. Mode bit 0: re-seal. Lookups in a decoded filter never
/// panic; and a filter built (bits per key from mode bits 1-4) over keys
/// cut from the input finds every one of them. Decoded when the input is
/// a filter block; items: the keys probed.
pub fn sst_bloom(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let keys: Vec<&[u8]> = body.chunks(7).take(200).collect();
    let outcome = match contents(mode, body)
        .and_then(|contents| FuzzBloom::decode(&contents).map_err(Outcome::refused))
    {
        Ok(filter) => {
            for key in &keys {
                filter.may_contain(key);
            }
            if !filter.is_present() {
                assert!(keys.iter().all(|k| filter.may_contain(k)));
            }
            Outcome::decoded(keys.len())
        }
        Err(refused) => refused,
    };
    let bits_per_key = u32::from((mode >> 1) & 15);
    let built = FuzzBloom::build(&keys, bits_per_key);
    let filter = FuzzBloom::decode(&built).expect("a built filter decodes");
    assert_eq!(filter.is_present(), bits_per_key > 0);
    assert!(keys.iter().all(|k| filter.may_contain(k)), "false negative");
    outcome
}

/// A footer (padded with zeros to 64 bytes). Mode bit 0: re-seal. A
/// decoded footer re-encodes to exactly its bytes; damage is `Corruption`
/// at the footer. Items: the three handles.
pub fn sst_footer(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if bytes.len() < FOOTER_LEN {
        bytes.resize(FOOTER_LEN, 0);
    }
    if mode & RESEAL != 0 {
        reseal_footer(&mut bytes);
    }
    match decode_footer(&bytes, Path::new(FILE), OFFSET) {
        Ok(handles) => {
            assert_eq!(encode_footer(handles), bytes[..FOOTER_LEN]);
            Outcome::decoded(handles.len())
        }
        Err(e) => expect_damage_report(&e, Path::new(FILE), OFFSET),
    }
}

/// A sealed properties block. Mode bit 0: re-seal. Decoded properties are
/// consistent (tombstones and blocks <= entries, data blocks exactly when
/// there are entries — a table may hold only range tombstones —, sequences
/// and keys in order) and re-encode to exactly the block's contents. Items: the entries.
pub fn sst_properties(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let contents = match contents(mode, body) {
        Ok(contents) => contents,
        Err(refused) => return refused,
    };
    let props = match FuzzProperties::decode(&contents) {
        Ok(props) => props,
        Err(reason) => return Outcome::refused(reason),
    };
    let (entries, tombstones, min_seq, max_seq, blocks) = props.counts();
    assert!(tombstones <= entries && blocks <= entries && (blocks > 0) == (entries > 0));
    assert!(min_seq <= max_seq);
    let (smallest, largest) = props.key_range();
    assert!(smallest <= largest);
    assert_eq!(props.encode(), contents[..]);
    Outcome::decoded(entries as usize)
}

/// A sealed range-deletion block. Mode bit 0: re-seal. Decoded tombstones
/// cover non-empty ranges, come sorted by start key then newest first, and
/// re-encode to a block that decodes the same. Items: the tombstones.
pub fn sst_range_del(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let contents = match contents(mode, body) {
        Ok(contents) => contents,
        Err(refused) => return refused,
    };
    let tombstones = match decode_range_dels(&contents) {
        Ok(tombstones) => tombstones,
        Err(reason) => return Outcome::refused(reason),
    };
    for t in &tombstones {
        assert!(
            t.end.as_ref().is_none_or(|end| t.start < *end),
            "empty range"
        );
    }
    for pair in tombstones.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.start < b.start || (a.start == b.start && a.seq > b.seq),
            "out of order"
        );
    }
    // Varints may be non-canonical (`80 00` is 0), so compare meanings.
    let again =
        decode_range_dels(&encode_range_dels(&tombstones)).expect("re-encoded block decodes");
    assert_eq!(again, tombstones);
    Outcome::decoded(tombstones.len())
}

/// A whole table file, opened and read as the LSM tier does: forward,
/// backward, and a point lookup of every key. Mode bit 0: re-seal every
/// block the footer leads to (`reseal_table`: the footer, filter, index,
/// properties and range-deletion blocks, index partitions, data blocks).
/// Opening either fails with `Corruption` naming the file, or gives a
/// table whose entries are in order, the same both ways, and each found by
/// `get` (unless a re-sealed filter stops the lookup). The properties'
/// counts and key range are trusted metadata, protected by the checksum
/// alone, so re-sealed inputs may make them lie; they are not checked.
/// Items: the entries read.
pub fn sst_table(data: &[u8]) -> Outcome {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if mode & RESEAL != 0 {
        reseal_table(&mut bytes);
    }
    let path = Path::new("/t/000007.sst");
    let len = bytes.len() as u64;
    let vfs = SimVfs::new(0);
    vfs.set_file_contents(path, bytes);
    let file = vfs.open(path, OpenMode::Read).expect("file just set");
    let table = match SstReader::open(file, 7, Arc::new(PageCache::new(1 << 20))) {
        Ok(table) => table,
        Err(e) => return expect_damage_report(&e, path, len),
    };
    let mut forward = Vec::new();
    let mut iter = table.iter();
    let mut step = iter.seek_to_first();
    while step.is_ok() && iter.valid() {
        forward.push(iter.entry().clone());
        step = iter.next();
    }
    if let Err(e) = step {
        return expect_damage_report(&e, path, len);
    }
    for pair in forward.windows(2) {
        let order = pair[0]
            .key
            .cmp(&pair[1].key)
            .then(pair[1].seq.cmp(&pair[0].seq));
        assert_eq!(order, Ordering::Less, "table entries out of order");
    }
    let mut backward = Vec::new();
    iter.seek_to_last()
        .expect("a table read forward reads backward");
    while iter.valid() {
        backward.push(iter.entry().clone());
        iter.prev().expect("a table read forward reads backward");
    }
    backward.reverse();
    assert_eq!(backward, forward);
    for entry in &forward {
        if !table.may_contain(&entry.key) {
            // A re-sealed filter may lose keys: nothing but a full scan
            // could tell, so a lookup that the filter stops proves nothing.
            continue;
        }
        let found = table
            .get(&entry.key, u64::MAX)
            .expect("get in a readable table");
        let newest = forward.iter().find(|e| e.key == entry.key);
        assert_eq!(found.as_ref(), newest, "get disagrees with the scan");
    }
    Outcome::decoded(forward.len())
}
