//! Times reopens of a killed store: `reopen_probe ENGINE DIR N [RUNS]`
//! copies DIR to DIR.probe before each run (so every run replays the same
//! WAL), opens it as `tierdb-bench` does, reads product N/2 and prints the
//! time and the records replayed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tierdb_bench::engine::EngineConfig;
use tierdb_bench::keys::product_key;

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            // Durable before the timed open, whose WAL recovery syncs the
            // last segment: after a real kill only the unsynced tail is
            // dirty, not the whole copy.
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}

fn main() -> tierdb_bench::engine::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let kind = tierdb_bench::engine::parse_list(&args[1])?[0];
    let src = PathBuf::from(&args[2]);
    let n: u64 = args[3].parse()?;
    let runs: usize = args.get(4).map_or(Ok(3), |r| r.parse())?;
    let work = src.with_extension("probe");
    let cfg = EngineConfig {
        cache_bytes: 256 << 20,
        lsm_memtable_bytes: None,
        checkpoint_wal_bytes: None,
        checkpoint_dirty_bytes: None,
        splits: Vec::new(),
    };
    let mut times = Vec::new();
    let mut opens = Vec::new();
    for _ in 0..runs {
        if work.exists() {
            std::fs::remove_dir_all(&work)?;
        }
        copy_dir(&src, &work)?;
        let t = Instant::now();
        let engine = kind.open(&work, &cfg)?;
        let opened = t.elapsed();
        let found = engine.get(&product_key(n / 2))?.is_some();
        let took = t.elapsed();
        if !found {
            return Err("product missing after reopen".into());
        }
        times.push(took.as_secs_f64() * 1e3);
        opens.push(opened.as_secs_f64() * 1e3);
        drop(engine);
    }
    times.sort_by(f64::total_cmp);
    opens.sort_by(f64::total_cmp);
    println!(
        "{kind} {}: open min {:.1} ms, median {:.1} ms; open+get min {:.1} ms, median {:.1} ms, max {:.1} ms ({runs} runs)",
        src.display(),
        opens[0],
        opens[opens.len() / 2],
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    std::fs::remove_dir_all(&work)?;
    Ok(())
}
