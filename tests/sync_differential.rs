//! The differential tester: random op-scripts run on corio-sync and on
//! CPython's asyncio, their traces compared line by line, and invariants
//! checked on corio's trace alone.
//!
//! # How it works
//!
//! A script (`differential/script.rs`) is N tasks, each a list of ops on
//! one Lock `L`, Semaphore `S`, BoundedSemaphore `B`, Condition `C`, Event
//! `E`, Queue `Q`, PriorityQueue `P`, LifoQueue `F` and Barrier `R`, plus
//! `sleep k` (virtual milliseconds) and `cancel Tj`. Every op prints one
//! trace line with its virtual time and outcome when it completes.
//! `differential/corio_interp.rs` runs a script on a virtual-clock corio
//! loop; `differential/asyncio_interp.py` runs it on a virtual-clock
//! asyncio loop under `python3` (CPython 3.11 on these machines). The
//! traces must be equal. Independently, corio's run is checked against
//! invariants: never two holders of L (nor more than B's bound), a bounded
//! semaphore never above its bound, permits adding up at the end, every
//! item put got exactly once or still queued, waiters of L, S, B and the
//! queues served in arrival order, and no task left waiting at the end for
//! something that is there (a lost wake-up).
//!
//! A divergence or broken invariant is shrunk (ops and tasks removed while
//! it persists) and printed with its seed; the run fails.
//!
//! # Documented differences (the comparison knows them)
//!
//! Where corio decided otherwise than asyncio 3.11 on purpose (DESIGN,
//! "Semantics decided where Rust and asyncio part ways"), the interpreter
//! marks the trace line from which the two runs may part, and only the
//! lines before it are compared (the invariants still cover the whole run).
//! The rules, by the name a report gives them:
//! - `queue-reservation`: a `get`/`get_nowait` while a getter of that queue
//!   was handed an item and has not run yet, or a `put`/`put_nowait` while
//!   a putter was handed a slot. corio reserves it for that waiter; asyncio
//!   lets the newcomer take it and sends the woken waiter to the back of
//!   the line.
//! - `bounded-handed-permit`: `release B` while a permit of B is handed to a
//!   waiter that has not run. corio counts the handed permit against the
//!   bound and refuses; asyncio counts only free permits.
//! - `handed-to-cancelled`: an op on a primitive while a task waiting on it
//!   has been cancelled but has not unwound yet. asyncio cancels the
//!   waiter's future at `cancel()`, so a release skips it; corio learns of
//!   the cancellation when the task's future is dropped at its next step,
//!   and passes on what it was handed then: the same waiter gets it, one
//!   loop iteration later.
//! - `cancel-condition-wait`: cancelling a task in `wait C`. asyncio
//!   re-acquires the lock before the cancellation propagates (queueing
//!   behind other tasks), and 3.11 loses a notification its cancelled
//!   waiter had received; corio leaves the lock released and passes the
//!   notification on (3.13's behaviour).
//!
//! - `barrier-draining`: `bwait R` or `abort R` while tasks released by the
//!   previous cycle have not run yet. asyncio makes the newcomer wait until
//!   they have left (its barrier "drains"), and an abort meanwhile breaks
//!   them too; corio's released tasks already own their indices, so the
//!   newcomer joins the next cycle at once and an abort breaks only that.
//! - `barrier-staggered`: a cycle released or aborted with two or more
//!   tasks waiting. asyncio's waiters leave one loop iteration after
//!   another (each re-acquires the barrier's condition lock in turn);
//!   corio's all leave in the next iteration.
//!
//! And by construction:
//! - `shutdown` (3.13) is not in CPython 3.11: one script in five may use
//!   it; those run on corio alone, for the invariants.
//! - Equal timer deadlines fire in scheduling order in corio; the Python
//!   interpreter makes asyncio's heap do the same.
//! - `L`, `S`, `B` are acquired and released without guards (asyncio's
//!   bare `acquire()`/`release()`), `C` as a guarded block (`async with`),
//!   released if its task is cancelled; a condition op appears only inside
//!   its task's block, since asyncio's `wait` would release a lock another
//!   task holds.
//!
//! # Running it
//!
//! `cargo test -p corio-sync --test differential` runs 500 scripts and
//! prints `differential: N scripts, M divergences`. `CORIO_DIFF_SCRIPTS`
//! sets the count (a soak: `CORIO_DIFF_SCRIPTS=100000`), `CORIO_DIFF_SEED`
//! the first seed, and `CORIO_DIFF_SCRIPT=SEED` runs one script and prints
//! both traces.

