//! TLS echo ping-pong over the streams API, 1 KiB messages: corio's
//! `start_server_with` / `open_connection_with` with `ssl` (the TLS layer
//! inside the transport, rustls through corio-compat's `ssl` contexts)
//! side by side with tokio current-thread + tokio-rustls, on the same
//! rustls configs: one certificate (ECDSA P-256, signed by a CA made at
//! start), the ring provider, TLS 1.3 only, one cipher suite
//! (TLS13_AES_128_GCM_SHA256).
//!
//! ```text
//! cargo build --release -p corio-bench --bin tls_echo
//! target/release/tls_echo run [ROUNDS] [MSGS]   # msgs/s, 1 and 50 conns, interleaved
//! target/release/tls_echo counts [MSGS]         # instructions per message (callgrind)
//! target/release/tls_echo one RUNTIME CONNS MSGS  # one run (corio, tokio)
//! ```
//!
//! Client and server are in one process, on one thread: one corio loop,
//! or one tokio current-thread runtime, runs both ends, so the figures
//! are the runtime plus its TLS plumbing, never a cross-CPU wake-up. A
//! run connects CONNS clients (each handshake done), then each client
//! sends 1 KiB, waits for the whole 1 KiB to come back, and sends again,
//! MSGS / CONNS times; the clock runs over the messages only. Each run is
//! a child process pinned to CPU 0 (`taskset -c 0`), so the runtimes
//! never share an allocator's state, corio and tokio alternating.
//!
//! `counts` runs `one` under callgrind with MSGS and 2 × MSGS messages:
//! the difference, divided by MSGS, is the user-space instructions per
//! message of both ends together (two TLS records sealed and two opened,
//! two sends and two receives), start-up, certificates and handshakes
//! cancelling out, as `echo counts` does for its server.
//!
//! Ratios (corio / tokio): `tls_echo_msgs_per_s_1`, `_50` (above 1 is
//! corio ahead) and `tls_echo_instructions_1`, `_50` (below 1 is corio
//! ahead); `tls_echo_msgs_per_s` and `tls_echo_instructions` are the
//! geometric means of the two modes.

use std::io::{self, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::compat::futures_rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use corio::compat::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use corio::compat::ssl::{ClientContext, ServerContext};
use corio::net::tls::SslContext;
use corio::net::{
    ConnectOptions, DEFAULT_LIMIT, ServerOptions, StreamReader, StreamWriter, open_connection_with,
    start_server_with,
};
use corio_bench::corio_run;

const MESSAGE: usize = 1024;
const CONNS: [usize; 2] = [1, 50];
const RUNTIMES: [&str; 2] = ["corio", "tokio"];

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    match arg(0, "run").as_str() {
        "one" => {
            let conns = arg(2, "1").parse().expect("CONNS");
            let msgs = arg(3, "20000").parse().expect("MSGS");
            let elapsed = one(&arg(1, "corio"), conns, msgs)?;
            println!("SECS {}", elapsed.as_secs_f64());
            Ok(())
        }
        "run" => run(
            arg(1, "5").parse().expect("ROUNDS"),
            arg(2, "50000").parse().expect("MSGS"),
        ),
        "counts" => counts(arg(1, "10000").parse().expect("MSGS")),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown mode {other}: run | counts | one RUNTIME CONNS MSGS"),
        )),
    }
}

// ------------------------------------------------------------- the configs

/// The server's and the client's rustls configs, shared by both runtimes:
/// a CA and a certificate for "localhost" it signed; ring, TLS 1.3, one
/// cipher suite.
fn configs() -> io::Result<(Arc<ServerConfig>, Arc<ClientConfig>)> {
    let err = |e: rcgen::Error| io::Error::other(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "corio bench CA");
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).map_err(err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;

    // ring, as corio-compat's `tls` feature builds rustls (deprecated in
    // rustls 0.23.48 for its lack of post-quantum key exchange, which a
    // loopback benchmark does not need).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..rustls::crypto::ring::default_provider()
    });
    let tls = io::Error::other;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(tls)?;
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).map_err(tls)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client)))
}

