//! The runner: the `pipeline` group member that owns partitions of `events.raw`, one engine
//! per partition, feeds them their records, and checkpoints them on a schedule.
//!
//! Everything that changes an engine comes from its partition of the log, so a replay decides
//! as the first run did: events; ticks, which the runner writes into a partition it has read
//! to the end (when timers wait on time passing, or CRM changes wait to be applied) and which
//! carry the wall-clock time and the positions of `crm.changes` to apply there; and each new
//! version of a workspace's label definitions, published from Postgres into the workspace's
//! partition.

use super::crm_feed::CrmFeed;
use super::{checkpoints, effects::Records, Failure, ModelConfig, PIPELINE_GROUP};
use analytics::{AnalyticsSink, AnalyticsStore, SinkConfig};
use async_trait::async_trait;
use bus::{Commit, ConsumeSpec, Handler, Message, OutRecord};
use domain::control::Control;
use domain::events::EVENTS_TOPIC;
use domain::phone::PhoneCountries;
use pipeline::input::Record;
use pipeline::{Emitted, Engine};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A partition with no records for this long has been read to its end (a partition with a
/// backlog delivers records in every poll): time may move on there by a tick.
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// At most one tick per partition this often.
const TICK_EVERY: Duration = Duration::from_secs(1);
/// New label-definition versions are published, and workspace settings (the phones' calling
/// code) read again, this often.
const SETTINGS_EVERY: Duration = Duration::from_secs(1);
/// Ticks are keyed `pulse.tick.N`, with N chosen so the key lands in the wanted partition.
const TICK_KEY: &str = "pulse.tick.";

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
    let topic = EVENTS_TOPIC;
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
        phone_countries: crm::settings::phone_countries(pool).await?,
        crm: CrmFeed::new(partitions),
        crm_partitions: bus.partitions(cdc::TOPIC).await?,
        tick_keys: (0..partitions)
            .map(|p| bus::key_for_partition(TICK_KEY, p, partitions))
            .collect(),
        instance: checkpoints::instance_name(),
        last_flush: Instant::now(),
        last_settings: Instant::now(),
        flush_cost: Duration::ZERO,
        capped_logged: 0,
        flagged_logged: BTreeSet::new(),
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
    /// When this runner last wrote a tick into the partition.
    last_tick: Instant,
}

/// The partitions this instance owns and what they need from outside: the workspaces' phone
/// calling codes and the CRM changes of their workspaces.
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
    /// Per workspace, the calling code of phones written without one (as the CRM applies it),
    /// used when events are decoded.
    phone_countries: PhoneCountries,
    /// `crm.changes`, read ahead for all owned partitions.
    crm: CrmFeed,
    crm_partitions: i32,
    /// Per partition of `events.raw`, the key its ticks are produced under.
    tick_keys: Vec<String>,
    /// This instance, as its checkpoint rows name it.
    instance: String,
    last_flush: Instant,
    last_settings: Instant,
    /// How long the last checkpoint took: a full checkpoint of a large state takes a while,
    /// so at most a tenth of the time goes to it.
    flush_cost: Duration,
    /// Events refused by a workspace's profile cap, as last logged.
    capped_logged: u64,
    /// Identifiers flagged as shared (workspace, identifier) already logged.
    flagged_logged: BTreeSet<(String, String)>,
}

#[async_trait]
impl Handler for Runner<'_> {
    type Error = Failure;

    async fn handle(&mut self, batch: &[Message], assignment: &[i32]) -> Result<Commit, Failure> {
        self.follow(assignment).await?;
        let least = self.crm_least();
        self.crm.read(self.bus, &least).await?;
        for m in in_time_order(batch) {
            // A record can come before the assignment shows its partition (Kafka).
            if !self.parts.contains_key(&m.partition) {
                self.load(m.partition).await?;
            }
            let record = pipeline::input::decode(&m.value, &self.phone_countries);
            if let Record::Control(Control::Tick { crm: marks, .. }) = &record {
                self.apply_crm(m.partition, m.offset, marks).await?;
            }
            let part = self.parts.get_mut(&m.partition).expect("loaded above");
            let effects = part.engine.apply(m.partition, m.offset, record);
            part.pending.extend(effects);
            part.dirty = true;
            part.last_record = Instant::now();
        }
        self.crm.prune(&self.crm_least());
        self.tick().await?;
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
        if self.last_settings.elapsed() >= SETTINGS_EVERY {
            self.publish_labels().await?;
            self.phone_countries = crm::settings::phone_countries(self.pool).await?;
            self.last_settings = Instant::now();
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
        self.crm.clear();
        Ok(())
    }
}

