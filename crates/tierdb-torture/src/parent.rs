//! The parent: runs the child round after round on the same directory,
//! kills it with SIGKILL at a seeded random moment, reopens the database
//! and checks it against the ledger built from the child's reports.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ledger::Ledger;
use crate::workload::{Report, open};

pub struct Config {
    pub rounds: u64,
    pub seconds: Option<u64>,
    pub seed: u64,
    pub dir: Option<PathBuf>,
    /// Longest time a child runs after it reported `ready`.
    pub max_run_ms: u64,
}

/// What was interrupted and checked, over all rounds.
#[derive(Default, Debug)]
struct Totals {
    rounds: u64,
    acks: u64,
    keys_checked: u64,
    pending_found: u64,
    pending_lost: u64,
    killed_in_open: u64,
    killed_in_checkpoint: u64,
    killed_in_layout_change: u64,
    checkpoints: u64,
    compactions: u64,
    layout_changes: u64,
    range_deletes: u64,
    range_deleted_keys: u64,
    /// How long the last child that was let open took to report ready.
    last_open: Duration,
}

/// What the child's reports of one round say about the moment of the kill.
#[derive(Default)]
struct RoundEvents {
    ready: bool,
    checkpoints_open: i64,
    layout_open: bool,
    violations: Vec<String>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(config: &Config) -> Result<(), String> {
    let temp;
    let dir = match &config.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
            temp.path().join("db")
        }
    };
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut ledger = Ledger::default();
    let mut totals = Totals::default();
    let started = Instant::now();
    let out_of_time = || {
        config
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
    };
    for round in 0..config.rounds {
        if out_of_time() {
            break;
        }
        let child_seed = rng.random::<u64>();
        let result = run_round(
            &exe,
            &dir,
            round,
            child_seed,
            config,
            &mut rng,
            &mut ledger,
            &mut totals,
        );
        if result.is_ok() && totals.rounds % 100 == 0 {
            eprintln!(
                "crash_torture: {} rounds, {} acknowledged commits verified, {:.0} s",
                totals.rounds,
                totals.acks,
                started.elapsed().as_secs_f64()
            );
        }
        if let Err(violations) = result {
            eprintln!(
                "VIOLATION in round {round} (--seed {}, child seed {child_seed}); files kept in {}",
                config.seed,
                dir.display()
            );
            for v in violations.iter().take(20) {
                eprintln!("  {v}");
            }
            if config.dir.is_none() {
                // Keep the evidence: the temp dir would be removed on return.
                let kept = std::env::temp_dir().join(format!("tierdb-torture-{}", config.seed));
                let _ = std::fs::rename(&dir, &kept);
                eprintln!("  moved to {}", kept.display());
            }
            print_totals(&totals, started, violations.len());
            return Err(format!("{} violations", violations.len()));
        }
    }
    print_totals(&totals, started, 0);
    Ok(())
}

fn print_totals(t: &Totals, started: Instant, violations: usize) {
    println!(
        "crash_torture: {} rounds in {:.1} s; {} acknowledged commits verified; \
         {} keys checked after reopens; {} acknowledged range deletes removed {} keys; commits in flight at the kill: {} found, {} not; \
         kills during open/recovery {}, during a checkpoint {}, during a layout change {}; \
         the children ran {} checkpoints, {} LSM compactions, {} layout changes; violations {}",
        t.rounds,
        started.elapsed().as_secs_f64(),
        t.acks,
        t.keys_checked,
        t.range_deletes,
        t.range_deleted_keys,
        t.pending_found,
        t.pending_lost,
        t.killed_in_open,
        t.killed_in_checkpoint,
        t.killed_in_layout_change,
        t.checkpoints,
        t.compactions,
        t.layout_changes,
        violations
    );
}