/// One run in this process: `conns` connections, `msgs` round trips in
/// all; the time the round trips took.
fn one(runtime: &str, conns: usize, msgs: u64) -> io::Result<Duration> {
    assert_eq!(msgs % conns as u64, 0, "MSGS must be a multiple of CONNS");
    let (server, client) = configs()?;
    let per_conn = msgs / conns as u64;
    match runtime {
        "corio" => {
            let server: SslContext = Arc::new(ServerContext::from_config(server));
            let client: SslContext = Arc::new(ClientContext::from_config(client));
            corio_one(server, client, conns, per_conn)
        }
        "tokio" => tokio_one(server, client, conns, per_conn),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown runtime {other}"),
        )),
    }
}

// ------------------------------------------------------------------ corio

/// The streams echo of `echo`: one buffer, reused for every read.
async fn corio_echo(reader: StreamReader, writer: StreamWriter) {
    let mut buf = vec![0; DEFAULT_LIMIT];
    while let Ok(n) = reader.read_into(&mut buf).await {
        if n == 0 || writer.write(&buf[..n]).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
}

/// `msgs` round trips of one message: write, drain, read it all back.
async fn corio_ping(reader: StreamReader, writer: StreamWriter, msgs: u64) -> io::Result<()> {
    let ping = [b'x'; MESSAGE];
    let mut buf = vec![0; MESSAGE];
    for _ in 0..msgs {
        writer.write(&ping).map_err(io::Error::other)?;
        writer.drain().await.map_err(io::Error::other)?;
        let mut got = 0;
        while got < MESSAGE {
            match reader.read_into(&mut buf[got..]).await {
                Ok(0) => return Err(io::Error::other("server closed")),
                Ok(n) => got += n,
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
    writer.close();
    Ok(())
}

fn corio_one(
    server: SslContext,
    client: SslContext,
    conns: usize,
    msgs: u64,
) -> io::Result<Duration> {
    corio_run(async move {
        let options = ServerOptions {
            ssl: Some(server),
            ..ServerOptions::default()
        };
        let server = start_server_with(corio_echo, "127.0.0.1", 0, options).await?;
        let port = server.addresses()[0].port();
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let options = ConnectOptions {
                ssl: Some(client.clone()),
                server_hostname: Some("localhost".into()),
                ..ConnectOptions::default()
            };
            streams.push(open_connection_with("127.0.0.1", port, options).await?);
        }
        let start = Instant::now();
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|(r, w)| corio::create_task(corio_ping(r, w, msgs)))
            .collect();
        for task in tasks {
            task.await.map_err(|e| io::Error::other(e.to_string()))??;
        }
        let elapsed = start.elapsed();
        server.close();
        Ok(elapsed)
    })
}

// ------------------------------------------------------------------ tokio

fn tokio_one(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    conns: usize,
    msgs: u64,
) -> io::Result<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::ServerName;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                sock.set_nodelay(true).ok();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    let mut buf = vec![0; DEFAULT_LIMIT];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 || tls.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let sock = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            sock.set_nodelay(true)?;
            let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
            streams.push(connector.connect(name, sock).await?);
        }
        let start = Instant::now();
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut tls| {
                tokio::spawn(async move {
                    let ping = [b'x'; MESSAGE];
                    let mut buf = vec![0; MESSAGE];
                    for _ in 0..msgs {
                        tls.write_all(&ping).await?;
                        tls.read_exact(&mut buf).await?;
                    }
                    tls.shutdown().await
                })
            })
            .collect();
        for task in tasks {
            task.await.map_err(io::Error::other)??;
        }
        Ok(start.elapsed())
    })
}

// ----------------------------------------------------------------- driver

