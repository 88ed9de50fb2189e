//! Runs the live customer model inside the server: a consumer of `events.raw` feeds the
//! pipeline engine; its label changes, merges and sessions go to `profiles.changes`, label
//! triggers to `triggers`, as soon as they exist; every second the engine's state is
//! checkpointed to Postgres with the offsets it covers, and only then are the offsets
//! committed. The same effects and every changed profile go, batched, to the analytics store
//! (which is flushed before each checkpoint). A second consumer turns triggers into in-app
//! alerts for the customer's owner.
//!
//! Exactly-once effects: effects are produced before the checkpoint that covers them, with
//! deterministic ids. After a crash the engine restored from the checkpoint skips the records
//! it already applied and re-emits, with the same ids, only what came after; the alerts table
//! keys rows by that id. One pipeline process per deployment: the engine's identity graph spans
//! partitions, so more processes would need per-partition state handed over on rebalance.

use crate::supervise::restart_on_failure;
use analytics::{AnalyticsSink, AnalyticsStore, SinkConfig};
use domain::labels::{LabelDefinition, LabelRule};
use pipeline::{Effect, Emitted, Engine, EngineConfig};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The pipeline's consumer group on `events.raw`.
pub const PIPELINE_GROUP: &str = "pipeline";
/// The pipeline's consumer group on `crm.changes`.
pub const PIPELINE_CRM_GROUP: &str = "pipeline-crm";
/// Label changes, merges and sessions, keyed by profile.
pub const CHANGES_TOPIC: &str = "profiles.changes";
/// Label triggers (labels marked as triggers, when set).
pub const TRIGGERS_TOPIC: &str = "triggers";
/// The consumer group that turns triggers into alerts.
pub const ALERTS_GROUP: &str = "alerts";
const CHECKPOINT_NAME: &str = "events.raw";

/// How the model runs.
#[derive(Debug, Clone, Copy)]
pub struct ModelConfig {
    pub engine: EngineConfig,
    /// The state is checkpointed this often (at least ten times the last checkpoint's
    /// duration); effects are produced as soon as they exist.
    pub checkpoint_every: Duration,
    /// When no events arrive, move event time with the wall clock so pending timers fire.
    pub idle_advance: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            engine: EngineConfig::default(),
            checkpoint_every: Duration::from_secs(1),
            idle_advance: true,
        }
    }
}

/// Starts the pipeline and the alerts consumer; both stop when `cancel` fires (the pipeline
/// flushes and checkpoints first) and restart after failures.
pub fn spawn(
    pool: PgPool,
    bus: Arc<dyn bus::Bus>,
    store: Arc<dyn AnalyticsStore>,
    config: ModelConfig,
    cancel: cdc::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let pipeline = {
        let (pool, bus, cancel) = (pool.clone(), bus.clone(), cancel.clone());
        tokio::spawn(async move {
            let (p, b, c, s) = (&pool, bus.as_ref(), &cancel, &store);
            restart_on_failure("customer model", RESTART_DELAY, c, move || {
                run(p, b, s.clone(), config, c)
            })
            .await;
        })
    };
    let alerts = tokio::spawn(async move {
        let (p, b, c) = (&pool, bus.as_ref(), &cancel);
        restart_on_failure("alerts consumer", RESTART_DELAY, c, move || alerts(p, b, c)).await;
    });
    vec![pipeline, alerts]
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Wait before a failed model task starts again.
const RESTART_DELAY: Duration = Duration::from_secs(2);

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Every workspace's label definitions.
pub async fn label_definitions(
    pool: &PgPool,
) -> Result<BTreeMap<String, Vec<LabelDefinition>>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, sqlx::types::Json<LabelRule>, bool)> = sqlx::query_as(
        "SELECT workspace_id, name, description, rule, is_trigger FROM label_definitions ORDER BY workspace_id, name",
    )
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, Vec<LabelDefinition>> = BTreeMap::new();
    for (ws, name, description, rule, trigger) in rows {
        out.entry(ws.to_string())
            .or_default()
            .push(LabelDefinition {
                name,
                description,
                rule: rule.0,
                trigger,
            });
    }
    Ok(out)
}

