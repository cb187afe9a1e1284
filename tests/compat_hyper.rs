//! hyper on corio (examples/hyper_server.rs) against clients no one here
//! wrote: curl (HTTP/1.1, HTTP/2 prior knowledge, TLS with ALPN h2) and
//! python3's http.client and ssl; then bad input, with the server's fds
//! counted before and after. Then the other ecosystem examples: tls_echo's
//! certificate chain checked by `openssl s_client`, its handshake timeout,
//! and hyper_client's 512 MiB body counted in a few MiB.

#[path = "support/http.rs"]
mod http;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use http::{assert_fds_settle, curl, fds, send_signal, wait_exit};
use support::{KillOnDrop, run_python_client, serve_example, spawn_example, wait_for_line};

/// A 10 MB body of varied bytes, written to a file for curl.
fn big_body(dir: &std::path::Path) -> (Vec<u8>, std::path::PathBuf) {
    let body: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.join("body.bin");
    std::fs::write(&path, &body).unwrap();
    (body, path)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("corio-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn curl_http1_and_http2_prior_knowledge_with_a_10_mb_echo() {
    let (server, port) = serve_example("hyper_server");
    let base = format!("http://127.0.0.1:{port}");
    let hello = curl(&[&format!("{base}/")]);
    assert_eq!(hello, b"hello from hyper on corio (HTTP/1.1)\n");
    let h2 = curl(&["--http2-prior-knowledge", &format!("{base}/")]);
    assert_eq!(h2, b"hello from hyper on corio (HTTP/2.0)\n");
    let streamed = curl(&["--http2-prior-knowledge", &format!("{base}/stream")]);
    assert_eq!(String::from_utf8_lossy(&streamed).lines().count(), 10);

    let dir = temp_dir("hyper-echo");
    let (body, path) = big_body(&dir);
    let data = format!("@{}", path.display());
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let echoed = curl(&[version, "--data-binary", &data, &format!("{base}/echo")]);
        assert!(
            echoed == body,
            "{version}: 10 MB echo differs ({} bytes back)",
            echoed.len()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    drop(server);
}

#[test]
fn python_http_client_and_bad_input_leave_no_fds_behind() {
    let (server, port) = serve_example("hyper_server");
    let before = fds(&server);
    run_python_client(
        r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(3):
    c.request("POST", "/echo", body=b"x" * 100000 + str(i).encode())
    r = c.getresponse()
    assert r.status == 200, r.status
    assert r.read() == b"x" * 100000 + str(i).encode()
c.request("GET", "/nowhere"); r = c.getresponse(); assert r.status == 404; r.read()
print("python ok")
"#,
        port,
    );

    // A malformed header: hyper answers 400 and closes that connection.
    let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = bad.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:?}");

    // A client that disconnects mid-body.
    let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    gone.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial")
        .unwrap();
    drop(gone);

    // The server goes on.
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{port}/")]),
        b"hello from hyper on corio (HTTP/1.1)\n"
    );
    assert_fds_settle(&server, before);
}

/// Starts hyper_server with `--tls`; the server, its port and the CA file.
fn tls_server(dir: &std::path::Path) -> (KillOnDrop, u16, String) {
    let ca = dir.join("ca.pem").display().to_string();
    let (server, mut out) = spawn_example("hyper_server", &["--serve", "0", "--tls", &ca]);
    let addr = wait_for_line(&mut out, "listening on ");
    let port = addr.rsplit(':').next().unwrap().trim().parse().unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (server, port, ca)
}