#[path = "sync/differential/corio_interp.rs"]
mod corio_interp;
#[path = "sync/differential/script.rs"]
mod script;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use corio_interp::Outcome;
use script::{Script, generate};

/// Scripts per run unless `CORIO_DIFF_SCRIPTS` says otherwise.
const DEFAULT_SCRIPTS: u64 = 500;
/// Scripts per Python process (its output is held in memory).
const BATCH: usize = 2000;
/// Failures shrunk and printed in full; the rest are counted.
const SHOWN: usize = 3;

fn main() {
    if let Ok(seed) = std::env::var("CORIO_DIFF_SCRIPT") {
        let seed = seed.parse().expect("CORIO_DIFF_SCRIPT=SEED");
        show_one(seed);
        return;
    }
    let count = env_number("CORIO_DIFF_SCRIPTS").unwrap_or(DEFAULT_SCRIPTS);
    let first = env_number("CORIO_DIFF_SEED").unwrap_or(0x5eed_0000);
    let started = std::time::Instant::now();
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let seeds: Vec<u64> = (first..first + count).collect();
    for chunk in seeds.chunks(BATCH) {
        let scripts: Vec<Script> = chunk.iter().map(|&s| generate(s, s % 5 == 4)).collect();
        let outcomes: Vec<Outcome> = scripts.iter().map(corio_interp::run).collect();
        let compared: Vec<&Script> = scripts.iter().filter(|s| !s.corio_only()).collect();
        let mut python = run_asyncio(&compared).into_iter();
        for (script, outcome) in scripts.iter().zip(&outcomes) {
            let reference = (!script.corio_only()).then(|| python.next().expect("a trace"));
            stats.count(outcome, reference.is_some());
            if let Some(failure) = judge(outcome, reference.as_deref()) {
                failures.push((script.clone(), failure));
            }
        }
    }
    stats.print(count, failures.len(), started.elapsed());
    for (script, failure) in &failures {
        println!("seed {}: {failure}", script.seed);
    }
    for (script, failure) in failures.iter().take(SHOWN) {
        let small = shrink(script);
        println!("\nFAILED seed {}: {failure}", script.seed);
        println!(
            "shrunk from {} to {} ops:\n{small}",
            script.size(),
            small.size()
        );
        print_traces(&small);
    }
    println!(
        "differential: {count} scripts, {} divergences",
        failures.len()
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number")),
    )
}

/// What went wrong with one script, if anything: a broken invariant, or
/// the first line where corio's trace leaves asyncio's.
fn judge(outcome: &Outcome, reference: Option<&[String]>) -> Option<String> {
    if let Some(violation) = outcome.violations.first() {
        return Some(format!("invariant broken {violation}"));
    }
    let reference = reference?;
    let limit = outcome.cut.map_or(usize::MAX, |cut| cut.line);
    let ours = &outcome.trace[..outcome.trace.len().min(limit)];
    let theirs = &reference[..reference.len().min(limit)];
    if ours == theirs {
        return None;
    }
    let at = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
    let line = |t: &[String]| t.get(at).cloned().unwrap_or_else(|| "(end)".into());
    Some(format!(
        "traces part at line {at}: corio `{}`, asyncio `{}`",
        line(ours),
        line(theirs)
    ))
}