/// Stores a workspace's label definition (created or replaced by name).
pub async fn save_label(
    pool: &PgPool,
    workspace_id: Uuid,
    def: &LabelDefinition,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO label_definitions (id, workspace_id, name, description, rule, is_trigger)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, name) DO UPDATE
            SET description = EXCLUDED.description, rule = EXCLUDED.rule,
                is_trigger = EXCLUDED.is_trigger, updated_at = now()",
    )
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(&def.name)
    .bind(&def.description)
    .bind(sqlx::types::Json(&def.rule))
    .bind(def.trigger)
    .execute(pool)
    .await?;
    Ok(())
}

async fn apply_labels(pool: &PgPool, engine: &mut Engine) -> Result<(), sqlx::Error> {
    for (ws, defs) in label_definitions(pool).await? {
        engine.set_labels(&ws, defs);
    }
    Ok(())
}

async fn run(
    pool: &PgPool,
    bus: &dyn bus::Bus,
    store: Arc<dyn AnalyticsStore>,
    config: ModelConfig,
    cancel: &cdc::CancellationToken,
) -> Result<(), Failure> {
    store.migrate().await?;
    let (sink, _writer) = AnalyticsSink::start(store, SinkConfig::default());
    bus.ensure_topic(CHANGES_TOPIC, 12).await?;
    bus.ensure_topic(TRIGGERS_TOPIC, 3).await?;
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT state FROM pipeline_checkpoints WHERE name = $1")
            .bind(CHECKPOINT_NAME)
            .fetch_optional(pool)
            .await?;
    let mut engine = match stored {
        Some(bytes) => Engine::restore(&bytes)?,
        None => Engine::new(config.engine),
    };
    apply_labels(pool, &mut engine).await?;
    let mut consumer = bus
        .subscribe(PIPELINE_GROUP, crate::http::ingest::EVENTS_TOPIC)
        .await?;
    // CRM identifiers join profiles; the topic exists once CDC has started (or not at all).
    bus.ensure_topic(cdc::TOPIC, 12).await?;
    let mut crm = bus.subscribe(PIPELINE_CRM_GROUP, cdc::TOPIC).await?;
    let mut pending: Vec<Emitted> = Vec::new();
    let mut dirty = false;
    let mut last_flush = Instant::now();
    let mut last_labels = Instant::now();
    // A full checkpoint of a large state takes a while: spend at most a tenth of the time on it.
    let mut flush_cost = Duration::ZERO;
    loop {
        if cancel.is_cancelled() {
            emit(bus, &engine, &pending).await?;
            sink.send(std::mem::take(&mut pending), engine.take_profiles())
                .await?;
            sink.flush().await?;
            checkpoint(pool, &engine, consumer.as_mut(), crm.as_mut()).await?;
            return Ok(());
        }
        let changes = crm.poll(5_000, Duration::from_millis(1)).await?;
        for m in &changes {
            pending.extend(engine.process_crm(m.partition, m.offset, &m.value));
        }
        dirty |= !changes.is_empty();
        let batch = tokio::select! {
            b = consumer.poll(2_000, Duration::from_millis(200)) => b?,
            _ = cancel.cancelled() => continue,
        };
        let batch = in_time_order(batch);
        for m in &batch {
            pending.extend(engine.process(m.partition, m.offset, &m.value));
        }
        dirty |= !batch.is_empty();
        if batch.is_empty() && config.idle_advance {
            let fired = engine.advance_to(now_ms() - config.engine.max_disorder_ms);
            dirty |= !fired.is_empty();
            pending.extend(fired);
        }
        metrics::counter!("pipeline_events_total").increment(batch.len() as u64);
        // Event time as the pipeline sees it: wall clock minus this is the event-time lag.
        if let Some(wm) = engine.watermark() {
            metrics::gauge!("pipeline_watermark_ms").set(wm as f64);
        }
        // Effects leave at once (labels within a second of the event); the checkpoint that
        // covers them follows on its own schedule, so a crash re-emits them with the same ids.
        // The analytics store gets the same effects plus the changed profiles, in batches.
        if !pending.is_empty() {
            emit(bus, &engine, &pending).await?;
        }
        sink.send(std::mem::take(&mut pending), engine.take_profiles())
            .await?;
        let interval = config.checkpoint_every.max(flush_cost * 10);
        if dirty && last_flush.elapsed() >= interval {
            let started = Instant::now();
            // A checkpoint never covers rows the analytics store has not got.
            sink.flush().await?;
            checkpoint(pool, &engine, consumer.as_mut(), crm.as_mut()).await?;
            flush_cost = started.elapsed();
            metrics::histogram!("pipeline_checkpoint_seconds").record(flush_cost.as_secs_f64());
            dirty = false;
            last_flush = Instant::now();
        }
        if last_labels.elapsed() >= Duration::from_secs(5) {
            apply_labels(pool, &mut engine).await?;
            last_labels = Instant::now();
        }
    }
}

