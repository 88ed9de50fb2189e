//! The gateway takes what real SDKs send: compressed bodies, analytics.js's one-letter paths
//! and CORS preflights, PostHog's capture API, error bodies SDKs can read, and event times it
//! cannot be fooled by; and no payload can stop the quarantine copier. Real Postgres, the
//! embedded bus, the real router on loopback.

mod common;

use base64::Engine;
use common::{client, read_all, start_with_source};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The error body every SDK reads: `analytics-python` and `rudder-sdk-python` raise
/// `APIError(status, body["code"], body["message"])` (a missing key is a `KeyError` that
/// rudder-sdk-python then retries as if the network failed); `posthog` (Python) reads
/// `body["detail"]`; the Node and browser libraries read only the status and `Retry-After`;
/// Pulse's own callers read `success` and `error`.
async fn assert_error_body(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["success"], false);
    for field in ["error", "code", "message", "type", "detail"] {
        assert!(
            b[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {b}"
        );
    }
    b
}

#[tokio::test]
async fn gzip_deflate_and_brotli_batches_are_accepted_like_plain_ones() {
    let (s, key, bus) = start_with_source().await;
    let body = |id: &str| {
        json!({ "writeKey": key, "batch": [{ "type": "track", "userId": "u", "event": "Zipped", "messageId": id }] })
            .to_string()
    };
    let c = client();
    for (encoding, bytes) in [
        ("gzip", gzip(body("gz-1").as_bytes())),
        ("deflate", deflate(body("df-1").as_bytes())),
    ] {
        let r = c
            .post(format!("{}/v1/batch", s.base))
            .header("content-encoding", encoding)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{encoding}");
    }
    // `{"userId":"br-user","event":"Brotli Sent","messageId":"br-1"}`, brotli-compressed by
    // Node's zlib.brotliCompressSync.
    let br = base64::engine::general_purpose::STANDARD
        .decode("Cx6AeyJ1c2VySWQiOiJici11c2VyIiwiZXZlbnQiOiJCcm90bGkgU2VudCIsIm1lc3NhZ2VJZCI6ImJyLTEifQM=")
        .unwrap();
    let r = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .header("content-encoding", "br")
        .body(br)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ids: Vec<String> = read_all(&bus, "events.raw")
        .await
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["gz-1", "df-1", "br-1"]);
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_with_413_and_an_unknown_encoding_with_415() {
    let (s, key, bus) = start_with_source().await;
    let mut bomb_body = b"{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"".to_vec();
    bomb_body.extend(std::iter::repeat_n(b'x', 8 * 1024 * 1024));
    let bomb = gzip(&bomb_body);
    assert!(
        bomb.len() < 64 * 1024,
        "8 MB inflate from {} bytes",
        bomb.len()
    );
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    let b = assert_error_body(r, 413).await;
    assert!(b["message"].as_str().unwrap().contains("500 KB"), "{b}");
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .header("content-encoding", "zstd")
        .body(vec![0x28, 0xb5, 0x2f, 0xfd, 0, 1, 2])
        .send()
        .await
        .unwrap();
    assert_error_body(r, 415).await;
    assert!(read_all(&bus, "events.raw").await.is_empty());
    let q = read_all(&bus, "events.quarantine").await;
    assert_eq!(q.len(), 2, "both refusals are quarantined");
    assert_eq!(
        q[1]["payload"]["encoding"], "base64",
        "binary kept as base64"
    );
}

#[tokio::test]
async fn analytics_js_short_paths_take_text_plain_bodies_after_a_preflight_that_is_never_redirected(
) {
    let (s, key, bus) = start_with_source().await;
    let c = client();
    for path in [
        "/v1/t",
        "/v1/p",
        "/v1/i",
        "/v1/g",
        "/v1/a",
        "/v1/s",
        "/v1/b",
        "/capture/",
        "/i/v0/e/",
    ] {
        let preflight = c
            .request(reqwest::Method::OPTIONS, format!("{}{path}", s.base))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-retry-count",
            )
            .send()
            .await
            .unwrap();
        assert!(
            preflight.status().is_success(),
            "{path}: {}",
            preflight.status()
        );
        let h = preflight.headers();
        assert_eq!(
            h["access-control-allow-origin"], "https://shop.example",
            "{path}"
        );
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("x-retry-count") && allowed.contains("authorization"),
            "{path}: {allowed}"
        );
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    );
    let calls = [
        (
            "/v1/t",
            json!({ "type": "track", "anonymousId": "a1", "event": "Viewed", "messageId": "t-1" }),
        ),
        (
            "/v1/p",
            json!({ "type": "page", "anonymousId": "a1", "name": "Pricing", "messageId": "p-1" }),
        ),
        (
            "/v1/i",
            json!({ "type": "identify", "anonymousId": "a1", "userId": "u1", "messageId": "i-1" }),
        ),
        (
            "/v1/b",
            json!({ "batch": [{ "type": "track", "userId": "u1", "event": "Bought", "messageId": "b-1" }] }),
        ),
    ];
    for (path, body) in calls {
        let r = c
            .post(format!("{}{path}", s.base))
            .header("origin", "https://shop.example")
            .header("authorization", &auth)
            .header("x-retry-count", "0")
            .header("content-type", "text/plain")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://shop.example"
        );
    }
    let types: Vec<(String, String)> = read_all(&bus, "events.raw")
        .await
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().into(),
                e["messageId"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("track", "t-1"),
            ("page", "p-1"),
            ("identify", "i-1"),
            ("track", "b-1")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test]
