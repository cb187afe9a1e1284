//! A test that needs a process of its own (a lower fd limit, which is per
//! process): the test binary runs one of its own ignored tests in a child,
//! and watches it from outside.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a child started by [`spawn_limited_child`] to the name of the
/// test it runs.
pub const CHILD: &str = "CORIO_TEST_CHILD";

/// Whether this process is the child started to run test `name` (the
/// ignored test returns at once otherwise).
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(name)
}

/// Runs this test binary's ignored test `name` in a child with `ulimit -n
/// fds`; its stdout and stderr are piped.
///
/// # Panics
/// When the child cannot be started.
pub fn spawn_limited_child(name: &str, fds: u32) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {fds} && exec \"$0\" --exact {name} --ignored --nocapture --test-threads 1"
        ))
        .arg(exe)
        .env(CHILD, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child")
}

/// The CPU time (user + system) of a process, in clock ticks (1/100 s).
///
/// # Panics
/// When `/proc/PID/stat` cannot be read.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    // utime and stime are fields 14 and 15 of the whole line.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// What follows `prefix` on the first line of `lines` that has it (the
/// test harness may print the test's name before it).
///
/// # Panics
/// When the lines end first.
pub fn child_says(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
) -> String {
    for line in lines {
        let line = line.expect("the child's stdout");
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_string();
        }
    }
    panic!("the child ended without saying {prefix:?}");
}

/// The out-of-fds check of a server running in `child` with a low fd
/// limit. The child prints `PORT <port>` once it serves and `REPORT
/// <message>` for each report to its loop's exception handler. 80 clients
/// connect (all fit in the backlog) and send `request`; then:
/// - at its limit the server rests instead of spinning (under 30 ticks of
///   CPU in a second: spinning is about 100);
/// - some clients were served and the limit held others back, and once
///   the served ones close, every one held back gets an answer starting
///   with `answer`;
/// - the shortage was reported exactly once, and nothing went to stderr.
///
/// # Panics
/// When any of that fails.
pub fn check_out_of_fds(mut child: Child, request: &[u8], answer: &[u8]) {
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let port: u16 = child_says(&mut lines, "PORT ").parse().expect("a port");
    let mut conns: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    for conn in &mut conns {
        conn.write_all(request).expect("send the request");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(child.id()) - before;
    assert!(
        spent < 30,
        "the server spun at EMFILE: {spent} ticks in 1 s"
    );
    let mut answered = Vec::new();
    let mut waiting = Vec::new();
    for mut conn in conns {
        conn.set_nonblocking(true).expect("nonblocking");
        // The whole answer is read: a socket closed with bytes unread
        // sends a reset, which the server would report.
        match conn.read(&mut vec![0; answer.len()]) {
            Ok(n) if n > 0 => answered.push(conn),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => waiting.push(conn),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!answered.is_empty(), "some connections were served");
    assert!(!waiting.is_empty(), "the fd limit held some back");
    drop(answered); // the child's fds are free again
    let deadline = Instant::now() + Duration::from_secs(20);
    for mut conn in waiting {
        conn.set_nonblocking(false).expect("blocking");
        conn.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())))
            .expect("timeout");
        let mut got = vec![0; answer.len()];
        conn.read_exact(&mut got)
            .expect("an answer once fds are free");
        assert_eq!(got, answer);
    }
    child.kill().expect("kill the child");
    child.wait().expect("reap the child");
    let reports: Vec<String> = lines
        .map(|line| line.expect("stdout"))
        .filter(|line| line.contains("REPORT "))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("socket.accept() out of system resource on 127.0.0.1:"),
        "{reports:?}"
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(stderr, "", "the server printed to stderr");
}