/// Interleaves one poll's records by their timestamps (the events' own times) while keeping
/// each partition in offset order. A poll returns partition after partition, so without this an
/// event from a later partition could move the watermark past an earlier-stamped event polled
/// with it, which would then count as too late.
fn in_time_order(batch: Vec<bus::Message>) -> Vec<bus::Message> {
    let mut parts: BTreeMap<i32, std::collections::VecDeque<bus::Message>> = BTreeMap::new();
    let total = batch.len();
    for m in batch {
        parts.entry(m.partition).or_default().push_back(m);
    }
    if parts.len() < 2 {
        return parts.into_values().flatten().collect();
    }
    let mut out = Vec::with_capacity(total);
    while let Some(next) = parts
        .iter()
        .filter_map(|(p, q)| q.front().map(|m| (m.timestamp_ms, *p)))
        .min()
        .map(|(_, p)| p)
    {
        let queue = parts.get_mut(&next).expect("chosen from the map");
        out.extend(queue.pop_front());
    }
    out
}

/// Produces the pending effects: changes to `profiles.changes`, triggers to `triggers`.
async fn emit(bus: &dyn bus::Bus, engine: &Engine, pending: &[Emitted]) -> Result<(), Failure> {
    let mut changes = Vec::new();
    let mut triggers = Vec::new();
    for e in pending {
        let id = e.id();
        let record = |value: Value| bus::OutRecord {
            key: e.effect.profile().to_string(),
            value: serde_json::to_vec(&value).expect("JSON serialises"),
            timestamp_ms: match &e.effect {
                Effect::Event { at, .. } | Effect::Session { at, .. } => *at,
                Effect::Merged(m) => m.at,
                Effect::Label(c) => c.at,
            },
        };
        if let Effect::Label(c) = &e.effect {
            if c.trigger {
                let identifiers = engine
                    .identity(&e.workspace)
                    .map(|g| g.identifiers(&c.profile))
                    .unwrap_or_default();
                triggers.push(record(json!({
                    "id": id, "workspace": e.workspace, "profile": c.profile, "label": c.label,
                    "reason": c.reason, "at": c.at, "identifiers": identifiers,
                })));
            }
        }
        // The timeline's events belong in the analytics store, not on the change topic.
        if !matches!(e.effect, Effect::Event { .. }) {
            let mut v = serde_json::to_value(e).expect("effects serialise");
            v["id"] = Value::String(id);
            changes.push(record(v));
        }
    }
    if !changes.is_empty() {
        bus.produce(CHANGES_TOPIC, changes).await?;
    }
    if !triggers.is_empty() {
        bus.produce(TRIGGERS_TOPIC, triggers).await?;
    }
    Ok(())
}

/// Stores the state with the offsets it covers, the live label counts, then commits offsets.
async fn checkpoint(
    pool: &PgPool,
    engine: &Engine,
    consumer: &mut dyn bus::Consumer,
    crm: &mut dyn bus::Consumer,
) -> Result<(), Failure> {
    let offsets = engine.offsets();
    sqlx::query(
        "INSERT INTO pipeline_checkpoints (name, state, offsets) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, offsets = EXCLUDED.offsets, taken_at = now()",
    )
    .bind(CHECKPOINT_NAME)
    .bind(engine.checkpoint())
    .bind(sqlx::types::Json(offsets))
    .execute(pool)
    .await?;
    for (ws, counts) in engine.label_counts() {
        let Ok(ws) = Uuid::parse_str(&ws) else {
            continue;
        };
        for (label, n) in counts {
            sqlx::query(
                "UPDATE label_definitions SET live_count = $3, counted_at = now()
                  WHERE workspace_id = $1 AND name = $2 AND live_count IS DISTINCT FROM $3",
            )
            .bind(ws)
            .bind(&label)
            .bind(n as i64)
            .execute(pool)
            .await?;
        }
    }
    // The checkpoint is the truth; a failed commit only means more records are skipped later.
    let pairs: [(&mut dyn bus::Consumer, &BTreeMap<i32, i64>); 2] =
        [(consumer, offsets), (crm, engine.crm_offsets())];
    for (c, offsets) in pairs {
        let owned = c.assignment();
        let positions: Vec<(i32, i64)> = offsets
            .iter()
            .filter(|(p, _)| owned.contains(p))
            .map(|(p, o)| (*p, *o))
            .collect();
        if let Err(e) = c.commit(&positions).await {
            tracing::warn!(error = %e, "committing pipeline offsets failed");
        }
    }
    let (profiles, with_labels, timers) = engine.sizes();
    metrics::gauge!("pipeline_profiles").set(profiles as f64);
    metrics::gauge!("pipeline_profiles_with_label_state").set(with_labels as f64);
    metrics::gauge!("pipeline_timers").set(timers as f64);
    let stats = engine.stats();
    metrics::gauge!("pipeline_events_too_late").set(stats.too_late as f64);
    metrics::gauge!("pipeline_events_duplicate").set(stats.duplicates as f64);
    Ok(())
}

