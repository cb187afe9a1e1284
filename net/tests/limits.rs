//! Servers at the process's fd limit, and 2,000 connections at once.
//!
//! Each scenario runs in a child process (this binary again, one ignored
//! test selected by name) started through `sh -c 'ulimit -n N; exec …'`,
//! so the limit is the child's alone.
//!
//! At the fd limit the server must rest between tries (no spinning),
//! report the shortage once through the loop's exception handler, print
//! nothing itself, and serve again once fds are free.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corio_executor::{ExceptionContext, run, wait_for};
use corio_net::{ServerOptions, StreamReader, StreamWriter, open_connection, start_server_with};

/// Set in a child to the name of the scenario it runs.
const CHILD: &str = "CORIO_NET_LIMITS_CHILD";

/// Runs this binary's ignored test `name` in a child with `ulimit -n fds`.
fn spawn_child(name: &str, fds: u32) -> Child {
    let exe = std::env::current_exe().unwrap();
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
        .unwrap()
}

/// What follows `prefix` on the first line of the child's stdout that
/// has it (the harness may print the test's name before it).
fn child_says(lines: &mut impl Iterator<Item = io::Result<String>>, prefix: &str) -> String {
    for line in lines {
        let line = line.unwrap();
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_string();
        }
    }
    panic!("the child ended without saying {prefix:?}");
}

/// The CPU time (user + system) of a process, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

async fn echo(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    Ok(())
}

#[test]
#[ignore = "the child of emfile_backs_off_without_spinning_and_serves_again"]
fn emfile_server_child() {
    if std::env::var(CHILD).as_deref() != Ok("emfile_server_child") {
        return;
    }
    run(async {
        // Each report on a line of its own, for the parent to count.
        corio_executor::get_running_loop()
            .unwrap()
            .set_exception_handler(Some(|context: &ExceptionContext| {
                println!("REPORT {}", context.message);
                std::io::stdout().flush().unwrap();
            }));
        let options = ServerOptions {
            limit: 1024,
            ..ServerOptions::default()
        };
        let server = start_server_with(echo, "127.0.0.1", 0, options)
            .await
            .unwrap();
        println!("PORT {}", server.addresses()[0].port());
        std::io::stdout().flush().unwrap();
        // The parent kills us; this is only a backstop.
        let serving = async move { server.serve_forever().await };
        let _ = wait_for(serving, Some(Duration::from_secs(60))).await;
    })
    .unwrap();
}

#[test]
fn emfile_backs_off_without_spinning_and_serves_again() {
    let mut child = spawn_child("emfile_server_child", 48);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = child_says(&mut lines, "PORT ").parse().unwrap();
    // More connections than the child has fds for; all fit in the
    // backlog (100), so every connect completes in the kernel.
    let mut conns: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for conn in &mut conns {
        conn.write_all(b"ping\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    // Out of fds: the server rests between tries instead of spinning on a
    // readiness it cannot serve. One second of spinning would be ~100
    // ticks; resting is ~0.
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(child.id()) - before;
    assert!(
        spent < 30,
        "the server spun at EMFILE: {spent} ticks in 1 s"
    );
    // Who got an answer was accepted.
    let mut answered = Vec::new();
    let mut waiting = Vec::new();
    for mut conn in conns {
        conn.set_nonblocking(true).unwrap();
        let mut buf = [0; 5];
        match conn.read(&mut buf) {
            Ok(5) => answered.push(conn),
            Err(e) if e.kind() == ErrorKind::WouldBlock => waiting.push(conn),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!answered.is_empty(), "some connections were served");
    assert!(!waiting.is_empty(), "the fd limit held some back");
    // Free the child's fds: every waiting connection is served in time.
    drop(answered);
    let deadline = Instant::now() + Duration::from_secs(20);
    for mut conn in waiting {
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(deadline - Instant::now()))
            .unwrap();
        let mut buf = [0; 5];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping\n");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // One shortage, one report (the server failed its accept about every
    // second for two and more seconds), and not a byte on stderr.
    let reports: Vec<String> = lines
        .map(Result::unwrap)
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
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(stderr, "", "the server printed to stderr");
}

#[test]
#[ignore = "the child of two_thousand_simultaneous_connections"]
fn many_connections_child() {
    if std::env::var(CHILD).as_deref() != Ok("many_connections_child") {
        return;
    }
    const CONNECTIONS: usize = 2_000;
    let served = run(async {
        let options = ServerOptions {
            limit: 1024,
            backlog: 2048,
            ..ServerOptions::default()
        };
        let server = start_server_with(echo, "127.0.0.1", 0, options).await?;
        let port = server.addresses()[0].port();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                corio_executor::create_task(async move {
                    let (reader, writer) = open_connection("127.0.0.1", port).await?;
                    let line = format!("client {i}\n");
                    writer.write(line.as_bytes())?;
                    let back = reader.readline().await?;
                    io::Result::Ok(back == line.as_bytes())
                })
            })
            .collect();
        let mut served = 0;
        for client in clients {
            let echoed = client
                .await
                .map_err(|e| io::Error::other(e.to_string()))??;
            if echoed {
                served += 1;
            }
        }
        server.close();
        server.wait_closed().await;
        io::Result::Ok(served)
    })
    .unwrap()
    .unwrap();
    println!("SERVED {served}");
}

#[test]
fn two_thousand_simultaneous_connections() {
    let mut child = spawn_child("many_connections_child", 5000);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let served = child_says(&mut lines, "SERVED ");
    assert_eq!(served, "2000", "every connection echoed its line");
    assert!(child.wait().unwrap().success());
}
