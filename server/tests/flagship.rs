//! The flagship scenario end to end, as the product runs it: a visitor who is a CRM customer
//! views /pricing through the gateway; no `form_submit` within the label's window → label
//! `high_intent_unresolved` → an alert in the owning sales rep's inbox, once, across a restart
//! of the customer model in the middle of the wait; a visitor who submits the form in time
//! gets no alert. Nobody sends anything after the visits: time passes by the ticks the runner
//! writes into the idle log (the window is 8 seconds here instead of 10 minutes, so the test
//! waits for real time to pass).

mod common;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// The label's window.
const WINDOW: time::Duration = time::Duration::seconds(8);

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

async fn alerts(pool: &sqlx::PgPool) -> Vec<(Option<Uuid>, Option<Uuid>, String, String)> {
    sqlx::query_as("SELECT owner_id, customer_id, label, reason FROM alerts ORDER BY created_at")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn wait_for_checkpoint(pool: &sqlx::PgPool, events: i64) {
    for _ in 0..100 {
        let covered: Option<i64> = sqlx::query_scalar(
            "SELECT sum(value::bigint)::bigint FROM pipeline_checkpoints, jsonb_each_text(offsets)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if covered.unwrap_or(0) >= events {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the pipeline did not checkpoint {events} events");
}

#[tokio::test]
async fn a_pricing_visit_without_a_form_alerts_the_owner_once_across_a_restart() {
    let run = common::start().await;
    let pool = run.pool.clone();
    let ws = Uuid::new_v4();
    let rep = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Acme', 'acme')")
        .bind(ws)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'rep@acme.example', 'Rep', 'x')")
        .bind(rep)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'sales_rep')",
    )
    .bind(ws)
    .bind(rep)
    .execute(&pool)
    .await
    .unwrap();
    let rep_actor = crm::Actor::user(ws, rep, domain::Role::SalesRep);
    let mut conn = pool.acquire().await.unwrap();
    let customer = crm::customers::create(
        &mut conn,
        &rep_actor,
        domain::crm::CustomerInput {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            emails: vec!["ada@lovelace.example".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    drop(conn);
    let mut label = common::flagship_label();
    if let domain::labels::LabelRule::Absence { within_ms, .. } = &mut label.rule {
        *within_ms = WINDOW.whole_milliseconds() as i64;
    }
    audiences::labels::store(&pool, ws, &label).await.unwrap();
    let (_, key) = gateway::sources::create(&pool, ws, "Website", "web")
        .await
        .unwrap();

    let t0 = OffsetDateTime::now_utc();
    let mut config = server::live::ModelConfig {
        checkpoint_every: Duration::from_millis(100),
        ..Default::default()
    };
    config.engine.max_disorder_ms = 500;
    config.engine.allowed_lateness_ms = 1_000;
    let bus: Arc<dyn bus::Bus> = Arc::new(bus::PgBus::new(pool.clone()));
    // The analytics store outlives the restart, as the server's DuckDB file does.
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn analytics::AnalyticsStore> =
        Arc::new(analytics::DuckDbStore::open(&dir.path().join("pulse.duckdb")).unwrap());
    let cancel = cdc::CancellationToken::new();
    let tasks = server::live::spawn(
        pool.clone(),
        bus.clone(),
        store.clone(),
        config,
        cancel.clone(),
    );

    let http = reqwest::Client::new();
    let send = |batch: serde_json::Value| {
        let http = http.clone();
        let url = format!("{}/v1/batch", run.base);
        let key = key.clone();
        async move {
            let r = http
                .post(url)
                .basic_auth(key, Some(""))
                .json(&json!({ "batch": batch }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    send(json!([
        {"type": "identify", "anonymousId": "a-ada", "traits": {"email": "Ada@Lovelace.example"}, "timestamp": ts(t0)},
        {"type": "page", "anonymousId": "a-ada", "properties": {"path": "/pricing"}, "timestamp": ts(t0 + time::Duration::seconds(1))},
        {"type": "page", "anonymousId": "a-bob", "properties": {"path": "/pricing"}, "timestamp": ts(t0)},
        {"type": "track", "anonymousId": "a-bob", "event": "form_submit", "timestamp": ts(t0 + time::Duration::seconds(1))},
    ]))
    .await;
    // Three events and the label version the runner publishes.
    wait_for_checkpoint(&pool, 5).await;
    assert!(
        alerts(&pool).await.is_empty(),
        "nothing yet: the window has not passed"
    );

    // Restart the model in the middle of the wait: it resumes from its checkpoint.
    cancel.cancel();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
    let cancel = cdc::CancellationToken::new();
    let tasks = server::live::spawn(
        pool.clone(),
        bus.clone(),
        store.clone(),
        config,
        cancel.clone(),
    );

    // Nothing more is sent: the runner's ticks move time past the deadline and the second of
    // allowed lateness a late form could still arrive in.
    let mut found = vec![];
    for _ in 0..300 {
        found = alerts(&pool).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let (owner, cust, label, reason) = &found[0];
    assert_eq!(*owner, Some(rep), "the owning rep's inbox");
    assert_eq!(*cust, Some(customer.id));
    assert_eq!(label, "high_intent_unresolved");
    assert!(reason.contains("no form_submit"), "{reason}");

    // More time passes: it fired once, and Bob (form in time) never alerts.
    tokio::time::sleep(WINDOW.unsigned_abs() / 2).await;
    assert_eq!(alerts(&pool).await.len(), 1);
    cancel.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }

    // The analytics store has Ada's profile — her identifiers, the label and why — and her
    // timeline, each event once although the model restarted in between.
    let ws = ws.to_string();
    let page = store
        .search(
            &ws,
            &analytics::ProfileQuery {
                text: "ada@lovelace.example".into(),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1, "{page:?}");
    let ada = store
        .profile(&ws, &page.rows[0].profile, 50)
        .await
        .unwrap()
        .unwrap();
    assert!(ada.labels.contains(&"high_intent_unresolved".to_string()));
    assert!(ada
        .label_history
        .iter()
        .any(|l| l.set && l.reason.contains("no form_submit")));
    let names: Vec<_> = ada.timeline.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Page Viewed", "Identified"], "{names:?}");
    assert!(ada
        .identifiers
        .iter()
        .any(|i| i.kind == domain::IdKind::Email && i.value == "ada@lovelace.example"));
    assert_eq!(ada.traits.events_total, 2);
    assert_eq!(ada.traits.sessions_total, 1);
}
