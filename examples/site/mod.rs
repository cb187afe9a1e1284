//! A tiny HTTP/1.0 site on loopback for the examples that fetch pages, so
//! none of them needs the internet: [`serve`] runs it on the loop (corio's
//! own `start_server`), [`get`] fetches a page with `open_connection`, and
//! [`blocking_get`] with a plain blocking `std` socket (for the thread-pool
//! example).
#![allow(dead_code)] // each example uses part of it

use std::io::{self, Read, Write};
use std::rc::Rc;

use corio::net::Server;
use corio::{StreamReader, StreamWriter, open_connection, start_server};

/// What the site answers for a path: the page's body, or `None` (404).
pub type Pages = Rc<dyn Fn(&str) -> Option<String>>;

/// Serves `pages` on 127.0.0.1, any free port; returns the server and
/// its port. Close the server when done.
pub async fn serve(pages: Pages) -> io::Result<(Server, u16)> {
    let server = start_server(
        move |reader, writer| answer(pages.clone(), reader, writer),
        "127.0.0.1",
        0,
    )
    .await?;
    let port = server.addresses()[0].port();
    Ok((server, port))
}

/// One request: read its head, write the page, close.
async fn answer(pages: Pages, reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let request = String::from_utf8_lossy(&reader.readline().await?).into_owned();
    // Skip the headers, up to the blank line.
    while let Some(line) = reader.next_line().await? {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match pages(path) {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", format!("no page at {path}\n")),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write(head.as_bytes())?;
    writer.write(body.as_bytes())?;
    writer.drain().await?;
    writer.close();
    writer.wait_closed().await
}

/// GETs `path` from the site with corio's streams: the status line and
/// the body.
pub async fn get(port: u16, path: &str) -> io::Result<(String, String)> {
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    writer.write(request.as_bytes())?;
    let status = String::from_utf8_lossy(&reader.readline().await?)
        .trim_end()
        .to_string();
    // Line iteration (`async for line in reader`) through the headers...
    while let Some(line) = reader.next_line().await? {
        if line == b"\r\n" {
            break;
        }
    }
    // ...and the body, to EOF.
    let body = String::from_utf8_lossy(&reader.read(-1).await?).into_owned();
    writer.close();
    Ok((status, body))
}

/// GETs `path` with a blocking `std::net::TcpStream`: what the notes'
/// `get_url` does with Python's `socket` before any asyncio.
pub fn blocking_get(port: u16, path: &str) -> io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok(body.to_string())
}
