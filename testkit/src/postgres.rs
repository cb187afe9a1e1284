//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary
//! directory, `pg_ctl start` listening on 127.0.0.1 and a Unix socket in
//! that directory only, trust authentication; stopped and removed on
//! drop.
//!
//! PostgreSQL refuses to run as root, so as root the cluster belongs to
//! the unprivileged `postgres` user (the one Debian's `postgresql`
//! package creates) and its commands run through `runuser`.
//!
//! A test that needs the server calls [`PgCluster::start_or_skip`]: if
//! the cluster cannot be started the test fails, saying why, unless
//! [`SKIP_ENV`] is set, which turns that into an explicit skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set (to anything) to skip the PostgreSQL tests on a machine without
/// PostgreSQL, rather than fail them.
pub const SKIP_ENV: &str = "CORIO_SKIP_POSTGRES";

/// The unprivileged owner of the cluster when tests run as root.
const OWNER: &str = "postgres";

/// A running throwaway cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

impl PgCluster {
    /// Starts a cluster, or `None` when [`SKIP_ENV`] is set and it
    /// cannot be started (the reason is printed).
    ///
    /// # Panics
    /// When the cluster cannot be started and [`SKIP_ENV`] is not set,
    /// with the reason and the way out.
    pub fn start_or_skip() -> Option<PgCluster> {
        match PgCluster::start() {
            Ok(cluster) => Some(cluster),
            Err(why) if std::env::var_os(SKIP_ENV).is_some() => {
                println!("skipped ({SKIP_ENV} is set): {why}");
                None
            }
            Err(why) => panic!(
                "PostgreSQL could not be started: {why}\n\
                 Install Debian's `postgresql` (.ci/run does), or set {SKIP_ENV}=1 to skip these tests."
            ),
        }
    }

    /// `initdb` and `pg_ctl start` in a fresh temporary directory.
    ///
    /// # Errors
    /// What went wrong, with the failing command's output.
    pub fn start() -> Result<PgCluster, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let bin = find_bin()?;
        let as_root = crate::sys::is_root();
        let dir = std::env::temp_dir().join(format!(
            "corio-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            as_root,
        };
        if as_root {
            run(Command::new("chown").args([OWNER, &cluster.dir.display().to_string()]))?;
        }
        let data = cluster.data();
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        cluster.port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log").display().to_string();
        if let Err(e) = cluster.pg(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        ) {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{e}\nserver log:\n{server_log}"));
        }
        Ok(cluster)
    }

    /// The TCP port, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the Unix socket (`.s.PGSQL.PORT` in it).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The Unix socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join(format!(".s.PGSQL.{}", self.port))
    }

    /// A libpq connection string for user `postgres`, database
    /// `postgres`, over TCP.
    pub fn tcp_url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// Runs `sql` with `psql` (as a separate client); its output.
    ///
    /// # Errors
    /// psql's failure, with its output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = run(Command::new(self.bin.join("psql")).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-c",
            sql,
        ]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): what a
    /// crash looks like to its clients.
    ///
    /// # Errors
    /// pg_ctl's failure.
    pub fn kill(&self) -> Result<(), String> {
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
        .map(drop)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs as the cluster's owner.
    fn pg(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let path = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", OWNER, "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        run(cmd.args(args).current_dir(&self.dir))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // A server already stopped (`kill`) makes this fail: fine.
        let _ = self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/N/bin` (Debian's layout), else the
/// directory of `initdb` on PATH.
fn find_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .map_err(|e| format!("sh: {e}"))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match Path::new(&path).parent() {
        Some(dir) if out.status.success() => Ok(dir.to_path_buf()),
        _ => Err("initdb not found (neither /usr/lib/postgresql/*/bin nor PATH)".into()),
    }
}

/// A TCP port free on 127.0.0.1 now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs `cmd`; its output if it succeeded.
fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}
