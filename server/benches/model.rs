//! Benchmark: event → label, end to end through the customer model. Events are produced to
//! `events.raw` on the embedded bus (what the gateway does before it acknowledges) at a fixed
//! rate, each from a new visitor, under a recency label that every such event sets; a consumer
//! of `profiles.changes` reads the label changes, one of `triggers` the triggers, and a poller of
//! the analytics store (DuckDB) sees the label rows become queryable. Latency = arrival minus
//! the event's time (taken when it was produced), so it includes the bus append.
//!
//! `cargo bench -p server --bench model` starts (or reuses) a private Postgres under
//! `$CARGO_TARGET_DIR/bench-model-pg` (or `PULSE_BENCH_DATABASE_URL`) and runs
//! `PULSE_BENCH_SECONDS` (default 10) at 1,000 and 10,000 events/s.

use domain::labels::{EventMatch, LabelDefinition, LabelRule};
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ts(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::var("PULSE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (url, cluster) =
            testkit::bench_database("bench-model-pg", "pulse_model_bench", &[]).await?;
        let pool = PgPoolOptions::new().max_connections(12).connect(&url).await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        sqlx::query("TRUNCATE bus_records, bus_group_offsets, bus_group_members, pipeline_checkpoints")
            .execute(&pool)
            .await?;
        sqlx::query("DELETE FROM bus_topics").execute(&pool).await?;
        sqlx::query("DELETE FROM workspaces WHERE slug = 'model-bench'").execute(&pool).await?;
        let ws = uuid::Uuid::new_v4();
        sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Model bench', 'model-bench')")
            .bind(ws)
            .execute(&pool)
            .await?;
        audiences::labels::store(
            &pool,
            ws,
            &LabelDefinition {
                name: "viewed_recently".into(),
                description: String::new(),
                rule: LabelRule::Recency { matching: EventMatch::named("Product Viewed"), within_ms: 3_600_000 },
                trigger: true,
            },
        )
        .await?;
        let bus: Arc<dyn bus::Bus> = Arc::new(bus::PgBus::new(pool.clone()));
        bus.ensure_topic(server::http::ingest::EVENTS_TOPIC, 12).await?;
        let cancel = cdc::CancellationToken::new();
        let duck = analytics::DuckDbStore::in_memory()?;
        let store: Arc<dyn analytics::AnalyticsStore> = Arc::new(duck.clone());
        let tasks = server::live::spawn(pool.clone(), bus.clone(), store.clone(), server::live::ModelConfig::default(), cancel.clone());
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!("Event → label, one new visitor per event, embedded bus, DuckDB store (latency ms):");
        println!(
            "{:<9} {:>8} | {:>22} | {:>22} | {:>22}",
            "rate", "sent", "profiles.changes p50/p99", "triggers p50/p99", "in the store p50/p99"
        );
        let mut next_id = 0u64;
        for rate in [1_000u64, 10_000] {
            let group = uuid::Uuid::new_v4().simple().to_string();
            let mut changes = bus.subscribe(&format!("bench-c-{group}"), server::live::CHANGES_TOPIC).await?;
            let mut triggers = bus.subscribe(&format!("bench-t-{group}"), server::live::TRIGGERS_TOPIC).await?;
            let start_ms = now_ms();
            let producer = {
                let bus = bus.clone();
                let first = next_id;
                tokio::spawn(async move {
                    // Batches every 10 ms, like many concurrent gateway requests.
                    let per_tick = (rate / 100).max(1);
                    let mut tick = tokio::time::interval(Duration::from_millis(10));
                    let deadline = Instant::now() + Duration::from_secs(seconds);
                    let mut id = first;
                    while Instant::now() < deadline {
                        tick.tick().await;
                        let t = now_ms();
                        let records: Vec<bus::OutRecord> = (0..per_tick)
                            .map(|_| {
                                id += 1;
                                let v = format!(
                                    r#"{{"type":"track","anonymousId":"v-{id}","event":"Product Viewed","messageId":"b-{id}","timestamp":"{}","properties":{{}},"_pulse":{{"workspaceId":"{ws}"}}}}"#,
                                    ts(t)
                                );
                                bus::OutRecord { key: domain::events_key(ws), value: v.into_bytes(), timestamp_ms: t }
                            })
                            .collect();
                        bus.produce(server::http::ingest::EVENTS_TOPIC, records).await.unwrap();
                    }
                    id
                })
            };
            // Label rows becoming visible to queries of the analytics store.
            let watcher = {
                let duck = duck.clone();
                let ws = ws.to_string();
                tokio::spawn(async move {
                    let mut seen = std::collections::HashSet::new();
                    let mut lat = Vec::new();
                    let mut low = start_ms;
                    let deadline = Instant::now() + Duration::from_secs(seconds + 20);
                    while (lat.len() as u64) < rate * seconds && Instant::now() < deadline {
                        let rows = duck
                            .query_strings(format!(
                                "SELECT id || ' ' || ts FROM label_history
                                  WHERE workspace = '{ws}' AND is_set AND ts >= {low}"
                            ))
                            .await
                            .unwrap();
                        let now = now_ms();
                        for r in rows {
                            let (id, at) = r.rsplit_once(' ').unwrap();
                            let at: i64 = at.parse().unwrap();
                            if seen.insert(id.to_string()) {
                                lat.push((now - at) as f64);
                                low = low.max(at - 5_000);
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    lat
                })
            };
            let mut on_changes = Vec::new();
            let mut on_triggers = Vec::new();
            let until = Instant::now() + Duration::from_secs(seconds + 20);
            let expected = rate * seconds;
            while ((on_changes.len() as u64) < expected || (on_triggers.len() as u64) < expected)
                && Instant::now() < until
            {
                for m in changes.poll(5_000, Duration::from_millis(20)).await? {
                    let v: serde_json::Value = serde_json::from_slice(&m.value)?;
                    if v["type"] == "label" && v["set"] == true {
                        let at = v["at"].as_i64().unwrap_or_default();
                        if at >= start_ms {
                            on_changes.push((now_ms() - at) as f64);
                        }
                    }
                }
                for m in triggers.poll(5_000, Duration::from_millis(1)).await? {
                    let v: serde_json::Value = serde_json::from_slice(&m.value)?;
                    let at = v["at"].as_i64().unwrap_or_default();
                    if at >= start_ms {
                        on_triggers.push((now_ms() - at) as f64);
                    }
                }
            }
            next_id = producer.await?;
            let mut in_store = watcher.await?;
            let fmt = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                let pct = |q: f64| v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN);
                format!("{:>7} {:>6.0} {:>7.0}", v.len(), pct(0.5), pct(0.99))
            };
            println!(
                "{:<9} {:>8} | {:>22} | {:>22} | {:>22}",
                format!("{rate}/s"),
                expected,
                fmt(&mut on_changes),
                fmt(&mut on_triggers),
                fmt(&mut in_store)
            );
        }
        println!("(each column: labels seen, p50 ms, p99 ms)");
        cancel.cancel();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        pool.close().await;
        if let Some(c) = cluster {
            c.stop().await?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
