//! Name resolution: asyncio's `loop.getaddrinfo`, on the offload pool.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Resolves `host` and `port` to socket addresses, in the resolver's order.
///
/// Mirrors `loop.getaddrinfo(host, port)`: a host name is resolved by the
/// system's `getaddrinfo` on the loop's default executor (it blocks), while
/// a numeric address (`"127.0.0.1"`, `"::1"`) is parsed at once with no
/// thread. Differs in returning socket addresses rather than 5-tuples.
///
/// # Examples
///
/// ```
/// use corio_net::getaddrinfo;
///
/// let addrs = corio_executor::run(async { getaddrinfo("127.0.0.1", 8080).await })??;
/// assert_eq!(addrs, ["127.0.0.1:8080".parse()?]);
/// let local = corio_executor::run(async { getaddrinfo("localhost", 80).await })??;
/// assert!(local.iter().all(|a| a.ip().is_loopback()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `InvalidInput` for an empty host or one with a NUL byte; otherwise the
/// resolver's error (kind kept), its message naming the host.
pub async fn getaddrinfo(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if host.is_empty() || host.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid host name {host:?}"),
        ));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_string();
    let resolved = corio_offload::to_thread(move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
    })
    .await
    .map_err(io::Error::other)?;
    match resolved {
        Ok(addrs) if addrs.is_empty() => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("could not resolve host {host:?}: no addresses"),
        )),
        Ok(addrs) => Ok(addrs),
        Err(err) => Err(io::Error::new(
            err.kind(),
            format!("could not resolve host {host:?}: {err}"),
        )),
    }
}

/// Tries `attempt` on each address in order; the error names the host and
/// the last failure. asyncio's `create_connection` loop over `infos`.
pub(crate) async fn try_each<T, F, Fut>(host: &str, port: u16, mut attempt: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let addrs = getaddrinfo(host, port).await?;
    let mut last = None;
    for addr in addrs {
        match attempt(addr).await {
            Ok(value) => return Ok(value),
            Err(err) => last = Some((addr, err)),
        }
    }
    let (addr, err) = last.expect("getaddrinfo returns at least one address");
    Err(io::Error::new(
        err.kind(),
        format!("{host}:{port} ({addr}): {err}"),
    ))
}