impl Runner<'_> {
    /// Takes over a partition: its state from its checkpoint, or a fresh one with the newest
    /// label definitions of its workspaces (newer versions reach either through the log).
    async fn load(&mut self, partition: i32) -> Result<(), Failure> {
        let mut engine = match checkpoints::load(self.pool, partition).await? {
            Some(engine) => engine,
            None => {
                let mut engine = Engine::new(self.config.engine);
                for v in audiences::labels::latest_versions(self.pool).await? {
                    let ws = domain::events_key(v.workspace);
                    if bus::partition_for(&ws, self.partitions) == partition {
                        engine.set_labels_version(&ws, v.version, v.definitions);
                    }
                }
                engine
            }
        };
        engine.set_future_tolerance(self.config.engine.future_tolerance_ms);
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
                last_tick: Instant::now(),
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

    /// Per partition of `crm.changes`, the least offset an owned engine has not applied.
    fn crm_least(&self) -> BTreeMap<i32, i64> {
        (0..self.crm_partitions)
            .map(|q| {
                let least = self
                    .parts
                    .values()
                    .map(|p| p.engine.crm_offsets().get(&q).copied().unwrap_or(0))
                    .min()
                    .unwrap_or(0);
                (q, least)
            })
            .collect()
    }

    /// Applies the CRM changes a tick at `offset` of `partition` names, before the tick
    /// itself (nothing when the engine's state already covers the tick).
    async fn apply_crm(
        &mut self,
        partition: i32,
        offset: i64,
        marks: &BTreeMap<i32, i64>,
    ) -> Result<(), Failure> {
        let covered = self.parts[&partition]
            .engine
            .offsets()
            .get(&partition)
            .is_some_and(|next| offset < *next);
        if marks.is_empty() || covered {
            return Ok(());
        }
        let least = self.crm_least();
        self.crm.read_to(self.bus, &least, marks).await?;
        let part = self
            .parts
            .get_mut(&partition)
            .expect("loaded by the caller");
        let effects = self.crm.apply(&mut part.engine, partition, marks);
        part.pending.extend(effects);
        Ok(())
    }

    /// Writes a tick into each owned partition that has been read to its end and has a timer,
    /// a session or a day waiting on time passing, or that has CRM changes waiting — at most
    /// one per partition per second; an idle log with nothing waiting stays quiet.
    async fn tick(&mut self) -> Result<(), Failure> {
        let now = now_ms();
        let horizon = now - self.config.engine.max_disorder_ms;
        let marks = self.crm.position();
        let mut records = Vec::new();
        for (p, part) in self.parts.iter_mut() {
            if !self.assigned.contains(p) || part.last_tick.elapsed() < TICK_EVERY {
                continue;
            }
            let time_waits = part.last_record.elapsed() >= IDLE_AFTER
                && part.engine.next_due().is_some_and(|due| due <= horizon);
            if time_waits || self.crm.pending_for(*p, &part.engine) {
                let tick = Control::Tick {
                    at: now,
                    crm: marks.clone(),
                };
                records.push(OutRecord {
                    key: self.tick_keys[*p as usize].clone(),
                    value: tick.encode(),
                    timestamp_ms: now,
                });
                part.last_tick = Instant::now();
            }
        }
        if !records.is_empty() {
            metrics::counter!("pipeline_ticks_total").increment(records.len() as u64);
            self.bus.produce(EVENTS_TOPIC, records).await?;
        }
        Ok(())
    }

    /// Publishes new versions of label definitions into the partitions of their workspaces
    /// (those this instance owns), where the engines take them at that position.
    async fn publish_labels(&mut self) -> Result<(), Failure> {
        let versions: Vec<_> = audiences::labels::unpublished(self.pool, 100)
            .await?
            .into_iter()
            .filter(|v| {
                let home = bus::partition_for(&domain::events_key(v.workspace), self.partitions);
                self.assigned.contains(&home)
            })
            .collect();
        if versions.is_empty() {
            return Ok(());
        }
        let records = versions
            .iter()
            .map(|v| OutRecord {
                key: domain::events_key(v.workspace),
                value: Control::Labels {
                    workspace: v.workspace.into(),
                    version: v.version,
                    definitions: v.definitions.clone(),
                }
                .encode(),
                timestamp_ms: now_ms(),
            })
            .collect();
        self.bus.produce(EVENTS_TOPIC, records).await?;
        for v in &versions {
            audiences::labels::mark_published(self.pool, v.workspace, v.version).await?;
            tracing::info!(
                workspace = %v.workspace,
                version = v.version,
                "label definitions published to the customer model"
            );
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
        let mut flagged = 0;
        for part in self.parts.values() {
            for (ws, flags) in part.engine.flagged() {
                flagged += flags.len();
                for (node, f) in flags {
                    if self.flagged_logged.insert((ws.to_string(), node.clone())) {
                        tracing::warn!(
                            workspace = ws,
                            identifier = node.as_str(),
                            profiles = f.profiles,
                            "an identifier joined too many profiles and is treated as shared: \
                             it no longer joins anyone"
                        );
                    }
                }
            }
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
        metrics::gauge!("pipeline_identifiers_flagged_shared").set(flagged as f64);
        if capped > self.capped_logged {
            tracing::warn!(
                refused = capped - self.capped_logged,
                "a workspace reached its profile cap (max_profiles_per_workspace): events that \
                 would start a new profile are not applied"
            );
            self.capped_logged = capped;
        }
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
