//! Pipeline scale-out: two customer-model instances in one consumer group share the partitions
//! of `events.raw`; one crashes mid-stream (its task is dropped without a final checkpoint, its
//! connections close and the group hands its partitions to the survivor through their
//! checkpoints) and a replacement joins later (the survivor checkpoints and hands half back).
//! The instances run as the product does: they write ticks into partitions they have read to
//! the end (the pauses around the crash make some mid-stream) and publish the label versions.
//! The label changes, merges, sessions, triggers, alerts and stored profiles equal those of one
//! instance that ran the log the crash run left behind (its events, ticks and label versions)
//! on the embedded bus without trouble — on the embedded bus, and on a Kafka-protocol broker
//! of the test's own (the model's topic names are fixed, so the suite's shared broker would mix
//! in other tests' records). And a checkpoint
//! of the version before per-partition state is split by owner when an instance starts.

mod common;

use analytics::{AnalyticsStore, ProfileQuery};
use bus::{Bus, OutRecord, PgBus};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const PARTITIONS: i32 = 12;
const VISITORS: usize = 30;

/// Workspaces keyed to both halves of `events.raw`, so either instance owns some of them.
fn workspaces() -> Vec<Uuid> {
    let (mut low, mut high) = (Vec::new(), Vec::new());
    while low.len() < 3 || high.len() < 3 {
        let ws = Uuid::new_v4();
        let p = bus::partition_for(&domain::events_key(ws), PARTITIONS);
        let half = if p < PARTITIONS / 2 {
            &mut low
        } else {
            &mut high
        };
        if half.len() < 3 {
            half.push(ws);
        }
    }
    low.into_iter().chain(high).collect()
}

/// A recorded stream over two hours of event time, interleaved across workspaces: visitors view
/// /pricing, some submit the form in time, pairs identify with one email (an identity merge),
/// and a last event per workspace moves event time past every pending deadline.
fn recording(workspaces: &[Uuid]) -> Vec<OutRecord> {
    let t0: i64 = 1_790_000_000_000;
    let mut events: Vec<(i64, Uuid, Value)> = Vec::new();
    for ws in workspaces {
        for v in 0..VISITORS {
            let at = t0 + (v as i64) * 120_000;
            let anon = format!("anon-{v}");
            let mut push = |offset_ms: i64, body: Value| {
                let mut e = body;
                e["anonymousId"] = json!(anon);
                e["messageId"] = json!(format!("{ws}-{v}-{offset_ms}"));
                e["_pulse"] = json!({ "workspaceId": ws });
                events.push((at + offset_ms, *ws, e));
            };
            push(
                0,
                json!({"type": "page", "properties": {"path": "/pricing"}}),
            );
            push(
                30_000,
                json!({"type": "identify", "traits": {"email": format!("buyer{}@shop.example", v % (VISITORS / 2))}}),
            );
            if v % 3 == 0 {
                push(300_000, json!({"type": "track", "event": "form_submit"}));
            }
        }
        let mut tick = json!({"type": "track", "event": "Heartbeat", "anonymousId": "clock",
            "messageId": format!("{ws}-tick"), "_pulse": {"workspaceId": ws}});
        tick["properties"] = json!({});
        events.push((t0 + 7_200_000, *ws, tick));
    }
    events.sort_by_key(|(at, ..)| *at);
    events
        .into_iter()
        .map(|(at, ws, mut e)| {
            e["timestamp"] = json!(time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(at) * 1_000_000
            )
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap());
            OutRecord {
                key: domain::events_key(ws),
                value: serde_json::to_vec(&e).unwrap(),
                timestamp_ms: at,
            }
        })
        .collect()
}

