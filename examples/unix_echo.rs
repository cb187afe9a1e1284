//! Echo over a Unix socket with `start_unix_server` and
//! `open_unix_connection`: the stream API, a path instead of a port.
//!
//! ```text
//! cargo run --example unix_echo                      # a socket in a temp dir, demo, exit
//! cargo run --example unix_echo -- --serve /tmp/echo.sock
//! ```

use std::io;
use std::path::PathBuf;

use corio::net::{StreamReader, StreamWriter, open_unix_connection, start_unix_server};

async fn handle_echo(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    Ok(())
}

async fn main_async(path: PathBuf, serve: bool) -> io::Result<()> {
    // A socket file left by an earlier run is replaced; ours is removed on close.
    let server = start_unix_server(handle_echo, &path).await?;
    println!("listening on {}", path.display());
    if serve {
        return server.serve_forever().await;
    }
    let (reader, writer) = open_unix_connection(&path).await?;
    writer.write(b"over a path, not a port\n")?;
    println!(
        "client got: {:?}",
        String::from_utf8_lossy(&reader.readline().await?)
    );
    writer.close();
    writer.wait_closed().await?;
    server.close();
    server.wait_closed().await;
    println!("socket file removed: {}", !path.exists());
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, serve) = match args.as_slice() {
        [flag, path] if flag == "--serve" => (PathBuf::from(path), true),
        _ => (
            std::env::temp_dir().join(format!("corio-unix-echo-{}.sock", std::process::id())),
            false,
        ),
    };
    corio::run(main_async(path, serve)).map_err(|e| io::Error::other(e.to_string()))?
}