#[allow(clippy::too_many_arguments)]
fn run_round(
    exe: &std::path::Path,
    dir: &std::path::Path,
    round: u64,
    child_seed: u64,
    config: &Config,
    rng: &mut StdRng,
    ledger: &mut Ledger,
    totals: &mut Totals,
) -> Result<(), Vec<String>> {
    let spawned = Instant::now();
    let mut child = Command::new(exe)
        .arg("child")
        .arg("--dir")
        .arg(dir)
        .arg("--round")
        .arg(round.to_string())
        .arg("--seed")
        .arg(child_seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| vec![format!("spawn: {e}")])?;
    let lines = read_lines(&mut child);
    let mut events = RoundEvents::default();
    let mut take = |line: String, events: &mut RoundEvents| match Report::parse(&line) {
        Some(report) => {
            match &report {
                Report::Ready => events.ready = true,
                Report::CheckpointBegin => events.checkpoints_open += 1,
                Report::CheckpointEnd => {
                    events.checkpoints_open -= 1;
                    totals.checkpoints += 1;
                }
                Report::Compaction => totals.compactions += 1,
                Report::LayoutBegin(_) => events.layout_open = true,
                Report::LayoutEnd => {
                    events.layout_open = false;
                    totals.layout_changes += 1;
                }
                _ => {}
            }
            if let Err(e) = ledger.apply(&report) {
                events.violations.push(e);
            }
        }
        None => events
            .violations
            .push(format!("unreadable report {line:?}")),
    };

    // One round in five is killed while it opens (recovery): at a random
    // moment within the time the last child took to report ready. The
    // others run a random time after they reported `ready`.
    let early = rng.random_ratio(1, 5);
    let deadline = if early {
        let open_micros = totals.last_open.as_micros().max(1000) as u64;
        spawned + Duration::from_micros(rng.random_range(0..open_micros))
    } else {
        let wait_for_ready = Instant::now() + READY_TIMEOUT;
        while !events.ready {
            match lines.recv_timeout(wait_for_ready.saturating_duration_since(Instant::now())) {
                Ok(line) => take(line, &mut events),
                Err(_) => break,
            }
        }
        if !events.ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err(vec!["the child never reported ready".into()]);
        }
        totals.last_open = spawned.elapsed();
        let max = [50, 300, config.max_run_ms.max(1)][rng.random_range(0..3)];
        Instant::now() + Duration::from_millis(rng.random_range(0..max))
    };
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => take(line, &mut events),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Ok(Some(status)) = child.try_wait() {
        events
            .violations
            .push(format!("the child exited on its own: {status}"));
    }
    child
        .kill()
        .and_then(|()| child.wait().map(drop))
        .map_err(|e| vec![format!("kill: {e}")])?;
    // Everything the child wrote before it died is still in the pipe.
    for line in lines.iter() {
        take(line, &mut events);
    }
    if !events.ready {
        totals.killed_in_open += 1;
    }

    if events.checkpoints_open > 0 {
        totals.killed_in_checkpoint += 1;
    }
    if events.layout_open {
        totals.killed_in_layout_change += 1;
    }
    if !events.violations.is_empty() {
        return Err(events.violations);
    }

    let acks = ledger.acks_this_round;
    let db = open(dir, None).map_err(|e| vec![format!("reopen after the kill: {e}")])?;
    let checked = ledger.check(&db)?;
    db.close().map_err(|e| vec![format!("close: {e}")])?;
    totals.rounds += 1;
    totals.acks += acks;
    totals.keys_checked += checked.keys;
    totals.pending_found += checked.pending_found;
    totals.pending_lost += checked.pending_lost;
    totals.range_deletes = ledger.range_deletes_acked;
    totals.range_deleted_keys = ledger.range_deleted_keys;
    Ok(())
}

/// The child's complete report lines, in order, as they arrive; a last
/// line cut by the kill is dropped (nothing was acknowledged by it).
fn read_lines(child: &mut Child) -> Receiver<String> {
    let (send, receive) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(complete) = line.strip_suffix('\n')
                    && send.send(complete.to_string()).is_err()
                {
                    break;
                }
                line.clear();
            }
        });
    }
    receive
}
