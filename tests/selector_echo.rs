//! The selector echo example, started as a child process and spoken to by
//! `python3` (a client no one here wrote) and by std `TcpStream`s.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;

fn start_server() -> (support::KillOnDrop, u16) {
    support::serve_example("selector_echo")
}

#[test]
fn python_client_gets_its_bytes_back() {
    let (_server, port) = start_server();
    let script = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for msg in [b"hello from python\n", b"x" * 100000 + b"\n"]:
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("server closed early")
        got += chunk
    assert got == msg, (len(got), len(msg))
s.shutdown(socket.SHUT_WR)
assert s.recv(10) == b"", "server closes after our EOF"
print("python ok")
"#;
    support::run_python_client(script, port);
}

#[test]
fn many_std_clients_at_once_with_large_payloads() {
    let (_server, port) = start_server();
    let clients: Vec<_> = (0..8u8)
        .map(|i| {
            thread::spawn(move || {
                let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
                // 1 MiB is more than the socket buffers hold: the server must
                // park the rest and wait for EVENT_WRITE.
                let payload: Vec<u8> = (0..1 << 20).map(|n: u32| (n as u8) ^ i).collect();
                let writer = {
                    let mut conn = conn.try_clone().unwrap();
                    let payload = payload.clone();
                    thread::spawn(move || {
                        conn.write_all(&payload).unwrap();
                        conn.shutdown(Shutdown::Write).unwrap();
                    })
                };
                let mut echoed = Vec::new();
                conn.read_to_end(&mut echoed).unwrap();
                writer.join().unwrap();
                assert_eq!(echoed.len(), payload.len(), "client {i}: no byte lost");
                assert!(echoed == payload, "client {i}: bytes intact and in order");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn demo_mode_runs_its_own_client_and_exits() {
    let output = Command::new(support::example_path("selector_echo"))
        .output()
        .expect("run example");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "client got: hello, selector",
        "client got: level-triggered",
        "client got: goodbye",
        "done",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
}
