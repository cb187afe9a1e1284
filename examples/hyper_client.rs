//! The notes' crawler idiom on hyper: fetch N URLs concurrently, at most
//! three in flight (`Semaphore(3)`), each under a `timeout`.
//!
//! ```python
//! sem = asyncio.Semaphore(3)
//! async def fetch(url):
//!     async with sem:
//!         async with asyncio.timeout(10):
//!             async with session.get(url) as resp:
//!                 return resp.status, await resp.read()
//! results = await asyncio.gather(*(fetch(u) for u in urls))
//! ```
//!
//! ```text
//! cargo run --example hyper_client -- http://127.0.0.1:8000/ http://127.0.0.1:8000/x
//! ```
//!
//! Without arguments: a demo on loopback against a hyper server this
//! program starts itself. Plain `http://` only (TLS: see `tls_echo`).
//!
//! A body is counted frame by frame as it arrives (`BodyExt::frame`, the
//! `async for chunk in resp.content.iter_chunked(n)` of aiohttp), never
//! held whole: a 512 MiB response costs a frame's memory, not 512 MiB.

use std::convert::Infallible;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::compat::bytes::Bytes;
use corio::compat::http_body_util::{BodyExt, Empty, Full};
use corio::compat::hyper::{Request, Response, Uri};
use corio::compat::{Io, hyper, serve};
use corio::net::{TcpListener, TcpStream};
use corio::sync::Semaphore;

/// GET `url` on a fresh HTTP/1.1 connection: status and body length, the
/// body read frame by frame and dropped.
async fn get(url: &str) -> io::Result<(u16, usize)> {
    let uri: Uri = url
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{url}: http:// only"),
        ));
    }
    let host = uri.host().unwrap_or("127.0.0.1").to_string();
    let port = uri.port_u16().unwrap_or(80);
    let io = Io::new(TcpStream::connect(&host, port).await?);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io::Error::other)?;
    drop(corio::create_task(conn));
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = Request::get(path)
        .header("host", format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    let response = sender.send_request(req).await.map_err(io::Error::other)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        if let Some(chunk) = frame.map_err(io::Error::other)?.data_ref() {
            len += chunk.len();
        }
    }
    Ok((status, len))
}

/// Fetches every URL, at most three at a time, each within `limit`.
async fn fetch_all(urls: Vec<String>, limit: Duration) -> Vec<(String, io::Result<(u16, usize)>)> {
    let sem = Rc::new(Semaphore::new(3));
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let sem = sem.clone();
            corio::create_task(async move {
                let _permit = sem.acquire().await;
                let result = match corio::timeout(limit, get(&url)).await {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
                };
                (url, result)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("fetch task"));
    }
    results
}

fn report(results: &[(String, io::Result<(u16, usize)>)]) -> bool {
    let mut ok = true;
    for (url, result) in results {
        match result {
            Ok((status, len)) => println!("{url} -> {status} ({len} bytes)"),
            Err(e) => {
                ok = false;
                println!("{url} -> error: {e}");
            }
        }
    }
    ok
}

async fn demo() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addr()?.port();
    let server = serve(
        listener,
        hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
            // A little latency, so that the semaphore shows.
            corio::sleep(Duration::from_millis(50)).await;
            let page = format!("page {}\n", req.uri().path());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(page))))
        }),
    );
    let urls = (0..9)
        .map(|i| format!("http://127.0.0.1:{port}/{i}"))
        .collect();
    let started = Instant::now();
    let results = fetch_all(urls, Duration::from_secs(10)).await;
    report(&results);
    println!(
        "9 pages, 3 at a time, 50 ms each: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    server.close();
    server.wait_closed().await;
    Ok(())
}

fn main() -> io::Result<()> {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        corio::run(demo()).map_err(|e| io::Error::other(e.to_string()))?
    } else {
        let results = corio::run(fetch_all(urls, Duration::from_secs(10)))
            .map_err(|e| io::Error::other(e.to_string()))?;
        if report(&results) {
            Ok(())
        } else {
            Err(io::Error::other("some fetches failed"))
        }
    }
}