async fn analytics_js_gets_settings_that_send_to_this_pulse_and_unknown_keys_get_404() {
    let (s, key, _bus) = start_with_source().await;
    let r = client()
        .get(format!("{}/v1/projects/{key}/settings", s.base))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let settings: Value = r.json().await.unwrap();
    let host = s.base.trim_start_matches("http://");
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiHost"],
        format!("{host}/v1")
    );
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiKey"],
        key.as_str()
    );
    let r = client()
        .get(format!("{}/v1/projects/wk_nope/settings", s.base))
        .send()
        .await
        .unwrap();
    assert_error_body(r, 404).await;
    // posthog-js's remote config: gzip-js bodies, and no flags to ask for.
    let config: Value = client()
        .get(format!("{}/array/{key}/config", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["supportedCompression"], json!(["gzip", "gzip-js"]));
    assert_eq!(config["hasFeatureFlags"], false);
    let script = client()
        .get(format!("{}/array/{key}/config.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 404, "missing, not redirected to sign-in");
}

#[tokio::test]
async fn every_refusal_carries_code_and_message_and_retryable_ones_retry_after() {
    let (s, key, _bus) = start_with_source().await;
    let c = client();
    let no_key = c
        .post(format!("{}/v1/track", s.base))
        .json(&json!({ "userId": "u", "event": "e" }))
        .send()
        .await
        .unwrap();
    assert_error_body(no_key, 401).await;
    let invalid = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_error_body(invalid, 400).await["code"],
        "invalid_request"
    );
    let too_big = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u", "event": "e", "properties": { "blob": "x".repeat(40_000) } }))
        .send()
        .await
        .unwrap();
    assert_error_body(too_big, 413).await;
    let batch: Vec<Value> = (0..4000)
        .map(|i| json!({ "type": "track", "userId": format!("u{i}"), "event": "E" }))
        .collect();
    let mut limited = None;
    for _ in 0..3 {
        let r = c
            .post(format!("{}/v1/batch", s.base))
            .basic_auth(&key, Some(""))
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("the source's rate limit answered 429");
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        assert_error_body(limited, 429).await["code"],
        "rate_limited"
    );

    sqlx::query("ALTER TABLE bus_records RENAME TO bus_records_away")
        .execute(&s.pool)
        .await
        .unwrap();
    let down = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u", "event": "e" }))
        .send()
        .await
        .unwrap();
    assert!(down.headers().contains_key("retry-after"));
    assert_eq!(assert_error_body(down, 503).await["code"], "unavailable");
    sqlx::query("ALTER TABLE bus_records_away RENAME TO bus_records")
        .execute(&s.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_time_far_in_the_future_is_replaced_by_the_receive_time_kept_aside_and_counted() {
    let (s, key, bus) = start_with_source().await;
    let r = client()
        .post(format!("{}/v1/batch", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "batch": [
            { "type": "track", "userId": "u", "event": "From 9999", "timestamp": "9999-12-31T00:00:00Z", "messageId": "f-1" },
            { "type": "track", "userId": "u", "event": "Old", "timestamp": "2019-05-01T00:00:00Z", "messageId": "f-2" }
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = read_all(&bus, "events.raw").await;
    assert_eq!(events[0]["timestamp"], events[0]["receivedAt"]);
    assert_eq!(
        events[0]["_pulse"]["futureTimestamp"],
        "9999-12-31T00:00:00Z"
    );
    assert_eq!(events[0]["originalTimestamp"], "9999-12-31T00:00:00Z");
    assert!(
        events[0]["_pulse"]["sourceId"].is_string(),
        "the policy's envelope is still there"
    );
    assert_eq!(
        events[1]["timestamp"], "2019-05-01T00:00:00Z",
        "history stays as sent"
    );
    assert!(events[1]["_pulse"].get("futureTimestamp").is_none());
    // The counter reaches the source's stats (flushed every 5 s).
    let (ws, source): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT workspace_id, id FROM sources LIMIT 1")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    for _ in 0..100 {
        let d = gateway::sources::get(&s.pool, ws, source).await.unwrap();
        if d.summary.last_day.future_clamped > 0 {
            assert_eq!(d.summary.last_day.future_clamped, 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the clamped event was never counted on the source");
}

#[tokio::test]
async fn posthog_capture_bodies_in_every_form_become_segment_calls() {
    let (s, key, bus) = start_with_source().await;
    let c = client();
    // posthog-python / posthog-node: `/batch/` with `api_key` and `sent_at`, gzip.
    let python = json!({
        "api_key": key,
        "sent_at": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap(),
        "batch": [
            { "event": "$identify", "distinct_id": "ph-user", "uuid": "ph-1",
              "properties": { "$anon_distinct_id": "ph-anon", "$set": { "email": "ph@example.com" } } },
            { "event": "Order Completed", "distinct_id": "ph-user", "uuid": "ph-2", "properties": { "revenue": 12 } },
            { "event": "$groupidentify", "distinct_id": "ph-user", "uuid": "ph-3",
              "properties": { "$group_type": "company", "$group_key": "acme" } }
        ]
    });
    let r = c
        .post(format!("{}/batch/", s.base))
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body(gzip(python.to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], 1);
    // posthog-js: `/e/?compression=gzip-js&_=<ms>`, an array, the key in each event's
    // properties, gzip with no Content-Encoding header.
    let js = json!([
        { "event": "$pageview", "uuid": "ph-4", "properties": { "token": key, "distinct_id": "dev-1",
          "$device_id": "dev-1", "$current_url": "https://shop.example/pricing", "$pathname": "/pricing" } }
    ]);
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let r = c
        .post(format!(
            "{}/e/?compression=gzip-js&ip=1&_={now_ms}&ver=1.0",
            s.base
        ))
        .header("content-type", "text/plain")
        .body(gzip(js.to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // posthog-js without compression support: a form with base64 `data`.
    let one = json!({ "event": "$screen", "uuid": "ph-5", "properties": { "token": key, "distinct_id": "ph-user", "$screen_name": "Cart" } });
    let data = base64::engine::general_purpose::STANDARD.encode(one.to_string());
    let r = c
        .post(format!("{}/i/v0/e/", s.base))
        .form(&[("data", data)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A PostHog event that means nothing is refused with PostHog's `detail`.
    let r = c
        .post(format!("{}/capture/", s.base))
        .json(&json!({ "api_key": key, "event": "x" }))
        .send()
        .await
        .unwrap();
    assert!(assert_error_body(r, 400).await["detail"]
        .as_str()
        .unwrap()
        .contains("distinct_id"));

    let events = read_all(&bus, "events.raw").await;
    let got: Vec<(&str, &str, Option<&str>, Option<&str>)> = events
        .iter()
        .map(|e| {
            (
                e["messageId"].as_str().unwrap(),
                e["type"].as_str().unwrap(),
                e["userId"].as_str(),
                e["anonymousId"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("ph-1", "identify", Some("ph-user"), Some("ph-anon")),
            ("ph-2", "track", Some("ph-user"), None),
            ("ph-3", "group", Some("ph-user"), None),
            ("ph-4", "page", None, Some("dev-1")),
            ("ph-5", "screen", Some("ph-user"), None),
        ]
    );
    assert_eq!(events[0]["traits"]["email"], "ph@example.com");
    assert_eq!(events[3]["properties"]["path"], "/pricing");
    assert!(events
        .iter()
        .all(|e| e["properties"].get("token").is_none()));
}

/// Waits until the quarantine table holds `n` rows.
async fn quarantined_rows(pool: &sqlx::PgPool, n: i64) -> Vec<(String, Value)> {
    for _ in 0..150 {
        let rows: Vec<(String, sqlx::types::Json<Value>)> =
            sqlx::query_as("SELECT reason, payload FROM quarantine ORDER BY bus_offset")
                .fetch_all(pool)
                .await
                .unwrap();
        if rows.len() as i64 >= n {
            return rows.into_iter().map(|(r, p)| (r, p.0)).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the quarantine table never reached {n} rows");
}

#[tokio::test]
async fn no_payload_stops_the_quarantine_copier() {
    let (s, key, _bus) = start_with_source().await;
    let c = client();
    let bodies: Vec<Vec<u8>> = vec![
        // Binary: the first bytes of a zstd frame.
        vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff, 0x00],
        // Valid JSON whose refused event carries NUL characters, in a value and in a key.
        br#"{"batch":[{"type":"track","userId":"u\u0000","properties":{"k\u0000":"v\u0000"}}]}"#
            .to_vec(),
        // Invalid UTF-8.
        b"{\"batch\":[\xc3\x28]}".to_vec(),
        // A lone surrogate.
        br#"{"batch":[{"type":"track","userId":"\ud800","event":"x"}]}"#.to_vec(),
    ];
    for body in bodies {
        let r = c
            .post(format!("{}/v1/batch", s.base))
            .basic_auth(&key, Some(""))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error() || r.status() == 200,
            "{}",
            r.status()
        );
    }
    // An ordinary refusal after them still reaches the table.
    let r = c
        .post(format!("{}/v1/track", s.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "userId": "u" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let rows = quarantined_rows(&s.pool, 5).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows[4].0.contains("event"),
        "the last refusal is there: {rows:?}"
    );
    assert_eq!(rows[0].1["encoding"], "base64");
    let nul = rows[1].1.to_string();
    assert!(
        nul.contains('\u{FFFD}') && !nul.contains("\\u0000"),
        "{nul}"
    );
}