/// Runs `one` in a child process pinned to CPU 0 (optionally under a
/// tool); its stderr, and the elapsed time it printed.
fn child(tool: &[&str], runtime: &str, conns: usize, msgs: u64) -> io::Result<(String, f64)> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(tool.first().copied().unwrap_or("taskset"));
    if tool.is_empty() {
        cmd.args(["-c", "0"]);
    } else {
        cmd.args(&tool[1..]).args(["taskset", "-c", "0"]);
    }
    let out = cmd
        .arg(exe)
        .args(["one", runtime, &conns.to_string(), &msgs.to_string()])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let secs = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SECS "))
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("{runtime} run failed: {stderr}")))?;
    Ok((stderr, secs))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

fn run(rounds: usize, msgs: u64) -> io::Result<()> {
    println!(
        "TLS echo ping-pong, 1 KiB, both ends on one thread pinned to CPU 0; {msgs} messages a run, median of {rounds} interleaved rounds\n"
    );
    println!("| conns | corio msgs/s | tokio msgs/s | ratio | ratio per round (min / max) |");
    println!("|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for conns in CONNS {
        let (mut c, mut t, mut each) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let mut rate = [0.0; 2];
            for k in 0..2 {
                let i = (k + round) % 2; // alternate who goes first
                let (_, secs) = child(&[], RUNTIMES[i], conns, msgs)?;
                rate[i] = msgs as f64 / secs;
            }
            c.push(rate[0]);
            t.push(rate[1]);
            each.push(rate[0] / rate[1]);
        }
        let ratio = median(c.clone()) / median(t.clone());
        let lo = each.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = each.iter().copied().fold(0.0, f64::max);
        println!(
            "| {conns} | {:.0} | {:.0} | {ratio:.2} | {lo:.2} / {hi:.2} |",
            median(c),
            median(t)
        );
        ratios.push((format!("tls_echo_msgs_per_s_{conns}"), ratio));
        io::stdout().flush()?;
    }
    let all: Vec<f64> = ratios.iter().map(|r| r.1).collect();
    ratios.push(("tls_echo_msgs_per_s".into(), geomean(&all)));
    let ratios: Vec<(&str, f64)> = ratios.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    corio_bench::print_ratios(&ratios);
    Ok(())
}

/// User-space instructions of one run under callgrind (valgrind's last
/// "Collected" line: `taskset` execs the benchmark in its own process).
fn instructions(runtime: &str, conns: usize, msgs: u64) -> io::Result<u64> {
    let tool = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        "--callgrind-out-file=/dev/null",
    ];
    let (stderr, _) = child(&tool, runtime, conns, msgs)?;
    stderr
        .lines()
        .rev()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("no callgrind total:\n{stderr}")))
}

fn counts(msgs: u64) -> io::Result<()> {
    println!(
        "User-space instructions per 1 KiB round trip, both ends (callgrind, runs of {msgs} and {} messages)\n",
        2 * msgs
    );
    println!("| conns | corio | tokio | ratio |");
    println!("|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for conns in CONNS {
        let mut per_msg = [0.0; 2];
        for (i, runtime) in ["corio", "tokio"].iter().enumerate() {
            let small = instructions(runtime, conns, msgs)?;
            let large = instructions(runtime, conns, 2 * msgs)?;
            per_msg[i] = large.saturating_sub(small) as f64 / msgs as f64;
        }
        let [corio, tokio] = per_msg;
        println!(
            "| {conns} | {corio:.0} | {tokio:.0} | {:.2} |",
            corio / tokio
        );
        ratios.push((format!("tls_echo_instructions_{conns}"), corio / tokio));
        io::stdout().flush()?;
    }
    let all: Vec<f64> = ratios.iter().map(|r| r.1).collect();
    ratios.push(("tls_echo_instructions".into(), geomean(&all)));
    let ratios: Vec<(&str, f64)> = ratios.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    corio_bench::print_ratios(&ratios);
    Ok(())
}
