//! How far the slot trails the database, and when that is worth an alert.

use crate::config::{CdcConfig, CdcError};
use sqlx::PgPool;

/// WAL bytes behind after which CDC alerts (`cdc_lag_alert` is 1 and the Settings page warns).
pub const LAG_ALERT_BYTES: i64 = 256 * 1024 * 1024;

/// How far the slot trails the database.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotLag {
    /// WAL bytes written since the last acknowledged commit.
    pub bytes: i64,
    /// Seconds CDC trails the database: the newest heartbeat written minus the newest one
    /// published past (0 when caught up; `None` before the first heartbeat was seen).
    pub seconds: Option<f64>,
    /// Whether a CDC process is streaming from the slot now.
    pub active: bool,
    /// Postgres' view of the slot's WAL: `reserved`, `extended`, `unreserved` or `lost`
    /// (lost: the slot can no longer deliver changes and must be recreated).
    pub wal_status: String,
}

impl SlotLag {
    /// The alert in words when the slot is lost or more than `threshold_bytes` behind.
    pub fn alert(&self, threshold_bytes: i64) -> Option<String> {
        if self.wal_status == "lost" {
            Some("The CDC slot lost its WAL: changes were missed. Drop the slot (pulse cdc-uninstall) and restart to take a new snapshot.".into())
        } else if self.bytes > threshold_bytes {
            Some(format!(
                "CDC is {} MiB behind the database (alert threshold {} MiB).",
                self.bytes / (1024 * 1024),
                threshold_bytes / (1024 * 1024)
            ))
        } else {
            None
        }
    }
}

/// The slot's lag, or `None` when the slot does not exist (yet).
pub async fn lag(pool: &PgPool, config: &CdcConfig) -> Result<Option<SlotLag>, CdcError> {
    type Row = (Option<i64>, bool, Option<String>, Option<f64>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::int8, s.active,
                s.wal_status,
                greatest(0, extract(epoch FROM (SELECT beat_at FROM cdc_heartbeat WHERE id = 1) - c.heartbeat_seen_at))::float8
         FROM pg_replication_slots s LEFT JOIN cdc_slots c ON c.slot = s.slot_name
         WHERE s.slot_name = $1",
    )
    .bind(&config.slot)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(bytes, active, wal_status, seconds)| SlotLag {
        bytes: bytes.unwrap_or(0),
        seconds,
        active,
        wal_status: wal_status.unwrap_or_else(|| "unknown".into()),
    }))
}
