//! Benchmark: CRM customer list and search with a million customers.
//!
//! `cargo bench -p crm --bench list_search` starts (or reuses) a private Postgres cluster under
//! `$CARGO_TARGET_DIR/bench-pg`, fills one workspace with `PULSE_BENCH_CUSTOMERS` customers
//! (default 1,000,000; generated once and kept), then times the list queries the REST API and
//! the workbench run, through the same service functions, and prints p50/p99/max per scenario.
//! Set `PULSE_BENCH_DATABASE_URL` to use an existing server instead.

use crm::{Actor, ListParams};
use domain::Role;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

const ITERATIONS: usize = 200;

struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn stats(mut d: Vec<Duration>) -> Stats {
    d.sort();
    let at = |q: f64| {
        d[((d.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(d.len() - 1)]
    };
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        max: *d.last().unwrap(),
    }
}

async fn setup(pool: &PgPool, customers: usize) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    sqlx::migrate!("../migrations").run(pool).await?;
    let ws = Uuid::from_u128(0xbe9c4);
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Bench', 'bench') ON CONFLICT DO NOTHING")
        .bind(ws)
        .execute(pool)
        .await?;
    let mut reps = Vec::new();
    for i in 0..8u128 {
        let id = Uuid::from_u128(0x000b_e9c4_0000 + i);
        sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, '!') ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(format!("rep{i}@bench.example"))
            .bind(format!("Rep {i}"))
            .execute(pool)
            .await?;
        sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'sales_rep') ON CONFLICT DO NOTHING")
            .bind(ws)
            .bind(id)
            .execute(pool)
            .await?;
        reps.push(id);
    }
    let started = Instant::now();
    let day = time::macros::date!(2026 - 11 - 25);
    if let Some(g) = crm::demo::generate(
        pool,
        ws,
        1,
        day,
        crm::demo::Scale::customers_only(customers),
    )
    .await?
    {
        println!(
            "generated {} customers and {} accounts in {:.1} s",
            g.customers,
            g.accounts,
            started.elapsed().as_secs_f64()
        );
    }
    Ok((ws, reps))
}

async fn time_scenario(
    pool: &PgPool,
    actor: &Actor,
    params: &ListParams,
) -> anyhow::Result<(Stats, usize)> {
    let mut conn = pool.acquire().await?;
    let mut rows = 0;
    for _ in 0..10 {
        rows = crm::customers::list(&mut conn, actor, params)
            .await?
            .items
            .len();
    }
    let mut times = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let t = Instant::now();
        let page = crm::customers::list(&mut conn, actor, params).await?;
        times.push(t.elapsed());
        std::hint::black_box(page);
    }
    Ok((stats(times), rows))
}

fn main() -> anyhow::Result<()> {
    let customers: usize = std::env::var("PULSE_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // A modest production-like cache; the defaults (128 MB) are for laptops.
        let (url, cluster) =
            testkit::bench_database("bench-pg", "pulse_bench", &[("shared_buffers", "1GB")]).await?;
        let pool = PgPoolOptions::new().max_connections(4).connect(&url).await?;
        let (ws, reps) = setup(&pool, customers).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM customers WHERE workspace_id = $1").bind(ws).fetch_one(&pool).await?;
        let actor = Actor::user(ws, reps[0], Role::Manager);

        // A cursor deep into the list: walk 20 pages once.
        let mut deep = ListParams { limit: Some(50), ..Default::default() };
        let mut conn = pool.acquire().await?;
        for _ in 0..20 {
            let p = crm::customers::list(&mut conn, &actor, &deep).await?;
            deep.cursor = p.next_cursor;
        }
        drop(conn);
        let from = |pairs: &[(&str, &str)]| -> ListParams {
            let mut p = ListParams::from_pairs(&crm::customers::LIST, pairs.iter().copied()).expect("valid params");
            p.limit = Some(50);
            p
        };
        let rep = reps[3].to_string();
        let scenarios: Vec<(&str, ListParams)> = vec![
            ("first page, sorted by name", from(&[])),
            ("page 21 via cursor, by name", deep),
            ("newest first (-created_at)", from(&[("sort", "-created_at")])),
            ("owner filter + newest first", from(&[("owner_id", rep.as_str()), ("sort", "-created_at")])),
            ("search exact email", from(&[("q", "olivia.smith")])),
            ("search common last name", from(&[("q", "smith")])),
            ("search phone prefix", from(&[("q", "+4930")])),
            ("search, no match", from(&[("q", "zzqx-nobody")])),
            ("search matching ~60% of rows", from(&[("q", "@mail.example")])),
            ("stage filter + email consent", from(&[("lifecycle_stage", "churned"), ("consent_email", "true")])),
        ];
        println!();
        println!("CRM customer list/search, {count} customers, {ITERATIONS} runs each, service time (SQL + mapping + identifiers)");
        println!("| scenario | rows | p50 | p99 | max |");
        println!("|---|---|---|---|---|");
        for (name, params) in &scenarios {
            let (s, rows) = time_scenario(&pool, &actor, params).await?;
            println!(
                "| {name} | {rows} | {:.2} ms | {:.2} ms | {:.2} ms |",
                s.p50.as_secs_f64() * 1e3,
                s.p99.as_secs_f64() * 1e3,
                s.max.as_secs_f64() * 1e3
            );
        }
        pool.close().await;
        if let Some(c) = cluster {
            c.stop().await?;
        }
        anyhow::Ok(())
    })
}
