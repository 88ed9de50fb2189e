//! A crash mid-load loses nothing that was acknowledged: the real `pulse` binary takes batches
//! from concurrent SDK-like clients, is killed with SIGKILL while they send, and restarted.
//! Clients retry what was not acknowledged (as Segment's libraries do) with the same
//! messageIds. Afterwards every acknowledged event is on `events.raw`, a request acknowledged
//! on its first attempt is there exactly once, and any duplicate is a retry of a request whose
//! answer the crash swallowed — same messageId, so the pipeline's dedupe drops it.

use bus::{Bus, PgBus};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pulse_bin() -> String {
    std::env::var("PULSE_TEST_BIN").unwrap_or_else(|_| {
        panic!("set PULSE_TEST_BIN to a built `pulse` binary (scripts/test does this)")
    })
}

fn spawn(url: &str, port: u16) -> Child {
    Command::new(pulse_bin())
        .env("DATABASE_URL", url)
        .env("PULSE_BIND", format!("127.0.0.1:{port}"))
        .env("PULSE_GATEWAY_RATE_LIMIT", "1000000")
        .env(
            "PULSE_DATA_DIR",
            std::env::temp_dir().join(format!("pulse-restart-{port}")),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pulse")
}

async fn wait_ready(base: &str) {
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = c.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pulse did not become ready at {base}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_mid_load_loses_no_acknowledged_event_and_duplicates_only_unanswered_retries() {
    let db = testkit::fresh_db().await;
    let ws = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Crash', 'crash')")
        .bind(ws)
        .execute(&db.pool)
        .await
        .unwrap();
    let (_, key) = gateway::sources::create(&db.pool, ws, "Web", "web")
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(&db.url, port);
    wait_ready(&base).await;

    const CLIENTS: usize = 8;
    const BATCHES: usize = 150;
    const PER_BATCH: usize = 50;
    let progress = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (base, key, progress) = (base.clone(), key.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            // (messageIds, acknowledged on the first attempt)
            let mut acked: Vec<(Vec<String>, bool)> = Vec::new();
            for b in 0..BATCHES {
                let ids: Vec<String> = (0..PER_BATCH)
                    .map(|i| format!("c{client}-b{b}-e{i}"))
                    .collect();
                let body = json!({ "batch": ids.iter().map(|id| json!({
                    "type": "track", "userId": format!("user-{client}-{}", b % 7),
                    "event": "Product Viewed", "messageId": id,
                    "properties": {"sku": format!("sku-{b}")}
                })).collect::<Vec<_>>() });
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let r = http
                        .post(format!("{base}/v1/batch"))
                        .basic_auth(&key, Some(""))
                        .json(&body)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            acked.push((ids, attempt == 1));
                            progress.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Ok(r) if r.status().is_client_error() => {
                            panic!("batch refused: {}", r.text().await.unwrap_or_default())
                        }
                        // Connection refused/reset or 503 while the server is down: retry.
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                    assert!(attempt < 600, "the server never came back");
                }
            }
            acked
        }));
    }
    // Let a third of the load through, then kill the server without warning and restart it.
    while progress.load(Ordering::SeqCst) < CLIENTS * BATCHES / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = spawn(&db.url, port);
    wait_ready(&base).await;

    let mut all_acked = Vec::new();
    for t in tasks {
        all_acked.extend(t.await.unwrap());
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        all_acked.len(),
        CLIENTS * BATCHES,
        "every batch was finally acknowledged"
    );

    let bus = PgBus::new(db.pool.clone());
    let mut reader = bus.subscribe("verify", "events.raw").await.unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    loop {
        let batch = reader.poll(5000, Duration::from_millis(500)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let v: Value = serde_json::from_slice(&m.value).unwrap();
            *seen
                .entry(v["messageId"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let retried_batches = all_acked.iter().filter(|(_, first)| !first).count();
    assert!(
        retried_batches > 0,
        "the crash interrupted requests in flight"
    );
    let mut retried = HashSet::new();
    for (ids, first_try) in &all_acked {
        for id in ids {
            let n = seen.get(id).copied().unwrap_or(0);
            assert!(n >= 1, "acknowledged event {id} is missing");
            if *first_try {
                assert_eq!(n, 1, "{id} was acknowledged at once yet stored {n} times");
            } else {
                retried.insert(id.clone());
            }
        }
    }
    let duplicated: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(
        duplicated.iter().all(|id| retried.contains(*id)),
        "only retried requests may be duplicated"
    );
    assert_eq!(
        seen.len(),
        CLIENTS * BATCHES * PER_BATCH,
        "nothing but the sent events is on the bus"
    );
    println!(
        "{} events acknowledged, {} batches needed a retry across the crash, {} duplicate messageIds",
        seen.len(),
        all_acked.iter().filter(|(_, f)| !f).count(),
        duplicated.len()
    );
}