#[test]
fn tls_with_curl_alpn_h2_python_ssl_and_bad_clients() {
    let dir = temp_dir("hyper-tls");
    let (server, port, ca) = tls_server(&dir);
    let before = fds(&server);
    let url = format!("https://localhost:{port}/");
    assert_eq!(
        curl(&["--cacert", &ca, "--http2", &url]),
        b"hello from hyper on corio (HTTP/2.0)\n"
    );
    assert_eq!(
        curl(&["--cacert", &ca, "--http1.1", &url]),
        b"hello from hyper on corio (HTTP/1.1)\n"
    );
    let (body, path) = big_body(&dir);
    let echoed = curl(&[
        "--cacert",
        &ca,
        "--http2",
        "--data-binary",
        &format!("@{}", path.display()),
        &format!("{url}echo"),
    ]);
    assert!(
        echoed == body,
        "TLS 10 MB echo differs ({} bytes)",
        echoed.len()
    );

    // python3's ssl + http.client, trusting the generated CA.
    let script = format!(
        r#"
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile={ca:?})
c = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=ctx, timeout=10)
c.request("POST", "/echo", body=b"over tls")
r = c.getresponse(); assert r.status == 200; assert r.read() == b"over tls"
print("python ok")
"#
    );
    run_python_client(&script, port);

    // A client that does not trust the certificate: curl fails clearly.
    let untrusted = Command::new("curl")
        .args(["-sS", "--max-time", "10", &url])
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    assert!(
        String::from_utf8_lossy(&untrusted.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );

    // Garbage instead of a ClientHello: the server closes that connection.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\n\r\nnot tls at all")
        .unwrap();
    let mut reply = Vec::new();
    let _ = garbage.read_to_end(&mut reply);
    assert!(reply.len() < 64, "an alert at most: {reply:?}");

    // The server goes on, and holds no fd of those connections.
    assert_eq!(
        curl(&["--cacert", &ca, &url]),
        b"hello from hyper on corio (HTTP/2.0)\n"
    );
    assert_fds_settle(&server, before);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_hyper_demos_run_to_their_end() {
    let server = support::run_example("hyper_server", &[], Duration::from_secs(60));
    assert!(
        server.contains("HTTP/2 POST /echo: 200 OK echo me"),
        "{server}"
    );
    assert!(
        server.contains("1 connection still open after 500ms: aborting"),
        "{server}"
    );
    assert!(server.contains("server closed"), "{server}");
    let client = support::run_example("hyper_client", &[], Duration::from_secs(60));
    assert_eq!(client.matches(" -> 200 ").count(), 9, "{client}");
    let tls = support::run_example("tls_echo", &[], Duration::from_secs(60));
    assert!(tls.contains("client got: Hello over TLS!"), "{tls}");
    assert!(
        tls.contains("upgraded client got: Hello after STARTTLS! (after 220 go ahead)"),
        "{tls}"
    );
    assert!(
        tls.contains("refused: SSL handshake failed: invalid peer certificate: UnknownIssuer"),
        "{tls}"
    );
}

#[test]
fn hyper_client_against_python_http_server() {
    let dir = temp_dir("http-server");
    std::fs::write(dir.join("page.txt"), vec![b'p'; 12345]).unwrap();
    let (python, port) = python_http_server(&dir);
    let base = format!("http://127.0.0.1:{port}");
    let urls = [
        format!("{base}/page.txt"),
        format!("{base}/missing"),
        format!("{base}/page.txt"),
    ];
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let out = Command::new(support::example_path("hyper_client"))
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.matches("-> 200 (12345 bytes)").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("/missing -> 404"), "{stdout}");
    drop(python);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts tls_echo `--serve 0` (with `extra` arguments) in `dir`, where it
/// writes its CA; the server and its port.
fn tls_echo_server(dir: &std::path::Path, extra: &[&str]) -> (KillOnDrop, u16) {
    let mut child = Command::new(support::example_path("tls_echo"))
        .args(["--serve", "0"])
        .args(extra)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tls_echo");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let child = KillOnDrop(child);
    let addr = wait_for_line(&mut out, "listening on ");
    let port = addr.rsplit(':').next().unwrap().trim().parse().unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, port)
}