/// Turns triggers into alerts for the owner of the CRM customer the profile matches (by email,
/// phone or CRM id); without a match the alert has no owner and managers see it.
async fn alerts(
    pool: &PgPool,
    bus: &dyn bus::Bus,
    cancel: &cdc::CancellationToken,
) -> Result<(), Failure> {
    bus.ensure_topic(TRIGGERS_TOPIC, 3).await?;
    let mut consumer = bus.subscribe(ALERTS_GROUP, TRIGGERS_TOPIC).await?;
    loop {
        let batch = tokio::select! {
            b = consumer.poll(500, Duration::from_millis(500)) => b?,
            _ = cancel.cancelled() => return Ok(()),
        };
        let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &batch {
            let t: Value = serde_json::from_slice(&m.value)?;
            store_alert(pool, &t).await?;
            positions.insert(m.partition, m.offset + 1);
        }
        if !positions.is_empty() {
            let p: Vec<(i32, i64)> = positions.into_iter().collect();
            consumer.commit(&p).await?;
        }
    }
}

async fn store_alert(pool: &PgPool, t: &Value) -> Result<(), Failure> {
    let text = |k: &str| {
        t.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let Ok(ws) = Uuid::parse_str(&text("workspace")) else {
        // Events without a workspace (none come from the gateway) cannot alert anyone.
        return Ok(());
    };
    let ids: Vec<String> = t
        .get("identifiers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let pick = |prefix: &str| -> Vec<String> {
        ids.iter()
            .filter_map(|i| i.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    };
    let (emails, phones) = (pick("email:"), pick("phone:"));
    let crm: Vec<Uuid> = pick("crm:")
        .iter()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect();
    let mut conn = pool.acquire().await?;
    let mut customers = crm::customers::find_by_identifiers(&mut conn, ws, &emails, &phones, &[])
        .await
        .map_err(|e| e.to_string())?;
    customers.extend(crm);
    let customer = customers.first().copied();
    let owner: Option<Uuid> = match customer {
        Some(c) => {
            sqlx::query_scalar("SELECT owner_id FROM customers WHERE workspace_id = $1 AND id = $2")
                .bind(ws)
                .bind(c)
                .fetch_optional(&mut *conn)
                .await?
                .flatten()
        }
        None => None,
    };
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t.get("at").and_then(Value::as_i64).unwrap_or_default()) * 1_000_000,
    )
    .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let inserted = sqlx::query(
        "INSERT INTO alerts (id, workspace_id, owner_id, customer_id, profile, label, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(text("id"))
    .bind(ws)
    .bind(owner)
    .bind(customer)
    .bind(text("profile"))
    .bind(text("label"))
    .bind(text("reason"))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        metrics::counter!("alerts_created_total").increment(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(partition: i32, offset: i64, timestamp_ms: i64) -> bus::Message {
        bus::Message {
            partition,
            offset,
            key: String::new(),
            value: Vec::new(),
            timestamp_ms,
        }
    }

    #[test]
    fn a_poll_is_applied_in_event_time_order_and_each_partition_in_offset_order() {
        // Partition 1 holds a clock tick far ahead; partition 2 the visit stamped before it.
        // Partition 3 is out of time order within itself and must stay in offset order.
        let batch = vec![
            msg(1, 10, 1_000_000),
            msg(2, 5, 1_000),
            msg(2, 6, 2_000),
            msg(3, 0, 3_000),
            msg(3, 1, 500),
        ];
        let order: Vec<(i32, i64)> = in_time_order(batch)
            .iter()
            .map(|m| (m.partition, m.offset))
            .collect();
        assert_eq!(order, vec![(2, 5), (2, 6), (3, 0), (3, 1), (1, 10)]);
    }
}
