//! Every workload at tiny size, through the real binary: the tool's
//! correctness (phases run, results recorded, charts written), not timing.

use std::path::Path;
use std::process::Command;

fn run(workload: &str, dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = dir.join(format!("{workload}.jsonl"));
    let status = Command::new(env!("CARGO_BIN_EXE_tierdb-bench"))
        .arg(workload)
        .args([
            "--n",
            "400",
            "--ops",
            "40",
            "--batch",
            "50",
            "--threads",
            "2",
        ])
        .args(["--kill-after-ms", "50", "--cache-mib", "8"])
        .arg("--dir")
        .arg(dir.join("stores"))
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .expect("run tierdb-bench");
    assert!(
        status.status.success(),
        "{workload}: {}\n{}{}",
        status.status,
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        !dir.join("stores").exists(),
        "{workload}: stores left behind"
    );
    for chart in ["throughput", "p99"] {
        let svg = std::fs::read_to_string(dir.join(format!("{workload}-{chart}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn phases(lines: &[serde_json::Value], engine: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["engine"] == engine && l.get("phase").is_some())
        .map(|l| l["phase"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn catalog_runs_every_phase_on_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let lines = run("catalog", dir.path(), &[]);
    assert_eq!(phases(&lines, "disk"), ["fdatasync-1"]);
    for engine in ["tierdb-btree", "tierdb-lsm", "tierdb-mixed"] {
        assert_eq!(
            phases(&lines, engine),
            [
                "load",
                "sync-1",
                "sync-n",
                "batched",
                "point-reads",
                "scans",
                "mix-90-10",
                "reopen-clean",
                "reopen-kill"
            ],
            "{engine}"
        );
        let settings = lines
            .iter()
            .find(|l| l["record"] == "engine" && l["engine"] == engine);
        assert!(
            settings.unwrap()["settings"]
                .as_str()
                .unwrap()
                .contains("cache 8 MiB")
        );
    }
    let load = lines.iter().find(|l| l["phase"] == "load").unwrap();
    assert_eq!(load["ops"], 400);
    assert!(load["user_write_bytes"].as_u64().unwrap() > 400 * 100);
    assert!(load["space_amp"].as_f64().unwrap() > 0.0);
    let reads = lines.iter().find(|l| l["phase"] == "point-reads").unwrap();
    assert_eq!(reads["ops"], 40);
    assert!(reads["p99_us"].as_f64().unwrap() >= reads["p50_us"].as_f64().unwrap());
}

#[test]
fn growth_runs_catalog_at_each_size() {
    let dir = tempfile::tempdir().unwrap();
    let lines = run(
        "growth",
        dir.path(),
        &["--sizes", "200,400", "--engines", "tierdb-mixed"],
    );
    let ns: Vec<u64> = lines
        .iter()
        .filter(|l| l["phase"] == "reopen-kill")
        .map(|l| l["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [200, 400]);
}

#[test]
fn ycsb_and_classic_workloads_run() {
    let dir = tempfile::tempdir().unwrap();
    for workload in [
        "ycsb-a",
        "ycsb-b",
        "ycsb-c",
        "ycsb-d",
        "ycsb-e",
        "ycsb-f",
        "fillseq",
        "fillrandom",
        "overwrite",
        "readrandom",
        "readseq",
        "seekrandom",
    ] {
        let lines = run(
            workload,
            dir.path(),
            &[
                "--engines",
                "tierdb-btree,tierdb-lsm",
                "--value-size",
                "50-80",
                "--dist",
                "uniform",
            ],
        );
        for engine in ["tierdb-btree", "tierdb-lsm"] {
            let got = phases(&lines, engine);
            assert_eq!(
                got.last().map(String::as_str),
                Some(workload),
                "{workload} {engine}"
            );
            if workload == "readseq" {
                let r = lines.iter().find(|l| l["phase"] == "readseq").unwrap();
                assert_eq!(r["ops"], 400, "readseq reads every record once");
            }
        }
    }
}

#[test]
fn an_engine_missing_from_the_build_is_refused_with_its_feature() {
    if cfg!(feature = "rocksdb") {
        return;
    }
    let child = Command::new(env!("CARGO_BIN_EXE_tierdb-bench"))
        .args(["catalog", "--engines", "rocksdb", "--n", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Without --dir the stores would go under this, named by the pid.
    let base = std::env::temp_dir().join(format!("tierdb-bench-{}", child.id()));
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features rocksdb"));
    assert!(!base.exists(), "refused run left {}", base.display());
}
