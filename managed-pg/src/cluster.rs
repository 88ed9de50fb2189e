//! Lifecycle of one managed cluster: init, start, readiness, stop.

use crate::{binaries::find_bin_dir, PgError};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use rand::distributions::{Alphanumeric, DistString};
use sqlx::{Connection, PgConnection};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The superuser role `initdb` creates; Pulse connects as it.
const SUPERUSER: &str = "pulse";
const PASSWORD_FILE: &str = "pulse.password";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Where the cluster lives (created on first start).
    pub cluster_dir: PathBuf,
    /// Postgres binaries; found automatically when `None`.
    pub bin_dir: Option<PathBuf>,
    /// Loopback port; a free one is picked when `None`.
    pub port: Option<u16>,
    /// Extra `-c name=value` server settings (e.g. `fsync=off` for throwaway test clusters).
    pub settings: Vec<(String, String)>,
}

impl ClusterOptions {
    /// Options for a cluster in `cluster_dir` with every other choice automatic.
    pub fn new(cluster_dir: impl Into<PathBuf>) -> Self {
        Self {
            cluster_dir: cluster_dir.into(),
            bin_dir: None,
            port: None,
            settings: Vec::new(),
        }
    }
}

/// A running Postgres server owned by this process; stopped by [`Cluster::stop`] or on drop.
pub struct Cluster {
    child: Option<Child>,
    port: u16,
    password: String,
    dir: PathBuf,
    log_path: PathBuf,
}

/// The system user Postgres runs as when Pulse itself runs as root.
struct RunAs {
    uid: Uid,
    gid: Gid,
}

impl Cluster {
    /// Creates the cluster if needed and starts it; returns once it accepts connections.
    pub async fn start(opts: ClusterOptions) -> Result<Cluster, PgError> {
        let bin = find_bin_dir(opts.bin_dir.as_deref())?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or(PgError::NoPostgresUser)?;
            Some(RunAs {
                uid: user.uid,
                gid: user.gid,
            })
        } else {
            None
        };
        let requested = opts.cluster_dir.clone();
        if let Some(parent) = requested.parent() {
            fs::create_dir_all(parent)
                .map_err(PgError::io(format!("creating {}", parent.display())))?;
        }
        let dir = match run_as.as_ref() {
            Some(u) => reachable_location(&requested, u)?,
            None => requested.clone(),
        };
        if !dir.join("PG_VERSION").exists() {
            initdb(&bin, &dir, run_as.as_ref()).await?;
        }
        let password = fs::read_to_string(dir.join(PASSWORD_FILE))
            .map_err(PgError::io(format!(
                "reading {}/{PASSWORD_FILE}",
                dir.display()
            )))?
            .trim()
            .to_string();
        stop_leftover_server(&dir).await;

        let log_dir = requested.parent().unwrap_or(&requested).join("log");
        fs::create_dir_all(&log_dir)
            .map_err(PgError::io(format!("creating {}", log_dir.display())))?;
        let log_path = log_dir.join("postgres.log");

