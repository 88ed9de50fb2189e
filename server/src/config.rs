//! One typed configuration, loaded once at start from flags/env and an optional `pulse.toml`.
//!
//! Precedence: command-line flag / environment variable > `pulse.toml` > built-in default.
//! Every key is documented in the README; an invalid value fails start with the key's name.

use clap::Parser;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One-off operations that run against the configured database and exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Drops the CDC replication slot and publication, so Postgres stops keeping WAL for Pulse
    /// (stop every Pulse process first; the next start takes a fresh snapshot).
    CdcUninstall,
}

/// Command-line flags; each also reads the environment variable named beside it.
#[derive(Debug, Parser, Default)]
#[command(
    name = "pulse",
    version,
    about = "Pulse — real-time customer growth platform"
)]
pub struct Cli {
    /// What to do instead of serving (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Path of the TOML config file (default: ./pulse.toml if it exists).
    #[arg(long, env = "PULSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to serve HTTP on.
    #[arg(long, env = "PULSE_BIND")]
    pub bind: Option<SocketAddr>,
    /// Directory for the managed Postgres cluster and other local state.
    #[arg(long, env = "PULSE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use this Postgres server instead of the managed one.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory with the Postgres server binaries (found automatically when unset).
    #[arg(long, env = "PULSE_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Directory holding `pkg/` with the wasm bundle and CSS (default: next to the binary).
    #[arg(long, env = "PULSE_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Seed the demo workspaces and accounts and list them on the sign-in page.
    #[arg(long, env = "PULSE_DEMO")]
    pub demo: bool,
    /// Mark the session cookie `Secure` (set when serving over HTTPS).
    #[arg(long, env = "PULSE_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "PULSE_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Sign people out after this many hours without activity.
    #[arg(long, env = "PULSE_SESSION_IDLE_HOURS")]
    pub session_idle_hours: Option<i64>,
    /// Failed sign-ins per email within the window before sign-in is refused.
    #[arg(long, env = "PULSE_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<i64>,
    /// Length of the failed sign-in window in minutes.
    #[arg(long, env = "PULSE_LOGIN_WINDOW_MINUTES")]
    pub login_window_minutes: Option<u64>,
    /// Events per second each event source may send to the gateway.
    #[arg(long, env = "PULSE_GATEWAY_RATE_LIMIT")]
    pub gateway_rate_limit: Option<u32>,
    /// Seconds an event time may lie ahead of its arrival before it is replaced by the arrival.
    #[arg(long, env = "PULSE_FUTURE_TOLERANCE_SECONDS")]
    pub future_tolerance_seconds: Option<u64>,
    /// Capture CRM changes onto `crm.changes` by logical replication (default true).
    #[arg(long, env = "PULSE_CDC")]
    pub cdc: Option<bool>,
    /// Run the live customer model (pipeline, labels, alerts) in this process (default true).
    #[arg(long, env = "PULSE_PIPELINE")]
    pub pipeline: Option<bool>,
    /// In demo mode, stream synthetic visits of the demo customers (default true).
    #[arg(long, env = "PULSE_DEMO_TRAFFIC")]
    pub demo_traffic: Option<bool>,
    /// Kafka bootstrap servers (`host:port,…`); unset: the embedded bus in Postgres.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Replication factor of the topics Pulse creates in Kafka.
    #[arg(long, env = "PULSE_KAFKA_REPLICATION")]
    pub kafka_replication: Option<i32>,
    /// Partitions of `events.raw` when Pulse creates it.
    #[arg(long, env = "PULSE_EVENT_PARTITIONS")]
    pub event_partitions: Option<i32>,
    /// First admin's email, created on start when no user exists yet.
    #[arg(long, env = "PULSE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// First admin's password.
    #[arg(long, env = "PULSE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// First admin's display name.
    #[arg(long, env = "PULSE_ADMIN_NAME")]
    pub admin_name: Option<String>,
    /// Name of the first workspace.
    #[arg(long, env = "PULSE_WORKSPACE_NAME")]
    pub workspace_name: Option<String>,
    /// StarRocks as the analytics store: `mysql://user:password@fe-host:9030/database`.
    /// Unset: DuckDB embedded under the data dir.
    #[arg(long, env = "PULSE_STARROCKS_URL", hide_env_values = true)]
    pub starrocks_url: Option<String>,
    /// StarRocks FE HTTP address for Stream Load (default: the same host, port 8030).
    #[arg(long, env = "PULSE_STARROCKS_HTTP_URL")]
    pub starrocks_http_url: Option<String>,
}

