//! Benchmark: `/v1/batch` to durable acknowledgement through the real HTTP stack and the
//! embedded bus, with and without the producer combiner, with gzip bodies (as RudderStack's and
//! PostHog's SDKs send them; compressed before the clock starts, 64 distinct bodies per client
//! sent in turn), and the Kafka bus when `PULSE_BENCH_KAFKA` names brokers (`host:port`).
//!
//! `cargo bench -p server --bench ingest` starts (or reuses) a private Postgres under
//! `$CARGO_TARGET_DIR/bench-gw-pg`, serves the Pulse router on loopback, and runs
//! `PULSE_BENCH_CLIENTS` (default 32) HTTP clients posting batches of `PULSE_BENCH_BATCH`
//! (default 100) ~400-byte events for `PULSE_BENCH_SECONDS` (default 10) seconds each
//! configuration. Clients, server and Postgres share this machine's cores.

use app::ServerContext;
use server::http::{router, AppState, SessionSettings};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_sessions_sqlx_store::PostgresStore;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len().saturating_sub(1));
    sorted.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

fn batch_body(client: usize, n: usize, start: usize) -> String {
    let events: Vec<String> = (0..n)
        .map(|k| {
            let i = start + k;
            format!(
                r#"{{"type":"track","event":"Product Viewed","userId":"user-{}","messageId":"c{client}-{i}","timestamp":"2026-11-25T10:00:00.000Z","properties":{{"product_id":"sku-{}","price":49.9,"currency":"EUR","category":"outdoor"}},"context":{{"page":{{"path":"/p/{}"}},"library":{{"name":"bench","version":"1"}}}}}}"#,
                (client * 7919 + i) % 50_000,
                i % 977,
                i % 977
            )
        })
        .collect();
    format!(
        r#"{{"sentAt":"2026-11-25T10:00:01.000Z","batch":[{}]}}"#,
        events.join(",")
    )
}

fn gzipped(body: &str) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body.as_bytes()).expect("in memory");
    e.finish().expect("in memory")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clients = env_or("PULSE_BENCH_CLIENTS", 32);
    let batch = env_or("PULSE_BENCH_BATCH", 100);
    let seconds = env_or("PULSE_BENCH_SECONDS", 10) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("bench-gw-pg");
        let mut opts = managed_pg::ClusterOptions::new(dir);
        opts.settings.push(("shared_buffers".into(), "1GB".into()));
        let cluster = managed_pg::Cluster::start(opts).await?;
        let url = cluster.ensure_database("pulse_gw_bench").await?;
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(&url).await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        let store = PostgresStore::new(pool.clone());
        store.migrate().await?;
        let ws = uuid::Uuid::from_u128(0xbe9c5);
        sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Bench', 'bench-gw') ON CONFLICT DO NOTHING")
            .bind(ws)
            .execute(&pool)
            .await?;
        let key = "wk_bench_gateway";
        gateway::sources::ensure_with_key(&pool, ws, "Bench", "server", key).await?;
        let metrics = server::telemetry::init_metrics();
        println!("/v1/batch → durable ack, {clients} clients, {batch} events (~400 B) per request, {seconds} s each");
        println!("| bus | events/s | requests/s | p50 | p99 |");
        println!("|---|---|---|---|---|");
        let kafka = std::env::var("PULSE_BENCH_KAFKA").ok();
        let mut configs = vec!["embedded log", "embedded log + combiner", "embedded log + combiner, gzip bodies"];
        if kafka.is_some() {
            configs.push("Kafka");
        }
        for config in configs {
            let gzip = config.ends_with("gzip bodies");
            sqlx::query("TRUNCATE bus_records").execute(&pool).await?;
            let pg: Arc<dyn bus::Bus> = Arc::new(bus::PgBus::new(pool.clone()));
            let bus: Arc<dyn bus::Bus> = match config {
                "embedded log" => pg,
                "embedded log + combiner" | "embedded log + combiner, gzip bodies" => Arc::new(bus::Combiner::new(pg, 2000, Duration::from_millis(2), 4)),
                _ => Arc::new(bus::KafkaBus::connect(bus::KafkaSettings::new(kafka.clone().unwrap_or_default()))?),
            };
            bus.ensure_topic("events.raw", 12).await?;
            bus.ensure_topic("events.quarantine", 3).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let state = AppState {
                leptos_options: leptos::config::LeptosOptions::builder()
                    .output_name("pulse")
                    .site_root(std::env::temp_dir().join("pulse-bench-site").to_string_lossy().to_string())
                    .site_pkg_dir("pkg")
                    .site_addr(addr)
                    .build(),
                pool: pool.clone(),
                ctx: ServerContext { pool: pool.clone(), login_policy: access::LoginPolicy::default(), demo: false, bus: bus.clone(), analytics: Arc::new(analytics::DuckDbStore::in_memory()?) },
                metrics: metrics.clone(),
                set_up: Arc::new(AtomicBool::new(true)),
                bus,
                gateway: Arc::new(server::gateway_runtime::EventGateway::new(10_000_000)),
            };
            let app = router(state, store.clone(), &SessionSettings { secure: false, idle_hours: 1 });
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
            });
            let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
            let compressed: Vec<Arc<Vec<Vec<u8>>>> = (0..clients)
                .map(|c| Arc::new(if gzip { (0..64).map(|k| gzipped(&batch_body(c, batch, k * batch))).collect() } else { Vec::new() }))
                .collect();
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..clients {
                let http = http.clone();
                let url = format!("http://{addr}/v1/batch");
                let compressed = compressed[c].clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut sent = 0usize;
                    while started.elapsed() < Duration::from_secs(seconds) {
                        let request = http.post(&url).basic_auth(key, Some("")).header("content-type", "application/json");
                        let request = if compressed.is_empty() {
                            request.body(batch_body(c, batch, sent))
                        } else {
                            request.header("content-encoding", "gzip").body(compressed[(sent / batch) % compressed.len()].clone())
                        };
                        let t = Instant::now();
                        let r = request.send().await;
                        match r {
                            Ok(r) if r.status().is_success() => {
                                lat.push(t.elapsed());
                                sent += batch;
                            }
                            Ok(r) => panic!("gateway answered {}", r.status()),
                            Err(e) => panic!("request failed: {e}"),
                        }
                    }
                    (sent, lat)
                }));
            }
            let (mut events, mut lat) = (0usize, Vec::new());
            for t in tasks {
                let (n, l) = t.await?;
                events += n;
                lat.extend(l);
            }
            let secs = started.elapsed().as_secs_f64();
            lat.sort();
            if config != "Kafka" {
                // (On Kafka every acknowledged record had its own delivery report.)
                let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM bus_records WHERE topic = 'events.raw'").fetch_one(&pool).await?;
                assert_eq!(stored as usize, events, "every acknowledged event is on the bus");
            }
            println!(
                "| {} | {:.0} | {:.0} | {:.1} ms | {:.1} ms |",
                config,
                events as f64 / secs,
                lat.len() as f64 / secs,
                pct(&lat, 0.5),
                pct(&lat, 0.99)
            );
            server.abort();
        }
        pool.close().await;
        cluster.stop().await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
