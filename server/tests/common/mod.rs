//! The test harness shared by the server's integration tests: a real server on a fresh database.
#![allow(dead_code)]

use app::ServerContext;
use server::http::{router, AppState, SessionSettings};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tower_sessions_sqlx_store::PostgresStore;

pub struct Running {
    pub base: String,
    pub pool: sqlx::PgPool,
}

pub async fn start() -> Running {
    start_with(|pool| Arc::new(bus::PgBus::new(pool))).await
}

/// A server whose gateway uses the bus `make` builds (the Kafka bus, a broken one, …).
pub async fn start_with(make: impl FnOnce(sqlx::PgPool) -> Arc<dyn bus::Bus>) -> Running {
    let db = testkit::fresh_db().await;
    let store = PostgresStore::new(db.pool.clone());
    store.migrate().await.unwrap();
    let site = std::env::temp_dir().join("pulse-http-test-site");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bus = make(db.pool.clone());
    let analytics: Arc<dyn analytics::AnalyticsStore> =
        Arc::new(analytics::DuckDbStore::in_memory().unwrap());
    analytics.migrate().await.unwrap();
    // A bus that cannot be reached is the point of some tests; topics are then left alone.
    for (topic, partitions) in [(gateway::EVENTS_TOPIC, 4), (gateway::QUARANTINE_TOPIC, 1)] {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            bus.ensure_topic(topic, partitions),
        )
        .await;
    }
    let gw = Arc::new(server::gateway_runtime::EventGateway::new(1_000));
    server::gateway_runtime::spawn_background(
        gw.clone(),
        db.pool.clone(),
        bus.clone(),
        bus::CancellationToken::new(),
    );
    let state = AppState {
        leptos_options: leptos::config::LeptosOptions::builder()
            .output_name("pulse")
            .site_root(site.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build(),
        pool: db.pool.clone(),
        ctx: ServerContext {
            pool: db.pool.clone(),
            login_policy: access::LoginPolicy::default(),
            demo: true,
            bus: bus.clone(),
            analytics: analytics.clone(),
        },
        metrics: server::telemetry::init_metrics(),
        set_up: Arc::new(AtomicBool::new(false)),
        bus: bus.clone(),
        gateway: gw,
    };
    let app = router(
        state,
        store,
        &SessionSettings {
            secure: false,
            idle_hours: 1,
        },
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Running {
        base: format!("http://{addr}"),
        pool: db.pool,
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn login(
    c: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    c.post(format!("{base}/api/login"))
        .header("accept", "application/json")
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The flagship label: viewed /pricing, no `form_submit` within 10 minutes; a trigger.
pub fn flagship_label() -> domain::labels::LabelDefinition {
    use domain::labels::{EventMatch, LabelDefinition, LabelRule};
    let mut first = EventMatch::named("Page Viewed");
    first.properties.insert("path".into(), "/pricing".into());
    LabelDefinition {
        name: "high_intent_unresolved".into(),
        description: "Viewed pricing, no form within 10 minutes".into(),
        rule: LabelRule::Absence {
            first,
            then_not: EventMatch::named("form_submit"),
            within_ms: 600_000,
        },
        trigger: true,
    }
}

/// A workspace with one event source; returns the source's write key.
pub async fn workspace_source(pool: &sqlx::PgPool) -> String {
    let ws = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Shop', 'shop')")
        .bind(ws)
        .execute(pool)
        .await
        .unwrap();
    gateway::sources::create(pool, ws, "Web shop", "web")
        .await
        .unwrap()
        .1
}

/// A server with one event source: the server, the source's write key, and its embedded bus.
pub async fn start_with_source() -> (Running, String, bus::PgBus) {
    let s = start().await;
    let key = workspace_source(&s.pool).await;
    let bus = bus::PgBus::new(s.pool.clone());
    (s, key, bus)
}

/// Every record on `topic` so far, as JSON (read by a group of its own).
pub async fn read_all(bus: &bus::PgBus, topic: &str) -> Vec<serde_json::Value> {
    use bus::Bus;
    let mut c = bus.subscribe("test-reader", topic).await.unwrap();
    let mut out = Vec::new();
    loop {
        let batch = c
            .poll(1000, std::time::Duration::from_millis(300))
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(
            batch
                .into_iter()
                .map(|m| serde_json::from_slice(&m.value).unwrap()),
        );
    }
}
