//! examples/todo_service end to end against a real PostgreSQL (a
//! throwaway cluster, `testkit::postgres`): Python's http.client and
//! `websockets` drive the JSON API and watch the feed; then SIGTERM:
//! feed clients get 1001, the process exits cleanly and leaves no
//! connection open on the server. Fails, saying why, if PostgreSQL
//! cannot be started, unless CORIO_SKIP_POSTGRES is set.

mod support;

#[path = "support/http.rs"]
mod http;

use std::io::BufReader;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::{send_signal, wait_exit};
use support::{KillOnDrop, example_path, wait_for_line};
use testkit::postgres::PgCluster;

/// Runs a Python `script` with the HTTP and feed ports as arguments;
/// checks it printed `python ok`.
fn python(script: &str, http: u16, feed: u16) {
    let out = Command::new("python3")
        .args(["-c", script, &http.to_string(), &feed.to_string()])
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "python ok");
}

const API_AND_FEED: &str = r#"
import asyncio, http.client, json, sys, threading, websockets
http_port, feed_port = int(sys.argv[1]), int(sys.argv[2])

def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    headers = {"content-type": "application/json"} if body is not None else {}
    c.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.getheader("content-type") == "application/json":
        return r.status, json.loads(data)
    return r.status, (data.decode() or None)

async def main():
    async with websockets.connect(f"ws://127.0.0.1:{feed_port}/") as feed:
        assert call("GET", "/health") == (200, {"status": "ok", "runtime": "corio"})
        status, a = call("POST", "/todos", {"title": "write docs"})
        assert status == 201 and a["title"] == "write docs" and not a["done"], (status, a)
        status, b = call("POST", "/todos", {"title": "ship it"})
        assert status == 201
        status, patched = call("PATCH", f"/todos/{a['id']}", {"done": True})
        assert status == 200 and patched["done"], patched
        assert call("DELETE", f"/todos/{b['id']}") == (204, None)
        # Bad input: typed answers, nothing changed.
        assert call("POST", "/todos", {"title": "  "})[0] == 422
        assert call("POST", "/todos", {"nope": 1})[0] == 422
        assert call("GET", "/todos/999")[0] == 404
        assert call("DELETE", "/todos/999")[0] == 404
        assert call("GET", "/todos/abc")[0] == 400
        status, todos = call("GET", "/todos")
        assert status == 200 and todos == [patched], todos
        # Many clients at once, more than the pool's 8 connections.
        errors = []
        def client(n):
            try:
                for i in range(5):
                    s, t = call("POST", "/todos", {"title": f"t{n}-{i}"})
                    assert s == 201, s
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors
        status, todos = call("GET", "/todos?limit=1000")
        assert len(todos) == 61 and len({t["id"] for t in todos}) == 61, len(todos)
        assert call("GET", "/todos?limit=2&offset=1")[1] == todos[1:3]
        # The feed saw every committed change, in order, and nothing else.
        events = []
        for _ in range(4 + 60):
            events.append(json.loads(await asyncio.wait_for(feed.recv(), 10)))
        head = [(e["op"], e["todo"]["id"]) for e in events[:4]]
        assert head == [("created", a["id"]), ("created", b["id"]),
                        ("updated", a["id"]), ("deleted", b["id"])], head
        assert sorted(e["todo"]["id"] for e in events[4:]) == sorted(t["id"] for t in todos[1:])
        try:
            extra = await asyncio.wait_for(feed.recv(), 0.3)
            raise AssertionError(f"unexpected event {extra}")
        except asyncio.TimeoutError:
            pass
    print("python ok")
asyncio.run(main())
"#;

#[test]
fn the_todo_service_end_to_end_then_sigterm() {
    let Some(pg) = PgCluster::start_or_skip() else {
        return;
    };
    let db = pg.tcp_url();
    let mut child = Command::new(example_path("todo_service"))
        .args(["--db", &db, "--serve", "0", "--feed", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn todo_service");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut server = KillOnDrop(child);
    let feed: u16 = wait_for_line(&mut out, "feed on ")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let http: u16 = wait_for_line(&mut out, "listening on ")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    python(API_AND_FEED, http, feed);

    // A feed client connected at shutdown gets 1001.
    let mut watcher = KillOnDrop(
        Command::new("python3")
            .args([
                "-c",
                r#"
import asyncio, sys, websockets
async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        print("watching", flush=True)
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosedOK as e:
            print("closed", e.rcvd.code, flush=True)
asyncio.run(main(int(sys.argv[1])))
"#,
                &feed.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let mut watcher_out = BufReader::new(watcher.0.stdout.take().unwrap());
    wait_for_line(&mut watcher_out, "watching");
    send_signal(&server, "-TERM");
    assert_eq!(wait_for_line(&mut watcher_out, "closed "), "1001");
    wait_for_line(&mut out, "server closed");
    assert!(wait_exit(&mut server, Duration::from_secs(15)).success());
    assert!(wait_exit(&mut watcher, Duration::from_secs(10)).success());
    // Every connection of the service is gone from the server.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let others = pg
            .psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
            .unwrap();
        if others == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{others} connection(s) left open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
