//! axum on corio (examples/axum_app.rs) against clients no one here
//! wrote: curl (HTTP/1.1 and HTTP/2 prior knowledge) and python3's
//! http.client; JSON, path and query extractors, shared state, the
//! peer's address, the tower layer; bad input with the server's fds
//! counted; and the shutdown: graceful on SIGTERM (a request in flight
//! finishes), forced after the grace period.

mod support;

#[path = "support/http.rs"]
mod http;

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use http::{assert_fds_settle, curl, curl_text, fds, send_signal, wait_exit};
use support::{run_example, run_python_client, serve_example, spawn_example, wait_for_line};

#[test]
fn the_demo_runs_every_route_and_closes() {
    let out = run_example("axum_app", &[], Duration::from_secs(30));
    for line in [
        "GET / -> 200 hello from axum on corio",
        r#"POST /items -> 201 {"id":1,"name":"pear","price":3}"#,
        "GET /items?limit=1&offset=1 -> 200 [{\"id\":2,\"name\":\"fig\",\"price\":5}]",
        "GET /items/1 -> 404 no item 1",
        "GET /slow?ms=20 -> 200 slept 20 ms",
        "whoami: a peer on 127.0.0.1",
        "server closed",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    assert!(
        out.contains("POST /items -> 422 "),
        "a body missing a field is a 422:\n{out}"
    );
}

#[test]
fn curl_json_path_query_state_and_peer_over_http1_and_http2() {
    let (server, port) = serve_example("axum_app");
    let base = format!("http://127.0.0.1:{port}");
    let json = ["-H", "content-type: application/json"];
    for (version, name) in [("--http1.1", "pear"), ("--http2-prior-knowledge", "fig")] {
        let body = format!(r#"{{"name":"{name}","price":7}}"#);
        let created = curl_text(&[
            version,
            json[0],
            json[1],
            "-d",
            &body,
            &format!("{base}/items"),
        ]);
        assert!(
            created.contains(&format!(r#""name":"{name}""#)),
            "{created}"
        );
    }
    let listed = curl_text(&["--http2-prior-knowledge", &format!("{base}/items?limit=5")]);
    assert_eq!(
        listed,
        r#"[{"id":1,"name":"pear","price":7},{"id":2,"name":"fig","price":7}]"#
    );
    let paged = curl_text(&[&format!("{base}/items?offset=1&limit=1")]);
    assert_eq!(paged, r#"[{"id":2,"name":"fig","price":7}]"#);
    assert_eq!(
        curl_text(&[&format!("{base}/items/2")]),
        r#"{"id":2,"name":"fig","price":7}"#
    );
    // Status codes: a missing item, a bad path parameter, a bad query.
    for (path, status) in [
        ("/items/99", "404"),
        ("/items/abc", "400"),
        ("/items?limit=x", "400"),
    ] {
        let code = curl_text(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}{path}"),
        ]);
        assert_eq!(code, status, "{path}");
    }
    // The peer: curl's own local port, over HTTP/1.1 and HTTP/2.
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = curl_text(&[
            version,
            "-w",
            "local %{local_ip}:%{local_port}",
            &format!("{base}/whoami"),
        ]);
        let (peer, local) = out.split_once("local ").expect("curl's -w line");
        assert_eq!(peer.trim(), local, "{version}");
    }
    // The tower layer's header and the middleware's count (every request
    // above, this one included).
    let head = curl_text(&["-i", &format!("{base}/stats")]);
    assert!(head.to_lowercase().contains("server: corio\r\n"), "{head}");
    assert!(head.ends_with("requests 11\n"), "{head}");
    drop(server);
}

#[test]
fn python_clients_and_bad_input_leave_no_fds_behind() {
    let (server, port) = serve_example("axum_app");
    let before = fds(&server);
    run_python_client(
        r#"
import http.client, json, sys, threading
port = int(sys.argv[1])
errors = []
def client(n):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(20):
            body = json.dumps({"name": f"c{n}-{i}", "price": i})
            c.request("POST", "/items", body=body, headers={"content-type": "application/json"})
            r = c.getresponse()
            assert r.status == 201, r.status
            item = json.loads(r.read())
            c.request("GET", f"/items/{item['id']}")
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read()) == item
        c.close()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", "/items?limit=1000")
items = json.loads(c.getresponse().read())
assert len(items) == 160 and len({i["id"] for i in items}) == 160, len(items)
# Not JSON, and JSON without the content type.
c.request("POST", "/items", body=b"{nope", headers={"content-type": "application/json"})
r = c.getresponse(); r.read(); assert r.status == 400, r.status
c.request("POST", "/items", body=b'{"name":"x","price":1}')
r = c.getresponse(); r.read(); assert r.status == 415, r.status
print("python ok")
"#,
        port,
    );
    // A malformed request line, then a client gone mid-body.
    let mut bad = TcpStream::connect(("127.0.0.1", port)).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = bad.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:?}");
    let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    gone.write_all(
        b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"na",
    )
    .unwrap();
    drop(gone);
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{port}/")]),
        b"hello from axum on corio\n"
    );
    assert_fds_settle(&server, before);
}

/// Waits until the server's middleware has counted one request besides
/// the `/stats` requests made here to ask: the slow one is in flight.
fn wait_in_flight(port: u16) {
    let mut asked = 0;
    let arrived = testkit::eventually(|| {
        asked += 1;
        let stats = curl_text(&[&format!("http://127.0.0.1:{port}/stats")]);
        stats == format!("requests {}\n", asked + 1)
    });
    assert!(arrived, "the slow request never arrived");
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits() {
    let (mut server, mut out) = spawn_example("axum_app", &["--serve", "0"]);
    let addr = wait_for_line(&mut out, "listening on ");
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let slow =
        std::thread::spawn(move || curl_text(&[&format!("http://127.0.0.1:{port}/slow?ms=700")]));
    wait_in_flight(port);
    send_signal(&server, "-TERM");
    wait_for_line(&mut out, "shutting down");
    assert_eq!(slow.join().unwrap(), "slept 700 ms\n");
    wait_for_line(&mut out, "server closed");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success());
    // Closed: nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_request_that_outlasts_the_grace_period_is_aborted() {
    let (mut server, mut out) = spawn_example("axum_app", &["--serve", "0"]);
    let addr = wait_for_line(&mut out, "listening on ");
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut stuck = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stuck
        .write_all(b"GET /slow?ms=600000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    wait_in_flight(port);
    send_signal(&server, "-INT");
    let mut line = String::new();
    while !line.contains("aborting") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "exited without aborting"
        );
    }
    assert!(line.starts_with("1 connection(s) still open"), "{line}");
    wait_for_line(&mut out, "server closed");
    assert!(wait_exit(&mut server, Duration::from_secs(10)).success());
    // The stuck client reads a reset (or EOF), never a response.
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reply = Vec::new();
    let read = stuck.read_to_end(&mut reply);
    assert!(read.is_err() || reply.is_empty(), "{reply:?}");
}
