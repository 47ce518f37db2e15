//! A short kill -9 torture run in the normal test suite: ten rounds of the
//! `crash_torture` binary (a child committing on real files, SIGKILLed at a
//! random moment, then reopened and checked). Longer runs:
//! `cargo run --release -p tierdb-torture -- --rounds 500`.

use std::process::Command;

#[test]
fn ten_kill_rounds_lose_nothing_acknowledged() {
    let output = Command::new(env!("CARGO_BIN_EXE_crash_torture"))
        .args([
            "--rounds",
            "10",
            "--seconds",
            "25",
            "--seed",
            "7",
            "--max-run-ms",
            "600",
        ])
        .output()
        .expect("spawn crash_torture");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "crash_torture failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("violations 0"), "{stdout}");
    println!("{stdout}");
}
