//! Benchmark: raw produce and consume rates of the buses — the ceiling for the gateway's
//! `/v1/batch`. The embedded Postgres bus always; the Kafka bus when `PULSE_BENCH_KAFKA` names
//! brokers (`host:port`), on a fresh 12-partition topic.
//!
//! `cargo bench -p bus --bench produce` starts (or reuses) a private Postgres under
//! `$CARGO_TARGET_DIR/bench-bus-pg` (or uses `PULSE_BENCH_DATABASE_URL`), then for each batch
//! size runs `PULSE_BENCH_PRODUCERS` (default 4) concurrent producers for
//! `PULSE_BENCH_SECONDS` (default 10) seconds with ~400-byte Segment-like events keyed by
//! customer over 12 partitions, and prints records/s and p50/p99 ack latency per batch; then
//! one consumer group member drains the topic and prints its rate.

use bus::{Bus, OutRecord, PgBus};
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(i: usize) -> OutRecord {
    let customer = i % 50_000;
    let value = format!(
        r#"{{"type":"track","event":"Product Viewed","userId":"user-{customer}","messageId":"bench-{i}","timestamp":"2026-11-25T10:00:00.000Z","properties":{{"product_id":"sku-{}","price":49.9,"currency":"EUR","category":"outdoor"}},"context":{{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64)","page":{{"path":"/p/{}"}}}}}}"#,
        i % 977,
        i % 977
    );
    OutRecord {
        key: format!("user-{customer}"),
        value: value.into_bytes(),
        timestamp_ms: 1_764_064_800_000 + i as i64,
    }
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let producers = env_or("PULSE_BENCH_PRODUCERS", 4);
    let seconds = env_or("PULSE_BENCH_SECONDS", 10) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (url, cluster) = testkit::bench_database(
            "bench-bus-pg",
            "pulse_bus_bench",
            &[("shared_buffers", "1GB")],
        )
        .await?;
        let pool = PgPoolOptions::new()
            .max_connections(producers as u32 + 4)
            .connect(&url)
            .await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        sqlx::query("TRUNCATE bus_records, bus_group_offsets, bus_group_members")
            .execute(&pool)
            .await?;
        sqlx::query("DELETE FROM bus_topics").execute(&pool).await?;
        let pg: Arc<dyn Bus> = Arc::new(PgBus::new(pool.clone()));
        run(
            pg,
            "Embedded Postgres bus",
            "events.raw",
            producers,
            seconds,
        )
        .await?;
        if let Ok(brokers) = std::env::var("PULSE_BENCH_KAFKA") {
            let kafka: Arc<dyn Bus> = Arc::new(bus::KafkaBus::connect(bus::KafkaSettings::new(
                brokers.clone(),
            ))?);
            let topic = format!("bench.{}", uuid::Uuid::new_v4().simple());
            println!();
            run(
                kafka,
                &format!("Kafka bus ({brokers})"),
                &topic,
                producers,
                seconds,
            )
            .await?;
        }
        pool.close().await;
        if let Some(c) = cluster {
            c.stop().await?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// Produces with `producers` tasks for `seconds` per batch size, then drains with one member.
async fn run(
    bus: Arc<dyn Bus>,
    label: &str,
    topic: &str,
    producers: usize,
    seconds: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    bus.ensure_topic(topic, 12).await?;
    println!("{label}, {producers} producers x {seconds} s per batch size, ~400-byte events, 12 partitions");
    println!("| batch | records/s | MB/s | ack p50 | ack p99 |");
    println!("|---|---|---|---|---|");
    let mut produced = 0usize;
    for batch in [1usize, 100, 500, 2000] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for p in 0..producers {
            let bus = bus.clone();
            let topic = topic.to_string();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = 0usize;
                let mut bytes = 0usize;
                let mut i = p * 1_000_000_000;
                while started.elapsed() < Duration::from_secs(seconds) {
                    let recs: Vec<OutRecord> = (0..batch).map(|k| event(i + k)).collect();
                    bytes += recs.iter().map(|r| r.value.len()).sum::<usize>();
                    i += batch;
                    let t = Instant::now();
                    bus.produce(&topic, recs).await.expect("produce");
                    lat.push(t.elapsed());
                    n += batch;
                }
                (n, bytes, lat)
            }));
        }
        let (mut n, mut bytes, mut lat) = (0, 0, Vec::new());
        for t in tasks {
            let (a, b, l) = t.await?;
            n += a;
            bytes += b;
            lat.extend(l);
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort();
        produced += n;
        println!(
            "| {batch} | {:.0} | {:.1} | {:.2} ms | {:.2} ms |",
            n as f64 / secs,
            bytes as f64 / secs / 1e6,
            pct(&lat, 0.5),
            pct(&lat, 0.99)
        );
    }
    let mut c = bus.subscribe("bench", topic).await?;
    let started = Instant::now();
    let mut read = 0usize;
    while read < produced {
        let msgs = c.poll(5000, Duration::from_secs(5)).await?;
        if msgs.is_empty() {
            break;
        }
        read += msgs.len();
    }
    println!("consume: {read} of {produced} records in {:.1} s = {:.0} records/s (one member, 5000 per poll)", started.elapsed().as_secs_f64(), read as f64 / started.elapsed().as_secs_f64());
    Ok(())
}
