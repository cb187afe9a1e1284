//! Alone in its binary so that the process's fd count is this test's: every
//! fault path of the socket layer leaves no fd behind.

use std::io;
use std::time::Duration;

use corio_executor::run;
use corio_net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};

use testkit::open_fds;

#[test]
fn no_fd_leaks_after_faults() {
    let dir = std::env::temp_dir().join(format!("corio-net-fds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("s.sock");
    let before = open_fds();
    let s = sock.clone();
    run(async move {
        // Refused.
        let port = {
            let l = TcpListener::bind("127.0.0.1", 0).await?;
            l.local_addr()?.port()
        };
        assert!(TcpStream::connect("127.0.0.1", port).await.is_err());
        // Invalid input and unresolvable names.
        assert!(TcpStream::connect("127.0.0.1", 0).await.is_err());
        assert!(
            TcpStream::connect(&format!("{}.invalid", "x".repeat(64)), 80)
                .await
                .is_err()
        );
        // A bind conflict.
        let taken = TcpListener::bind("127.0.0.1", 0).await?;
        let addr = taken.local_addr()?;
        assert!(
            UdpSocket::bind_addr(addr).is_ok(),
            "UDP and TCP ports are separate"
        );
        let conflict = std::net::TcpListener::bind(addr);
        assert!(conflict.is_err());
        // Unix: a second bind on a path, and a connect to nobody.
        let listener = UnixListener::bind(&s)?;
        assert!(UnixListener::bind(&s).is_err());
        drop(listener);
        assert!(
            UnixStream::connect(&s).await.is_err(),
            "refused: nobody listens"
        );
        // An accept abandoned by a timeout.
        let abandoned = corio_executor::wait_for(
            async move { taken.accept().await.map(drop) },
            Some(Duration::from_millis(10)),
        )
        .await;
        assert!(abandoned.is_err());
        // A connection that ends with a reset.
        let l = TcpListener::bind("127.0.0.1", 0).await?;
        let c = TcpStream::connect("127.0.0.1", l.local_addr()?.port()).await?;
        let (srv, _) = l.accept().await?;
        c.send_all(b"unread").await?;
        corio_executor::sleep(Duration::from_millis(5)).await;
        drop(srv);
        let mut buf = [0; 8];
        let _reset_or_eof = c.recv(&mut buf).await; // either is fine here
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        open_fds(),
        before,
        "every socket, epoll fd and eventfd was closed"
    );
}
