//! The event gateway over HTTP against a real Postgres and the embedded bus: Segment-shaped
//! calls are acknowledged only once on the bus, refused ones are quarantined with the reason.

mod common;

use bus::Bus;
use common::{client, read_all, start, start_with_source, workspace_source};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn a_track_call_with_basic_auth_lands_on_the_bus_enriched() {
    let (s, key, bus) = start_with_source().await;
    let r = client()
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .header("user-agent", "analytics-python/2.3")
        .json(&json!({ "userId": "u-1", "event": "Order Completed", "properties": { "revenue": 42.5 }, "messageId": "m-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], true);
    let events = read_all(&bus, "events.raw").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["messageId"], "m-1");
    assert_eq!(e["type"], "track");
    assert_eq!(e["context"]["userAgent"], "analytics-python/2.3");
    assert_eq!(e["context"]["ip"], "127.0.0.1");
    assert!(e["receivedAt"].is_string());
    assert!(e["_pulse"]["sourceId"].is_string());
}

#[tokio::test]
async fn a_batch_keeps_good_events_and_quarantines_bad_ones_with_the_reason() {
    let (s, key, bus) = start_with_source().await;
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .json(&json!({
            "writeKey": key,
            "batch": [
                { "type": "identify", "userId": "u-2", "traits": { "email": "a@b.co" } },
                { "type": "track", "anonymousId": "anon-9" },
                { "type": "page", "anonymousId": "anon-9", "name": "Home" }
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["quarantined"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(read_all(&bus, "events.raw").await.len(), 2);
    let q = read_all(&bus, "events.quarantine").await;
    assert_eq!(q.len(), 1);
    assert!(q[0]["reason"].as_str().unwrap().contains("event"));
    assert_eq!(q[0]["payload"]["anonymousId"], "anon-9");
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_reason_and_are_recorded() {
    let (s, key, bus) = start_with_source().await;
    let c = client();
    let no_key = c
        .post(format!("{}/v1/track", s.base))
        .json(&json!({ "userId": "u", "event": "e" }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let wrong = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth("wk_nope", Some(""))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let not_json = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert!(not_json.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));

    let missing = c
        .post(format!("{}/v1/alias", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u" }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);

    let huge = json!({ "userId": "u", "event": "e", "properties": { "blob": "x".repeat(40_000) } });
    let too_big = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);

    let q = read_all(&bus, "events.quarantine").await;
    assert_eq!(
        q.len(),
        3,
        "malformed JSON, the bad alias and the oversized event are all on record"
    );
    assert!(read_all(&bus, "events.raw").await.is_empty());
}

#[tokio::test]
async fn when_the_bus_cannot_store_events_the_answer_is_503_and_nothing_is_acknowledged() {
    let (s, key, bus) = start_with_source().await;
    sqlx::query("ALTER TABLE bus_records RENAME TO bus_records_away")
        .execute(&s.pool)
        .await
        .unwrap();
    let r = client()
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u", "event": "Lost?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    sqlx::query("ALTER TABLE bus_records_away RENAME TO bus_records")
        .execute(&s.pool)
        .await
        .unwrap();
    assert!(read_all(&bus, "events.raw").await.is_empty());
    // The client retries and this time it is stored, once.
    let r = client()
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u", "event": "Lost?", "messageId": "retry-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(read_all(&bus, "events.raw").await.len(), 1);
}

#[tokio::test]
async fn a_source_over_its_rate_gets_429_with_retry_after() {
    let (s, key, _bus) = start_with_source().await;
    // The test server allows 1,000 events/s with bursts of 5,000: a 4,000-event batch fits,
    // the next one does not.
    let batch: Vec<Value> = (0..4000)
        .map(|i| json!({ "type": "track", "userId": format!("u{i}"), "event": "E" }))
        .collect();
    let c = client();
    let ok = c
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let limited = c
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "retry after {retry} s");
}

async fn source_of(pool: &sqlx::PgPool) -> (uuid::Uuid, uuid::Uuid) {
    sqlx::query_as("SELECT workspace_id, id FROM sources LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn set_plan(pool: &sqlx::PgPool, plan: Value, consent: &[&str]) {
    let (ws, id) = source_of(pool).await;
    let plan: domain::tracking::TrackingPlan = serde_json::from_value(plan).unwrap();
    let consent = domain::tracking::ConsentPolicy {
        activation: consent.iter().map(|c| c.to_string()).collect(),
    };
    gateway::sources::update_policy(pool, ws, id, &plan, &consent)
        .await
        .unwrap();
}

/// Waits until the quarantine copier has stored `n` rows.
async fn quarantined_rows(pool: &sqlx::PgPool, n: i64) {
    for _ in 0..100 {
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine")
            .fetch_one(pool)
            .await
            .unwrap();
        if have >= n {
            assert_eq!(have, n, "exactly the refused events are in the table");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the quarantine table never reached {n} rows");
}

#[tokio::test]
async fn a_blocking_plan_quarantines_violations_and_a_fixed_plan_or_mapping_replays_them_once() {
    let (s, key, bus) = start_with_source().await;
    set_plan(
        &s.pool,
        json!({"mode": "block", "events": [
            {"name": "Signed Up", "properties": [{"name": "plan", "type": "string", "required": true}]}
        ]}),
        &[],
    )
    .await;
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "batch": [
            { "type": "track", "userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}, "messageId": "ok-1" },
            { "type": "track", "userId": "u1", "event": "signup", "messageId": "bad-1" },
            { "type": "track", "userId": "u2", "event": "signup", "messageId": "bad-2" },
            { "type": "track", "userId": "u3", "event": "Signed Up", "messageId": "bad-3" },
            { "type": "page", "userId": "u3", "name": "Home", "messageId": "page-1" }
        ]}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["quarantined"].as_u64()),
        (Some(2), Some(3))
    );
    quarantined_rows(&s.pool, 3).await;
    let (ws, source) = source_of(&s.pool).await;
    let groups = gateway::quarantine::groups(&s.pool, ws, true)
        .await
        .unwrap();
    let reasons: Vec<(&str, i64)> = groups
        .iter()
        .map(|g| (g.reason.as_str(), g.count))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("event `signup` is not in the tracking plan", 2),
            ("`Signed Up`: required property `plan` is missing", 1),
        ]
    );
    assert_eq!(groups[0].event_name.as_deref(), Some("signup"));

    // A mapping fixes the first group: `signup` becomes the planned `Signed Up`, which still
    // lacks `plan`, so nothing passes yet and the reason says why.
    let mapping = gateway::quarantine::Mapping {
        rename_event: Some(("signup".into(), "Signed Up".into())),
    };
    let report =
        gateway::quarantine::replay(&s.pool, &bus, ws, source, &groups[0].reason, &mapping)
            .await
            .unwrap();
    assert_eq!((report.replayed, report.still_refused), (0, 2));
    // Relax the plan (plan no longer required) and replay both groups.
    set_plan(
        &s.pool,
        json!({"mode": "block", "events": [
            {"name": "Signed Up", "properties": [{"name": "plan", "type": "string"}]}
        ]}),
        &[],
    )
    .await;
    let groups = gateway::quarantine::groups(&s.pool, ws, true)
        .await
        .unwrap();
    let mut replayed = 0;
    for g in &groups {
        replayed += gateway::quarantine::replay(&s.pool, &bus, ws, source, &g.reason, &mapping)
            .await
            .unwrap()
            .replayed;
    }
    assert_eq!(replayed, 3);
    assert!(gateway::quarantine::groups(&s.pool, ws, true)
        .await
        .unwrap()
        .is_empty());
    let events = read_all(&bus, "events.raw").await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    for id in ["ok-1", "page-1", "bad-1", "bad-2", "bad-3"] {
        assert_eq!(ids.iter().filter(|i| **i == id).count(), 1, "{id} once");
    }
    let renamed = events.iter().find(|e| e["messageId"] == "bad-1").unwrap();
    assert_eq!(renamed["event"], "Signed Up", "the mapping renamed it");
    // Replaying again sends nothing twice.
    for g in &groups {
        let again = gateway::quarantine::replay(&s.pool, &bus, ws, source, &g.reason, &mapping)
            .await
            .unwrap();
        assert_eq!(again.replayed, 0);
    }
}

#[tokio::test]
async fn a_flagging_plan_delivers_violations_marked_and_records_them() {
    let (s, key, bus) = start_with_source().await;
    set_plan(
        &s.pool,
        json!({"mode": "flag", "events": [
            {"name": "Order Completed", "properties": [{"name": "total", "type": "number", "required": true}]}
        ]}),
        &[],
    )
    .await;
    let r = client()
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u", "event": "Order Completed", "properties": {"total": "12"} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "flagged events are accepted");
    let events = read_all(&bus, "events.raw").await;
    assert_eq!(
        events[0]["_pulse"]["violations"][0],
        "`Order Completed`: property `total` must be a number, not string"
    );
    quarantined_rows(&s.pool, 1).await;
    let (disposition, status): (String, String) =
        sqlx::query_as("SELECT disposition, status FROM quarantine")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(
        (disposition.as_str(), status.as_str()),
        ("flagged", "flagged")
    );
}

#[tokio::test]
async fn events_without_activation_consent_are_kept_but_marked_not_activatable() {
    let (s, key, bus) = start_with_source().await;
    set_plan(&s.pool, json!({"mode": "allow"}), &["marketing"]).await;
    let consent = |granted: bool| {
        json!({ "type": "page", "anonymousId": "a", "name": "Pricing",
                "context": {"consent": {"categoryPreferences": {"marketing": granted, "analytics": true}}} })
    };
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "batch": [consent(true), consent(false)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["accepted"], 2);
    let events = read_all(&bus, "events.raw").await;
    let flags: Vec<&Value> = events.iter().map(|e| &e["_pulse"]["activatable"]).collect();
    assert_eq!(flags, vec![&json!(true), &json!(false)]);
    assert_eq!(events[1]["_pulse"]["missingConsent"], json!(["marketing"]));
}

#[tokio::test]
async fn the_web_sdk_and_its_demo_page_are_served_and_browsers_may_post_cross_origin() {
    let s = start().await;
    let c = client();
    let js = c
        .get(format!("{}/sdk/pulse.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    assert!(js.text().await.unwrap().contains("sendBeacon"));
    let demo = c
        .get(format!("{}/sdk/demo?writeKey=wk_test_123", s.base))
        .send()
        .await
        .unwrap();
    assert!(demo
        .text()
        .await
        .unwrap()
        .contains("data-write-key=\"wk_test_123\""));
    let bad = c
        .get(format!("{}/sdk/demo?writeKey=%22%3E%3Cscript%3E", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        400,
        "the key is never echoed unchecked into HTML"
    );
    let preflight = c
        .request(reqwest::Method::OPTIONS, format!("{}/v1/batch", s.base))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
}

fn kafka(brokers: &str, delivery_timeout: Duration) -> std::sync::Arc<dyn Bus> {
    let mut settings = bus::KafkaSettings::new(brokers);
    settings.delivery_timeout = delivery_timeout;
    settings.extra = testkit::kafka_test_properties();
    std::sync::Arc::new(bus::KafkaBus::connect(settings).unwrap())
}

#[tokio::test]
async fn on_the_kafka_bus_a_batch_is_acknowledged_once_it_is_on_the_topic() {
    let brokers = testkit::kafka_brokers();
    let s = common::start_with(|_| kafka(&brokers, Duration::from_secs(10))).await;
    let key = workspace_source(&s.pool).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "batch": (0..20).map(|i| json!({
            "type": "track", "userId": format!("u{}", i % 3), "event": "Viewed",
            "messageId": format!("{run}-{i}")
        })).collect::<Vec<_>>() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // events.raw is shared by every Kafka test; find this run's events by messageId.
    let reader = kafka(&brokers, Duration::from_secs(10));
    let mut c = reader
        .subscribe(&format!("verify-{run}"), "events.raw")
        .await
        .unwrap();
    let mut mine = std::collections::HashSet::new();
    for _ in 0..100 {
        for m in c.poll(1000, Duration::from_millis(200)).await.unwrap() {
            let v: Value = serde_json::from_slice(&m.value).unwrap();
            if let Some(id) = v["messageId"].as_str().filter(|id| id.starts_with(&run)) {
                assert!(mine.insert(id.to_string()), "{id} twice");
                assert_eq!(
                    m.key, v["_pulse"]["workspaceId"],
                    "keyed by the workspace (one partition holds its identity graph)"
                );
            }
        }
        if mine.len() == 20 {
            break;
        }
    }
    assert_eq!(mine.len(), 20);
}

#[tokio::test]
async fn when_the_kafka_broker_is_down_the_gateway_answers_503() {
    // A port nothing listens on: every produce times out undelivered.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = common::start_with(|_| kafka(&dead.to_string(), Duration::from_secs(2))).await;
    let key = workspace_source(&s.pool).await;
    let r = client()
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u", "event": "Lost?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("nothing from this request was accepted"));
}
