//! A real PostgreSQL server for tests: one per test process, started on
//! first use from the machine's PostgreSQL binaries (Debian's `postgresql`
//! package: `/usr/lib/postgresql/N/bin`, or `initdb` on the `PATH`), with a
//! throwaway data directory and a Unix socket in it. Each test asks for its
//! own fresh database.
//!
//! The server runs under a small shell that holds a pipe from this process:
//! when the test process exits, for any reason, the pipe closes and the
//! shell stops the server and deletes its directory. No server outlives
//! its tests.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The running server: its socket directory and the pipe that keeps it up.
pub struct TestPostgres {
    socket_dir: PathBuf,
    bin: PathBuf,
    _keepalive: Mutex<(Child, ChildStdin)>,
}

static SERVER: OnceLock<TestPostgres> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// How long the server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl TestPostgres {
    /// The process's server, started on first use. Panics with what to
    /// install when the machine has no PostgreSQL.
    pub fn get() -> &'static TestPostgres {
        SERVER.get_or_init(|| start().unwrap_or_else(|error| panic!("{error}")))
    }

    /// A URL for a new, empty database of its own (sqlx's form).
    pub fn fresh_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@localhost/{name}?host={}",
            path_str(&self.socket_dir)
        )
    }

    /// Runs `sql` in database `name` with the real `psql` client (a writer
    /// from outside corridor).
    pub fn psql(&self, name: &str, sql: &str) -> String {
        let output = Command::new(self.psql_bin())
            .args([
                "-h",
                path_str(&self.socket_dir),
                "-U",
                "postgres",
                "-d",
                name,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn psql_bin(&self) -> PathBuf {
        let beside = self.bin.join("psql");
        if beside.exists() {
            beside
        } else {
            PathBuf::from("psql")
        }
    }
}

/// The database name in a URL from [`TestPostgres::fresh_database`].
pub fn database_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn find_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.flatten()
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|bin| bin.join("initdb").exists());
    // The newest installed version.
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(bin) = versions.pop() {
        return Ok(bin);
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .map_err(|error| error.to_string())?;
    let path = String::from_utf8_lossy(&on_path.stdout).trim().to_owned();
    match Path::new(&path).parent() {
        Some(dir) if !path.is_empty() => Ok(dir.to_owned()),
        _ => Err("these tests need a PostgreSQL server's binaries: \
                  `apt-get install postgresql` (initdb and postgres)"
            .into()),
    }
}

fn start() -> Result<TestPostgres, String> {
    let bin = find_bin()?;
    let dir = tempfile::Builder::new()
        .prefix("corridor-pg-")
        .tempdir()
        .map_err(|error| error.to_string())?
        .keep();
    let data = dir.join("data");
    // PostgreSQL refuses to run as root: then it runs as the package's user.
    let as_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if as_root {
        let uid = user_id("postgres")?;
        std::os::unix::fs::chown(&dir, Some(uid.0), Some(uid.1)).map_err(|e| e.to_string())?;
    }
    let script = format!(
        "set -e; '{bin}/initdb' -D '{data}' -U postgres -A trust --no-sync >/dev/null; \
         '{bin}/postgres' -D '{data}' -k '{dir}' -c listen_addresses= -c fsync=off \
           -c max_connections=300 & pid=$!; \
         cat >/dev/null; kill -INT $pid; wait $pid; rm -rf '{dir}'",
        bin = bin.display(),
        data = data.display(),
        dir = dir.display(),
    );
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", "sh", "-c", &script]);
        command
    } else {
        let mut command = Command::new("sh");
        command.args(["-c", &script]);
        command
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|error| format!("start PostgreSQL: {error}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    // The server says when it is ready; wait for that line, within a deadline.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("ready to accept connections") {
                let _ = ready_tx.send(Ok(()));
            } else if seen.len() < 8192 {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        let _ = ready_tx.send(Err(seen));
    });
    match ready_rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(())) => Ok(TestPostgres {
            socket_dir: dir,
            bin,
            _keepalive: Mutex::new((child, stdin)),
        }),
        Ok(Err(log)) => Err(format!("PostgreSQL did not start:\n{log}")),
        Err(_) => Err("PostgreSQL did not start within 60 s".into()),
    }
}

fn user_id(name: &str) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name) && fields.len() > 3)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .ok_or_else(|| format!("no {name} user: install Debian's postgresql package"))
}
