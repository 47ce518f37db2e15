//! Prints what a B+tree tier file holds at its durable checkpoint: pages by
//! kind, average leaf fill, free pages, and the file's length.
//!
//! ```sh
//! cargo run --release -p tierdb-btree --example page_stats -- FILE.btree
//! ```
//!
//! Opening a file never changes a valid one (no WAL is replayed: this is
//! the checkpoint as stored); run it on a copy of a live database's file.

use std::path::PathBuf;
use std::sync::Arc;

use tierdb_btree::{BTreeOptions, BTreeTier};
use tierdb_cache::PageCache;
use tierdb_io::{OsVfs, Vfs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: page_stats FILE.btree");
        std::process::exit(2);
    };
    let file_bytes = std::fs::metadata(&path)?.len();
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    let cache = Arc::new(PageCache::new(64 << 20));
    let tier = BTreeTier::open(vfs, &path, cache, 0, BTreeOptions::default())?;
    let r = tier.verify()?;
    let mib = |pages: u64| (pages * r.page_size) as f64 / (1 << 20) as f64;
    println!(
        "file              {:>10.1} MiB",
        file_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "checkpoint pages  {:>10} ({:.1} MiB)",
        r.total_pages,
        mib(r.total_pages)
    );
    println!("entries           {:>10}  height {}", r.entries, r.height);
    println!(
        "leaves            {:>10} ({:.1} MiB), average fill {:.1} %",
        r.leaves,
        mib(r.leaves),
        100.0 * r.leaf_fill()
    );
    println!(
        "branches          {:>10} ({:.1} MiB)",
        r.branches,
        mib(r.branches)
    );
    println!(
        "node tail pages   {:>10}",
        r.node_pages - r.leaves - r.branches
    );
    println!(
        "overflow pages    {:>10} ({:.1} MiB)",
        r.overflow_pages,
        mib(r.overflow_pages)
    );
    println!("free-list pages   {:>10}", r.free_list_pages);
    println!(
        "free pages        {:>10} ({:.1} MiB)",
        r.free_pages,
        mib(r.free_pages)
    );
    println!(
        "bytes used in leaves {:.1} MiB (cells, slots, headers)",
        r.leaf_bytes as f64 / (1 << 20) as f64
    );
    Ok(())
}