/// The keys `pulse.toml` may hold (same meaning as the flags; unknown keys are an error).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    pg_bin_dir: Option<PathBuf>,
    site_root: Option<PathBuf>,
    demo: Option<bool>,
    secure_cookies: Option<bool>,
    log_format: Option<String>,
    session_idle_hours: Option<i64>,
    login_max_failures: Option<i64>,
    login_window_minutes: Option<u64>,
    gateway_rate_limit: Option<u32>,
    future_tolerance_seconds: Option<u64>,
    cdc: Option<bool>,
    pipeline: Option<bool>,
    demo_traffic: Option<bool>,
    kafka_brokers: Option<String>,
    kafka_replication: Option<i32>,
    event_partitions: Option<i32>,
    admin_email: Option<String>,
    admin_password: Option<String>,
    admin_name: Option<String>,
    workspace_name: Option<String>,
    starrocks_url: Option<String>,
    starrocks_http_url: Option<String>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The first admin to create on start.
#[derive(Debug, Clone)]
pub struct AdminSeed {
    pub email: String,
    pub password: String,
    pub name: String,
    pub workspace_name: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub pg_bin_dir: Option<PathBuf>,
    pub site_root: PathBuf,
    pub demo: bool,
    pub secure_cookies: bool,
    pub log_format: LogFormat,
    pub session_idle_hours: i64,
    pub login_max_failures: i64,
    pub login_window_minutes: u64,
    /// Events per second per source at the gateway.
    pub gateway_rate_limit: u32,
    /// How far an event time may lie ahead of its arrival (gateway and Data Router).
    pub future_tolerance: std::time::Duration,
    /// Whether CDC runs.
    pub cdc: bool,
    /// Whether the customer model runs.
    pub pipeline: bool,
    /// Whether demo mode streams synthetic visits.
    pub demo_traffic: bool,
    /// Kafka brokers; `None` runs the embedded bus.
    pub kafka_brokers: Option<String>,
    /// Replication factor for topics created in Kafka.
    pub kafka_replication: i32,
    /// Partitions of `events.raw`.
    pub event_partitions: i32,
    pub admin: Option<AdminSeed>,
    /// StarRocks (validated); `None` runs DuckDB embedded.
    pub starrocks: Option<analytics::StarRocksConfig>,
}

