//! `corio-ps`: what the tasks of a running corio program are doing, as
//! `python -m asyncio ps PID` / `pstree PID` (3.14) show an asyncio
//! program's.
//!
//! ```text
//! corio-ps PID                 every task: id, name, state, age, polls, poll time, what it awaits
//! corio-ps --tree PID          the tasks as a tree of who awaits whom
//! corio-ps --metrics PID       each loop's metrics
//! corio-ps --trace SECONDS PID [-o FILE]
//!                              records every loop's trace for SECONDS (Chrome trace JSON)
//! ```
//!
//! The program must have its inspector on (`CORIO_INSPECT=1`, or
//! `corio::observe::inspect::enable()`); see that module for the socket
//! and who may use it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: corio-ps [--tree | --metrics | --trace SECONDS [-o FILE]] PID";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("corio-ps: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut request = "ps".to_string();
    let mut out: Option<String> = None;
    let mut pid: Option<u32> = None;
    let mut seconds = 0.0;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tree" => request = "tree".into(),
            "--metrics" => request = "metrics".into(),
            "--trace" => {
                let s = args.next().ok_or(USAGE)?;
                seconds = s
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && (0.0..=600.0).contains(s))
                    .ok_or_else(|| format!("bad SECONDS {s:?}: a number from 0 to 600"))?;
                request = format!("trace {seconds}");
            }
            "-o" => out = Some(args.next().ok_or(USAGE)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                pid = Some(
                    other
                        .parse()
                        .map_err(|_| format!("bad PID {other:?}\n{USAGE}"))?,
                )
            }
        }
    }
    let pid = pid.ok_or(USAGE)?;
    let candidates = corio::observe::inspect::socket_candidates(pid);
    let mut tried = Vec::new();
    let mut conn = None;
    for path in &candidates {
        match UnixStream::connect(path) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    let mut conn = conn.ok_or_else(|| {
        format!(
            "cannot reach process {pid}'s inspector ({})\n\
             (is it running, with CORIO_INSPECT=1 or inspect::enable()?)",
            tried.join("; ")
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs_f64(seconds + 10.0)))
        .map_err(|e| e.to_string())?;
    conn.write_all(format!("{request}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply)
        .map_err(|e| format!("reading the answer: {e}"))?;
    if let Some(rest) = reply.strip_prefix("error: ") {
        return Err(rest.trim_end().to_string());
    }
    match out {
        Some(file) => std::fs::write(&file, reply).map_err(|e| format!("{file}: {e}")),
        None => {
            print!("{reply}");
            Ok(())
        }
    }
}
