//! `pulse`: starts Postgres (managed or configured), migrates, seeds, serves until a signal.

#![recursion_limit = "256"]

use anyhow::Context;
use app::ServerContext;
use clap::Parser;
use leptos::config::LeptosOptions;
use server::config::{Cli, Command, Config};
use server::http::{self, AppState, SessionSettings};
use server::{database, telemetry};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command;
    let config = Config::load(cli)?;
    telemetry::init_logs(config.log_format);
    if command.is_none() {
        config.check_site()?;
    }
    let metrics = telemetry::init_metrics();

    let db = database::open(&config)
        .await
        .context("preparing Postgres")?;
    let pool = db.pool.clone();
    if let Some(Command::CdcUninstall) = command {
        let cdc_config = cdc::CdcConfig::new(db.url.clone());
        let result = cdc::uninstall(&pool, &cdc_config).await;
        db.close().await;
        result.context(
            "dropping the CDC slot (is a Pulse process still streaming from it? stop it first)",
        )?;
        println!(
            "Dropped CDC slot `{}` and publication `{}`: Postgres keeps no WAL for Pulse any more. The next start with CDC on takes a new snapshot.",
            cdc_config.slot, cdc_config.publication
        );
        return Ok(());
    }
    let store = PostgresStore::new(pool.clone());
    store
        .migrate()
        .await
        .context("creating the session table")?;
    let sweeper = tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(Duration::from_secs(600)),
    );

    if let Some(admin) = &config.admin {
        if !access::has_users(&pool).await? {
            let input = access::BootstrapAdmin {
                workspace_name: admin.workspace_name.clone(),
                name: admin.name.clone(),
                email: admin.email.clone(),
                password: admin.password.clone(),
            };
            access::bootstrap_admin(&pool, &input)
                .await
                .context("creating the first admin from PULSE_ADMIN_*")?;
            tracing::info!(email = %admin.email, "created the first admin");
        }
    }
    let demo_logins = if config.demo {
        let logins = access::seed_demo(&pool)
            .await
            .context("seeding demo users")?;
        seed_demo_crm(&pool).await?;
        logins
    } else {
        vec![]
    };

    let bus: Arc<dyn bus::Bus> = match &config.kafka_brokers {
        Some(brokers) => {
            let mut settings = bus::KafkaSettings::new(brokers.clone());
            settings.replication = config.kafka_replication;
            tracing::info!(%brokers, "event bus: Kafka");
            Arc::new(bus::KafkaBus::connect(settings).context("configuring the Kafka client")?)
        }
        // Concurrent gateway requests are combined into few appends (group commit).
        None => Arc::new(bus::Combiner::new(
            Arc::new(bus::PgBus::new(pool.clone())),
            2000,
            Duration::from_millis(2),
            4,
        )),
    };
    bus.ensure_topic(server::http::ingest::EVENTS_TOPIC, config.event_partitions)
        .await
        .context("creating the events topic (is the bus reachable?)")?;
    bus.ensure_topic(server::http::ingest::QUARANTINE_TOPIC, 3)
        .await
        .context("creating the quarantine topic")?;
    if config.demo {
        seed_demo_integrations(&pool, bus.as_ref()).await?;
    }
    let analytics = open_analytics(&config).await?;

    let leptos_options = LeptosOptions::builder()
        .output_name("pulse")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.bind)
        .build();
    // CRM truth downstream: logical replication onto crm.changes, restarted on failure (it
    // resumes from the slot's confirmed position).
    let cdc_cancel = cdc::CancellationToken::new();
    let cdc_tasks = if config.cdc {
        let cdc_config = cdc::CdcConfig::new(db.url.clone());
        cdc::prepare(&pool, &cdc_config)
            .await
            .context("preparing CDC (set PULSE_CDC=false to run without it)")?;
        server::cdc_task::spawn(pool.clone(), cdc_config, bus.clone(), cdc_cancel.clone())
    } else {
        Vec::new()
    };
    // The live customer model: pipeline on events.raw, label triggers → the sales inbox.
    let model_cancel = cdc::CancellationToken::new();
    let model_tasks = if config.pipeline {
        if config.demo {
            seed_demo_labels(&pool).await?;
        }
        let mut tasks = server::live::spawn(
            pool.clone(),
            bus.clone(),
            analytics.clone(),
            model_config(&config),
            model_cancel.clone(),
        );
        if config.demo && config.demo_traffic {
            tasks.push(server::demo_traffic::spawn(
                pool.clone(),
                bus.clone(),
                model_cancel.clone(),
            ));
        }
        tasks
    } else {
        Vec::new()
    };
    let gateway = Arc::new(
        server::gateway_runtime::EventGateway::new(config.gateway_rate_limit)
            .with_future_tolerance(config.future_tolerance),
    );
    let background_cancel = bus::CancellationToken::new();
    let background = server::gateway_runtime::spawn_background(
        gateway.clone(),
        pool.clone(),
        bus.clone(),
        background_cancel.clone(),
    );
    let state = AppState {
        leptos_options,
        pool: pool.clone(),
        ctx: ServerContext {
            pool: pool.clone(),
            login_policy: access::LoginPolicy {
                max_failures_per_email: config.login_max_failures,
                window: Duration::from_secs(config.login_window_minutes * 60),
                ..access::LoginPolicy::default()
            },
            demo: config.demo,
            bus: bus.clone(),
            analytics: analytics.clone(),
        },
        metrics,
        set_up: Arc::new(AtomicBool::new(false)),
        bus: bus.clone(),
        gateway: gateway.clone(),
    };
    let sessions = SessionSettings {
        secure: config.secure_cookies,
        idle_hours: config.session_idle_hours,
    };
    let router = http::router(state, store, &sessions);

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {} (PULSE_BIND)", config.bind))?;
    print_banner(&config, &demo_logins, db.cluster.is_some());
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;

    tracing::info!("shutting down: requests drained, closing Postgres");
    sweeper.abort();
    model_cancel.cancel();
    for task in model_tasks {
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!("the customer model did not stop within 5 s");
        }
    }
    cdc_cancel.cancel();
    for task in cdc_tasks {
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!("CDC did not stop within 5 s");
        }
    }
    background_cancel.cancel();
    for task in background {
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!("the gateway's background work did not stop within 5 s");
        }
    }
    gateway.flush_counts(&pool).await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The live model's settings: the defaults, with the event-time tolerance the gateway uses.
