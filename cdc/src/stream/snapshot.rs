//! The initial snapshot: every existing row of a new slot onto the bus as op `r`, consistent
//! with the slot's start, before any change is streamed.

use super::now_ms;
use crate::config::{CdcConfig, CdcError, HEARTBEAT_TABLE, TOPIC};
use crate::envelope::envelope;
use crate::values::{row_json, ColumnTypes};
use bus::{Bus, OutRecord};
use domain::crm_change::Op;
use pg_walstream::{ChangeEvent, EventType, LogicalReplicationStream, Snapshot};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};

/// How many rows of the initial snapshot go to the bus in one produce call.
const SNAPSHOT_BATCH: usize = 1_000;

/// Publishes the snapshot's rows, then records that this slot's snapshot reached the bus, and
/// hands back the stream to continue from the slot's start.
pub(super) async fn publish(
    snapshot: Snapshot,
    pool: &PgPool,
    config: &CdcConfig,
    db_name: &str,
    bus: &Arc<dyn Bus>,
    types: &ColumnTypes,
) -> Result<LogicalReplicationStream, CdcError> {
    let pending: Arc<Mutex<Vec<OutRecord>>> = Arc::default();
    let snapshot_types = Arc::new(types.clone());
    let db = db_name.to_string();
    let stream = {
        let pending = pending.clone();
        let bus = bus.clone();
        snapshot
            .events()
            .run(move |event: ChangeEvent| {
                let pending = pending.clone();
                let bus = bus.clone();
                let db = db.clone();
                let types = snapshot_types.clone();
                async move {
                    if let EventType::Insert {
                        schema,
                        table,
                        data,
                        ..
                    } = &event.event_type
                    {
                        if table.as_ref() == HEARTBEAT_TABLE {
                            return Ok(());
                        }
                        let rec = envelope(
                            &db,
                            schema,
                            table,
                            Op::Read,
                            None,
                            Some(row_json(data, types.get(table.as_ref()))),
                            event.lsn.0,
                            None,
                            now_ms(),
                        );
                        let full = {
                            let mut p = pending.lock().unwrap();
                            p.push(rec);
                            (p.len() >= SNAPSHOT_BATCH).then(|| std::mem::take(&mut *p))
                        };
                        if let Some(batch) = full {
                            bus.produce(TOPIC, batch).await.map_err(|e| {
                                pg_walstream::ReplicationError::protocol(format!(
                                    "bus refused snapshot rows: {e}"
                                ))
                            })?;
                        }
                    }
                    Ok(())
                }
            })
            .await?
    };
    let rest = std::mem::take(&mut *pending.lock().unwrap());
    bus.produce(TOPIC, rest).await?;
    tracing::info!(slot = %config.slot, "CDC snapshot published");
    sqlx::query("INSERT INTO cdc_slots (slot) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(&config.slot)
        .execute(pool)
        .await?;
    Ok(stream)
}
