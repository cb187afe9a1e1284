//! WebSockets on corio (examples/ws_chat.rs, tungstenite over a corio
//! stream pair) against Python's `websockets` client: echo and chat,
//! ping/pong, the close handshake, a 16 MiB message, one over the limit
//! (close 1009), clients that vanish mid-message or right after the
//! handshake (the server goes on, no fd left behind), and shutdown on
//! SIGTERM (close 1001).

mod support;

#[path = "support/http.rs"]
mod http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use http::{assert_fds_settle, fds, send_signal, wait_exit};
use support::{
    KillOnDrop, run_example, run_python_client, serve_example, spawn_example, wait_for_line,
};

/// Fails loudly when Python's `websockets` package is missing: .ci/run
/// installs it (Debian's python3-websockets).
fn require_python_websockets() {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3's `websockets` package is missing: apt-get install python3-websockets (.ci/run does)"
    );
}

#[test]
fn the_demo_chats_and_closes_with_1001() {
    let out = run_example("ws_chat", &[], Duration::from_secs(30));
    for line in [
        "client 0 got: hello from client 0",
        "client 1 got: hello from client 0",
        "client 0 closed: 1001 server shutting down",
        "client 1 closed: 1001 server shutting down",
        "server closed",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
}

#[test]
fn python_websockets_echo_chat_ping_close_and_16_mib() {
    require_python_websockets();
    let (server, port) = serve_example("ws_chat");
    let before = fds(&server);
    run_python_client(
        r#"
import asyncio, sys, websockets
async def main(port):
    uri = f"ws://127.0.0.1:{port}/"
    async with websockets.connect(uri, max_size=None) as a:
        async with websockets.connect(uri, max_size=None) as b:
            await a.send("hello")
            assert await asyncio.wait_for(a.recv(), 10) == "hello"
            assert await asyncio.wait_for(b.recv(), 10) == "hello"
            pong = await a.ping(b"are you there")
            await asyncio.wait_for(pong, 10)
            big = bytes(range(256)) * (16 * 1024 * 1024 // 256)
            await b.send(big)
            assert await asyncio.wait_for(b.recv(), 60) == big
            assert await asyncio.wait_for(a.recv(), 60) == big
        # The close handshake: the server answered b's 1000.
        assert b.close_code == 1000, b.close_code
        await a.send("still here")
        assert await asyncio.wait_for(a.recv(), 10) == "still here"
    assert a.close_code == 1000, a.close_code
    # Over the server's 32 MiB limit: close 1009.
    async with websockets.connect(uri, max_size=None) as c:
        await c.send(b"x" * (33 * 1024 * 1024))
        try:
            await asyncio.wait_for(c.recv(), 60)
            raise AssertionError("no close")
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009, e
    print("python ok")
asyncio.run(main(int(sys.argv[1])))
"#,
        port,
    );
    assert_fds_settle(&server, before);
}

#[test]
fn clients_that_vanish_leave_nothing_behind() {
    require_python_websockets();
    let (server, port) = serve_example("ws_chat");
    let before = fds(&server);
    // A Python client killed while a 16 MiB message is coming to it.
    let mut victim = KillOnDrop(
        Command::new("python3")
            .args([
                "-c",
                r#"
import asyncio, sys, websockets
async def main(port):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None)
    await ws.send(b"y" * (16 * 1024 * 1024))
    print("sent", flush=True)
    await asyncio.sleep(60)
asyncio.run(main(int(sys.argv[1])))
"#,
                &port.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let mut out = std::io::BufReader::new(victim.0.stdout.take().unwrap());
    wait_for_line(&mut out, "sent");
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();

    // A raw client: the handshake by hand, then a reset.
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut reply = [0u8; 1024];
    let n = raw.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 101"), "{reply}");
    assert!(reply.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{reply}");
    testkit::reset_on_close(&raw).unwrap();
    drop(raw);

    // Not a WebSocket at all: refused, the connection closed.
    let mut http = TcpStream::connect(("127.0.0.1", port)).unwrap();
    http.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = http.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 101"), "{answer:?}");

    // The server goes on.
    run_python_client(
        r#"
import asyncio, sys, websockets
async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("after")
        assert await asyncio.wait_for(ws.recv(), 10) == "after"
    print("python ok")
asyncio.run(main(int(sys.argv[1])))
"#,
        port,
    );
    assert_fds_settle(&server, before);
}

#[test]
fn sigterm_closes_every_client_with_1001() {
    require_python_websockets();
    let (mut server, mut out) = spawn_example("ws_chat", &["--serve", "0"]);
    let addr = wait_for_line(&mut out, "listening on ");
    let port = addr.rsplit(':').next().unwrap().to_string();
    let mut client = KillOnDrop(
        Command::new("python3")
            .args([
                "-c",
                r#"
import asyncio, sys, websockets
async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("ready")
        assert await ws.recv() == "ready"
        print("ready", flush=True)
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosedOK as e:
            print("closed", e.rcvd.code, e.rcvd.reason, flush=True)
asyncio.run(main(int(sys.argv[1])))
"#,
                &port,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let mut client_out = std::io::BufReader::new(client.0.stdout.take().unwrap());
    wait_for_line(&mut client_out, "ready");
    send_signal(&server, "-TERM");
    let closed = wait_for_line(&mut client_out, "closed ");
    assert_eq!(closed, "1001 server shutting down");
    wait_for_line(&mut out, "server closed");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success());
    assert!(wait_exit(&mut client, Duration::from_secs(10)).success());
}
