//! The runner: the `pipeline` group member that owns partitions of `events.raw`, one engine
//! per partition, feeds them events and the CRM changes of their workspaces, fires timers when
//! a partition is idle, and checkpoints them on a schedule.

use super::{checkpoints, effects::Records, Failure, ModelConfig, PIPELINE_GROUP};
use analytics::{AnalyticsSink, AnalyticsStore, SinkConfig};
use async_trait::async_trait;
use bus::{Commit, ConsumeSpec, Handler, Message};
use domain::labels::LabelDefinition;
use domain::phone::PhoneCountries;
use pipeline::{Emitted, Engine};
use sqlx::PgPool;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A partition with no records for this long is idle: its event time follows the wall clock
/// (a partition with a backlog delivers records in every poll, so it is never idle).
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// Label definitions and workspace settings (the phones' calling code) are read again this
/// often.
const LABELS_EVERY: Duration = Duration::from_secs(5);

/// Runs the model until `cancel` fires; the last round flushes and checkpoints.
pub(super) async fn run(
    pool: &PgPool,
    bus: &dyn bus::Bus,
    store: Arc<dyn AnalyticsStore>,
    config: ModelConfig,
    cancel: &cdc::CancellationToken,
) -> Result<(), Failure> {
    store.migrate().await?;
    let (sink, _writer) = AnalyticsSink::start(store, SinkConfig::default());
    bus.ensure_topic(super::CHANGES_TOPIC, 12).await?;
    bus.ensure_topic(super::TRIGGERS_TOPIC, 3).await?;
    // CRM identifiers join profiles; the topic exists once CDC has started (or not at all).
    bus.ensure_topic(cdc::TOPIC, 12).await?;
    let topic = domain::events::EVENTS_TOPIC;
    let partitions = bus.partitions(topic).await?;
    checkpoints::split_whole(pool, partitions).await?;
    let mut runner = Runner {
        pool,
        bus,
        sink,
        config,
        partitions,
        parts: BTreeMap::new(),
        assigned: Vec::new(),
        labels: audiences::labels::definitions(pool).await?,
        phone_countries: crm::settings::phone_countries(pool).await?,
        crm: None,
        crm_at: BTreeMap::new(),
        crm_partitions: bus.partitions(cdc::TOPIC).await?,
        instance: checkpoints::instance_name(),
        last_flush: Instant::now(),
        last_labels: Instant::now(),
        flush_cost: Duration::ZERO,
        capped_logged: 0,
    };
    let spec = ConsumeSpec {
        max: 2_000,
        wait: Duration::from_millis(200),
        ..ConsumeSpec::new(PIPELINE_GROUP, topic)
    };
    bus::consume(bus, &spec, cancel, &mut runner).await;
    Ok(())
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
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

/// The partitions this instance owns and what they need from outside: label definitions, the
/// workspaces' phone calling codes and the CRM changes of their workspaces.
struct Runner<'a> {
    pool: &'a PgPool,
    bus: &'a dyn bus::Bus,
    sink: AnalyticsSink,
    config: ModelConfig,
    /// Partitions of `events.raw`: a workspace's owner is `partition_for(workspace, this)`.
    partitions: i32,
    parts: BTreeMap<i32, Part>,
    /// The partitions the group gave this member at the last poll.
    assigned: Vec<i32>,
    labels: BTreeMap<String, Vec<LabelDefinition>>,
    /// Per workspace, the calling code of phones written without one (as the CRM applies it),
    /// used when events are decoded.
    phone_countries: PhoneCountries,
    /// One reader of `crm.changes` for all owned partitions, and where it is.
    crm: Option<Box<dyn bus::Reader>>,
    crm_at: BTreeMap<i32, i64>,
    crm_partitions: i32,
    /// This instance, as its checkpoint rows name it.
    instance: String,
    last_flush: Instant,
    last_labels: Instant,
    /// How long the last checkpoint took: a full checkpoint of a large state takes a while,
    /// so at most a tenth of the time goes to it.
    flush_cost: Duration,
    /// Events refused by a workspace's profile cap, as last logged.
    capped_logged: u64,
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

#[async_trait]
impl Handler for Runner<'_> {
    type Error = Failure;

    async fn handle(&mut self, batch: &[Message], assignment: &[i32]) -> Result<Commit, Failure> {
        self.follow(assignment).await?;
        self.read_crm().await?;
        for m in in_time_order(batch) {
            // A record can come before the assignment shows its partition (Kafka).
            if !self.parts.contains_key(&m.partition) {
                self.load(m.partition).await?;
            }
            let part = self.parts.get_mut(&m.partition).expect("loaded above");
            let event = pipeline::input::segment::decode(&m.value, &self.phone_countries);
            let effects = part.engine.process(m.partition, m.offset, event);
            part.pending.extend(effects);
            part.dirty = true;
            part.last_record = Instant::now();
        }
        if self.config.idle_advance {
            let now = now_ms() - self.config.engine.max_disorder_ms;
            for part in self.parts.values_mut() {
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
        if let Some(wm) = self
            .parts
            .values()
            .filter_map(|p| p.engine.watermark())
            .max()
        {
            metrics::gauge!("pipeline_watermark_ms").set(wm as f64);
        }
        // Effects leave at once (labels within a second of the event); the checkpoint that
        // covers them follows on its own schedule, so a crash re-emits them with the same ids.
        // The analytics store gets the same effects plus the changed profiles, in batches.
        self.emit().await?;
        let mut commit = Commit::Nothing;
        let interval = self.config.checkpoint_every.max(self.flush_cost * 10);
        if self.parts.values().any(|p| p.dirty) && self.last_flush.elapsed() >= interval {
            let started = Instant::now();
            // A checkpoint never covers rows the analytics store has not got.
            self.sink.flush().await?;
            commit = self.checkpoint().await?;
            self.flush_cost = started.elapsed();
            metrics::histogram!("pipeline_checkpoint_seconds")
                .record(self.flush_cost.as_secs_f64());
            self.last_flush = Instant::now();
        }
        if self.last_labels.elapsed() >= LABELS_EVERY {
            self.refresh_labels().await?;
            self.last_labels = Instant::now();
        }
        Ok(commit)
    }

    async fn finish(&mut self) -> Result<Commit, Failure> {
        self.emit().await?;
        self.sink.flush().await?;
        self.checkpoint().await
    }

    /// What was built since the checkpoints is dropped: the partitions load again from them and
    /// replay the records after, re-emitting effects with the same ids.
    async fn reset(&mut self) -> Result<(), Failure> {
        self.parts.clear();
        self.assigned.clear();
        self.crm = None;
        self.crm_at.clear();
        Ok(())
    }
}

impl Runner<'_> {
    /// Takes over a partition: its state from its checkpoint (or a fresh one), its labels.
    async fn load(&mut self, partition: i32) -> Result<(), Failure> {
        let mut engine = checkpoints::load(self.pool, partition)
            .await?
            .unwrap_or_else(|| Engine::new(self.config.engine));
        engine.set_future_tolerance(self.config.engine.future_tolerance_ms);
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
    async fn follow(&mut self, assigned: &[i32]) -> Result<(), Failure> {
        self.assigned = assigned.to_vec();
        let gone: Vec<i32> = self
            .parts
            .keys()
            .filter(|p| !assigned.contains(p))
            .copied()
            .collect();
        if !gone.is_empty() {
            self.emit().await?;
            self.sink.flush().await?;
            for p in gone {
                let part = self.parts.remove(&p).expect("listed above");
                if part.dirty {
                    save(self.pool, &self.instance, p, &part.engine).await?;
                }
                tracing::info!(partition = p, "customer model hands a partition over");
            }
            self.publish_sizes();
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
            let Ok(change) = pipeline::input::crm::decode(&m.value) else {
                continue;
            };
            let Some(ws) = change.workspace else {
                continue;
            };
            if let Some(part) = self
                .parts
                .get_mut(&bus::partition_for(&ws.to_string(), self.partitions))
            {
                let effects = part.engine.process_crm(m.partition, m.offset, Ok(change));
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
    async fn emit(&mut self) -> Result<(), Failure> {
        let mut records = Records::default();
        for part in self.parts.values() {
            records.add(&part.engine, &part.pending);
        }
        records.produce(self.bus).await?;
        let mut effects = Vec::new();
        let mut profiles = Vec::new();
        for part in self.parts.values_mut() {
            effects.append(&mut part.pending);
            profiles.extend(part.engine.take_profiles());
        }
        self.sink.send(effects, profiles).await?;
        Ok(())
    }

    /// Checkpoints every changed partition and answers the offsets the group may commit to
    /// match. A partition whose checkpoint a newer owner has overtaken is dropped (and loaded
    /// again from that checkpoint if the group still gives it to this instance).
    async fn checkpoint(&mut self) -> Result<Commit, Failure> {
        let mut overtaken = Vec::new();
        for (p, part) in &self.parts {
            if part.dirty && !save(self.pool, &self.instance, *p, &part.engine).await? {
                overtaken.push(*p);
            }
        }
        for part in self.parts.values_mut() {
            part.dirty = false;
        }
        for p in overtaken {
            tracing::info!(partition = p, "another instance took this partition over");
            self.parts.remove(&p);
        }
        let positions: Vec<(i32, i64)> = self
            .parts
            .iter()
            .filter(|(p, _)| self.assigned.contains(p))
            .filter_map(|(p, part)| part.engine.offsets().get(p).map(|o| (*p, *o)))
            .collect();
        self.publish_sizes();
        Ok(Commit::Positions(positions))
    }

    fn publish_sizes(&mut self) {
        let (mut profiles, mut with_labels, mut timers) = (0, 0, 0);
        let (mut too_late, mut duplicates, mut evicted, mut capped) = (0, 0, 0, 0);
        for part in self.parts.values() {
            let (a, b, c) = part.engine.sizes();
            profiles += a;
            with_labels += b;
            timers += c;
            let stats = part.engine.stats();
            too_late += stats.too_late;
            duplicates += stats.duplicates;
            evicted += stats.evicted;
            capped += stats.capped;
        }
        metrics::gauge!("pipeline_partitions_owned").set(self.assigned.len() as f64);
        metrics::gauge!("pipeline_profiles").set(profiles as f64);
        metrics::gauge!("pipeline_profiles_with_label_state").set(with_labels as f64);
        metrics::gauge!("pipeline_timers").set(timers as f64);
        metrics::gauge!("pipeline_events_too_late").set(too_late as f64);
        metrics::gauge!("pipeline_events_duplicate").set(duplicates as f64);
        metrics::gauge!("pipeline_profiles_evicted").set(evicted as f64);
        metrics::gauge!("pipeline_events_refused_profile_cap").set(capped as f64);
        if capped > self.capped_logged {
            tracing::warn!(
                refused = capped - self.capped_logged,
                "a workspace reached its profile cap (max_profiles_per_workspace): events that \
                 would start a new profile are not applied"
            );
            self.capped_logged = capped;
        }
    }

    async fn refresh_labels(&mut self) -> Result<(), Failure> {
        self.labels = audiences::labels::definitions(self.pool).await?;
        self.phone_countries = crm::settings::phone_countries(self.pool).await?;
        for (p, part) in self.parts.iter_mut() {
            set_owned_labels(&mut part.engine, &self.labels, *p, self.partitions);
        }
        Ok(())
    }
}

/// Stores a partition's checkpoint, then the live label counts of its workspaces; returns
/// whether it was stored (a newer owner may have stored more).
async fn save(
    pool: &PgPool,
    instance: &str,
    partition: i32,
    engine: &Engine,
) -> Result<bool, Failure> {
    if !checkpoints::save(pool, instance, partition, engine).await? {
        return Ok(false);
    }
    for (ws, counts) in engine.label_counts() {
        if let Ok(ws) = uuid::Uuid::parse_str(&ws) {
            audiences::labels::record_live_counts(pool, ws, &counts).await?;
        }
    }
    Ok(true)
}

/// Interleaves one poll's records by their timestamps (the events' own times) while keeping
/// each partition in offset order. A poll returns partition after partition, so without this an
/// event from a later partition could move the watermark past an earlier-stamped event polled
/// with it, which would then count as too late.
fn in_time_order(batch: &[Message]) -> Vec<&Message> {
    let mut parts: BTreeMap<i32, VecDeque<&Message>> = BTreeMap::new();
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
#[cfg(test)]
mod tests {
    use super::*;

    fn msg(partition: i32, offset: i64, timestamp_ms: i64) -> Message {
        Message {
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
