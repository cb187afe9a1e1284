//! A small HTTP/1.1 server on streams: each request is read line by line
//! up to the blank line, answered with a page naming its path, and the
//! connection closed (`Connection: close`). Enough for curl, a browser and
//! the `get_url` example.
//!
//! ```text
//! cargo run --example http_server -- --serve 8000
//! curl http://127.0.0.1:8000/hello
//! ```

mod common;

use std::io;

use corio::net::{StreamReader, StreamWriter, start_server};

/// Reads the request head; answers `GET` with a page, anything else 405.
async fn handle(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let request_line = String::from_utf8_lossy(&reader.readline().await?).into_owned();
    // Headers, up to the blank line (or EOF).
    while let Some(header) = reader.next_line().await? {
        if header == b"\r\n" || header == b"\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) => (
            "200 OK",
            format!("<h1>corio says hello</h1><p>You asked for {path}.</p>\n"),
        ),
        _ => ("405 Method Not Allowed", "only GET here\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    writer.writelines([head.as_bytes(), body.as_bytes()])?;
    writer.drain().await?;
    writer.close();
    writer.wait_closed().await
}

fn main() -> io::Result<()> {
    let port = common::serve_port()?.unwrap_or(8000);
    corio::run(async move {
        let server = start_server(handle, "127.0.0.1", port).await?;
        println!("listening on {}", server.addresses()[0]);
        server.serve_forever().await
    })
    .map_err(|e| io::Error::other(e.to_string()))?
}
