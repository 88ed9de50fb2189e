//! Change data capture of the CRM: Postgres logical replication (`pgoutput`) onto the bus topic
//! `crm.changes` as Debezium-style envelopes (`before`, `after`, `op`, `ts_ms`,
//! `source{db,schema,table,lsn,txId}`), keyed by the customer a row belongs to.
//!
//! A first run creates the replication slot with an exported snapshot and publishes every
//! existing row (op `r`) consistent with the slot's start; then each committed transaction's
//! changes (ops `c`/`u`/`d`) are produced together, and only after the bus acknowledged them
//! does the slot's confirmed LSN move to the commit's end. A restart resumes there: changes of a
//! transaction whose acknowledgement was lost are sent again with the same LSN, so consumers can
//! drop them.

use bus::{Bus, OutRecord};
use domain::crm_change::{ChangeSource, CrmChange, Op};
use pg_walstream::{
    ChangeEvent, ColumnValue, EventType, LogicalReplicationStream, ReplicationStreamConfig,
    RowData, SnapshotOutcome, StreamingMode,
};
use serde_json::{Map, Value};

/// Stops a running [`run`] (re-exported so callers need no replication crate of their own).
pub use pg_walstream::CancellationToken;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

    fn replication_url(&self) -> String {
        let sep = if self.database_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}replication=database", self.database_url)
    }
}

/// Checks `wal_level`, creates the publication if missing and gives the captured tables full
/// before-images (`REPLICA IDENTITY FULL`), so updates and deletes carry the old row.
pub async fn prepare(pool: &PgPool, config: &CdcConfig) -> Result<(), CdcError> {
    let wal_level: String = sqlx::query_scalar("SHOW wal_level").fetch_one(pool).await?;
    if wal_level != "logical" {
        return Err(CdcError::Unsupported(format!(
            "CDC needs wal_level=logical on the CRM database; it is {wal_level}. Set it in \
             postgresql.conf (and max_replication_slots, max_wal_senders >= 1) and restart Postgres"
        )));
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(&config.publication)
            .fetch_one(pool)
            .await?;
    if !exists {
        sqlx::query(&format!(
            "CREATE PUBLICATION {} FOR TABLE {}",
            ident(&config.publication),
            TABLES.join(", ")
        ))
        .execute(pool)
        .await?;
    }
    let has_heartbeat: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2)",
    )
    .bind(&config.publication)
    .bind(HEARTBEAT_TABLE)
    .fetch_one(pool)
    .await?;
    if !has_heartbeat {
        sqlx::query(&format!(
            "ALTER PUBLICATION {} ADD TABLE {HEARTBEAT_TABLE}",
            ident(&config.publication)
        ))
        .execute(pool)
        .await?;
    }
    // ALTER TABLE takes an exclusive lock: only for tables not yet set.
    let pending: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND c.relreplident <> 'f'",
    )
    .bind(TABLES)
    .fetch_all(pool)
    .await?;
    for t in pending {
        sqlx::query(&format!("ALTER TABLE {} REPLICA IDENTITY FULL", ident(&t)))
            .execute(pool)
            .await?;
    }
    Ok(())
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Column type OIDs per table, so values leave as JSON numbers, booleans and objects rather
/// than the text pgoutput sends.
type ColumnTypes = HashMap<String, HashMap<String, u32>>;

/// The captured tables' column types from the catalog (the snapshot carries none; the stream's
/// relation messages update them after schema changes).
async fn column_types(pool: &PgPool) -> Result<ColumnTypes, CdcError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, a.atttypid::int8
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(TABLES)
    .fetch_all(pool)
    .await?;
    let mut types = ColumnTypes::new();
    for (table, column, oid) in rows {
        types.entry(table).or_default().insert(column, oid as u32);
    }
    Ok(types)
}

