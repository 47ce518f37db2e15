//! Output: table rows on stdout, JSON lines in a file, charts at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::Result;
use crate::measure::PhaseResult;

/// Where results go as they are made.
pub struct Output {
    path: PathBuf,
    file: BufWriter<File>,
    pub results: Vec<PhaseResult>,
}

#[derive(Serialize)]
struct EngineLine<'a> {
    record: &'static str,
    engine: &'a str,
    workload: &'a str,
    n: u64,
    settings: &'a str,
}

const MIB: f64 = 1048576.0;

impl Output {
    pub fn create(path: &Path) -> Result<Output> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        Ok(Output {
            path: path.to_path_buf(),
            file: BufWriter::new(File::create(path)?),
            results: Vec::new(),
        })
    }

    /// The results in an earlier run's JSON lines file.
    pub fn load(path: &Path) -> Result<Output> {
        let text = std::fs::read_to_string(path)?;
        let mut results = Vec::new();
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line)?;
            if value.get("phase").is_some() {
                results.push(serde_json::from_value(value)?);
            }
        }
        Ok(Output {
            path: path.to_path_buf(),
            file: BufWriter::new(File::options().append(true).open(path)?),
            results,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Announces an engine run: its settings on stdout and in the file,
    /// and the table header.
    pub fn engine(&mut self, engine: &str, workload: &str, n: u64, settings: &str) -> Result<()> {
        println!("\n== {workload}, {engine}, N = {n}\n   settings: {settings}");
        println!(
            "{:<14} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9} {:>6} {:>8}",
            "phase",
            "count",
            "per sec",
            "p50 us",
            "p99 us",
            "p99.9 us",
            "wrote MiB",
            "WA",
            "",
            "disk MiB",
            "SA",
            "RSS MiB"
        );
        let line = EngineLine {
            record: "engine",
            engine,
            workload,
            n,
            settings,
        };
        serde_json::to_writer(&mut self.file, &line)?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        Ok(())
    }

    pub fn add(&mut self, r: &PhaseResult) -> Result<()> {
        let opt = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<14} {:>10} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>6} {:>9.1} {:>6} {:>8.1}",
            r.phase,
            r.ops,
            r.ops_per_sec,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.disk_write_bytes as f64 / MIB,
            opt(r.write_amp),
            "",
            r.disk_bytes as f64 / MIB,
            opt(r.space_amp),
            r.peak_rss_bytes as f64 / MIB,
        );
        serde_json::to_writer(&mut self.file, r)?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        self.results.push(r.clone());
        Ok(())
    }

    /// The side-by-side table: one row per phase (and N), one column per
    /// engine, throughput and p99.
    pub fn print_summary(&self) {
        let engines = distinct(
            self.results
                .iter()
                .filter(|r| r.engine != "disk")
                .map(|r| r.engine.clone()),
        );
        if engines.len() < 2 {
            return;
        }
        let rows = distinct(
            self.results
                .iter()
                .map(|r| (r.workload.clone(), r.n, r.phase.clone())),
        );
        println!("\n== side by side: per second (p99 in us)");
        print!("{:<30}", "phase");
        for e in &engines {
            print!("{e:>20}");
        }
        println!();
        for (workload, n, phase) in rows {
            print!("{:<30}", format!("{workload} {n} {phase}"));
            for e in &engines {
                let cell = self
                    .results
                    .iter()
                    .find(|r| {
                        &r.engine == e && r.n == n && r.phase == phase && r.workload == workload
                    })
                    .map(|r| format!("{:.0} ({:.0})", r.ops_per_sec, r.p99_us))
                    .unwrap_or_else(|| "-".into());
                print!("{cell:>20}");
            }
            println!();
        }
    }

    /// Writes the charts beside the JSON file; returns their paths.
    pub fn write_charts(&self, growth: bool) -> Result<Vec<PathBuf>> {
        let stem = self.path.with_extension("");
        let mut written = Vec::new();
        let charts: Vec<(&str, String)> = if growth {
            vec![
                (
                    "throughput",
                    crate::chart::growth(&self.results, "ops/s", |r| r.ops_per_sec),
                ),
                (
                    "p99",
                    crate::chart::growth(&self.results, "p99 latency (us)", |r| r.p99_us),
                ),
            ]
        } else {
            vec![
                (
                    "throughput",
                    crate::chart::bars(&self.results, "ops/s", |r| r.ops_per_sec),
                ),
                (
                    "p99",
                    crate::chart::bars(&self.results, "p99 latency (us)", |r| r.p99_us),
                ),
            ]
        };
        for (name, svg) in charts {
            let path = PathBuf::from(format!("{}-{name}.svg", stem.display()));
            std::fs::write(&path, svg)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The distinct items, in first-seen order.
pub fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}
