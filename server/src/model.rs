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
//! keys rows by that id.
//!
//! Scale-out: `events.raw` is keyed by workspace ([`domain::events_key`]), so one partition
//! holds whole workspaces and their identity graphs. Every partition has its own engine and
//! its own checkpoint row; server processes in the `pipeline` group share the partitions, and a
//! rebalance hands a partition over through its checkpoint (the old owner stores it when the
//! partition is taken away, the new one loads it; a store never replaces a checkpoint further
//! ahead). `crm.changes` is read whole by each process, outside any group, and each change goes
//! to the engine that owns its workspace.

use crate::supervise::restart_on_failure;
use analytics::{AnalyticsSink, AnalyticsStore, SinkConfig};
use domain::labels::LabelDefinition;
use pipeline::{Effect, Emitted, Engine, EngineConfig};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The pipeline's consumer group on `events.raw`.
pub const PIPELINE_GROUP: &str = "pipeline";
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

/// A partition with no records for this long is idle: its event time follows the wall clock
/// (a partition with a backlog delivers records in every poll, so it is never idle).
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// This process (and, as tests run several in one process, this run) for checkpoint rows.
fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into());
    let run = Uuid::new_v4().simple().to_string();
    format!("{host}/{}/{}", std::process::id(), &run[..8])
}

/// The checkpoint row of one partition of `events.raw`.
fn checkpoint_name(partition: i32) -> String {
    format!("{CHECKPOINT_NAME}/{partition}")
}

/// A partition of `events.raw` this instance owns, with the engine of the workspaces keyed to it.
struct Part {
    engine: Engine,
    /// Effects not yet produced.
    pending: Vec<Emitted>,
    /// Changed since its last checkpoint.
    dirty: bool,
    last_record: Instant,
}

/// The partitions this instance owns and what they need from outside: label definitions and
/// the CRM changes of their workspaces.
struct Runner<'a> {
    pool: &'a PgPool,
    bus: &'a dyn bus::Bus,
    config: ModelConfig,
    /// Partitions of `events.raw`: a workspace's owner is `partition_for(workspace, this)`.
    partitions: i32,
    parts: BTreeMap<i32, Part>,
    labels: BTreeMap<String, Vec<LabelDefinition>>,
    /// One reader of `crm.changes` for all owned partitions, and where it is.
    crm: Option<Box<dyn bus::Reader>>,
    crm_at: BTreeMap<i32, i64>,
    crm_partitions: i32,
    /// This instance, as its checkpoint rows name it.
    instance: String,
}

/// Gives an engine the label definitions of the workspaces keyed to its partition.
fn set_owned_labels(
    engine: &mut Engine,
    labels: &BTreeMap<String, Vec<LabelDefinition>>,
    partition: i32,
    partitions: i32,
) {
    for (ws, defs) in labels {
        if bus::partition_for(ws, partitions) == partition {
            engine.set_labels(ws, defs.clone());
        }
    }
}