/// The certificate chain passes a client that checks it strictly: the CA
/// and the server's certificate have names of their own (error 18,
/// "self-signed certificate", when the leaf bore the CA's name).
#[test]
fn tls_echo_passes_openssl_s_client_verify_return_error() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIPPED: openssl is not installed (.ci/run installs it)");
        return;
    }
    let dir = temp_dir("tls-echo-openssl");
    let (server, port) = tls_echo_server(&dir, &[]);
    // s_client sends the line, the echo comes back within the second,
    // then stdin's EOF ends the session.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(echo 'hello over a verified chain'; sleep 1) | openssl s_client \
             -connect 127.0.0.1:{port} -servername localhost -verify_hostname localhost \
             -CAfile tls_echo_ca.pem -verify_return_error"
        ))
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "hello over a verified chain"),
        "{stdout}"
    );
    assert!(stderr.contains("CN = corio tls_echo CA"), "{stderr}");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A client that connects and never starts its handshake is dropped after
/// the handshake timeout (asyncio's `ssl_handshake_timeout`).
#[test]
fn tls_echo_drops_a_client_that_never_shakes_hands() {
    let dir = temp_dir("tls-echo-silent");
    let (server, port) = tls_echo_server(&dir, &["--handshake-timeout", "1"]);
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0; 64];
    let n = silent.read(&mut buf).expect("EOF, not the read timeout");
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The peak resident memory of a running process (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// hyper_client counts a 512 MiB body frame by frame: it never holds it.
#[test]
fn hyper_client_streams_a_512_mib_body_in_little_memory() {
    const SIZE: u64 = 512 << 20;
    let dir = temp_dir("http-big");
    // Sparse: 512 MiB of zeros that take no disk.
    std::fs::File::create(dir.join("big.bin"))
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    let (python, port) = python_http_server(&dir);
    let mut client = KillOnDrop(
        Command::new(support::example_path("hyper_client"))
            .arg(format!("http://127.0.0.1:{port}/big.bin"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // VmHWM only grows: its last reading before the exit is the peak.
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = client.0.try_wait().unwrap() {
            break status;
        }
        peak = peak_rss_kib(client.0.id()).unwrap_or(peak).max(peak);
        assert!(Instant::now() < deadline, "hyper_client still running");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = String::new();
    client
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("-> 200 ({SIZE} bytes)")),
        "{stdout}"
    );
    assert!(
        peak < 64 * 1024,
        "hyper_client peaked at {peak} KiB for a {SIZE}-byte body"
    );
    drop(python);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `python3 -m http.server` serving `dir` on a port it picks; the server
/// (killed when dropped) and its port.
fn python_http_server(dir: &std::path::Path) -> (KillOnDrop, u16) {
    let mut python = Command::new("python3")
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 is installed");
    let mut out = std::io::BufReader::new(python.stdout.take().unwrap());
    let python = KillOnDrop(python);
    let line = wait_for_line(&mut out, "Serving HTTP on ");
    let port: u16 = line
        .split(" port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("python's port");
    (python, port)
}

/// `hyper_server --loops 2`: two loops on one port; 40 requests, each on
/// its own connection, are spread between them by the kernel; SIGTERM
/// stops both, each saying how many connections it accepted.
#[test]
fn hyper_server_on_two_loops_shares_one_port_and_stops_on_sigterm() {
    let (mut server, mut out) = spawn_example("hyper_server", &["--serve", "0", "--loops", "2"]);
    let addr = wait_for_line(&mut out, "2 loops listening on ");
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    for _ in 0..40 {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("hello from hyper on corio (HTTP/1.1)\n"));
    }
    // SIGTERM, not Ctrl-C: a test runner may start children with SIGINT
    // ignored, and the runtime leaves an ignored signal alone.
    send_signal(&server, "-TERM");
    let status = wait_exit(&mut server, Duration::from_secs(20));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status:?}\n{rest}");
    assert!(rest.contains("interrupted: every loop stopped"), "{rest}");
    let accepted: Vec<u64> = rest
        .lines()
        .filter_map(|l| l.split(" stopping: ").nth(1))
        .map(|n| n.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(accepted.len(), 2, "{rest}");
    assert_eq!(accepted.iter().sum::<u64>(), 40, "{rest}");
}
