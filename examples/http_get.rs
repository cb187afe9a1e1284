//! The asyncio notes' `get_url`: an HTTP GET by hand on `open_connection`
//! (send the request, read lines until EOF), for twenty paths at once,
//! printed as they complete (`as_completed`).
//!
//! ```text
//! cargo run --example http_get                       # against its own loopback site
//! python3 -m http.server 8000 &
//! cargo run --example http_get -- 127.0.0.1 8000 / /README.md ...
//! cargo run --example http_get -- 127.0.0.1 8000 --pages 20   # /0 … /19
//! ```
//!
//! Python's version, for comparison:
//!
//! ```python
//! async def get_url(host, port, path):
//!     reader, writer = await asyncio.open_connection(host, port)
//!     writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
//!     status = await reader.readline()
//!     body = [line async for line in reader]
//!     writer.close()
//!     return path, status, body
//!
//! for coro in asyncio.as_completed([get_url(host, port, p) for p in paths]):
//!     path, status, body = await coro
//! ```

use std::io;
use std::rc::Rc;

use corio::net::open_connection;
use corio::{as_completed, create_task};

#[path = "site/mod.rs"]
mod site;

/// One GET: the status line and how many bytes followed it.
async fn get_url(host: String, port: u16, path: String) -> io::Result<(String, String, usize)> {
    let (reader, writer) = open_connection(&host, port).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    writer.write(request.as_bytes())?;
    writer.drain().await?;
    let status = String::from_utf8_lossy(&reader.readline().await?)
        .trim_end()
        .to_string();
    let mut rest = 0;
    while let Some(line) = reader.next_line().await? {
        rest += line.len();
    }
    writer.close();
    Ok((path, status, rest))
}

/// Fetches every path at once and prints each as it completes; how many
/// failed.
async fn fetch_all(host: String, port: u16, paths: Vec<String>) -> usize {
    let tasks = paths
        .into_iter()
        .map(|path| create_task(get_url(host.clone(), port, path)));
    let mut done = as_completed(tasks, None);
    let mut failures = 0;
    while let Some(outcome) = done.next().await {
        match outcome
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|r| r)
        {
            Ok((path, status, bytes)) => {
                println!("{path}: {status} ({bytes} bytes after the status line)")
            }
            Err(e) => {
                failures += 1;
                eprintln!("failed: {e}");
            }
        }
    }
    failures
}

/// The demo: twenty pages from a site this program serves on loopback.
pub fn demo() -> corio::Result<()> {
    let failures = corio::run(async {
        let pages: site::Pages = Rc::new(|path| Some(format!("<p>page {path}</p>\n")));
        let (server, port) = site::serve(pages).await?;
        let paths = (0..20).map(|i| format!("/{i}")).collect();
        let failures = fetch_all("127.0.0.1".into(), port, paths).await;
        server.close();
        server.wait_closed().await;
        io::Result::Ok(failures)
    })??;
    if failures > 0 {
        return Err(io::Error::other(format!("{failures} requests failed")).into());
    }
    Ok(())
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return demo();
    }
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: http_get [HOST PORT (PATH... | --pages N)]",
        )
    };
    let [host, port, paths @ ..] = args.as_slice() else {
        return Err(usage().into());
    };
    let port: u16 = port.parse().map_err(|_| usage())?;
    let paths: Vec<String> = match paths {
        [flag, n] if flag == "--pages" => (0..n.parse::<usize>().map_err(|_| usage())?)
            .map(|i| format!("/{i}"))
            .collect(),
        [] => vec!["/".into()],
        paths => paths.to_vec(),
    };
    let failures = corio::run(fetch_all(host.clone(), port, paths))?;
    if failures > 0 {
        return Err(io::Error::other(format!("{failures} requests failed")).into());
    }
    Ok(())
}