/// A column's text value as JSON of its type: integers, floats and booleans as JSON scalars,
/// json/jsonb parsed, timestamps in RFC 3339; numeric stays a string (no precision is lost),
/// everything else is its text.
fn typed(oid: Option<u32>, text: &str) -> Value {
    const BOOL: u32 = 16;
    const INT8: u32 = 20;
    const INT2: u32 = 21;
    const INT4: u32 = 23;
    const JSON: u32 = 114;
    const FLOAT4: u32 = 700;
    const FLOAT8: u32 = 701;
    const TIMESTAMPTZ: u32 = 1184;
    const JSONB: u32 = 3802;
    let parsed = match oid {
        Some(BOOL) => match text {
            "t" => Some(Value::Bool(true)),
            "f" => Some(Value::Bool(false)),
            _ => None,
        },
        Some(INT2 | INT4 | INT8) => text.parse::<i64>().ok().map(Value::from),
        Some(FLOAT4 | FLOAT8) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Some(JSON | JSONB) => serde_json::from_str(text).ok(),
        Some(TIMESTAMPTZ) => Some(Value::String(rfc3339_from_pg(text))),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

/// `2026-11-25 10:00:00.123+00` → `2026-11-25T10:00:00.123+00:00`.
fn rfc3339_from_pg(text: &str) -> String {
    let t = text.replacen(' ', "T", 1);
    let offset_at = t.rfind(['+', '-']).filter(|&i| i > 10);
    match offset_at {
        Some(i) if t.len() - i == 3 => format!("{t}:00"),
        _ => t,
    }
}

fn row_json(row: &RowData, types: Option<&HashMap<String, u32>>) -> Map<String, Value> {
    let mut m = Map::new();
    for (name, v) in row.iter() {
        let value = match v {
            ColumnValue::Null => Value::Null,
            ColumnValue::Text(b) => {
                let text = String::from_utf8_lossy(b);
                typed(types.and_then(|t| t.get(name.as_ref()).copied()), &text)
            }
            ColumnValue::Binary(b) => {
                Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            }
        };
        m.insert(name.to_string(), value);
    }
    m
}

/// The customer a row belongs to: its own id for `customers`, else its `customer_id`, else the
/// row's id (accounts and rows without a customer keep their own order).
fn key_of(table: &str, row: Option<&Map<String, Value>>) -> String {
    let text = |k: &str| row?.get(k).and_then(Value::as_str).map(str::to_string);
    let own = if table == "customers" {
        text("id")
    } else {
        None
    };
    own.or_else(|| text("customer_id"))
        .or_else(|| text("converted_customer_id"))
        .or_else(|| text("id"))
        .unwrap_or_else(|| table.to_string())
}

/// A change event in the Debezium envelope, ready for the bus.
#[allow(clippy::too_many_arguments)]
fn envelope(
    db: &str,
    schema: &str,
    table: &str,
    op: Op,
    before: Option<Map<String, Value>>,
    after: Option<Map<String, Value>>,
    lsn: u64,
    tx_id: Option<u32>,
    ts_ms: i64,
) -> OutRecord {
    let change = CrmChange {
        before,
        after,
        op,
        ts_ms,
        source: ChangeSource {
            connector: "pulse".into(),
            db: db.into(),
            schema: schema.into(),
            table: table.into(),
            lsn,
            tx_id,
        },
    };
    OutRecord {
        key: key_of(table, change.row()),
        value: serde_json::to_vec(&change).unwrap_or_default(),
        timestamp_ms: ts_ms,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// How many rows of the initial snapshot go to the bus in one produce call.
const SNAPSHOT_BATCH: usize = 1_000;

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
            stream
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
                batch.records.append(&mut tx);
                batch.end_lsn = Some(end_lsn.0);
                batch.commits.push(commit_timestamp.timestamp_millis());
                if std::mem::take(&mut heartbeat_in_tx) {
                    batch.heartbeat_ms = Some(commit_timestamp.timestamp_millis());
                }
                tx_id = None;
                if batch.records.len() >= MAX_BATCH {
                    batch.flush(pool, config, bus.as_ref(), &feedback).await?;
                }
            }
            _ => {}
        }
    }
}

/// Events the reader may run ahead of the bus.
const EVENT_BUFFER: usize = 10_000;

/// Change records per produce call at most.
const MAX_BATCH: usize = 5_000;

/// Committed transactions not yet on the bus.
#[derive(Default)]
struct Batch {
    records: Vec<OutRecord>,
    /// End LSN of the last transaction in the batch: confirmed once the batch is on the bus.
    end_lsn: Option<u64>,
    /// Commit times (ms) of the batch's transactions, for the latency metrics.
    commits: Vec<i64>,
    /// Commit time of the newest heartbeat in the batch.
    heartbeat_ms: Option<i64>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.end_lsn.is_none()
    }

    /// Puts the batch on the bus, then lets Postgres forget its transactions.
    async fn flush(
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

/// Drops the replication slot (the uninstall step: Postgres stops keeping WAL for it). Fails if
/// a CDC process still streams from it.
pub async fn drop_slot(pool: &PgPool, config: &CdcConfig) -> Result<(), CdcError> {
    sqlx::query(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(&config.slot)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM cdc_slots WHERE slot = $1")
        .bind(&config.slot)
        .execute(pool)
        .await?;
    Ok(())
}

/// Uninstalls CDC: drops the slot (see [`drop_slot`]) and the publication.
pub async fn uninstall(pool: &PgPool, config: &CdcConfig) -> Result<(), CdcError> {
    drop_slot(pool, config).await?;
    sqlx::query(&format!(
        "DROP PUBLICATION IF EXISTS {}",
        ident(&config.publication)
    ))
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pgoutput_text_becomes_typed_json() {
        assert_eq!(typed(Some(16), "t"), json!(true));
        assert_eq!(typed(Some(23), "42"), json!(42));
        assert_eq!(typed(Some(20), "-9000000000"), json!(-9_000_000_000i64));
        assert_eq!(typed(Some(701), "1.5"), json!(1.5));
        assert_eq!(typed(Some(3802), r#"{"a": [1]}"#), json!({"a": [1]}));
        assert_eq!(
            typed(Some(1700), "12.30"),
            json!("12.30"),
            "numeric keeps its digits"
        );
        assert_eq!(typed(None, "x"), json!("x"));
        assert_eq!(
            typed(Some(23), "oops"),
            json!("oops"),
            "unparsable text stays text"
        );
    }

    #[test]
    fn postgres_timestamps_become_rfc3339() {
        assert_eq!(
            typed(Some(1184), "2026-11-25 10:00:00.123+00"),
            json!("2026-11-25T10:00:00.123+00:00")
        );
        assert_eq!(
            typed(Some(1184), "2026-11-25 10:00:00+05:30"),
            json!("2026-11-25T10:00:00+05:30")
        );
        assert_eq!(
            typed(Some(1184), "2026-11-25 10:00:00-08"),
            json!("2026-11-25T10:00:00-08:00")
        );
    }
}