/// CRM customers' emails as CDC writes them: one per buyer email of each workspace, so CRM
/// customers join the visitors who identify with them.
fn crm_recording(workspaces: &[Uuid]) -> Vec<OutRecord> {
    let mut out = Vec::new();
    for ws in workspaces {
        for b in 0..VISITORS / 2 {
            let row = json!({"id": format!("i-{b}"), "workspace_id": ws,
                "customer_id": format!("c-{b}"), "kind": "email", "namespace": "",
                "value": format!("buyer{b}@shop.example")});
            let change = json!({"before": null, "after": row, "op": "c", "ts_ms": 1_790_000_000_000i64,
                "source": {"connector": "pulse", "db": "pulse", "schema": "public",
                           "table": "customer_identifiers", "lsn": b, "txId": null}});
            out.push(OutRecord {
                key: domain::events_key(*ws),
                value: serde_json::to_vec(&change).unwrap(),
                timestamp_ms: 1_790_000_000_000,
            });
        }
    }
    out
}

/// The flagship label with a 5-minute window: the edit made in the middle of the stream.
fn edited_label() -> domain::labels::LabelDefinition {
    let mut label = common::flagship_label();
    if let domain::labels::LabelRule::Absence { within_ms, .. } = &mut label.rule {
        *within_ms = 5 * 60_000;
    }
    label
}

async fn prepare(pool: &sqlx::PgPool, bus: &dyn Bus, workspaces: &[Uuid]) {
    for (i, ws) in workspaces.iter().enumerate() {
        sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $2)")
            .bind(ws)
            .bind(format!("ws-{i}"))
            .execute(pool)
            .await
            .unwrap();
        audiences::labels::store(pool, *ws, &common::flagship_label())
            .await
            .unwrap();
    }
    bus.ensure_topic(gateway::EVENTS_TOPIC, PARTITIONS)
        .await
        .unwrap();
    bus.ensure_topic(cdc::TOPIC, PARTITIONS).await.unwrap();
}

fn config() -> server::live::ModelConfig {
    server::live::ModelConfig {
        checkpoint_every: Duration::from_millis(100),
        ..Default::default()
    }
}

/// One model instance: its tasks and the token that stops it cleanly.
struct Instance {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    cancel: cdc::CancellationToken,
}

/// Builds each instance's own bus client (as separate processes would have).
type MakeBus<'a> = &'a dyn Fn() -> Arc<dyn Bus>;

fn start(pool: &sqlx::PgPool, store: &Arc<dyn AnalyticsStore>, make: MakeBus) -> Instance {
    let cancel = cdc::CancellationToken::new();
    let tasks = server::live::spawn(
        pool.clone(),
        make(),
        store.clone(),
        config(),
        cancel.clone(),
    );
    Instance { tasks, cancel }
}