/// A configuration value is missing or wrong; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Loads and validates the configuration from parsed flags/env plus the config file.
    pub fn load(cli: Cli) -> Result<Config, ConfigError> {
        let file = match cli.config.as_deref() {
            Some(path) => read_file(path)?,
            None if Path::new("pulse.toml").exists() => read_file(Path::new("pulse.toml"))?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    fn merge(cli: Cli, file: FileConfig) -> Result<Config, ConfigError> {
        let log_format = match cli.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "PULSE_LOG_FORMAT / log_format",
                    format!("`{other}` is not `text` or `json`"),
                ))
            }
        };
        let database_url = cli
            .database_url
            .or(file.database_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(invalid(
                    "DATABASE_URL / database_url",
                    "must be a postgres:// or postgresql:// URL",
                ));
            }
        }
        let session_idle_hours = cli
            .session_idle_hours
            .or(file.session_idle_hours)
            .unwrap_or(12);
        if !(1..=24 * 30).contains(&session_idle_hours) {
            return Err(invalid(
                "PULSE_SESSION_IDLE_HOURS / session_idle_hours",
                "must be between 1 and 720",
            ));
        }
        let login_max_failures = cli
            .login_max_failures
            .or(file.login_max_failures)
            .unwrap_or(5);
        if login_max_failures < 1 {
            return Err(invalid(
                "PULSE_LOGIN_MAX_FAILURES / login_max_failures",
                "must be at least 1",
            ));
        }
        let login_window_minutes = cli
            .login_window_minutes
            .or(file.login_window_minutes)
            .unwrap_or(15);
        if login_window_minutes < 1 {
            return Err(invalid(
                "PULSE_LOGIN_WINDOW_MINUTES / login_window_minutes",
                "must be at least 1",
            ));
        }
        let gateway_rate_limit = cli
            .gateway_rate_limit
            .or(file.gateway_rate_limit)
            .unwrap_or(20_000);
        if gateway_rate_limit < 1 {
            return Err(invalid(
                "PULSE_GATEWAY_RATE_LIMIT / gateway_rate_limit",
                "must be at least 1 event per second",
            ));
        }
        let future_tolerance_seconds = cli
            .future_tolerance_seconds
            .or(file.future_tolerance_seconds)
            .unwrap_or(domain::event_time::DEFAULT_FUTURE_TOLERANCE.whole_seconds() as u64);
        if !(1..=7 * 86_400).contains(&future_tolerance_seconds) {
            return Err(invalid(
                "PULSE_FUTURE_TOLERANCE_SECONDS / future_tolerance_seconds",
                "must be between 1 second and 7 days",
            ));
        }
        let kafka_brokers = cli
            .kafka_brokers
            .or(file.kafka_brokers)
            .filter(|b| !b.trim().is_empty());
        let kafka_replication = cli
            .kafka_replication
            .or(file.kafka_replication)
            .unwrap_or(1);
        if !(1..=10).contains(&kafka_replication) {
            return Err(invalid(
                "PULSE_KAFKA_REPLICATION / kafka_replication",
                "must be 1-10",
            ));
        }
        let event_partitions = cli.event_partitions.or(file.event_partitions).unwrap_or(12);
        if !(1..=1024).contains(&event_partitions) {
            return Err(invalid(
                "PULSE_EVENT_PARTITIONS / event_partitions",
                "must be 1-1024",
            ));
        }
        let starrocks = match cli
            .starrocks_url
            .or(file.starrocks_url)
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => Some(
                analytics::StarRocksConfig::from_url(
                    url.trim(),
                    cli.starrocks_http_url
                        .or(file.starrocks_http_url)
                        .as_deref(),
                )
                .map_err(|e| invalid("PULSE_STARROCKS_URL / starrocks_url", e.to_string()))?,
            ),
            None => None,
        };
        let admin_email = cli.admin_email.or(file.admin_email);
        let admin_password = cli.admin_password.or(file.admin_password);
        let admin = match (admin_email, admin_password) {
            (Some(email), Some(password)) => Some(AdminSeed {
                email,
                password,
                name: cli
                    .admin_name
                    .or(file.admin_name)
                    .unwrap_or_else(|| "Admin".into()),
                workspace_name: cli
                    .workspace_name
                    .or(file.workspace_name)
                    .unwrap_or_else(|| "My workspace".into()),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "PULSE_ADMIN_PASSWORD / admin_password",
                    "is required with PULSE_ADMIN_EMAIL",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "PULSE_ADMIN_EMAIL / admin_email",
                    "is required with PULSE_ADMIN_PASSWORD",
                ))
            }
        };
        let site_root = cli
            .site_root
            .or(file.site_root)
            .unwrap_or_else(default_site_root);
        Ok(Config {
            bind: cli
                .bind
                .or(file.bind)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000))),
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            database_url,
            pg_bin_dir: cli.pg_bin_dir.or(file.pg_bin_dir),
            site_root,
            demo: cli.demo || file.demo.unwrap_or(false),
            secure_cookies: cli.secure_cookies.or(file.secure_cookies).unwrap_or(false),
            log_format,
            session_idle_hours,
            login_max_failures,
            login_window_minutes,
            gateway_rate_limit,
            future_tolerance: std::time::Duration::from_secs(future_tolerance_seconds),
            cdc: cli.cdc.or(file.cdc).unwrap_or(true),
            pipeline: cli.pipeline.or(file.pipeline).unwrap_or(true),
            demo_traffic: cli.demo_traffic.or(file.demo_traffic).unwrap_or(true),
            kafka_brokers,
            kafka_replication,
            event_partitions,
            admin,
            starrocks,
        })
    }

    /// Checks that the site bundle exists, so a missing build fails start with a hint.
    pub fn check_site(&self) -> Result<(), ConfigError> {
        let js = self.site_root.join("pkg/pulse.js");
        if js.exists() {
            Ok(())
        } else {
            Err(invalid(
                "PULSE_SITE_ROOT / site_root",
                format!(
                    "{} is missing; build the site with `cargo xtask build`",
                    js.display()
                ),
            ))
        }
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string(),
    })
}

