//! Helpers shared by the facade's integration tests: finding and running
//! the example binaries that `cargo test` builds.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a built example: `cargo test` builds every example into
/// `target/<profile>/examples/`, next to the `deps/` holding this test.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built; run through `cargo test`",
        path.display()
    );
    path
}

/// A child process that is killed and reaped when dropped, so a failing
/// test never leaves a server running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.0.kill().ok(); // it may exit on its own in between
        }
        self.0.wait().ok();
    }
}

/// Starts an example with `args`, stdout piped.
pub fn spawn_example(name: &str, args: &[&str]) -> (KillOnDrop, BufReader<ChildStdout>) {
    let mut child = Command::new(example_path(name))
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn example");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    (KillOnDrop(child), stdout)
}

/// Reads lines until one starts with `prefix`; returns the rest of it.
pub fn wait_for_line(out: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read child stdout");
        assert!(n > 0, "child closed stdout before printing {prefix:?}");
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

/// Starts an example with `--serve 0`; its port, read from the
/// "listening on ADDR" line it prints. Its stdout is drained from then on,
/// so the server never blocks on a full pipe.
pub fn serve_example(name: &str) -> (KillOnDrop, u16) {
    let (child, mut out) = spawn_example(name, &["--serve", "0"]);
    let addr = wait_for_line(&mut out, "listening on ");
    let port = addr.rsplit(':').next().unwrap().parse().expect("port");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, port)
}

/// Runs an example to its end (killed after `limit`); its stdout, after
/// checking it exited successfully.
pub fn run_example(name: &str, args: &[&str], limit: Duration) -> String {
    let mut child = KillOnDrop(
        Command::new(example_path(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn example"),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{name} still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{name} failed ({status}): {err}\n{out}");
    out
}

/// Runs a Python client `script` (given the port as `sys.argv[1]`) and
/// checks that it succeeded and printed `python ok`.
pub fn run_python_client(script: &str, port: u16) {
    let output = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .output()
        .expect("python3 is installed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python3 failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "python ok");
}
