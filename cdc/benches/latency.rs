//! Benchmark: CRM commit → on the bus. A pgbench-style load of single-row order updates runs
//! against a CRM database while CDC streams them onto `crm.changes` on the embedded bus; each
//! change's latency is the time its record was appended to the bus minus its transaction's
//! commit time (both from the Postgres clock).
//!
//! `cargo bench -p cdc --bench latency` starts (or reuses) a private Postgres under
//! `$CARGO_TARGET_DIR/bench-cdc-pg` (or uses `PULSE_BENCH_DATABASE_URL`, which needs
//! `wal_level=logical`). Two phases of `PULSE_BENCH_SECONDS` (default 10) each: a fixed rate of
//! `PULSE_BENCH_RATE` updates/s (default 500) from 4 writers, then 8 writers as fast as they
//! can. Prints updates/s committed, changes/s on the bus and p50/p99/max latency per phase.

use bus::{Bus, PgBus};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ORDERS: i64 = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = env_or("PULSE_BENCH_SECONDS", 10);
    let rate = env_or("PULSE_BENCH_RATE", 500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (url, cluster) =
            testkit::bench_database("bench-cdc-pg", "pulse_cdc_bench", &[]).await?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        let mut config = cdc::CdcConfig::new(url.clone());
        config.slot = "pulse_cdc_bench".into();
        // A previous run's slot and rows would mix into this run's figures.
        cdc::uninstall(&pool, &config).await?;
        sqlx::query("TRUNCATE bus_records, bus_group_offsets, bus_group_members")
            .execute(&pool)
            .await?;
        sqlx::query("DELETE FROM bus_topics").execute(&pool).await?;
        seed(&pool).await?;
        cdc::prepare(&pool, &config).await?;
        let bus: Arc<dyn Bus> = Arc::new(PgBus::new(pool.clone()));
        let cancel = cdc::CancellationToken::new();
        let task = {
            let (pool, config, bus, cancel) =
                (pool.clone(), config.clone(), bus.clone(), cancel.clone());
            tokio::spawn(
                async move { cdc::run(&pool, &config, "pulse_cdc_bench", bus, cancel).await },
            )
        };
        let started = Instant::now();
        loop {
            let done: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cdc_slots WHERE slot = $1)")
                    .bind(&config.slot)
                    .fetch_one(&pool)
                    .await?;
            if done {
                break;
            }
            if task.is_finished() {
                return Err(format!("CDC stopped: {:?}", task.await).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "CDC snapshot of {ORDERS} orders + customers published in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        println!("\nCRM commit → crm.changes on the embedded bus, single-row order updates:");
        println!(
            "{:<28} {:>10} {:>12} {:>9} {:>9} {:>9}",
            "phase", "updates/s", "on bus/s", "p50 ms", "p99 ms", "max ms"
        );
        phase(
            &pool,
            &format!("fixed {rate}/s, 4 writers"),
            4,
            Some(rate),
            seconds,
        )
        .await?;
        phase(&pool, "max, 8 writers", 8, None, seconds).await?;
        cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        cdc::uninstall(&pool, &config).await?;
        pool.close().await;
        if let Some(c) = cluster {
            c.stop().await?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// A workspace with customers and one order each.
async fn seed(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM workspaces WHERE slug = 'cdc-bench'")
        .execute(pool)
        .await?;
    let ws = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'CDC bench', 'cdc-bench')")
        .bind(ws)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO customers (id, workspace_id, first_name, last_name, primary_email)
         SELECT gen_random_uuid(), $1, 'Bench', 'Customer ' || i, 'bench' || i || '@example.com'
           FROM generate_series(1, $2) i",
    )
    .bind(ws)
    .bind(ORDERS)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO orders (id, workspace_id, number, customer_id, status, currency, total_minor)
         SELECT gen_random_uuid(), $1, 'B-' || row_number() OVER (), id, 'paid', 'EUR', 0
           FROM customers WHERE workspace_id = $1",
    )
    .bind(ws)
    .execute(pool)
    .await?;
    Ok(())
}

/// Runs `writers` update loops for `seconds` (at `rate` in total when given), waits until every
/// update is on the bus, then reads each change's commit → append latency from the bus.
async fn phase(
    pool: &PgPool,
    name: &str,
    writers: u64,
    rate: Option<u64>,
    seconds: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM orders ORDER BY id")
        .fetch_all(pool)
        .await?;
    let ids = Arc::new(ids);
    let start_ms: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8 * 1000")
            .fetch_one(pool)
            .await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for w in 0..writers {
        let (pool, ids) = (pool.clone(), ids.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            let gap = rate.map(|r| Duration::from_secs_f64(writers as f64 / r as f64));
            let mut next = Instant::now();
            while Instant::now() < deadline {
                let id = ids[((w * 7919 + n * 104_729) % ids.len() as u64) as usize];
                sqlx::query(
                    "UPDATE orders SET status = CASE WHEN status = 'paid' THEN 'fulfilled' ELSE 'paid' END, version = version + 1, updated_at = now() WHERE id = $1",
                )
                .bind(id)
                .execute(&pool)
                .await?;
                n += 1;
                if let Some(gap) = gap {
                    next += gap;
                    tokio::time::sleep_until(next.into()).await;
                }
            }
            Ok::<u64, sqlx::Error>(n)
        }));
    }
    let mut updates = 0;
    for h in handles {
        updates += h.await??;
    }
    // Wait until every update of this phase is on the bus.
    let count_sql = "SELECT count(*) FROM bus_records
          WHERE topic = 'crm.changes' AND (convert_from(value, 'UTF8')::jsonb ->> 'op') = 'u'
            AND (convert_from(value, 'UTF8')::jsonb ->> 'ts_ms')::float8 >= $1";
    let wait_from = Instant::now();
    loop {
        let on_bus: i64 = sqlx::query_scalar(count_sql)
            .bind(start_ms)
            .fetch_one(pool)
            .await?;
        if on_bus as u64 >= updates || wait_from.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT (convert_from(value, 'UTF8')::jsonb ->> 'ts_ms')::float8,
                extract(epoch FROM appended_at)::float8 * 1000
           FROM bus_records
          WHERE topic = 'crm.changes' AND (convert_from(value, 'UTF8')::jsonb ->> 'op') = 'u'
            AND (convert_from(value, 'UTF8')::jsonb ->> 'ts_ms')::float8 >= $1",
    )
    .bind(start_ms)
    .fetch_all(pool)
    .await?;
    let mut lat: Vec<f64> = rows.iter().map(|(c, a)| (a - c).max(0.0)).collect();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        lat[((lat.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(lat.len() - 1)]
    };
    let first_commit = rows.iter().map(|r| r.0).fold(f64::MAX, f64::min);
    let last_append = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    println!(
        "{:<28} {:>10.0} {:>12.0} {:>9.1} {:>9.1} {:>9.1}",
        name,
        updates as f64 / seconds as f64,
        rows.len() as f64 / ((last_append - first_commit) / 1e3),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0.0),
    );
    if (rows.len() as u64) < updates {
        println!(
            "  (only {} of {updates} updates reached the bus within 120 s)",
            rows.len()
        );
    }
    Ok(())
}
