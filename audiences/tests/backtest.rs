//! Backtests against a real Postgres and its embedded bus: what they count and their bounds
//! (rights, one per workspace at a time, the time limit).

mod common;

use audiences::backtest::{self, Limits, Window};
use audiences::{AudienceError, Member};
use bus::{Bus, OutRecord, PgBus};
use domain::labels::{EventMatch, LabelDefinition, LabelRule};
use std::time::{Duration, Instant};

fn viewed_product() -> LabelDefinition {
    LabelDefinition {
        name: "viewed_product".into(),
        description: String::new(),
        rule: LabelRule::Recency {
            matching: EventMatch::named("Product Viewed"),
            within_ms: 3_600_000,
        },
        trigger: false,
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

async fn events_bus(pool: &sqlx::PgPool) -> PgBus {
    let bus = PgBus::new(pool.clone());
    bus.ensure_topic(domain::events::EVENTS_TOPIC, 4)
        .await
        .unwrap();
    bus
}

/// A tracked event of an anonymous visitor, as the gateway puts it on `events.raw`.
fn track(member: &Member, anon: &str, event: &str, at_ms: i64, n: u32) -> OutRecord {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(at_ms as i128 * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let ws = member.workspace_id.to_string();
    let value = serde_json::json!({
        "type": "track", "anonymousId": anon, "event": event, "properties": {},
        "messageId": format!("m-{n}"), "timestamp": at, "_pulse": {"workspaceId": ws},
    });
    OutRecord {
        key: domain::events_key(member.workspace_id),
        value: serde_json::to_vec(&value).unwrap(),
        timestamp_ms: at_ms,
    }
}

#[tokio::test]
async fn a_backtest_counts_the_profiles_a_label_would_have_been_set_on() {
    let w = common::world().await;
    let bus = events_bus(&w.pool).await;
    let now = now_ms();
    bus.produce(
        domain::events::EVENTS_TOPIC,
        vec![
            track(&w.marketer, "anon-1", "Product Viewed", now - 1_800_000, 1),
            track(&w.marketer, "anon-2", "Product Viewed", now - 1_200_000, 2),
            track(&w.marketer, "anon-3", "Page Viewed", now - 600_000, 3),
            // Before the window: not replayed.
            track(
                &w.marketer,
                "anon-4",
                "Product Viewed",
                now - 9 * 86_400_000,
                4,
            ),
        ],
    )
    .await
    .unwrap();

    let result = backtest::run(
        &w.pool,
        &bus,
        &w.marketer,
        viewed_product(),
        Window::last_days(now, 7),
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(result.events, 3);
    assert_eq!(result.profiles, 3);
    assert_eq!(result.ever_set, 2);
    assert_eq!(result.carrying_now, 2);
    assert!(!result.truncated);
}

#[tokio::test]
async fn a_backtest_reads_national_phones_in_the_workspaces_calling_code() {
    let w = common::world().await;
    let bus = events_bus(&w.pool).await;
    sqlx::query("UPDATE workspaces SET phone_country = 44 WHERE id = $1")
        .bind(w.marketer.workspace_id)
        .execute(&w.pool)
        .await
        .unwrap();
    let now = now_ms();
    // One person: the same UK number, once as dialled in the UK and once internationally.
    let identify = |anon: &str, phone: &str, at_ms: i64, n: u32| {
        let mut record = track(&w.marketer, anon, "Product Viewed", at_ms, n);
        let mut value: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        value["context"] = serde_json::json!({"traits": {"phone": phone}});
        record.value = serde_json::to_vec(&value).unwrap();
        record
    };
    bus.produce(
        domain::events::EVENTS_TOPIC,
        vec![
            identify("anon-1", "020 7946 0958", now - 1_800_000, 1),
            identify("anon-2", "+44 20 7946 0958", now - 1_200_000, 2),
        ],
    )
    .await
    .unwrap();
    let result = backtest::run(
        &w.pool,
        &bus,
        &w.marketer,
        viewed_product(),
        Window::last_days(now, 7),
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(result.events, 2);
    assert_eq!(result.profiles, 1, "both visits join one profile by phone");
}

#[tokio::test]
async fn a_sales_rep_cannot_backtest_a_label() {
    let w = common::world().await;
    let bus = events_bus(&w.pool).await;
    let e = backtest::run(
        &w.pool,
        &bus,
        &w.rep,
        viewed_product(),
        Window::last_days(now_ms(), 7),
        Limits::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AudienceError::Refused(_)), "{e:?}");
}

#[tokio::test]
async fn a_backtest_is_refused_while_another_runs_for_the_same_workspace() {
    let w = common::world().await;
    let bus = events_bus(&w.pool).await;
    let run = |who: Member| {
        let (pool, bus) = (w.pool.clone(), bus.clone());
        async move {
            backtest::run(
                &pool,
                &bus,
                &who,
                viewed_product(),
                Window::last_days(now_ms(), 7),
                Limits::default(),
            )
            .await
        }
    };

    let running = backtest::begin(&w.pool, w.admin.workspace_id)
        .await
        .unwrap();
    let refused = run(w.marketer).await.unwrap_err();
    assert!(
        matches!(refused, AudienceError::BacktestRunning),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "A backtest is already running for this workspace. Wait for it to finish and try again."
    );
    run(w.stranger)
        .await
        .expect("another workspace backtests meanwhile");

    running.finish().await.unwrap();
    run(w.marketer)
        .await
        .expect("the slot is free once the other backtest finished");
}

#[tokio::test]
async fn a_backtest_dropped_midway_frees_its_workspace_slot() {
    let w = common::world().await;
    let running = backtest::begin(&w.pool, w.admin.workspace_id)
        .await
        .unwrap();
    // A client that goes away drops the server function's future, and the slot with it.
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match backtest::begin(&w.pool, w.admin.workspace_id).await {
            Ok(r) => break r.finish().await.unwrap(),
            Err(AudienceError::BacktestRunning) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("the slot was not freed: {e:?}"),
        }
    }
}

#[tokio::test]
async fn a_backtest_past_its_time_limit_is_stopped_with_a_clear_message_and_frees_the_slot() {
    let w = common::world().await;
    let bus = events_bus(&w.pool).await;
    // The replay waits 300 ms for events that never come: longer than this limit.
    let limits = Limits {
        time_limit: Duration::from_millis(50),
        ..Limits::default()
    };
    let e = backtest::run(
        &w.pool,
        &bus,
        &w.manager,
        viewed_product(),
        Window::last_days(now_ms(), 7),
        limits,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AudienceError::BacktestTimedOut(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "The backtest took longer than 50 ms and was stopped. Narrow the rule or try again later."
    );
    backtest::begin(&w.pool, w.manager.workspace_id)
        .await
        .expect("a stopped backtest frees the slot")
        .finish()
        .await
        .unwrap();
}
