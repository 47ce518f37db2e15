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
    encode_range_dels, parse_internal_key, reseal_block, reseal_footer, unseal_block,
};
use tierdb_lsm::sstable::SstReader;

use crate::check::expect_damage_report;
use crate::input::{RESEAL, split_mode};

/// The file the blocks are said to come from, and where.
const FILE: &str = "000007.sst";
const OFFSET: u64 = 4096;

/// Unseals `sealed` (re-sealed first if asked): the contents, or `None`
/// after checking that the error is a proper corruption report.
fn contents(mode: u8, sealed: &[u8]) -> Option<Bytes> {
    let mut sealed = sealed.to_vec();
    if mode & RESEAL != 0 {
        reseal_block(&mut sealed);
    }
    match unseal_block(&sealed, Path::new(FILE), OFFSET) {
        Ok(contents) => Some(contents),
        Err(e) => {
            expect_damage_report(&e, Path::new(FILE), OFFSET);
            None
        }
    }
}

/// A sealed data block. Mode bit 0: re-seal; bits 1-3: restart interval
/// for the re-encoding. Entries read forward are in strictly increasing
/// internal-key order and every key parses; backward gives the same
/// entries reversed; seeking each key finds it; re-encoding gives a block
/// that reads back the same. Damage is `Corruption` at the block.
pub fn sst_data_block(data: &[u8]) {
    let (mode, body) = split_mode(data);
    let Some(contents) = contents(mode, body) else {
        return;
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
/// that decodes the same.
pub fn sst_index_block(data: &[u8]) {
    let (mode, body) = split_mode(data);
    let (end_bytes, sealed) = body.split_at(body.len().min(4));
    let mut end = [0u8; 4];
    end[..end_bytes.len()].copy_from_slice(end_bytes);
    let data_end = u64::from(u32::from_le_bytes(end));
    let Some(contents) = contents(mode, sealed) else {
        return;
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
}

/// A filter block. Mode bit 0: re-seal. Lookups in a decoded filter never
/// panic; and a filter built (bits per key from mode bits 1-4) over keys
/// cut from the input finds every one of them.
pub fn sst_bloom(data: &[u8]) {
    let (mode, body) = split_mode(data);
    let keys: Vec<&[u8]> = body.chunks(7).take(200).collect();
    if let Some(contents) = contents(mode, body)
        && let Ok(filter) = FuzzBloom::decode(&contents)
    {
        for key in &keys {
            filter.may_contain(key);
        }
        if !filter.is_present() {
            assert!(keys.iter().all(|k| filter.may_contain(k)));
        }
    }
    let bits_per_key = u32::from((mode >> 1) & 15);
    let built = FuzzBloom::build(&keys, bits_per_key);
    let filter = FuzzBloom::decode(&built).expect("a built filter decodes");
    assert_eq!(filter.is_present(), bits_per_key > 0);
    assert!(keys.iter().all(|k| filter.may_contain(k)), "false negative");
}

/// A footer (padded with zeros to 64 bytes). Mode bit 0: re-seal. A
/// decoded footer re-encodes to exactly its bytes; damage is `Corruption`
/// at the footer.
pub fn sst_footer(data: &[u8]) {
    let (mode, body) = split_mode(data);
    let mut bytes = body.to_vec();
    if bytes.len() < FOOTER_LEN {
        bytes.resize(FOOTER_LEN, 0);
    }
    if mode & RESEAL != 0 {
        reseal_footer(&mut bytes);
    }
    match decode_footer(&bytes, Path::new(FILE), OFFSET) {
        Ok(handles) => assert_eq!(encode_footer(handles), bytes[..FOOTER_LEN]),
        Err(e) => expect_damage_report(&e, Path::new(FILE), OFFSET),
    }
}

/// A sealed properties block. Mode bit 0: re-seal. Decoded properties are
/// consistent (tombstones and blocks <= entries, data blocks exactly when
/// there are entries — a table may hold only range tombstones —, sequences
/// and keys in order) and re-encode to exactly the block's contents.
pub fn sst_properties(data: &[u8]) {
    let (mode, body) = split_mode(data);
    let Some(contents) = contents(mode, body) else {
        return;
    };
    let Ok(props) = FuzzProperties::decode(&contents) else {
        return;
    };
    let (entries, tombstones, min_seq, max_seq, blocks) = props.counts();
    assert!(tombstones <= entries && blocks <= entries && (blocks > 0) == (entries > 0));
    assert!(min_seq <= max_seq);
    let (smallest, largest) = props.key_range();
    assert!(smallest <= largest);
    assert_eq!(props.encode(), contents[..]);
}

/// A sealed range-deletion block. Mode bit 0: re-seal. Decoded tombstones
/// cover non-empty ranges, come sorted by start key then newest first, and
/// re-encode to a block that decodes the same.
pub fn sst_range_del(data: &[u8]) {
    let (mode, body) = split_mode(data);
    let Some(contents) = contents(mode, body) else {
        return;
    };
    let Ok(tombstones) = decode_range_dels(&contents) else {
        return;
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
}

/// A whole table file, opened and read as the LSM tier does: forward,
/// backward, and a point lookup of every key. Mode bit 0: re-seal the
/// footer, the blocks it points to, and the data blocks the index lists.
/// Opening either fails with `Corruption` naming the file, or gives a
/// table whose entries are in order, the same both ways, and each found by
/// `get` (unless a re-sealed filter stops the lookup). The properties'
/// counts and key range are trusted metadata, protected by the checksum
/// alone, so re-sealed inputs may make them lie; they are not checked.
pub fn sst_table(data: &[u8]) {
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
}

/// Re-seals the footer, the blocks the footer points to, and the data
/// blocks the index lists, each only where it lies inside the file.
fn reseal_table(bytes: &mut [u8]) {
    let Some(footer_at) = bytes.len().checked_sub(FOOTER_LEN) else {
        return;
    };
    reseal_footer(&mut bytes[footer_at..]);
    let Ok(handles) = decode_footer(&bytes[footer_at..], Path::new(FILE), 0) else {
        return;
    };
    for (offset, size) in handles {
        reseal_range(bytes, offset, size);
    }
    let (index_offset, index_size) = handles[1];
    let Some(sealed) = block_range(bytes, index_offset, index_size) else {
        return;
    };
    let Ok(contents) = unseal_block(sealed, Path::new(FILE), 0) else {
        return;
    };
    if let Ok(rows) = decode_index(contents, Path::new(FILE), 0, handles[0].0) {
        for (_, offset, size) in rows {
            reseal_range(bytes, offset, size);
        }
    }
}

fn block_range(bytes: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start
        .checked_add(usize::try_from(size).ok()?)?
        .checked_add(BLOCK_TRAILER_LEN)?;
    bytes.get(start..end)
}

fn reseal_range(bytes: &mut [u8], offset: u64, size: u64) {
    if let Some(block) = block_range(bytes, offset, size) {
        let start = offset as usize;
        let mut sealed = block.to_vec();
        reseal_block(&mut sealed);
        bytes[start..start + sealed.len()].copy_from_slice(&sealed);
    }
}