impl Instance {
    /// Gone without a final checkpoint, as a killed process.
    fn crash(self) {
        for t in self.tasks {
            t.abort();
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// Produces records in small batches, as a steady stream.
async fn play(bus: &dyn Bus, records: &[OutRecord]) {
    for chunk in records.chunks(10) {
        bus.produce(gateway::EVENTS_TOPIC, chunk.to_vec())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The instances that stored the partitions' newest checkpoints.
async fn owners(pool: &sqlx::PgPool) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT owner FROM pipeline_checkpoints WHERE name LIKE 'events.raw/%' AND owner IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Waits until the newest checkpoints come from exactly `n` instances (a partition taken over
/// is checkpointed at once under its new owner).
async fn wait_for_owners(pool: &sqlx::PgPool, n: usize) -> BTreeSet<String> {
    for _ in 0..300 {
        let o = owners(pool).await;
        if o.len() == n {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "checkpoints never came from {n} instances: {:?}",
        owners(pool).await
    );
}

/// Waits until the checkpoints cover every record and the alerts match the triggers.
async fn settle(pool: &sqlx::PgPool, bus: &dyn Bus, records: usize) {
    for _ in 0..600 {
        let covered: Option<i64> = sqlx::query_scalar(
            "SELECT sum(position)::int8 FROM pipeline_checkpoints WHERE name LIKE 'events.raw/%'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if covered.unwrap_or(0) >= records as i64 {
            let triggers = unique_ids(bus, "triggers").await.len();
            let alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts")
                .fetch_one(pool)
                .await
                .unwrap();
            if triggers > 0 && alerts as usize == triggers {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the pipeline did not finish the recording");
}

/// The distinct effect ids on a topic, read whole.
async fn unique_ids(bus: &dyn Bus, topic: &str) -> BTreeSet<String> {
    log_of(bus, topic)
        .await
        .into_iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.value).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Everything a run decided: effect ids on both topics, alerts, stored profiles with labels.
#[derive(Debug, PartialEq)]
struct Outcome {
    changes: BTreeSet<String>,
    triggers: BTreeSet<String>,
    alerts: BTreeSet<String>,
    profiles: BTreeMap<String, BTreeSet<(String, Vec<String>, u64)>>,
}

async fn outcome(
    pool: &sqlx::PgPool,
    bus: &dyn Bus,
    store: &dyn AnalyticsStore,
    ws: &[Uuid],
) -> Outcome {
    let alerts: Vec<String> = sqlx::query_scalar("SELECT id FROM alerts")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut profiles = BTreeMap::new();
    for w in ws {
        let page = store
            .search(
                &w.to_string(),
                &ProfileQuery {
                    limit: 1_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let rows = page
            .rows
            .into_iter()
            .map(|r| {
                let mut labels = r.labels;
                labels.sort();
                (r.profile, labels, r.events_total)
            })
            .collect();
        profiles.insert(w.to_string(), rows);
    }
    Outcome {
        changes: unique_ids(bus, server::live::CHANGES_TOPIC).await,
        triggers: unique_ids(bus, server::live::TRIGGERS_TOPIC).await,
        alerts: alerts.into_iter().collect(),
        profiles,
    }
}

/// A topic as a run left it, each partition in order (for `events.raw`: the recording with
/// the ticks and label versions the run wrote between its records).
async fn log_of(bus: &dyn Bus, topic: &str) -> Vec<OutRecord> {
    let mut reader = bus.read(topic, &BTreeMap::new()).await.unwrap();
    let mut log = Vec::new();
    let mut quiet = 0;
    while quiet < 2 {
        // A new Kafka reader needs a moment to connect before its first fetch.
        let wait = if log.is_empty() { 5_000 } else { 500 };
        let batch = reader
            .poll(5_000, Duration::from_millis(wait))
            .await
            .unwrap();
        quiet = if batch.is_empty() { quiet + 1 } else { 0 };
        log.extend(batch.into_iter().map(|m| OutRecord {
            key: m.key,
            value: m.value,
            timestamp_ms: m.timestamp_ms,
        }));
    }
    log
}

/// A run's logs: `events.raw` and `crm.changes`.
struct Logs {
    events: Vec<OutRecord>,
    crm: Vec<OutRecord>,
}

async fn logs_of(bus: &dyn Bus) -> Logs {
    Logs {
        events: log_of(bus, gateway::EVENTS_TOPIC).await,
        crm: log_of(bus, cdc::TOPIC).await,
    }
}

/// One instance on the embedded bus, no trouble, over a run's logs: what that run must have
/// decided.
async fn reference(ws: &[Uuid], logs: &Logs) -> Outcome {
    let records = &logs.events;
    let db = testkit::fresh_db().await;
    let pool = db.pool.clone();
    let make = move || -> Arc<dyn Bus> { Arc::new(PgBus::new(pool.clone())) };
    let bus = make();
    prepare(&db.pool, bus.as_ref(), ws).await;
    let store: Arc<dyn AnalyticsStore> = Arc::new(analytics::DuckDbStore::in_memory().unwrap());
    bus.produce(cdc::TOPIC, logs.crm.clone()).await.unwrap();
    bus.produce(gateway::EVENTS_TOPIC, records.to_vec())
        .await
        .unwrap();
    let one = start(&db.pool, &store, &make);
    settle(&db.pool, bus.as_ref(), records.len()).await;
    one.stop().await;
    let outcome = outcome(&db.pool, bus.as_ref(), store.as_ref(), ws).await;
    assert!(!outcome.triggers.is_empty() && !outcome.changes.is_empty());
    let merges = outcome
        .changes
        .iter()
        .filter(|id| id.contains(":merge:"))
        .count();
    assert!(merges > 0, "the recording merges identities");
    assert!(
        outcome
            .changes
            .iter()
            .any(|id| id.contains(":merge:") && id.ends_with(":1790000000000")),
        "CRM changes joined profiles"
    );
    assert!(
        outcome.changes.iter().any(|id| id.contains(":v2:")),
        "the edited label decided something"
    );
    println!(
        "reference: {} changes ({merges} merges), {} triggers, {} alerts",
        outcome.changes.len(),
        outcome.triggers.len(),
        outcome.alerts.len()
    );
    outcome
}

/// Two instances share the partitions; A crashes, B takes everything, A2 joins and gets half
/// back from B. A third of the CRM changes arrives with each third of the events, and the label
/// is edited after the first third. Returns what they decided.
async fn through_a_crash(
    make: MakeBus<'_>,
    ws: &[Uuid],
    records: &[OutRecord],
    pool: &sqlx::PgPool,
) -> Outcome {
    let bus = make();
    prepare(pool, bus.as_ref(), ws).await;
    let store: Arc<dyn AnalyticsStore> = Arc::new(analytics::DuckDbStore::in_memory().unwrap());
    let b = start(pool, &store, make);
    let a = start(pool, &store, make);
    let began = std::time::Instant::now();
    let before = wait_for_owners(pool, 2).await;
    eprintln!("{:?}: two owners", began.elapsed());
    let third = records.len() / 3;
    let crm = crm_recording(ws);
    let crm_third = crm.len() / 3;
    bus.produce(cdc::TOPIC, crm[..crm_third].to_vec())
        .await
        .unwrap();
    play(bus.as_ref(), &records[..third]).await;
    // The edit reaches each workspace's partition at a recorded position; waits still pending
    // there are decided by the new window.
    for w in ws {
        audiences::labels::store(pool, *w, &edited_label())
            .await
            .unwrap();
    }
    a.crash();
    let crashed = std::time::Instant::now();
    let survivor = wait_for_owners(pool, 1).await;
    println!(
        "crash → the survivor owns every partition: {:?}",
        crashed.elapsed()
    );
    assert!(before.is_superset(&survivor), "B is the survivor");
    bus.produce(cdc::TOPIC, crm[crm_third..2 * crm_third].to_vec())
        .await
        .unwrap();
    play(bus.as_ref(), &records[third..2 * third]).await;
    let a2 = start(pool, &store, make);
    let after = wait_for_owners(pool, 2).await;
    assert!(
        after.is_superset(&survivor) && after.is_disjoint(&(&before - &survivor)),
        "B and the replacement share the partitions: {after:?}"
    );
    bus.produce(cdc::TOPIC, crm[2 * crm_third..].to_vec())
        .await
        .unwrap();
    play(bus.as_ref(), &records[2 * third..]).await;
    eprintln!(
        "{:?}: replacement shares the partitions, stream played",
        began.elapsed()
    );
    settle(pool, bus.as_ref(), records.len()).await;
    eprintln!("{:?}: settled", began.elapsed());
    assert_eq!(owners(pool).await, after, "nobody else took part");
    b.stop().await;
    a2.stop().await;
    let ticks = log_of(bus.as_ref(), gateway::EVENTS_TOPIC).await.len() - records.len();
    println!("the run wrote {ticks} ticks and label versions between the records");
    outcome(pool, bus.as_ref(), store.as_ref(), ws).await
}

fn assert_same(run: &Outcome, reference: &Outcome) {
    assert_eq!(run.triggers, reference.triggers, "the same triggers");
    assert_eq!(run.alerts, reference.alerts, "the same alerts, once each");
    assert_eq!(
        run.changes, reference.changes,
        "the same label changes, merges and sessions"
    );
    assert_eq!(
        run.profiles, reference.profiles,
        "the same stored profiles and labels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_embedded_bus_two_instances_through_a_crash_decide_as_one_instance_does() {
    let ws = workspaces();
    let records = recording(&ws);
    let db = testkit::fresh_db().await;
    let pool = db.pool.clone();
    let make = move || -> Arc<dyn Bus> { Arc::new(PgBus::new(pool.clone())) };
    let run = through_a_crash(&make, &ws, &records, &db.pool).await;
    let logs = logs_of(make().as_ref()).await;
    let reference = reference(&ws, &logs).await;
    assert_same(&run, &reference);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_kafka_two_instances_through_a_crash_decide_as_one_instance_does() {
    let ws = workspaces();
    let records = recording(&ws);
    let broker = testkit::PrivateBroker::start();
    let address = broker.address.clone();
    let make = move || -> Arc<dyn Bus> {
        let mut settings = bus::KafkaSettings::new(address.clone());
        settings.extra = testkit::kafka_test_properties();
        Arc::new(bus::KafkaBus::connect(settings).expect("kafka client"))
    };
    let db = testkit::fresh_db().await;
    let run = through_a_crash(&make, &ws, &records, &db.pool).await;
    let logs = logs_of(make().as_ref()).await;
    let reference = reference(&ws, &logs).await;
    assert_same(&run, &reference);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_state_checkpoint_of_the_previous_version_is_split_by_owner_at_start() {
    let ws = workspaces();
    let db = testkit::fresh_db().await;
    let pool = db.pool.clone();
    let bus: Arc<dyn Bus> = Arc::new(PgBus::new(pool.clone()));
    prepare(&db.pool, bus.as_ref(), &ws).await;
    // The previous version kept one engine for everything under the name `events.raw`.
    let mut whole = pipeline::Engine::new(pipeline::EngineConfig::default());
    for (i, w) in ws.iter().enumerate() {
        let e = json!({"type": "page", "anonymousId": format!("v{i}"), "messageId": format!("m{i}"),
            "timestamp": "2026-11-20T10:00:00Z", "properties": {"path": "/"},
            "_pulse": {"workspaceId": w}});
        let event = pipeline::input::segment::decode(
            &serde_json::to_vec(&e).unwrap(),
            &domain::phone::PhoneCountries::default(),
        );
        whole.process(0, i as i64, event);
    }
    sqlx::query(
        "INSERT INTO pipeline_checkpoints (name, state, offsets) VALUES ('events.raw', $1, '{}')",
    )
    .bind(whole.checkpoint())
    .execute(&db.pool)
    .await
    .unwrap();
    let store: Arc<dyn AnalyticsStore> = Arc::new(analytics::DuckDbStore::in_memory().unwrap());
    let make = move || -> Arc<dyn Bus> { Arc::new(PgBus::new(pool.clone())) };
    let one = start(&db.pool, &store, &make);
    wait_for_owners(&db.pool, 1).await;
    one.stop().await;
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT name, state FROM pipeline_checkpoints ORDER BY name")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        rows.iter().all(|(name, _)| name.starts_with("events.raw/")),
        "the whole row is gone"
    );
    for w in &ws {
        let p = bus::partition_for(&domain::events_key(*w), PARTITIONS);
        let name = format!("events.raw/{p}");
        let (_, state) = rows
            .iter()
            .find(|(n, _)| *n == name)
            .expect("the owner's row");
        let engine = pipeline::Engine::restore(state).unwrap();
        assert!(
            engine.identity(&w.to_string()).is_some(),
            "{w} lives in partition {p}"
        );
        for (other, s) in &rows {
            if *other != name {
                let e = pipeline::Engine::restore(s).unwrap();
                assert!(
                    e.identity(&w.to_string()).is_none(),
                    "{w} only in its owner's row"
                );
            }
        }
    }
}
