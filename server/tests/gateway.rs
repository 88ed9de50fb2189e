//! The event gateway over HTTP against a real Postgres and the embedded bus: Segment-shaped
//! calls are acknowledged only once on the bus, refused ones are quarantined with the reason.

mod common;

use bus::{Bus, PgBus};
use common::{client, start};
use serde_json::{json, Value};
use std::time::Duration;

async fn setup() -> (common::Running, String, PgBus) {
    let s = start().await;
    let ws = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Shop', 'shop')")
        .bind(ws)
        .execute(&s.pool)
        .await
        .unwrap();
    let (_, key) = gateway::sources::create(&s.pool, ws, "Web shop", "web")
        .await
        .unwrap();
    let bus = PgBus::new(s.pool.clone());
    bus.ensure_topic("events.raw", 4).await.unwrap();
    bus.ensure_topic("events.quarantine", 1).await.unwrap();
    (s, key, bus)
}

async fn read_all(bus: &PgBus, topic: &str) -> Vec<Value> {
    let mut c = bus.subscribe("test-reader", topic).await.unwrap();
    let mut out = Vec::new();
    loop {
        let batch = c.poll(1000, Duration::from_millis(300)).await.unwrap();
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

#[tokio::test]
async fn a_track_call_with_basic_auth_lands_on_the_bus_enriched() {
    let (s, key, bus) = setup().await;
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
    let (s, key, bus) = setup().await;
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
    let (s, key, bus) = setup().await;
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
    let (s, key, bus) = setup().await;
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
    let (s, key, _bus) = setup().await;
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
