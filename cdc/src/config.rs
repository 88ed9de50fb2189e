//! What CDC captures and where to: the topic, the captured tables, the heartbeat, the slot and
//! publication names ([`CdcConfig`]) and the crate's one error type ([`CdcError`]).

use std::time::Duration;

/// The topic CRM changes go to.
pub const TOPIC: &str = domain::events::CRM_CHANGES_TOPIC;

/// The CRM tables captured, in publication order.
pub const TABLES: &[&str] = &[
    "accounts",
    "customers",
    "customer_identifiers",
    "leads",
    "orders",
    "order_lines",
    "contracts",
    "loyalty_memberships",
    "loyalty_tier_changes",
    "tickets",
    "activities",
];

/// Touched every [`HEARTBEAT`] and published but never put on the bus: its commits let the
/// confirmed position advance while the CRM is quiet.
pub const HEARTBEAT_TABLE: &str = "cdc_heartbeat";

/// How often the heartbeat row is touched.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// CDC failures.
#[derive(Debug, thiserror::Error)]
pub enum CdcError {
    /// The database cannot do logical replication as configured.
    #[error("{0}")]
    Unsupported(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("replication: {0}")]
    Replication(#[from] pg_walstream::ReplicationError),
    #[error(transparent)]
    Bus(#[from] bus::BusError),
}

/// Where to replicate from and under which names.
#[derive(Debug, Clone)]
pub struct CdcConfig {
    /// A normal connection URL of the CRM database (replication mode is added).
    pub database_url: String,
    /// The replication slot (lower case).
    pub slot: String,
    /// The publication over [`TABLES`] (lower case).
    pub publication: String,
    /// How often the heartbeat row is touched (default [`HEARTBEAT`]).
    pub heartbeat: Duration,
}

impl CdcConfig {
    /// The default names: slot `pulse_cdc`, publication `pulse_crm`.
    pub fn new(database_url: impl Into<String>) -> Self {
        CdcConfig {
            database_url: database_url.into(),
            slot: "pulse_cdc".into(),
            publication: "pulse_crm".into(),
            heartbeat: HEARTBEAT,
        }
    }

    pub(crate) fn replication_url(&self) -> String {
        let sep = if self.database_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}replication=database", self.database_url)
    }
}