impl Runner<'_> {
    /// Takes over a partition: its state from its checkpoint (or a fresh one), its labels.
    async fn load(&mut self, partition: i32) -> Result<(), Failure> {
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT state FROM pipeline_checkpoints WHERE name = $1")
                .bind(checkpoint_name(partition))
                .fetch_optional(self.pool)
                .await?;
        let mut engine = match stored {
            Some(bytes) => Engine::restore(&bytes)?,
            None => Engine::new(self.config.engine),
        };
        set_owned_labels(&mut engine, &self.labels, partition, self.partitions);
        tracing::info!(
            partition,
            "customer model takes over a partition of events.raw"
        );
        self.parts.insert(
            partition,
            Part {
                engine,
                pending: Vec::new(),
                // Checkpointed at once under its new owner: the table shows who holds what.
                dirty: true,
                last_record: Instant::now(),
            },
        );
        Ok(())
    }

    /// Follows the group: loads partitions newly assigned, and checkpoints then drops the ones
    /// taken away (their next owner starts from that checkpoint).
    async fn follow(
        &mut self,
        assigned: &[i32],
        sink: &AnalyticsSink,
        consumer: &mut dyn bus::Consumer,
    ) -> Result<(), Failure> {
        let gone: Vec<i32> = self
            .parts
            .keys()
            .filter(|p| !assigned.contains(p))
            .copied()
            .collect();
        if !gone.is_empty() {
            self.emit(sink).await?;
            sink.flush().await?;
            for p in gone {
                let part = self.parts.remove(&p).expect("listed above");
                if part.dirty {
                    Self::save(self.pool, &self.instance, p, &part.engine).await?;
                }
                tracing::info!(partition = p, "customer model hands a partition over");
            }
            self.publish_sizes(&*consumer);
        }
        for p in assigned {
            if !self.parts.contains_key(p) {
                self.load(*p).await?;
            }
        }
        Ok(())
    }

    /// Applies the CRM changes of owned workspaces; the reader starts again from further back
    /// when a partition taken over has not seen as much of `crm.changes` as the others.
    async fn read_crm(&mut self) -> Result<(), Failure> {
        if self.parts.is_empty() {
            self.crm = None;
            return Ok(());
        }
        let mut wanted: BTreeMap<i32, i64> = BTreeMap::new();
        for q in 0..self.crm_partitions {
            let least = self
                .parts
                .values()
                .map(|p| p.engine.crm_offsets().get(&q).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            wanted.insert(q, least);
        }
        let behind = wanted
            .iter()
            .any(|(q, w)| self.crm_at.get(q).is_none_or(|at| w < at));
        if self.crm.is_none() || behind {
            self.crm = Some(self.bus.read(cdc::TOPIC, &wanted).await?);
            self.crm_at = wanted;
        }
        let reader = self.crm.as_mut().expect("opened above");
        let changes = reader.poll(5_000, Duration::from_millis(1)).await?;
        for m in &changes {
            self.crm_at.insert(m.partition, m.offset + 1);
            let Some(ws) = pipeline::crm_workspace(&m.value) else {
                continue;
            };
            if let Some(part) = self
                .parts
                .get_mut(&bus::partition_for(&ws, self.partitions))
            {
                let effects = part.engine.process_crm(m.partition, m.offset, &m.value);
                part.pending.extend(effects);
                part.dirty = true;
            }
        }
        // Every owned engine has now seen the changes up to here, its own or not; the next
        // checkpoint keeps that, so a restart does not read them again.
        for part in self.parts.values_mut() {
            for (q, at) in &self.crm_at {
                part.dirty |= part.engine.skip_crm_to(*q, *at);
            }
        }
        Ok(())
    }

    /// Produces every partition's pending effects and hands them, with the changed profiles,
    /// to the analytics sink.
    async fn emit(&mut self, sink: &AnalyticsSink) -> Result<(), Failure> {
        let mut changes = Vec::new();
        let mut triggers = Vec::new();
        for part in self.parts.values() {
            records(&part.engine, &part.pending, &mut changes, &mut triggers);
        }
        if !changes.is_empty() {
            self.bus.produce(CHANGES_TOPIC, changes).await?;
        }
        if !triggers.is_empty() {
            self.bus.produce(TRIGGERS_TOPIC, triggers).await?;
        }
        let mut effects = Vec::new();
        let mut profiles = Vec::new();
        for part in self.parts.values_mut() {
            effects.append(&mut part.pending);
            profiles.extend(part.engine.take_profiles());
        }
        sink.send(effects, profiles).await?;
        Ok(())
    }

    /// Stores a partition's state unless a newer owner has stored more; returns whether it
    /// was stored. Then the live label counts of its workspaces.
    async fn save(
        pool: &PgPool,
        instance: &str,
        partition: i32,
        engine: &Engine,
    ) -> Result<bool, Failure> {
        let offsets = engine.offsets();
        let position = offsets.get(&partition).copied().unwrap_or(0);
        let stored = sqlx::query(
            "INSERT INTO pipeline_checkpoints (name, state, offsets, position, owner) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, offsets = EXCLUDED.offsets,
                    position = EXCLUDED.position, owner = EXCLUDED.owner, taken_at = now()
              WHERE pipeline_checkpoints.position <= EXCLUDED.position",
        )
        .bind(checkpoint_name(partition))
        .bind(engine.checkpoint())
        .bind(sqlx::types::Json(offsets))
        .bind(position)
        .bind(instance)
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if !stored {
            return Ok(false);
        }
        for (ws, counts) in engine.label_counts() {
            if let Ok(ws) = Uuid::parse_str(&ws) {
                audiences::labels::record_live_counts(pool, ws, &counts).await?;
            }
        }
        Ok(true)
    }

    /// Checkpoints every changed partition, then commits the group's offsets to match. A
    /// partition whose checkpoint a newer owner has overtaken is dropped (and loaded again from
    /// that checkpoint if the group still gives it to this instance).
    async fn checkpoint(&mut self, consumer: &mut dyn bus::Consumer) -> Result<(), Failure> {
        let mut overtaken = Vec::new();
        for (p, part) in self.parts.iter_mut() {
            if !part.dirty {
                continue;
            }
            if Self::save(self.pool, &self.instance, *p, &part.engine).await? {
                part.dirty = false;
            } else {
                overtaken.push(*p);
            }
        }
        for p in overtaken {
            tracing::info!(partition = p, "another instance took this partition over");
            self.parts.remove(&p);
        }
        let owned = consumer.assignment();
        let positions: Vec<(i32, i64)> = self
            .parts
            .iter()
            .filter(|(p, _)| owned.contains(p))
            .filter_map(|(p, part)| part.engine.offsets().get(p).map(|o| (*p, *o)))
            .collect();
        // The checkpoint is the truth; a failed commit only means more records are skipped later.
        if let Err(e) = consumer.commit(&positions).await {
            tracing::warn!(error = %e, "committing pipeline offsets failed");
        }
        self.publish_sizes(&*consumer);
        Ok(())
    }

    fn publish_sizes(&self, consumer: &dyn bus::Consumer) {
        let (mut profiles, mut with_labels, mut timers) = (0, 0, 0);
        let (mut too_late, mut duplicates) = (0, 0);
        for part in self.parts.values() {
            let (a, b, c) = part.engine.sizes();
            profiles += a;
            with_labels += b;
            timers += c;
            let stats = part.engine.stats();
            too_late += stats.too_late;
            duplicates += stats.duplicates;
        }
        metrics::gauge!("pipeline_partitions_owned").set(consumer.assignment().len() as f64);
        metrics::gauge!("pipeline_profiles").set(profiles as f64);
        metrics::gauge!("pipeline_profiles_with_label_state").set(with_labels as f64);
        metrics::gauge!("pipeline_timers").set(timers as f64);
        metrics::gauge!("pipeline_events_too_late").set(too_late as f64);
        metrics::gauge!("pipeline_events_duplicate").set(duplicates as f64);
    }

    async fn refresh_labels(&mut self) -> Result<(), Failure> {
        self.labels = audiences::labels::definitions(self.pool).await?;
        for (p, part) in self.parts.iter_mut() {
            set_owned_labels(&mut part.engine, &self.labels, *p, self.partitions);
        }
        Ok(())
    }
}