        // A free port can be taken by someone else between probing and binding; retry then.
        let mut last_err = None;
        for _ in 0..3 {
            let port = match opts.port {
                Some(p) => p,
                None => free_port()?,
            };
            match launch(&bin, &dir, port, &opts.settings, run_as.as_ref(), &log_path).await {
                Ok(child) => {
                    let mut cluster = Cluster {
                        child: Some(child),
                        port,
                        password: password.clone(),
                        dir: dir.clone(),
                        log_path: log_path.clone(),
                    };
                    match cluster.wait_ready().await {
                        Ok(()) => {
                            tracing::info!(port, dir = %dir.display(), "managed Postgres is ready");
                            return Ok(cluster);
                        }
                        Err(e) => {
                            cluster.kill_now();
                            last_err = Some(e);
                            if opts.port.is_some() {
                                break;
                            }
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.expect("at least one start attempt"))
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A connection URL for `database` as the cluster's superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates `name` if it does not exist yet and returns its URL.
    pub async fn ensure_database(&self, name: &str) -> Result<String, PgError> {
        let err = |source| PgError::CreateDatabase {
            name: name.to_string(),
            source,
        };
        let mut conn = PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(err)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .map_err(err)?;
        if !exists {
            // Identifiers cannot be bound as parameters; quote it the way Postgres does.
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            sqlx::query(&format!("CREATE DATABASE {quoted}"))
                .execute(&mut conn)
                .await
                .map_err(err)?;
        }
        conn.close().await.ok();
        Ok(self.url(name))
    }

    /// Fast shutdown: active sessions are disconnected, the server checkpoints and exits.
    pub async fn stop(mut self) -> Result<(), PgError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) => {
                tracing::info!(%status, "managed Postgres stopped");
                Ok(())
            }
            Ok(Err(e)) => Err(PgError::io("waiting for Postgres to stop")(e)),
            Err(_) => {
                tracing::warn!("Postgres did not stop within {STOP_TIMEOUT:?}; killing it");
                child.kill().await.map_err(PgError::io("killing Postgres"))
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<(), PgError> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(self.start_error(format!("postgres exited with {status}")));
                }
            }
            match PgConnection::connect(&self.url("postgres")).await {
                Ok(conn) => {
                    conn.close().await.ok();
                    return Ok(());
                }
                Err(e) if started.elapsed() > READY_TIMEOUT => {
                    return Err(self.start_error(format!(
                        "not accepting connections after {READY_TIMEOUT:?}: {e}"
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn start_error(&self, reason: String) -> PgError {
        PgError::Start {
            reason,
            log: self.log_path.clone(),
            tail: log_tail(&self.log_path, 15),
        }
    }

    fn kill_now(&mut self) {
        if let Some(child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
            }
        }
    }
}

impl Drop for Cluster {
    /// A cluster dropped without `stop` (panic, early return) still gets a fast shutdown.
    fn drop(&mut self) {
        self.kill_now();
    }
}

async fn initdb(bin: &Path, dir: &Path, run_as: Option<&RunAs>) -> Result<(), PgError> {
    // initdb into a scratch directory and rename, so a failed init never leaves half a cluster.
    let scratch = dir.with_extension("initdb-tmp");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .map_err(PgError::io(format!("removing {}", scratch.display())))?;
    }
    fs::create_dir_all(&scratch).map_err(PgError::io(format!("creating {}", scratch.display())))?;
    fs::set_permissions(&scratch, fs::Permissions::from_mode(0o700))
        .map_err(PgError::io("setting cluster directory mode"))?;
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let pwfile = scratch.with_extension("pw");
    fs::write(&pwfile, &password).map_err(PgError::io("writing initdb password file"))?;
    if let Some(u) = run_as {
        for p in [&scratch, &pwfile] {
            std::os::unix::fs::chown(p.as_path(), Some(u.uid.as_raw()), Some(u.gid.as_raw()))
                .map_err(PgError::io(format!("chown {}", p.display())))?;
        }
    }
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(&scratch)
        .args([
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null());
    as_user(&mut cmd, run_as);
    let out = cmd.output().await.map_err(PgError::io("running initdb"))?;
    let _ = fs::remove_file(&pwfile);
    if !out.status.success() {
        return Err(PgError::Initdb {
            dir: dir.to_path_buf(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    let pw_path = scratch.join(PASSWORD_FILE);
    fs::write(&pw_path, &password).map_err(PgError::io("writing the cluster password"))?;
    fs::set_permissions(&pw_path, fs::Permissions::from_mode(0o600))
        .map_err(PgError::io("setting password file mode"))?;
    fs::rename(&scratch, dir).map_err(PgError::io(format!(
        "moving the new cluster to {}",
        dir.display()
    )))?;
    tracing::info!(dir = %dir.display(), "initialised a new Postgres cluster");
    Ok(())
}

/// Where the cluster can live when Postgres runs as another user (we are root).
///
/// Every ancestor of the cluster directory must be searchable by the `postgres` user. A data
/// directory under a private home (`/root` is 0700) is not, so the cluster then lives under
/// `/var/lib/pulse/clusters/` at a name derived from the requested path, stable across restarts.
fn reachable_location(requested: &Path, u: &RunAs) -> Result<PathBuf, PgError> {
    let absolute = std::path::absolute(requested)
        .map_err(PgError::io(format!("resolving {}", requested.display())))?;
    let Some(blocker) = first_unsearchable_ancestor(&absolute, u) else {
        return Ok(absolute);
    };
    let name: String = absolute
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let relocated = Path::new("/var/lib/pulse/clusters").join(name.trim_matches('_'));
    tracing::warn!(
        requested = %absolute.display(),
        blocker = %blocker.display(),
        relocated = %relocated.display(),
        "the postgres user cannot reach the data directory; keeping the Postgres cluster elsewhere"
    );
    if let Some(parent) = relocated.parent() {
        fs::create_dir_all(parent)
            .map_err(PgError::io(format!("creating {}", parent.display())))?;
    }
    Ok(relocated)
}

fn first_unsearchable_ancestor(dir: &Path, u: &RunAs) -> Option<PathBuf> {
    dir.ancestors().skip(1).find_map(|ancestor| {
        let meta = fs::metadata(ancestor).ok()?;
        let mode = meta.mode();
        let ok = if meta.uid() == u.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == u.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        (!ok).then(|| ancestor.to_path_buf())
    })
}

async fn launch(
    bin: &Path,
    dir: &Path,
    port: u16,
    settings: &[(String, String)],
    run_as: Option<&RunAs>,
    log_path: &Path,
) -> Result<Child, PgError> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(PgError::io(format!("opening {}", log_path.display())))?;
    let log_err = log.try_clone().map_err(PgError::io("cloning log handle"))?;
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D").arg(dir).arg("-p").arg(port.to_string());
    let defaults = [
        ("listen_addresses", "127.0.0.1"),
        ("unix_socket_directories", ""),
        ("wal_level", "logical"),
        ("max_wal_senders", "10"),
        ("max_replication_slots", "10"),
        ("max_connections", "200"),
    ];
    for (k, v) in defaults {
        if !settings.iter().any(|(sk, _)| sk == k) {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
    }
    for (k, v) in settings {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(false);
    as_user(&mut cmd, run_as);
    // `pre_exec` is unsafe because the closure runs between fork and exec.
    #[allow(unsafe_code)]
    // SAFETY: only async-signal-safe prctl between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // SIGINT = fast shutdown, so a killed Pulse leaves a cleanly stopped cluster.
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)
        });
    }
    cmd.spawn().map_err(PgError::io("starting postgres"))
}

fn as_user(cmd: &mut Command, run_as: Option<&RunAs>) {
    if let Some(u) = run_as {
        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        cmd.env("HOME", "/var/lib/postgresql");
        cmd.env_remove("PGDATA");
    }
}

/// A server left running by a crashed Pulse holds the data directory; shut it down first.
async fn stop_leftover_server(dir: &Path) {
    let Ok(pidfile) = fs::read_to_string(dir.join("postmaster.pid")) else {
        return;
    };
    let Some(pid) = pidfile
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    else {
        return;
    };
    let pid = Pid::from_raw(pid);
    if kill(pid, None).is_err() {
        return; // stale file; Postgres removes it itself
    }
    tracing::warn!(%pid, "a Postgres from an earlier run still holds the cluster; shutting it down");
    let _ = kill(pid, Signal::SIGINT);
    let started = Instant::now();
    while kill(pid, None).is_ok() && started.elapsed() < STOP_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> Result<u16, PgError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(PgError::io("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(PgError::io("reading the free port"))?
        .port())
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
