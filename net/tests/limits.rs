//! Servers at the process's fd limit, and 2,000 connections at once.
//!
//! Each scenario runs in a child process (this binary again, one ignored
//! test selected by name) started through `sh -c 'ulimit -n N; exec …'`,
//! so the limit is the child's alone.
//!
//! At the fd limit the server must rest between tries (no spinning),
//! report the shortage once through the loop's exception handler, print
//! nothing itself, and serve again once fds are free.

use std::io::{self, BufRead, BufReader, Write};
use std::time::Duration;

use corio_executor::{ExceptionContext, run, wait_for};
use corio_net::{ServerOptions, StreamReader, StreamWriter, open_connection, start_server_with};

/// Set in a child to the name of the scenario it runs.
use testkit::child::{check_out_of_fds, child_says, is_child, spawn_limited_child};

async fn echo(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    Ok(())
}

#[test]
#[ignore = "the child of emfile_backs_off_without_spinning_and_serves_again"]
fn emfile_server_child() {
    if !is_child("emfile_server_child") {
        return;
    }
    run(async {
        // Each report on a line of its own, for the parent to count.
        corio_executor::get_running_loop()
            .unwrap()
            .set_exception_handler(Some(|context: &ExceptionContext| {
                println!("REPORT {}", context.message);
                std::io::stdout().flush().unwrap();
            }));
        let options = ServerOptions {
            limit: 1024,
            ..ServerOptions::default()
        };
        let server = start_server_with(echo, "127.0.0.1", 0, options)
            .await
            .unwrap();
        println!("PORT {}", server.addresses()[0].port());
        std::io::stdout().flush().unwrap();
        // The parent kills us; this is only a backstop.
        let serving = async move { server.serve_forever().await };
        let _ = wait_for(serving, Some(Duration::from_secs(60))).await;
    })
    .unwrap();
}

#[test]
fn emfile_backs_off_without_spinning_and_serves_again() {
    let child = spawn_limited_child("emfile_server_child", 48);
    check_out_of_fds(child, b"ping\n", b"ping\n");
}

#[test]
#[ignore = "the child of two_thousand_simultaneous_connections"]
fn many_connections_child() {
    if !is_child("many_connections_child") {
        return;
    }
    const CONNECTIONS: usize = 2_000;
    let served = run(async {
        let options = ServerOptions {
            limit: 1024,
            backlog: 2048,
            ..ServerOptions::default()
        };
        let server = start_server_with(echo, "127.0.0.1", 0, options).await?;
        let port = server.addresses()[0].port();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                corio_executor::create_task(async move {
                    let (reader, writer) = open_connection("127.0.0.1", port).await?;
                    let line = format!("client {i}\n");
                    writer.write(line.as_bytes())?;
                    let back = reader.readline().await?;
                    io::Result::Ok(back == line.as_bytes())
                })
            })
            .collect();
        let mut served = 0;
        for client in clients {
            let echoed = client
                .await
                .map_err(|e| io::Error::other(e.to_string()))??;
            if echoed {
                served += 1;
            }
        }
        server.close();
        server.wait_closed().await;
        io::Result::Ok(served)
    })
    .unwrap()
    .unwrap();
    println!("SERVED {served}");
}

#[test]
fn two_thousand_simultaneous_connections() {
    let mut child = spawn_limited_child("many_connections_child", 5000);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let served = child_says(&mut lines, "SERVED ");
    assert_eq!(served, "2000", "every connection echoed its line");
    assert!(child.wait().unwrap().success());
}
