//! The replication loop: a new slot's snapshot first, then every committed transaction's
//! changes as envelopes, group-committed to the bus before the slot's LSN is confirmed.

mod batch;
mod snapshot;

use crate::config::{CdcConfig, CdcError, HEARTBEAT_TABLE, TOPIC};
use crate::envelope::envelope;
use crate::setup::drop_slot;
use crate::values::{column_types, row_json};
use batch::Batch;
use bus::{Bus, OutRecord};
use domain::crm_change::Op;
use pg_walstream::{
    CancellationToken, ChangeEvent, EventType, LogicalReplicationStream, ReplicationStreamConfig,
    SnapshotOutcome, StreamingMode,
};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// Events the reader may run ahead of the bus.
const EVENT_BUFFER: usize = 10_000;

/// Streams changes until `cancel` fires or an error occurs (the caller restarts it; it resumes
/// from the slot's confirmed LSN).
pub async fn run(
    pool: &PgPool,
    config: &CdcConfig,
    db_name: &str,
    bus: Arc<dyn Bus>,
    cancel: CancellationToken,
) -> Result<(), CdcError> {
    bus.ensure_topic(TOPIC, 12).await?;
    let mut types = column_types(pool).await?;
    // A slot whose snapshot never reached the bus would stream on without the existing rows.
    let snapshot_done: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cdc_slots WHERE slot = $1)")
            .bind(&config.slot)
            .fetch_one(pool)
            .await?;
    if !snapshot_done {
        drop_slot(pool, config).await?;
    }
    let stream_config = ReplicationStreamConfig::builder(&config.slot, &config.publication)
        .with_protocol_version(2)
        .with_streaming_mode(StreamingMode::Off)
        .with_feedback_interval(Duration::from_secs(5));
    let stream = LogicalReplicationStream::new(&config.replication_url(), stream_config).await?;
    let mut stream = match stream.snapshot().await? {
        SnapshotOutcome::Unavailable(stream) => stream,
        SnapshotOutcome::Available(snapshot) => {
            snapshot::publish(snapshot, pool, config, db_name, &bus, &types).await?
        }
    };
    stream.start(None).await?;
    let heartbeat = tokio::spawn(beat(pool.clone(), config.heartbeat, cancel.clone()));
    let _stop_heartbeat = AbortOnDrop(heartbeat.abort_handle());

    // A reader task owns the replication connection and hands events over a channel, so this
    // loop can tell "nothing more is waiting" and put every transaction committed meanwhile on
    // the bus in one produce call (group commit) instead of one round trip per transaction.
    let feedback = stream.shared_lsn_feedback.clone();
    let (events_tx, mut events) = tokio::sync::mpsc::channel::<ChangeEvent>(EVENT_BUFFER);
    let reader_cancel = cancel.clone();
    let reader = tokio::spawn(async move {
        loop {
            match stream.next_event(&reader_cancel).await {
                Ok(e) => {
                    if events_tx.send(e).await.is_err() {
                        return Ok(());
                    }
                }
                Err(pg_walstream::ReplicationError::Cancelled(_)) => return Ok(()),
                Err(e) => return Err(CdcError::from(e)),
            }
        }
    });
    let _stop_reader = AbortOnDrop(reader.abort_handle());

    let mut tx: Vec<OutRecord> = Vec::new();
    let mut tx_id: Option<u32> = None;
    let mut commit_ms = 0i64;
    let mut heartbeat_in_tx = false;
    let mut batch = Batch::default();
    loop {
        let next = if batch.is_empty() {
            events.recv().await
        } else {
            match events.try_recv() {
                Ok(e) => Some(e),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    batch.flush(pool, config, bus.as_ref(), &feedback).await?;
                    continue;
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
            }
        };
        let Some(event) = next else {
            // The reader stopped: cancelled, or the connection failed.
            batch.flush(pool, config, bus.as_ref(), &feedback).await?;
            return match reader.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(CdcError::Unsupported(format!(
                    "CDC reader task failed: {e}"
                ))),
            };
        };
        let lsn = event.lsn.0;
        match event.event_type {
            EventType::Begin {
                transaction_id,
                commit_timestamp,
                ..
            } => {
                tx.clear();
                heartbeat_in_tx = false;
                tx_id = Some(transaction_id);
                commit_ms = commit_timestamp.timestamp_millis();
            }
            EventType::Relation {
                relation_name,
                columns,
                ..
            } => {
                types.insert(
                    relation_name.to_string(),
                    columns
                        .iter()
                        .map(|c| (c.name.to_string(), c.type_id))
                        .collect(),
                );
            }
            EventType::Insert { table, .. } | EventType::Update { table, .. }
                if table.as_ref() == HEARTBEAT_TABLE =>
            {
                heartbeat_in_tx = true;
            }
            EventType::Insert {
                schema,
                table,
                data,
                ..
            } => tx.push(envelope(
                db_name,
                &schema,
                &table,
                Op::Create,
                None,
                Some(row_json(&data, types.get(table.as_ref()))),
                lsn,
                tx_id,
                commit_ms,
            )),
            EventType::Update {
                schema,
                table,
                old_data,
                new_data,
                ..
            } => {
                let cols = types.get(table.as_ref());
                let before = old_data.as_ref().map(|d| row_json(d, cols));
                let mut after = row_json(&new_data, cols);
                // Unchanged TOASTed columns are not sent; the full before-image has them.
                if let Some(b) = &before {
                    for (k, v) in b {
                        after.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                tx.push(envelope(
                    db_name,
                    &schema,
                    &table,
                    Op::Update,
                    before,
                    Some(after),
                    lsn,
                    tx_id,
                    commit_ms,
                ))
            }
            EventType::Delete {
                schema,
                table,
                old_data,
                ..
            } => tx.push(envelope(
                db_name,
                &schema,
                &table,
                Op::Delete,
                Some(row_json(&old_data, types.get(table.as_ref()))),
                None,
                lsn,
                tx_id,
                commit_ms,
            )),
            EventType::Commit {
                end_lsn,
                commit_timestamp,
                ..
            } => {
                let heartbeat = std::mem::take(&mut heartbeat_in_tx);
                let ms = commit_timestamp.timestamp_millis();
                tx_id = None;
                if batch.push_commit(&mut tx, end_lsn.0, ms, heartbeat) {
                    batch.flush(pool, config, bus.as_ref(), &feedback).await?;
                }
            }
            _ => {}
        }
    }
}

/// Touches the heartbeat row every `every` until cancelled.
async fn beat(pool: PgPool, every: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        if let Err(e) = sqlx::query("UPDATE cdc_heartbeat SET beat_at = now() WHERE id = 1")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "CDC heartbeat failed");
        }
    }
}

/// Aborts a task when dropped, so the heartbeat and the reader end with the replication loop.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wall-clock milliseconds: the snapshot rows' `ts_ms` and the commit-to-bus latency.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