fn model_config(config: &server::config::Config) -> server::live::ModelConfig {
    let mut model = server::live::ModelConfig::default();
    model.engine.future_tolerance_ms = config.future_tolerance.as_millis() as i64;
    model
}

/// The flagship label of the demo workspace: pricing viewed, no contact form within 10 minutes.
async fn seed_demo_labels(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    use domain::labels::{EventMatch, LabelDefinition, LabelRule};
    let ws: uuid::Uuid = sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'acme-demo'")
        .fetch_one(pool)
        .await
        .context("finding the demo workspace")?;
    let mut first = EventMatch::named("Page Viewed");
    first.properties.insert("path".into(), "/pricing".into());
    let defs = [
        LabelDefinition {
            name: "high_intent_unresolved".into(),
            description: "Viewed pricing and did not contact sales within 10 minutes".into(),
            rule: LabelRule::Absence {
                first,
                then_not: EventMatch::named("form_submit"),
                within_ms: 10 * 60_000,
            },
            trigger: true,
        },
        LabelDefinition {
            name: "plan_shopper".into(),
            description: "Selected a plan twice within a day".into(),
            rule: LabelRule::Count {
                matching: EventMatch::named("Plan Selected"),
                count: 2,
                window_ms: 86_400_000,
            },
            trigger: false,
        },
    ];
    audiences::labels::seed(pool, ws, &defs).await?;
    Ok(())
}