/// `<target>/site` when the binary sits in `<target>/{debug,release}/`.
fn default_site_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(|t| t.join("site")))
        .unwrap_or_else(|| PathBuf::from("site"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_on_loopback_3000_with_a_managed_database() {
        let c = Config::merge(Cli::default(), FileConfig::default()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert!(c.database_url.is_none());
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn flags_override_the_file() {
        let file: FileConfig =
            toml::from_str("bind = \"127.0.0.1:4000\"\nsession_idle_hours = 3").unwrap();
        let cli = Cli {
            bind: Some("127.0.0.1:5000".parse().unwrap()),
            ..Cli::default()
        };
        let c = Config::merge(cli, file).unwrap();
        assert_eq!(c.bind.port(), 5000);
        assert_eq!(c.session_idle_hours, 3);
    }

    #[test]
    fn unknown_file_keys_are_rejected_by_name() {
        let err = toml::from_str::<FileConfig>("bnd = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnd"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cli = Cli {
            database_url: Some("mysql://x".into()),
            ..Cli::default()
        };
        assert!(Config::merge(cli, FileConfig::default())
            .unwrap_err()
            .to_string()
            .contains("DATABASE_URL"));
        let cli = Cli {
            admin_email: Some("a@b.co".into()),
            ..Cli::default()
        };
        assert!(Config::merge(cli, FileConfig::default())
            .unwrap_err()
            .to_string()
            .contains("PULSE_ADMIN_PASSWORD"));
        let cli = Cli {
            log_format: Some("xml".into()),
            ..Cli::default()
        };
        assert!(Config::merge(cli, FileConfig::default())
            .unwrap_err()
            .to_string()
            .contains("log_format"));
        let cli = Cli {
            session_idle_hours: Some(0),
            ..Cli::default()
        };
        assert!(Config::merge(cli, FileConfig::default())
            .unwrap_err()
            .to_string()
            .contains("session_idle_hours"));
        let cli = Cli {
            starrocks_url: Some("http://starrocks:8030".into()),
            ..Cli::default()
        };
        assert!(Config::merge(cli, FileConfig::default())
            .unwrap_err()
            .to_string()
            .contains("PULSE_STARROCKS_URL"));
    }

    #[test]
    fn starrocks_is_the_analytics_store_only_when_configured() {
        let c = Config::merge(Cli::default(), FileConfig::default()).unwrap();
        assert!(c.starrocks.is_none(), "DuckDB by default");
        let cli = Cli {
            starrocks_url: Some("mysql://root:@sr:9030/pulse".into()),
            ..Cli::default()
        };
        let c = Config::merge(cli, FileConfig::default()).unwrap();
        assert_eq!(c.starrocks.unwrap().http_url, "http://sr:8030");
    }
}