/// Runs `scripts` on asyncio, one Python process for all; their traces in
/// order.
fn run_asyncio(scripts: &[&Script]) -> Vec<Vec<String>> {
    if scripts.is_empty() {
        return Vec::new();
    }
    let interpreter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sync/differential/asyncio_interp.py"
    );
    let mut child = Command::new("python3")
        .arg(interpreter)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the asyncio side (.ci/run installs it)");
    let input: String = scripts
        .iter()
        .enumerate()
        .map(|(id, s)| s.text(id as u64))
        .collect();
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python3's output");
    writer.join().expect("writer").expect("writing the scripts");
    assert!(
        output.status.success(),
        "asyncio_interp.py failed: {}",
        output.status
    );
    let text = String::from_utf8(output.stdout).expect("utf-8 traces");
    let traces = parse_traces(&text);
    assert_eq!(traces.len(), scripts.len(), "one trace per script");
    traces
}

/// Splits `trace ID` … `endtrace` blocks, checking ids run in order.
fn parse_traces(text: &str) -> Vec<Vec<String>> {
    let mut traces = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("trace ") {
            assert_eq!(id, traces.len().to_string(), "traces out of order");
            current = Some(Vec::new());
        } else if line == "endtrace" {
            traces.push(current.take().expect("endtrace after trace"));
        } else {
            current
                .as_mut()
                .unwrap_or_else(|| panic!("a line outside a trace: {line}"))
                .push(line.to_string());
        }
    }
    traces
}

/// The smallest script reached by removing ops or tasks one at a time
/// while the script still fails.
fn shrink(script: &Script) -> Script {
    let mut current = script.clone();
    loop {
        let candidates = current.smaller();
        let outcomes: Vec<Outcome> = candidates.iter().map(corio_interp::run).collect();
        let compared: Vec<&Script> = candidates.iter().filter(|s| !s.corio_only()).collect();
        let mut python = run_asyncio(&compared).into_iter();
        let mut next = None;
        for (candidate, outcome) in candidates.iter().zip(&outcomes) {
            let reference = (!candidate.corio_only()).then(|| python.next().expect("a trace"));
            if next.is_none() && judge(outcome, reference.as_deref()).is_some() {
                next = Some(candidate.clone());
            }
        }
        match next {
            Some(smaller) => current = smaller,
            None => return current,
        }
    }
}

fn print_traces(script: &Script) {
    let outcome = corio_interp::run(script);
    if let Some(cut) = outcome.cut {
        println!("(compared up to line {}: rule {})", cut.line, cut.rule);
    }
    for violation in &outcome.violations {
        println!("invariant broken {violation}");
    }
    let reference = if script.corio_only() {
        Vec::new()
    } else {
        run_asyncio(&[script]).remove(0)
    };
    let rows = outcome.trace.len().max(reference.len());
    println!("{:<44} | asyncio", "corio");
    for i in 0..rows {
        let ours = outcome.trace.get(i).map_or("", String::as_str);
        let theirs = reference.get(i).map_or("", String::as_str);
        let mark = if ours == theirs { ' ' } else { '*' };
        println!("{ours:<44} |{mark}{theirs}");
    }
}

fn show_one(seed: u64) {
    let script = generate(seed, seed % 5 == 4);
    println!("{script}");
    print_traces(&script);
}

/// How the scripts went.
#[derive(Default)]
struct Stats {
    compared_whole: u64,
    cut: BTreeMap<&'static str, u64>,
    corio_only: u64,
    lines: u64,
}

impl Stats {
    fn count(&mut self, outcome: &Outcome, compared: bool) {
        self.lines += outcome.trace.len() as u64;
        match (compared, outcome.cut) {
            (false, _) => self.corio_only += 1,
            (true, Some(cut)) => *self.cut.entry(cut.rule).or_default() += 1,
            (true, None) => self.compared_whole += 1,
        }
    }

    fn print(&self, count: u64, failed: usize, took: std::time::Duration) {
        println!(
            "{count} scripts ({} trace lines) in {:.1} s: {} compared whole, {} corio-only, {failed} failed",
            self.lines,
            took.as_secs_f64(),
            self.compared_whole,
            self.corio_only
        );
        for (rule, n) in &self.cut {
            println!("  compared up to a documented difference ({rule}): {n}");
        }
    }
}
