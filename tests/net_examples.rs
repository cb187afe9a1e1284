//! The networking examples, run as child processes, and corio's streams
//! talking to programs no one here wrote: `python3` (a socket client, an
//! asyncio server, `http.server`) and `curl`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::{KillOnDrop, serve_example, wait_for_line};

/// Runs an example to its end (at most a minute); its stdout, after
/// checking it succeeded.
fn run_example(name: &str, args: &[&str]) -> String {
    support::run_example(name, args, std::time::Duration::from_secs(60))
}

#[test]
fn the_demos_run_to_their_end() {
    let echo = run_example("echo_server", &[]);
    assert!(echo.contains("client got: Hello World!"), "{echo}");
    assert!(echo.contains("client got: from corio streams"), "{echo}");
    let protocol = run_example("echo_protocol", &[]);
    assert!(
        protocol.contains("client got: \"callbacks, not tasks\\n\""),
        "{protocol}"
    );
    assert!(protocol.contains("connection lost (None)"), "{protocol}");
    let udp = run_example("udp_echo", &[]);
    assert!(udp.contains("client received \"Hello World!\""), "{udp}");
    let unix = run_example("unix_echo", &[]);
    assert!(unix.contains("over a path, not a port"), "{unix}");
    assert!(unix.contains("socket file removed: true"), "{unix}");
}

#[test]
fn several_loops_share_one_port() {
    let out = run_example("multi_loop_echo", &[]);
    let served: usize = out
        .lines()
        .filter_map(|l| l.split(" served ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(served, 40, "every client answered by some loop:\n{out}");
    let busy_loops = out
        .lines()
        .filter(|l| l.contains(" served ") && !l.contains(" served 0 "))
        .count();
    assert!(busy_loops >= 2, "the kernel spread the connections:\n{out}");
}

#[test]
fn python_socket_client_against_the_stream_echo_server() {
    let (_server, port) = serve_example("echo_server");
    let script = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rwb")
lines = [b"hello from python\n", b"y" * 50000 + b"\n", b"last\n"]
for line in lines:
    f.write(line)
f.flush()
for line in lines:
    got = f.readline()
    assert got == line, (len(got), len(line))
s.shutdown(socket.SHUT_WR)
assert f.read() == b"", "the server closes after our EOF"
print("python ok")
"#;
    support::run_python_client(script, port);
}

#[test]
fn the_echo_client_example_against_the_echo_server_example() {
    let (_server, port) = serve_example("echo_server");
    let out = run_example("echo_client", &[&port.to_string(), "one", "two"]);
    assert_eq!(out, "Received: \"one\\n\"\nReceived: \"two\\n\"\n");
}

#[test]
fn open_connection_against_a_python_asyncio_server() {
    let script = r#"
import asyncio
async def shout(reader, writer):
    async for line in reader:
        writer.write(line.upper())
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(shout, "127.0.0.1", 0)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.wait_for(server.serve_forever(), 30)
try:
    asyncio.run(main())
except asyncio.TimeoutError:
    pass
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _child = KillOnDrop(child);
    let port: u16 = wait_for_line(&mut out, "listening on 127.0.0.1:")
        .parse()
        .unwrap();
    let replies = corio::run(async move {
        let (reader, writer) = corio::net::open_connection("127.0.0.1", port).await?;
        writer.writelines([&b"quiet\n"[..], b"still quiet\n"])?;
        writer.drain().await?;
        let first = reader.readline().await?;
        let second = reader.readline().await?;
        writer.write_eof();
        let rest = reader.read(-1).await?;
        writer.close();
        std::io::Result::Ok((first, second, rest))
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        replies,
        (b"QUIET\n".to_vec(), b"STILL QUIET\n".to_vec(), Vec::new())
    );
}

#[test]
fn curl_against_the_http_server_example() {
    let (_server, port) = serve_example("http_server");
    let url = format!("http://127.0.0.1:{port}/hello");
    let output = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10", &url])
        .output()
        .expect("curl is installed");
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "curl failed: {page}");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("You asked for /hello."), "{page}");
    let output = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10", "-X", "POST", &url])
        .output()
        .expect("curl is installed");
    let refused = String::from_utf8_lossy(&output.stdout);
    assert!(refused.starts_with("HTTP/1.1 405"), "{refused}");
}

/// Checks `http_get`'s report of `/0` … `/19`: each once, each 200.
fn assert_twenty_pages(out: &str) {
    let mut paths: Vec<usize> = out
        .lines()
        .filter(|l| l.contains("HTTP/1.") && l.contains(" 200 "))
        .map(|l| l[1..l.find(':').unwrap()].parse().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, (0..20).collect::<Vec<_>>(), "{out}");
}

#[test]
fn get_url_fetches_twenty_pages_from_python_http_server() {
    let dir = std::env::temp_dir().join(format!("corio-get-url-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..20 {
        std::fs::write(dir.join(i.to_string()), format!("page {i}\n").repeat(i + 1)).unwrap();
    }
    let mut child = Command::new("python3")
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is installed");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _child = KillOnDrop(child);
    // "Serving HTTP on 127.0.0.1 port 45678 (http://127.0.0.1:45678/) ..."
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line
        .split(" port ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_string();
    let report = run_example("http_get", &["127.0.0.1", &port, "--pages", "20"]);
    assert_twenty_pages(&report);
    // The last page's body is 20 lines of "page 19\n" after the headers.
    assert!(report.lines().any(|l| l.starts_with("/19:")), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn get_url_fetches_twenty_pages_from_the_http_server_example() {
    let (_server, port) = serve_example("http_server");
    let report = run_example(
        "http_get",
        &["127.0.0.1", &port.to_string(), "--pages", "20"],
    );
    assert_twenty_pages(&report);
}