/// Before checkpoints were per partition, one row held the whole state: split it once by
/// owner. (Events produced under the old per-person keys and not yet applied then are applied
/// by the owner of the partition they are in.)
async fn split_whole_checkpoint(pool: &PgPool, partitions: i32) -> Result<(), Failure> {
    let mut tx = pool.begin().await?;
    let whole: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT state FROM pipeline_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(CHECKPOINT_NAME)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(bytes) = whole else {
        return Ok(());
    };
    for p in 0..partitions {
        let mut engine = Engine::restore(&bytes)?;
        engine.keep_only(p, |ws| bus::partition_for(ws, partitions) == p);
        let position = engine.offsets().get(&p).copied().unwrap_or(0);
        sqlx::query(
            "INSERT INTO pipeline_checkpoints (name, state, offsets, position) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(checkpoint_name(p))
        .bind(engine.checkpoint())
        .bind(sqlx::types::Json(engine.offsets()))
        .bind(position)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM pipeline_checkpoints WHERE name = $1")
        .bind(CHECKPOINT_NAME)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        partitions,
        "split the customer model's checkpoint by partition"
    );
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
    // CRM identifiers join profiles; the topic exists once CDC has started (or not at all).
    bus.ensure_topic(cdc::TOPIC, 12).await?;
    let topic = crate::http::ingest::EVENTS_TOPIC;
    let partitions = bus.partitions(topic).await?;
    split_whole_checkpoint(pool, partitions).await?;
    let mut consumer = bus.subscribe(PIPELINE_GROUP, topic).await?;
    let mut r = Runner {
        pool,
        bus,
        config,
        partitions,
        parts: BTreeMap::new(),
        labels: audiences::labels::definitions(pool).await?,
        crm: None,
        crm_at: BTreeMap::new(),
        crm_partitions: bus.partitions(cdc::TOPIC).await?,
        instance: instance_name(),
    };
    let mut last_flush = Instant::now();
    let mut last_labels = Instant::now();
    // A full checkpoint of a large state takes a while: spend at most a tenth of the time on it.
    let mut flush_cost = Duration::ZERO;
    loop {
        if cancel.is_cancelled() {
            r.emit(&sink).await?;
            sink.flush().await?;
            r.checkpoint(consumer.as_mut()).await?;
            return Ok(());
        }
        let assigned = consumer.assignment();
        r.follow(&assigned, &sink, consumer.as_mut()).await?;
        r.read_crm().await?;
        let batch = tokio::select! {
            b = consumer.poll(2_000, Duration::from_millis(200)) => b?,
            _ = cancel.cancelled() => continue,
        };
        for m in in_time_order(batch.as_slice()) {
            // A record can come before the assignment shows its partition (Kafka).
            if !r.parts.contains_key(&m.partition) {
                r.load(m.partition).await?;
            }
            let part = r.parts.get_mut(&m.partition).expect("loaded above");
            let effects = part.engine.process(m.partition, m.offset, &m.value);
            part.pending.extend(effects);
            part.dirty = true;
            part.last_record = Instant::now();
        }
        if config.idle_advance {
            let now = now_ms() - config.engine.max_disorder_ms;
            for part in r.parts.values_mut() {
                if part.last_record.elapsed() >= IDLE_AFTER {
                    let fired = part.engine.advance_to(now);
                    part.dirty |= !fired.is_empty();
                    part.pending.extend(fired);
                }
            }
        }
        metrics::counter!("pipeline_events_total").increment(batch.len() as u64);
        // Event time as the pipeline sees it (the most advanced partition it owns): wall clock
        // minus this is the event-time lag.
        if let Some(wm) = r.parts.values().filter_map(|p| p.engine.watermark()).max() {
            metrics::gauge!("pipeline_watermark_ms").set(wm as f64);
        }
        // Effects leave at once (labels within a second of the event); the checkpoint that
        // covers them follows on its own schedule, so a crash re-emits them with the same ids.
        // The analytics store gets the same effects plus the changed profiles, in batches.
        r.emit(&sink).await?;
        let interval = config.checkpoint_every.max(flush_cost * 10);
        if r.parts.values().any(|p| p.dirty) && last_flush.elapsed() >= interval {
            let started = Instant::now();
            // A checkpoint never covers rows the analytics store has not got.
            sink.flush().await?;
            r.checkpoint(consumer.as_mut()).await?;
            flush_cost = started.elapsed();
            metrics::histogram!("pipeline_checkpoint_seconds").record(flush_cost.as_secs_f64());
            last_flush = Instant::now();
        }
        if last_labels.elapsed() >= Duration::from_secs(5) {
            r.refresh_labels().await?;
            last_labels = Instant::now();
        }
    }
}

/// Interleaves one poll's records by their timestamps (the events' own times) while keeping
/// each partition in offset order. A poll returns partition after partition, so without this an
/// event from a later partition could move the watermark past an earlier-stamped event polled
/// with it, which would then count as too late.
fn in_time_order(batch: &[bus::Message]) -> Vec<&bus::Message> {
    let mut parts: BTreeMap<i32, std::collections::VecDeque<&bus::Message>> = BTreeMap::new();
    for m in batch {
        parts.entry(m.partition).or_default().push_back(m);
    }
    if parts.len() < 2 {
        return parts.into_values().flatten().collect();
    }
    let mut out = Vec::with_capacity(batch.len());
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

/// Adds the records of pending effects: changes for `profiles.changes`, triggers for `triggers`.
fn records(
    engine: &Engine,
    pending: &[Emitted],
    changes: &mut Vec<bus::OutRecord>,
    triggers: &mut Vec<bus::OutRecord>,
) {
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
        let order: Vec<(i32, i64)> = in_time_order(&batch)
            .iter()
            .map(|m| (m.partition, m.offset))
            .collect();
        assert_eq!(order, vec![(2, 5), (2, 6), (3, 0), (3, 1), (1, 10)]);
    }
}