/// Demo integrations (Shopify, Zendesk, SendGrid), each with its sample payload delivered once,
/// plus one Zendesk ticket the mapping refuses (priority `critical`), so Settings → Integrations
/// shows written and failed deliveries and the fix-and-replay path on first start.
async fn seed_demo_integrations(pool: &sqlx::PgPool, bus: &dyn bus::Bus) -> anyhow::Result<()> {
    let (ws, admin): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT w.id, m.user_id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
          WHERE w.slug = 'acme-demo' AND m.role = 'admin' ORDER BY m.user_id LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .context("finding the demo admin")?;
    let seeded: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = $1)")
            .bind(ws)
            .fetch_one(pool)
            .await?;
    if seeded {
        return Ok(());
    }
    let actor = crm::Actor::user(ws, admin, domain::Role::Admin);
    for (name, system) in [
        ("Shopify store", "shopify"),
        ("Zendesk support", "zendesk"),
        ("SendGrid email", "sendgrid"),
    ] {
        let (_, secret) = integrations::create(pool, &actor, name, system, system)
            .await
            .with_context(|| format!("creating the demo {system} integration"))?;
        let integration = integrations::authenticate(pool, &secret)
            .await?
            .context("the demo credential does not authenticate")?;
        let template = integrations::templates::template(system).context("template")?;
        let payload: serde_json::Value = serde_json::from_str(template.sample)?;
        integrations::deliver(
            pool,
            bus,
            &integration,
            template.sample_kind,
            "demo-sample",
            &payload,
        )
        .await
        .with_context(|| format!("delivering the demo {system} sample"))?;
        if system == "zendesk" {
            let mut refused = payload.clone();
            refused["ticket"]["id"] = 48214.into();
            refused["ticket"]["priority"] = "critical".into();
            refused["ticket"]["subject"] = "Order #1001 charged twice".into();
            integrations::deliver(
                pool,
                bus,
                &integration,
                template.sample_kind,
                "demo-refused",
                &refused,
            )
            .await?;
        }
    }
    Ok(())
}

/// The seed of the demo CRM; with the day it fixes every generated row.
const DEMO_SEED: u64 = 2026;

/// Fills the demo workspace's CRM once (~10k customers, ~50k orders over 18 months).
async fn seed_demo_crm(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let ws: uuid::Uuid = sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'acme-demo'")
        .fetch_one(pool)
        .await
        .context("finding the demo workspace")?;
    let today = time::OffsetDateTime::now_utc().date();
    println!("Preparing demo CRM data (first start only)…");
    match crm::demo::generate(pool, ws, DEMO_SEED, today, crm::demo::Scale::DEMO)
        .await
        .context("generating demo CRM data")?
    {
        Some(g) => tracing::info!(
            customers = g.customers,
            orders = g.orders,
            order_lines = g.order_lines,
            seconds = g.seconds,
            "generated demo CRM data"
        ),
        None => tracing::info!("demo CRM data already present"),
    }
    gateway::sources::ensure_with_key(pool, ws, "Acme website", "web", DEMO_WRITE_KEY)
        .await
        .context("creating the demo event source")?;
    Ok(())
}

use server::DEMO_WRITE_KEY;

fn print_banner(config: &Config, demo: &[access::DemoLogin], managed: bool) {
    let url = format!("http://{}", config.bind);
    println!();
    println!("  Pulse is running at {url}");
    println!(
        "  Postgres: {}",
        if managed {
            format!(
                "managed cluster in {}",
                config.data_dir.join("postgres").display()
            )
        } else {
            "DATABASE_URL".into()
        }
    );
    if !demo.is_empty() {
        println!("  Demo logins (password: {}):", access::DEMO_PASSWORD);
        for d in demo {
            println!("    {:<10} {}", d.role.label(), d.email);
        }
        println!(
            "  Event gateway: POST {url}/v1/track, /v1/batch … with write key {DEMO_WRITE_KEY}"
        );
        println!("  Web SDK demo page: {url}/sdk/demo (watch it in Settings → Sources)");
    }
    println!(
        "  Event bus: {}",
        match &config.kafka_brokers {
            Some(b) => format!("Kafka at {b}"),
            None => "embedded log in Postgres".into(),
        }
    );
    println!("  Press Ctrl-C to stop.");
    println!();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("signal received; finishing in-flight requests");
}

/// The analytics store: StarRocks when configured, else DuckDB in the data dir.
async fn open_analytics(config: &Config) -> anyhow::Result<Arc<dyn analytics::AnalyticsStore>> {
    let store: Arc<dyn analytics::AnalyticsStore> = match &config.starrocks {
        Some(sr) => {
            tracing::info!(http = %sr.http_url, database = %sr.database, "analytics store: StarRocks");
            Arc::new(analytics::StarRocksStore::new(sr.clone()).context("configuring StarRocks")?)
        }
        None => {
            let path = config.data_dir.join("analytics").join("pulse.duckdb");
            Arc::new(analytics::DuckDbStore::open(&path).with_context(|| {
                format!(
                    "opening the analytics store {} (DuckDB allows one process per file: is another Pulse running on this data dir?)",
                    path.display()
                )
            })?)
        }
    };
    store.migrate().await.with_context(|| {
        format!(
            "creating the tables of the analytics store ({})",
            store.engine()
        )
    })?;
    Ok(store)
}
