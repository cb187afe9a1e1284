//! `corio-ps` against a real child process whose two tasks deadlock: each
//! holds one lock and awaits the other's.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use corio::{Lock, create_task, gather, sleep};

/// The child's side: enables the inspector, deadlocks, never returns.
fn deadlock() {
    corio::observe::inspect::enable().expect("inspector");
    corio::run(async {
        let a = std::rc::Rc::new(Lock::new());
        let b = std::rc::Rc::new(Lock::new());
        let (a1, b1, a2, b2) = (a.clone(), b.clone(), a.clone(), b.clone());
        let first = create_task(async move {
            let _held = a1.acquire().await;
            sleep(Duration::from_millis(20)).await;
            let _never = b1.acquire().await;
        });
        first.set_name("holds-a");
        let second = create_task(async move {
            let _held = b2.acquire().await;
            sleep(Duration::from_millis(20)).await;
            let _never = a2.acquire().await;
        });
        second.set_name("holds-b");
        sleep(Duration::from_millis(50)).await;
        println!("deadlocked");
        let _ = gather([first, second]).await;
    })
    .ok();
}

/// A child running [`deadlock`], with its own socket directory.
struct Deadlocked {
    child: Child,
    runtime_dir: std::path::PathBuf,
}

impl Deadlocked {
    fn start() -> Deadlocked {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let runtime_dir =
            std::env::temp_dir().join(format!("corio-ps-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&runtime_dir).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("CORIO_PS_CHILD", "1")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("the child said nothing").unwrap();
            if line.contains("deadlocked") {
                break;
            }
        }
        Deadlocked { child, runtime_dir }
    }

    fn ps(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_corio-ps"))
            .args(args)
            .arg(self.child.id().to_string())
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "corio-ps {args:?}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }
}

impl Drop for Deadlocked {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.runtime_dir);
    }
}

#[test]
fn child_entry() {
    if std::env::var_os("CORIO_PS_CHILD").is_some() {
        deadlock();
    }
}

/// The `@0x…` address in the line of task `name`.
fn lock_of<'a>(ps: &'a str, name: &str) -> &'a str {
    let line = ps
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no {name} in\n{ps}"));
    assert!(line.contains("Lock.acquire @0x"), "{line}");
    let at = line.find('@').unwrap();
    line[at..].split_whitespace().next().unwrap()
}

#[test]
fn ps_shows_both_deadlocked_tasks_and_the_lock_each_awaits() {
    let child = Deadlocked::start();
    let ps = child.ps(&[]);
    let a_waits = lock_of(&ps, "holds-a");
    let b_waits = lock_of(&ps, "holds-b");
    assert_ne!(a_waits, b_waits, "each awaits the other's lock:\n{ps}");
    assert!(ps.contains("gather(Task-"), "main awaits the gather:\n{ps}");
    assert!(ps.contains("created at"), "{ps}");

    let tree = child.ps(&["--tree"]);
    let main_line = tree
        .lines()
        .position(|l| l.contains("awaits gather("))
        .unwrap();
    let a_line = tree.lines().position(|l| l.contains("'holds-a'")).unwrap();
    let b_line = tree.lines().position(|l| l.contains("'holds-b'")).unwrap();
    assert!(main_line < a_line && main_line < b_line, "{tree}");
    assert!(tree.contains("└── "), "{tree}");

    let metrics = child.ps(&["--metrics"]);
    assert!(metrics.contains("tasks_live: "), "{metrics}");

    let trace = child.ps(&["--trace", "0.05"]);
    assert!(trace.starts_with("{\"displayTimeUnit\""), "{trace}");
}

#[test]
fn ps_of_a_process_without_the_inspector_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_corio-ps"))
        .arg("1")
        .env(
            "XDG_RUNTIME_DIR",
            std::env::temp_dir().join("corio-ps-none"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach process 1's inspector"), "{err}");
}

#[test]
fn the_socket_directory_and_socket_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let child = Deadlocked::start();
    let dir = child.runtime_dir.join("corio");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let sock = dir.join(format!("{}.sock", child.child.id()));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn ps_refuses_a_trace_length_it_cannot_wait() {
    for bad in ["inf", "nan", "-20", "1e300"] {
        let out = Command::new(env!("CARGO_BIN_EXE_corio-ps"))
            .args(["--trace", bad, "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad SECONDS"), "{bad}: {err}");
    }
}
