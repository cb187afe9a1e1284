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
/// `InvalidInput` for an empty host or one with a NUL byte; `NotFound` for
/// a name that does not resolve (Python's `socket.gaierror`), an OS error's
/// own kind otherwise; the message names the host.
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
        // A lookup failure is no OS error (std reports it as
        // `Uncategorized`): say `NotFound`, so that a program can match it.
        Err(err) => Err(io::Error::new(
            if err.raw_os_error().is_some() {
                err.kind()
            } else {
                io::ErrorKind::NotFound
            },
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
    // A numeric host is the address already: name it once.
    let numeric = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip == addr.ip());
    let named = if numeric {
        addr.to_string()
    } else {
        format!("{host}:{port} ({addr})")
    };
    Err(io::Error::new(err.kind(), format!("{named}: {err}")))
}
