//! The asyncio notes' `get_url`: an HTTP GET by hand on `open_connection`
//! (send the request, read lines until EOF), for many paths at once,
//! printed as they complete.
//!
//! ```text
//! python3 -m http.server 8000 &
//! cargo run --example get_url -- 127.0.0.1 8000 / /README.md ...
//! cargo run --example get_url -- 127.0.0.1 8000 --pages 20   # /0 … /19
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

use corio::net::open_connection;
use corio::{as_completed, create_task};

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

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: get_url HOST PORT (PATH... | --pages N)",
        )
    };
    let [host, port, paths @ ..] = args.as_slice() else {
        return Err(usage());
    };
    let port: u16 = port.parse().map_err(|_| usage())?;
    let paths: Vec<String> = match paths {
        [flag, n] if flag == "--pages" => (0..n.parse::<usize>().map_err(|_| usage())?)
            .map(|i| format!("/{i}"))
            .collect(),
        [] => vec!["/".into()],
        paths => paths.to_vec(),
    };
    let host = host.clone();
    let failures = corio::run(async move {
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
    })
    .map_err(|e| io::Error::other(e.to_string()))?;
    if failures > 0 {
        return Err(io::Error::other(format!("{failures} requests failed")));
    }
    Ok(())
}
