//! The profile page's server time on DuckDB with 1M profiles and 20M events (interleaved in
//! time order, as they arrive), and the sink's write rate. Prints figures; asserts nothing.
//!
//! `cargo bench -p analytics --bench profile_page` (PULSE_BENCH_EVENTS / PULSE_BENCH_PROFILES
//! scale it down for a quick look).

use analytics::{AnalyticsStore, BatchBuilder, DuckDbStore, ProfileQuery};
use pipeline::{Effect, Emitted};
use std::time::Instant;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * q).ceil() as usize).saturating_sub(1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profiles = env("PULSE_BENCH_PROFILES", 1_000_000);
    let events = env("PULSE_BENCH_EVENTS", 20_000_000);
    let dir = tempfile::tempdir()?;
    let store = DuckDbStore::open(&dir.path().join("bench.duckdb"))?;
    store.migrate().await?;
    let t0: i64 = 1_795_000_000_000;
    let started = Instant::now();
    store
        .execute_batch(format!(
            "INSERT INTO profiles SELECT 'bench', 'p' || i, 1, 'Customer ' || i,
                 'c' || i || '@example.com', NULL,
                 '[\"email:c' || i || '@example.com\",\"anon:a' || i || '\"]',
                 CASE WHEN i % 10 = 0 THEN '[\"high_intent_unresolved\"]' ELSE '[]' END,
                 '{{\"plan\":\"pro\"}}', {t0} - 86400000, {t0} - (i % 86400) * 1000, 20, 3, 0, 5,
                 20, 1, 19.99, 3,
                 'email:c' || i || '@example.com anon:a' || i || ' customer ' || i
               FROM range({profiles}) r(i);
             INSERT INTO identities SELECT 'bench', 'email:c' || i || '@example.com', 'p' || i
               FROM range({profiles}) r(i);
             INSERT INTO label_history SELECT 'l' || i, 'bench', 'p' || i,
                 'high_intent_unresolved', true, {t0}, 'viewed /pricing, no form_submit within 10m'
               FROM range(0, {profiles}, 10) r(i);
             INSERT INTO sessions SELECT 'bench', 's' || i, 'p' || (i % {profiles}),
                 {t0} - i * 1000, {t0} - i * 1000 + 60000, 60000, 5
               FROM range({}) r(i);",
            profiles * 3
        ))
        .await?;
    let loaded_profiles = started.elapsed();
    let started = Instant::now();
    store
        .execute_batch(format!(
            "INSERT INTO events (workspace, profile, message_id, name, ts, properties)
             SELECT 'bench', 'p' || ((i * 7919) % {profiles}), 'm' || i,
                 CASE i % 5 WHEN 0 THEN 'Product Viewed' WHEN 1 THEN 'Order Completed'
                      ELSE 'Page Viewed' END,
                 {t0} - ({events} - i) * 10, '{{\"path\":\"/pricing\"}}'
               FROM range({events}) r(i)"
        ))
        .await?;
    let loaded_events = started.elapsed();
    println!(
        "Loaded {profiles} profiles in {:.1} s and {events} events in {:.1} s",
        loaded_profiles.as_secs_f64(),
        loaded_events.as_secs_f64()
    );

    let samples = 40;
    let mut page = Vec::new();
    let mut search_email = Vec::new();
    let mut search_first_page = Vec::new();
    let mut search_label = Vec::new();
    let mut shown = 0;
    for k in 0..samples {
        let p = format!("p{}", (k * 24_989) % profiles);
        let t = Instant::now();
        let d = store
            .profile("bench", &p, 50)
            .await?
            .expect("the profile exists");
        page.push(t.elapsed().as_secs_f64() * 1e3);
        shown += d.timeline.len();
        let t = Instant::now();
        let r = store
            .search(
                "bench",
                &ProfileQuery {
                    text: format!("c{}@example", (k * 24_989) % profiles),
                    limit: 25,
                    ..Default::default()
                },
            )
            .await?;
        search_email.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(r.total >= 1);
        let t = Instant::now();
        store
            .search(
                "bench",
                &ProfileQuery {
                    limit: 25,
                    offset: k * 25,
                    ..Default::default()
                },
            )
            .await?;
        search_first_page.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        store
            .search(
                "bench",
                &ProfileQuery {
                    label: Some("high_intent_unresolved".into()),
                    limit: 25,
                    ..Default::default()
                },
            )
            .await?;
        search_label.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("Server time, {samples} samples each (ms):        p50      p99");
    for (name, v) in [
        ("profile page (360, 50 events)", &mut page),
        ("search by email fragment", &mut search_email),
        ("list page (newest activity)", &mut search_first_page),
        ("filter by label", &mut search_label),
    ] {
        println!("  {name:<32} {:>8.1} {:>8.1}", pct(v, 0.5), pct(v, 0.99));
    }
    println!(
        "  ({} timeline events shown on average)",
        shown / samples as usize
    );

    // The sink's side: batches as the pipeline writes them (events plus changed profiles).
    let batches = 20;
    let per_batch = 20_000u64;
    let started = Instant::now();
    for b in 0..batches {
        let mut builder = BatchBuilder::new();
        for i in 0..per_batch {
            let n = b * per_batch + i;
            builder.effect(&Emitted {
                workspace: "bench".into(),
                effect: Effect::Event {
                    profile: format!("p{}", n % profiles),
                    message_id: format!("w{n}"),
                    name: "Page Viewed".into(),
                    at: t0 + n as i64,
                    properties: serde_json::json!({"path": "/pricing"}),
                },
            });
        }
        store.write(builder.take()).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Sink writes: {} events in batches of {per_batch}: {:.0} events/s ({:.0} ms per batch)",
        batches * per_batch,
        (batches * per_batch) as f64 / secs,
        secs * 1e3 / batches as f64
    );
    Ok(())
}
