//! The database's own decoders (manifest, commit record), exposed for the
//! fuzz targets of `tierdb-fuzz`. Not part of the API: hidden from the
//! docs, may change at any time.

use std::path::Path;

use bytes::Bytes;
use tierdb_tier::WriteOp;

use crate::commit_record::{self, PartitionWrite};
use crate::manifest::{Manifest, PartitionEntry};
use crate::{Result, Tier};

/// A partition as the manifest records it: id, start key, tier, page
/// size, generation.
pub type ManifestPartition = (u32, Bytes, Tier, u32, u32);

/// Encodes a manifest file.
pub fn encode_manifest(next_partition_id: u32, partitions: &[ManifestPartition]) -> Vec<u8> {
    let partitions = partitions
        .iter()
        .map(|(id, start, tier, page_size, generation)| PartitionEntry {
            id: *id,
            start: start.clone(),
            tier: *tier,
            page_size: *page_size,
            generation: *generation,
        })
        .collect();
    Manifest {
        next_partition_id,
        partitions,
    }
    .encode()
}

/// Decodes the manifest file `path` holding `bytes` into the next
/// partition id and the partitions.
pub fn decode_manifest(bytes: &[u8], path: &Path) -> Result<(u32, Vec<ManifestPartition>)> {
    let m = Manifest::decode(bytes, path)?;
    let partitions = m
        .partitions
        .into_iter()
        .map(|p| (p.id, p.start, p.tier, p.page_size, p.generation))
        .collect();
    Ok((m.next_partition_id, partitions))
}

/// Recomputes the checksum of a manifest file (the last four bytes).
pub fn reseal_manifest(bytes: &mut [u8]) {
    if let Some(body_len) = bytes.len().checked_sub(4) {
        let crc = crc32fast::hash(&bytes[..body_len]);
        bytes[body_len..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Encodes a commit record's payload from `(partition, write)` pairs.
pub fn encode_commit_record(writes: &[(u32, WriteOp)]) -> Vec<u8> {
    let writes: Vec<PartitionWrite> = writes
        .iter()
        .map(|(partition, op)| PartitionWrite {
            partition: *partition,
            op: op.clone(),
        })
        .collect();
    commit_record::encode(&writes)
}

/// Decodes a commit record's payload read from WAL record `lsn` of `file`.
pub fn decode_commit_record(payload: &[u8], file: &Path, lsn: u64) -> Result<Vec<(u32, WriteOp)>> {
    let writes = commit_record::decode(&bytes::Bytes::copy_from_slice(payload), file, lsn)?;
    Ok(writes.into_iter().map(|w| (w.partition, w.op)).collect())
}
