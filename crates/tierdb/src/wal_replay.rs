//! Replaying the WAL at open: every commit record above what a partition
//! persisted goes back into that partition's tier.
//!
//! Two threads share the work, so an open after a crash takes the longer
//! of the two halves rather than their sum: this one reads the segments,
//! checks them (`Wal::open`), decodes the commit records and routes their
//! writes by key; an applier thread hands them to the tiers a chunk at a
//! time (`Tier::apply_recovered`, which the LSM tier inserts in key order
//! and the B+tree keeps in its overlay). Partitions are independent, so
//! only each partition's own order matters, and the chunks keep it.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use tierdb_io::Vfs;
use tierdb_tier::{Seq, WriteOp};
use tierdb_wal::{Wal, WalOptions};

use crate::layout::Partition;
use crate::{Error, Result};

/// Payload bytes of WAL records decoded before they go to the applier:
/// large enough for a key-ordered run to pay, small enough for the
/// applier to start early.
const CHUNK_BYTES: usize = 4 << 20;
/// Chunks decoded ahead of the applier (bounds the memory in flight).
const CHUNKS_IN_FLIGHT: usize = 2;

/// Write sets for each partition (by index in the layout), ascending.
type Chunk = Vec<Vec<(Seq, Vec<WriteOp>)>>;

/// Opens the WAL and replays every record above what each partition
/// persisted. Returns the WAL and the number of records replayed.
pub(crate) fn replay_wal(
    vfs: &Arc<dyn Vfs>,
    wal_opts: WalOptions,
    partitions: &[Partition],
) -> Result<(Arc<Wal>, u64)> {
    let replay_after: Seq = partitions
        .iter()
        .map(|p| p.store.persisted_seq())
        .min()
        .unwrap_or(0);
    // A partition takes the records above its own applied sequence.
    let applied: Vec<Seq> = partitions.iter().map(|p| p.store.applied_seq()).collect();
    let wal_dir = wal_opts.dir.clone();
    std::thread::scope(|scope| {
        let (to_applier, chunks) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let applier = std::thread::Builder::new()
            .name("tierdb-replay".into())
            .spawn_scoped(scope, || apply_chunks(partitions, chunks))
            .map_err(|e| Error::io(&wal_dir, e))?;
        let mut router = Router {
            partitions,
            applied: &applied,
            wal_dir: &wal_dir,
            chunk: empty_chunk(partitions.len()),
            chunk_bytes: 0,
            replayed: 0,
        };
        let mut replay = |lsn: u64, payload: &[u8]| -> Result<()> {
            router.route(lsn, payload)?;
            if router.chunk_bytes >= CHUNK_BYTES {
                let chunk = router.take_chunk();
                // Fails only once the applier stopped on an error, which
                // `join` below reports.
                to_applier.send(chunk).map_err(|_| applier_stopped())?;
            }
            Ok(())
        };
        let opened = Wal::open(vfs.clone(), wal_opts, replay_after, &mut replay);
        let last = router.take_chunk();
        let sent = to_applier.send(last);
        drop(to_applier);
        let applied = applier
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The applier's error first: a failed send or an `applier_stopped`
        // from `Wal::open` only echo it.
        applied?;
        let (wal, _recovered) = opened?;
        sent.map_err(|_| applier_stopped())?;
        Ok((wal, router.replayed))
    })
}

/// The applier thread: each chunk's write sets to their partitions.
fn apply_chunks(partitions: &[Partition], chunks: Receiver<Chunk>) -> Result<()> {
    for chunk in chunks {
        for (partition, sets) in partitions.iter().zip(chunk) {
            if !sets.is_empty() {
                partition.store.apply_recovered(&sets)?;
            }
        }
    }
    Ok(())
}

fn empty_chunk(partitions: usize) -> Chunk {
    vec![Vec::new(); partitions]
}

fn applier_stopped() -> Error {
    Error::InvalidArgument("the WAL replay's applier stopped".into())
}

/// Decodes commit records and sorts their writes into a chunk.
struct Router<'a> {
    partitions: &'a [Partition],
    applied: &'a [Seq],
    wal_dir: &'a Path,
    chunk: Chunk,
    chunk_bytes: usize,
    replayed: u64,
}

impl Router<'_> {
    fn route(&mut self, lsn: u64, payload: &[u8]) -> Result<()> {
        let writes = crate::commit_record::decode(payload, self.wal_dir, lsn)?;
        // Routed by key with the layout of the manifest. A record written
        // before a layout change may name a partition id that no longer
        // exists, or whose range changed; every partition rebuilt by that
        // change persisted past the record, so it is skipped there.
        // A range delete is cut again at today's partition boundaries.
        let mut ops: Vec<Vec<WriteOp>> = vec![Vec::new(); self.partitions.len()];
        for w in writes {
            if let WriteOp::DeleteRange { start, end } = &w.op {
                let starts: Vec<&bytes::Bytes> =
                    self.partitions.iter().map(|p| &p.entry.start).collect();
                for (i, op) in crate::range_delete::clip(&starts, start, end.as_ref()) {
                    ops[i].push(op);
                }
                continue;
            }
            let i = self
                .partitions
                .partition_point(|p| p.entry.start[..] <= w.op.key()[..])
                .saturating_sub(1);
            ops[i].push(w.op);
        }
        for (i, ops) in ops.into_iter().enumerate() {
            if !ops.is_empty() && lsn > self.applied[i] {
                self.chunk[i].push((lsn, ops));
            }
        }
        self.chunk_bytes += payload.len();
        self.replayed += 1;
        Ok(())
    }

    fn take_chunk(&mut self) -> Chunk {
        self.chunk_bytes = 0;
        std::mem::replace(&mut self.chunk, empty_chunk(self.partitions.len()))
    }
}
