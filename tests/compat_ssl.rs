//! TLS the asyncio way: `ssl=` on streams, servers and protocols, and
//! `start_tls` both ways, against corio itself, Python's `ssl` module and
//! `openssl s_client`; and what a hostile or broken peer does to it.

mod support;

use std::cell::RefCell;
use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corio_compat::ssl::{ClientContext, ServerContext};
use corio_net::tls::{SslContext, TlsError};
use corio_net::{
    ConnectOptions, ServerOptions, StreamReader, StreamWriter, open_connection,
    open_connection_with, start_server, start_server_with,
};

/// A test PKI: a CA, a server certificate for "localhost" and a client
/// certificate it signed, and their PEMs in a temp dir for other programs.
struct Pki {
    ca: String,
    server_chain: String,
    server_key: String,
    client_chain: String,
    client_key: String,
    dir: std::path::PathBuf,
}

fn leaf(names: &[&str], ca: &rcgen::CertifiedKey) -> (String, String) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.is_ca = rcgen::IsCa::NoCa;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key_pair).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn ca(name: &str) -> rcgen::CertifiedKey {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    rcgen::CertifiedKey { cert, key_pair }
}

fn pki() -> Pki {
    pki_named("corio test CA")
}

fn pki_named(ca_name: &str) -> Pki {
    let authority = ca(ca_name);
    let (server_chain, server_key) = leaf(&["localhost"], &authority);
    let (client_chain, client_key) = leaf(&["corio test client"], &authority);
    let dir = std::env::temp_dir().join(format!(
        "corio-ssl-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki {
        ca: authority.cert.pem(),
        server_chain,
        server_key,
        client_chain,
        client_key,
        dir,
    };
    for (name, pem) in [
        ("ca.pem", &pki.ca),
        ("server.pem", &pki.server_chain),
        ("server.key", &pki.server_key),
        ("client.pem", &pki.client_chain),
        ("client.key", &pki.client_key),
    ] {
        std::fs::write(pki.dir.join(name), pem).unwrap();
    }
    pki
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

impl Pki {
    fn server(&self) -> SslContext {
        Arc::new(
            ServerContext::from_pem(self.server_chain.as_bytes(), self.server_key.as_bytes())
                .unwrap(),
        )
    }

    fn client(&self) -> SslContext {
        Arc::new(ClientContext::from_ca_pem(self.ca.as_bytes()).unwrap())
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_server_options(ssl: SslContext) -> ServerOptions {
    ServerOptions {
        ssl: Some(ssl),
        ..ServerOptions::default()
    }
}

fn tls_client_options(ssl: SslContext) -> ConnectOptions {
    ConnectOptions {
        ssl: Some(ssl),
        server_hostname: Some("localhost".into()),
        ..ConnectOptions::default()
    }
}

/// The echo handler: each line back until EOF, then close.
async fn echo(reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

#[test]
fn streams_over_tls_echo_eight_megabytes_byte_exact_and_close_cleanly() {
    let pki = pki();
    let (server_ctx, client_ctx) = (pki.server(), pki.client());
    corio_executor::run(async move {
        let server = start_server_with(echo, "127.0.0.1", 0, tls_server_options(server_ctx))
            .await
            .unwrap();
        let port = server.addresses()[0].port();
        let (reader, writer) =
            open_connection_with("127.0.0.1", port, tls_client_options(client_ctx))
                .await
                .unwrap();
        assert!(writer.transport().is_tls());
        let mut sent = Vec::new();
        for i in 0..80_000u32 {
            sent.extend_from_slice(format!("line {i:>8} {}\n", "x".repeat(90)).as_bytes());
        }
        assert!(sent.len() > 8_000_000);
        let writing = {
            let data = sent.clone();
            let writer = Rc::new(writer);
            let w = writer.clone();
            corio_executor::create_task(async move {
                for chunk in data.chunks(64 * 1024) {
                    w.write(chunk)?;
                    w.drain().await?;
                }
                w.write_eof(); // close_notify: the server's lines end
                std::io::Result::Ok(writer)
            })
        };
        let got = reader.read(-1).await.unwrap();
        assert!(got == sent, "{} bytes back of {}", got.len(), sent.len());
        let writer = writing.await.unwrap().unwrap();
        drop(writer);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

#[test]
fn protocols_get_tls_through_create_connection_with_and_create_server() {
    #[derive(Default)]
    struct Collect(Vec<u8>, bool, Option<corio_net::Transport>);
    impl corio_net::Protocol for Collect {
        fn connection_made(&mut self, transport: corio_net::Transport) {
            transport.write(b"hello\n").unwrap();
            self.2 = Some(transport);
        }
        fn data_received(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
        }
        fn connection_lost(&mut self, _: Option<std::io::Error>) {
            self.1 = true;
        }
    }
    let pki = pki();
    let (server_ctx, client_ctx) = (pki.server(), pki.client());
    corio_executor::run(async move {
        let server = start_server_with(echo, "127.0.0.1", 0, tls_server_options(server_ctx))
            .await
            .unwrap();
        let port = server.addresses()[0].port();
        let (transport, protocol) = corio_net::create_connection_with(
            Collect::default,
            "127.0.0.1",
            port,
            tls_client_options(client_ctx),
        )
        .await
        .unwrap();
        while protocol.borrow().0.len() < 6 {
            corio_executor::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(protocol.borrow().0, b"hello\n");
        assert!(
            !transport.peer_certificates().is_empty(),
            "the server's chain"
        );
        transport.close();
        while !protocol.borrow().1 {
            corio_executor::sleep(Duration::from_millis(1)).await;
        }
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// A client that trusts another CA, or asks for another name, fails its
/// handshake with rustls's reason; the server goes on serving.
#[test]
fn an_untrusted_certificate_or_a_wrong_name_fails_with_the_reason() {
    let pki = pki();
    let other = pki_named("another CA");
    let (server_ctx, good, stranger) = (pki.server(), pki.client(), other.client());
    corio_executor::run(async move {
        let server = start_server_with(echo, "127.0.0.1", 0, tls_server_options(server_ctx))
            .await
            .unwrap();
        let port = server.addresses()[0].port();
        let err = open_connection_with("127.0.0.1", port, tls_client_options(stranger))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        let tls = err.get_ref().and_then(|e| e.downcast_ref::<TlsError>());
        assert!(matches!(tls, Some(TlsError::Handshake(_))), "{err:?}");
        let wrong_name = ConnectOptions {
            server_hostname: Some("example.com".into()),
            ..tls_client_options(good.clone())
        };
        let err = open_connection_with("127.0.0.1", port, wrong_name)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");
        // The server is fine.
        let (reader, writer) = open_connection_with("127.0.0.1", port, tls_client_options(good))
            .await
            .unwrap();
        writer.write(b"still here\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"still here\n");
        drop(writer);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

#[test]
fn mutual_tls_requires_the_clients_certificate() {
    let pki = pki();
    let server_ctx: SslContext = Arc::new(
        ServerContext::with_client_auth(
            pki.server_chain.as_bytes(),
            pki.server_key.as_bytes(),
            pki.ca.as_bytes(),
        )
        .unwrap(),
    );
    let with_cert: SslContext = Arc::new(
        ClientContext::with_client_cert(
            pki.ca.as_bytes(),
            pki.client_chain.as_bytes(),
            pki.client_key.as_bytes(),
        )
        .unwrap(),
    );
    let without = pki.client();
    corio_executor::run(async move {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let server = start_server_with(
            move |reader: StreamReader, writer: StreamWriter| {
                let seen = s.clone();
                async move {
                    seen.borrow_mut()
                        .push(writer.transport().peer_certificates().len());
                    echo(reader, writer).await
                }
            },
            "127.0.0.1",
            0,
            tls_server_options(server_ctx),
        )
        .await
        .unwrap();
        let port = server.addresses()[0].port();
        let (reader, writer) =
            open_connection_with("127.0.0.1", port, tls_client_options(with_cert))
                .await
                .unwrap();
        writer.write(b"known client\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"known client\n");
        drop(writer);
        // TLS 1.3: the client's handshake ends before the server checks
        // its certificate; the server's refusal is the next thing it reads.
        let refused = async {
            let (reader, writer) =
                open_connection_with("127.0.0.1", port, tls_client_options(without)).await?;
            writer.write(b"anonymous\n")?;
            let line = reader.readline().await?;
            std::io::Result::Ok(line)
        }
        .await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(*seen.borrow(), [1], "only the known client got in");
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// Runs `python3 -c script args…` to its end; its stdout.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts an asyncio server written in Python (`script`, given the
/// server's certificate and key paths; it prints its port first); the
/// server, killed when dropped, and its port.
fn python_tls_server(pki: &Pki, script: &str) -> (support::KillOnDrop, u16) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([pki.path("server.pem"), pki.path("server.key")])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("python3");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let child = support::KillOnDrop(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    (child, line.trim().parse().expect("python's port"))
}

/// Runs a blocking `f` on a thread while the loop goes on; its result.
async fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    corio_offload::to_thread(f).await.unwrap()
}

#[test]
fn pythons_ssl_client_talks_to_a_corio_tls_server() {
    let pki = pki();
    let server_ctx = pki.server();
    let ca = pki.path("ca.pem");
    corio_executor::run(async move {
        let server = start_server_with(echo, "127.0.0.1", 0, tls_server_options(server_ctx))
            .await
            .unwrap();
        let port = server.addresses()[0].port().to_string();
        let out = on_thread(move || {
            python(
                r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"hello from python\n")
        got = b""
        while not got.endswith(b"\n"):
            got += tls.recv(100)
        print(got.decode().strip(), tls.version())
"#,
                &[&ca, &port],
            )
        })
        .await;
        assert!(out.starts_with("hello from python TLSv1."), "{out}");
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

#[test]
fn a_corio_client_talks_to_pythons_asyncio_tls_server() {
    let pki = pki();
    let client_ctx = pki.client();
    let (_child, port) = python_tls_server(
        &pki,
        r#"
import asyncio, ssl, sys
async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async def handle(reader, writer):
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#,
    );
    corio_executor::run(async move {
        let (reader, writer) =
            open_connection_with("127.0.0.1", port, tls_client_options(client_ctx))
                .await
                .unwrap();
        writer.write(b"shout this\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"SHOUT THIS\n");
        // Python closes with close_notify: a clean EOF, not Truncated.
        assert_eq!(reader.read(-1).await.unwrap(), b"");
    })
    .unwrap();
}

/// An SMTP-like server that upgrades with STARTTLS: greets, answers EHLO
/// (advertising STARTTLS, as `openssl s_client -starttls smtp` expects),
/// answers STARTTLS with 220, upgrades the stream, then echoes lines.
async fn smtp_like(
    reader: StreamReader,
    writer: StreamWriter,
    ssl: SslContext,
) -> std::io::Result<()> {
    writer.write(b"220 corio ESMTP ready\r\n")?;
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            return Ok(());
        }
        let upper = String::from_utf8_lossy(&line).to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            writer.write(b"250-corio\r\n250 STARTTLS\r\n")?;
        } else if upper.starts_with("STARTTLS") {
            writer.write(b"220 go ahead\r\n")?;
            writer.start_tls(ssl, None).await?;
            break;
        } else {
            writer.write(b"500 say STARTTLS first\r\n")?;
        }
    }
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

async fn start_smtp_like(ssl: SslContext) -> corio_net::Server {
    start_server(
        move |reader, writer| smtp_like(reader, writer, ssl.clone()),
        "127.0.0.1",
        0,
    )
    .await
    .unwrap()
}

#[test]
fn starttls_on_streams_both_ways_between_corio_ends() {
    let pki = pki();
    let (server_ctx, client_ctx) = (pki.server(), pki.client());
    corio_executor::run(async move {
        let server = start_smtp_like(server_ctx).await;
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection("127.0.0.1", port).await.unwrap();
        assert_eq!(
            reader.readline().await.unwrap(),
            b"220 corio ESMTP ready\r\n"
        );
        writer.write(b"STARTTLS\r\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"220 go ahead\r\n");
        assert!(!writer.transport().is_tls());
        writer
            .start_tls(client_ctx, Some("localhost"))
            .await
            .unwrap();
        assert!(writer.transport().is_tls());
        writer.write(b"secret line\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"secret line\n");
        // A second upgrade is refused.
        let again = writer
            .start_tls(pki_client_dummy(), Some("localhost"))
            .await;
        assert_eq!(again.unwrap_err().kind(), ErrorKind::InvalidInput);
        drop(writer);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

fn pki_client_dummy() -> SslContext {
    pki_named("unused CA").client()
}

#[test]
fn pythons_ssl_upgrades_with_starttls_against_corio() {
    let pki = pki();
    let server_ctx = pki.server();
    let ca = pki.path("ca.pem");
    corio_executor::run(async move {
        let server = start_smtp_like(server_ctx).await;
        let port = server.addresses()[0].port().to_string();
        let out = on_thread(move || {
            python(
                r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
f = raw.makefile("rb")
assert f.readline().startswith(b"220")
raw.sendall(b"STARTTLS\r\n")
assert f.readline().startswith(b"220")
tls = ctx.wrap_socket(raw, server_hostname="localhost")
tls.sendall(b"upgraded from python\n")
got = b""
while not got.endswith(b"\n"):
    got += tls.recv(100)
print(got.decode().strip())
tls.unwrap()
"#,
                &[&ca, &port],
            )
        })
        .await;
        assert_eq!(out.trim(), "upgraded from python");
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

#[test]
fn a_corio_client_upgrades_against_pythons_server_side_starttls() {
    let pki = pki();
    let client_ctx = pki.client();
    let (_child, port) = python_tls_server(
        &pki,
        r#"
import asyncio, ssl, sys
async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async def handle(reader, writer):
        writer.write(b"220 python ready\r\n")
        assert (await reader.readline()).startswith(b"STARTTLS")
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        await writer.start_tls(ctx)
        line = await reader.readline()
        writer.write(b"python got " + line)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#,
    );
    corio_executor::run(async move {
        let (reader, writer) = open_connection("127.0.0.1", port).await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"220 python ready\r\n");
        writer.write(b"STARTTLS\r\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"220 go ahead\r\n");
        writer
            .start_tls(client_ctx, Some("localhost"))
            .await
            .unwrap();
        writer.write(b"from corio\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"python got from corio\n");
    })
    .unwrap();
}

#[test]
fn openssl_s_client_starttls_smtp_verifies_and_talks() {
    if Command::new("openssl").arg("version").output().is_err() {
        panic!("openssl is not installed (.ci/run installs it)");
    }
    let pki = pki();
    let server_ctx = pki.server();
    let ca = pki.path("ca.pem");
    corio_executor::run(async move {
        let server = start_smtp_like(server_ctx).await;
        let port = server.addresses()[0].port();
        let out = on_thread(move || {
            // `timeout`: a stuck s_client must not hang the suite.
            let mut child = Command::new("timeout")
                .args([
                    "20",
                    "openssl",
                    "s_client",
                    "-starttls",
                    "smtp",
                    "-connect",
                    &format!("127.0.0.1:{port}"),
                    "-servername",
                    "localhost",
                    "-verify_return_error",
                    "-CAfile",
                    &ca,
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("openssl");
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"through openssl\n").unwrap();
            // Give s_client time to send the line before EOF ends it.
            std::thread::sleep(Duration::from_millis(500));
            drop(stdin);
            child.wait_with_output().unwrap()
        })
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.contains("through openssl"),
            "stdout {stdout:?}, stderr {stderr:?}"
        );
        assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

#[test]
fn alpn_is_agreed_and_unix_sockets_take_ssl_too() {
    let pki = pki();
    let server_ctx: SslContext = Arc::new(
        ServerContext::from_pem(pki.server_chain.as_bytes(), pki.server_key.as_bytes())
            .unwrap()
            .with_alpn(&[b"h2", b"http/1.1"]),
    );
    let client_ctx: SslContext = Arc::new(
        ClientContext::from_ca_pem(pki.ca.as_bytes())
            .unwrap()
            .with_alpn(&[b"http/1.1"]),
    );
    let path = pki.dir.join("tls.sock");
    corio_executor::run(async move {
        let server = corio_net::start_unix_server_with(echo, &path, tls_server_options(server_ctx))
            .await
            .unwrap();
        // No host to check the certificate against: server_hostname is
        // required, as asyncio says.
        let nameless = ConnectOptions {
            ssl: Some(client_ctx.clone()),
            ..ConnectOptions::default()
        };
        let err = corio_net::open_unix_connection_with(&path, nameless)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let (reader, writer) =
            corio_net::open_unix_connection_with(&path, tls_client_options(client_ctx))
                .await
                .unwrap();
        assert_eq!(
            writer.transport().alpn_protocol().as_deref(),
            Some(&b"http/1.1"[..])
        );
        writer.write(b"over a Unix socket\n").unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"over a Unix socket\n");
        drop(writer);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}
