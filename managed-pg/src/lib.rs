//! A private Postgres cluster that Pulse owns on one machine.
//!
//! When no `DATABASE_URL` is configured, Pulse runs its own Postgres: on first start this crate
//! `initdb`s a cluster under the data directory (password auth, a generated password kept next to
//! the cluster), and on every start it launches `postgres` as a child process on a free loopback
//! port with `wal_level=logical` (CDC needs it), waits until it accepts connections and stops it
//! with a fast shutdown when Pulse stops. As root it runs Postgres as the `postgres` system user,
//! because Postgres refuses to run as root.
//!
//! The child also gets a parent-death signal, so a killed Pulse does not leave Postgres behind;
//! a leftover server from a crash is detected by its `postmaster.pid` and shut down first.

mod binaries;
mod cluster;

pub use binaries::find_bin_dir;
pub use cluster::{Cluster, ClusterOptions};

use std::path::PathBuf;

/// Why the managed cluster could not be created, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No Postgres server binaries were found.
    #[error(
        "no Postgres server binaries found (looked in {looked}); install them (Debian: `apt-get install postgresql`) or set PULSE_PG_BIN_DIR"
    )]
    BinariesNotFound { looked: String },
    /// Running as root requires the `postgres` system user.
    #[error("running as root needs a `postgres` system user to run Postgres as; create it or run Pulse as a normal user")]
    NoPostgresUser,
    /// `initdb` failed.
    #[error("initdb failed for {dir}: {output}")]
    Initdb { dir: PathBuf, output: String },
    /// The server exited or never became ready.
    #[error("Postgres did not start ({reason}); last log lines from {log}:\n{tail}")]
    Start {
        reason: String,
        log: PathBuf,
        tail: String,
    },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Creating the application database failed.
    #[error("could not create database `{name}`: {source}")]
    CreateDatabase {
        name: String,
        #[source]
        source: sqlx::Error,
    },
}

impl PgError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
        let context = context.into();
        move |source| PgError::Io { context, source }
    }
}
