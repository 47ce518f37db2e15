//! tierdb's B+tree tier: slotted pages, copy-on-write checkpoints, and
//! snapshots by in-memory path copying.
//!
//! [`BTreeTier`] stores one partition in one file and implements
//! [`tierdb_tier::Tier`]. The byte layout is specified in
//! `docs/format/btree.md`; this page argues the design.
//!
//! # Versions: path copying, not version chains
//!
//! The tree is a graph of immutable `Arc<Node>`s. `apply` makes a new root by
//! copying the path to each key it touches (`Arc::make_mut`): a node still
//! shared with a read view, a running checkpoint, the cache or the published
//! tree is copied, and a node this write set already copied is changed in
//! place, so a batch copies each node at most once. A read view is just
//! `(seq, root)`: it never blocks `apply`, `apply` never blocks it, and it
//! stays exact for as long as it is held. This is what LMDB and redb do on
//! disk; we do it in memory and make it durable with checkpoints.
//!
//! The alternative — WiredTiger-style per-entry version chains trimmed to the
//! oldest snapshot — keeps a single tree but makes every read walk chains,
//! needs a trimming pass, and makes "what does a checkpoint write" depend on
//! the chains. Path copying costs `height` node copies per write set (a
//! branch's separators and its children, in chunks of 16, are shared with
//! the copy: a few dozen refcount bumps per level), nothing per read, and gives the
//! checkpoint a frozen tree for free. Views stay cheap: they pin the nodes
//! they reach, and disk pages they might read are not reused while they live.
//!
//! # Nodes and pages
//!
//! A node in memory is a `Leaf` (sorted key/value entries) or a `Branch`
//! (separators and children). A child is `Disk { page, checksum }` (load it
//! through the shared [`PageCache`](tierdb_cache::PageCache), which holds
//! decoded branches and leaves kept as their verified page bytes, see
//! `leaf_page.rs`) or `Mem(Arc<Node>)` (changed since the last checkpoint). On
//! disk a node is a slotted page; a cell larger than a quarter page spills
//! its value to an overflow run and, if the key alone is too big, its key to
//! the node's tail pages, so 16 KiB keys and 64 MiB values work with 4 KiB
//! pages. A node whose encoding would exceed a page is recut with a sibling
//! as in a B*-tree (shared between the two, or the pair cut into three), or
//! cut fill-left when the key went after every key in the tree, so pages
//! stay about 80 % full under random inserts and full under ascending ones;
//! a node is joined with a sibling (merge, or merge-and-cut = borrow) when
//! under a quarter full; the root gains a level when it splits and loses one
//! when it is a branch with a single child.
//!
//! Parents store each child's page number *and* crc32 (redb's checksum
//! tree), and every page records its own number, so a bit flip, a torn,
//! lost, stale or misdirected write is caught on the way down and reported as
//! `Error::Corruption { file, offset }` — never a panic, never wrong data.
//!
//! # Checkpoints (`persist`)
//!
//! 1. Under a brief lock take the current root `R` at sequence `S`; call the
//!    write-ahead callback `wal_durable_to(S)`.
//! 2. Write every in-memory node reachable from `R`, children first, to free
//!    pages — never a page the last durable checkpoint can reach — and spill
//!    large inline values to overflow runs. `apply` keeps running: `R` is
//!    shared, so it copies whatever it changes.
//! 3. Write the free list; `fdatasync`.
//! 4. Write the header (magic, version, generation, `S`, root + checksum, free
//!    list, page count, entry count, crc32) into slot `generation % 2`;
//!    `fdatasync`. The header write is the commit point: a torn header fails
//!    its checksum and `open` uses the other slot, the previous checkpoint,
//!    whose pages step 2 did not touch.
//! 5. Swizzle: in the *current* tree, replace each in-memory node this
//!    checkpoint wrote (matched by `Arc` identity; the written table holds the
//!    nodes, so identities stay unique) by `Disk { page, checksum }`. Step 2
//!    already put each node, decoded back from the bytes written, into the
//!    cache (charged, so a checkpoint in flight holds at most the cache's
//!    budget of decoded copies besides the tree it writes). Memory is then
//!    bounded by the cache plus the nodes changed since step 1.
//!
//! Persists are serialised. An I/O error in steps 2–4 poisons later persists
//! (`Error::Poisoned`): the tier no longer knows what the file holds, and
//! reopening recovers the last durable checkpoint.
//!
//! # Free space
//!
//! When `apply` at sequence `F` replaces a node or an overflow run that lives
//! on disk, its pages are freed *at `F`*. They are reused only when the
//! durable checkpoint's sequence is `>= F` (the durable tree no longer reaches
//! them) and no live view has a sequence `< F` (views register in a small
//! registry and deregister on drop). Pages a checkpoint used for itself — its
//! free list, and nodes `apply` replaced before the swizzle (orphans) — are
//! reusable once the next checkpoint is durable. Each checkpoint persists as
//! free every page that will be free once it is durable (including pages
//! held back only by views, which do not survive a crash), so no page leaks
//! across a crash; [`BTreeTier::verify`] checks that every page of the file
//! is reachable or free exactly once. The file grows only when no free run
//! fits, and a checkpoint cuts a free run at its end off the file. Under a
//! steady update load it plateaus at the live tree plus what the previous
//! checkpoint still reaches plus what the running one writes (up to about
//! twice the tree when every checkpoint rewrites most of it), without any
//! compaction call.
//!
//! # Locks
//!
//! `writer` (apply and swizzle), `tree` (the published root; held for a few
//! instructions), `space` (free space and the view registry), `checkpoint`
//! (the persist mutex and the durable header). Order: `checkpoint` →
//! `writer` → `tree` → `space`. No lock is held across I/O except
//! `checkpoint` (by `persist` and `verify` only).
//!
//! # Modules
//!
//! `node` (in-memory nodes) · `children` (a branch's child pointers, in
//! shared chunks) · `layout` (sizes and spill rules) ·
//! `page_format` (slotted node pages) · `split` (cutting and joining nodes) ·
//! `mutate` (apply by path copying) · `read` and `cursor` (get, ranges) ·
//! `view` (read views, pins) · `store` (file I/O and cache loads) · `space`
//! (free space) · `free_list` (its pages) · `header` (the two header slots) ·
//! `checkpoint` and `swizzle` (persist) · `open` (recovery) · `verify` (full
//! check) · `tier` (the `Tier` impl).

mod checkpoint;
mod children;
mod codec;
mod cursor;
mod free_list;
#[doc(hidden)]
pub mod fuzz_api;
mod header;
mod key_heads;
mod layout;
mod leaf_page;
mod mutate;
mod node;
mod open;
mod options;
mod overlay;
mod pack;
mod page_format;
mod read;
mod resident;
mod space;
mod split;
mod store;
mod swizzle;
mod tier;
mod verify;
mod view;

pub use options::BTreeOptions;
pub use tier::BTreeTier;
pub use verify::VerifyReport;
