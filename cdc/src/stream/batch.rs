//! Group commit: the committed transactions gathered while the bus was busy, put on the bus in
//! one produce call, and only then confirmed to Postgres.

use super::now_ms;
use crate::config::{CdcConfig, CdcError, TOPIC};
use bus::{Bus, OutRecord};
use sqlx::PgPool;

/// Change records per produce call at most.
const MAX_BATCH: usize = 5_000;

/// Committed transactions not yet on the bus.
#[derive(Default)]
pub(super) struct Batch {
    records: Vec<OutRecord>,
    /// End LSN of the last transaction in the batch: confirmed once the batch is on the bus.
    end_lsn: Option<u64>,
    /// Commit times (ms) of the batch's transactions, for the latency metrics.
    commits: Vec<i64>,
    /// Commit time of the newest heartbeat in the batch.
    heartbeat_ms: Option<i64>,
}

impl Batch {
    pub(super) fn is_empty(&self) -> bool {
        self.end_lsn.is_none()
    }

    /// Adds a committed transaction's records (taking them out of `tx`); true once the batch is
    /// full and should be flushed.
    pub(super) fn push_commit(
        &mut self,
        tx: &mut Vec<OutRecord>,
        end_lsn: u64,
        commit_ms: i64,
        heartbeat: bool,
    ) -> bool {
        self.records.append(tx);
        self.end_lsn = Some(end_lsn);
        self.commits.push(commit_ms);
        if heartbeat {
            self.heartbeat_ms = Some(commit_ms);
        }
        self.records.len() >= MAX_BATCH
    }

    /// Puts the batch on the bus, then lets Postgres forget its transactions.
    pub(super) async fn flush(
        &mut self,
        pool: &PgPool,
        config: &CdcConfig,
        bus: &dyn Bus,
        feedback: &pg_walstream::SharedLsnFeedback,
    ) -> Result<(), CdcError> {
        let Some(end_lsn) = self.end_lsn.take() else {
            return Ok(());
        };
        if !self.records.is_empty() {
            let n = self.records.len();
            bus.produce(TOPIC, std::mem::take(&mut self.records))
                .await?;
            metrics::counter!("cdc_changes_total").increment(n as u64);
        }
        let now = now_ms();
        for commit in self.commits.drain(..) {
            let delay = (now - commit).max(0) as f64 / 1e3;
            metrics::histogram!("cdc_commit_to_bus_seconds").record(delay);
            metrics::gauge!("cdc_lag_seconds").set(delay);
        }
        // Only now may Postgres forget these transactions.
        feedback.update_applied_lsn(end_lsn);
        if let Some(ms) = self.heartbeat_ms.take() {
            sqlx::query(
                "UPDATE cdc_slots SET heartbeat_seen_at = to_timestamp($2::float8 / 1000) WHERE slot = $1",
            )
            .bind(&config.slot)
            .bind(ms as f64)
            .execute(pool)
            .await?;
        }
        Ok(())
    }
}
