//! The event gateway's HTTP face: Segment-compatible `/v1/*` endpoints. A request is
//! answered only after every event in it is durably on the bus — accepted events on
//! `events.raw`, refused ones with their reason on `events.quarantine`. If the bus cannot take
//! them, the answer is 503 and nothing was acknowledged.

use super::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bus::OutRecord;
use gateway::sources::Source;
use gateway::{CallType, RequestContext, MAX_BATCH_BYTES, MAX_EVENT_BYTES};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// Accepted events.
pub const EVENTS_TOPIC: &str = "events.raw";
/// Refused events with the reason.
pub const QUARANTINE_TOPIC: &str = "events.quarantine";

/// Per-source token buckets: `per_second` events a second, bursts of a second's worth (at
/// least 5,000, so one full batch always fits).
pub struct SourceLimiter {
    limiter: governor::DefaultKeyedRateLimiter<uuid::Uuid>,
    burst: u32,
}

impl SourceLimiter {
    /// A limiter allowing `per_second` events per second per source.
    pub fn new(per_second: u32) -> Self {
        use std::num::NonZeroU32;
        let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let burst = per_second.max(5_000);
        let quota = governor::Quota::per_second(rate)
            .allow_burst(NonZeroU32::new(burst).expect("at least 1"));
        SourceLimiter {
            limiter: governor::RateLimiter::keyed(quota),
            burst,
        }
    }

    /// Takes `n` events from the source's bucket, or says how long to wait.
    pub fn check(&self, source: uuid::Uuid, n: usize) -> Result<(), Duration> {
        use governor::clock::Clock;
        let n =
            std::num::NonZeroU32::new(n.clamp(1, self.burst as usize) as u32).expect("at least 1");
        match self.limiter.check_key_n(&source, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                Err(not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
            }
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

/// The `/v1` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/track",
            post(|s, c, h, b| call(s, c, h, b, Some(CallType::Track))),
        )
        .route(
            "/v1/identify",
            post(|s, c, h, b| call(s, c, h, b, Some(CallType::Identify))),
        )
        .route(
            "/v1/page",
            post(|s, c, h, b| call(s, c, h, b, Some(CallType::Page))),
        )
        .route(
            "/v1/screen",
            post(|s, c, h, b| call(s, c, h, b, Some(CallType::Screen))),
        )
        .route(
            "/v1/group",
            post(|s, c, h, b| call(s, c, h, b, Some(CallType::Group))),
        )
        .route(
            "/v1/alias",
            post(|s, c, h, b| call(s, c, h, b, Some(CallType::Alias))),
        )
        .route("/v1/batch", post(|s, c, h, b| call(s, c, h, b, None)))
        .route("/v1/import", post(|s, c, h, b| call(s, c, h, b, None)))
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn refuse(status: u16, reason: &str) -> Response {
    reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({ "success": false, "error": reason }),
    )
}

/// The write key from HTTP Basic auth (`writeKey:`) or the body's `writeKey`.
fn write_key(headers: &HeaderMap, body: Option<&Value>) -> Option<String> {
    let from_header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|d| String::from_utf8(d).ok())
        .map(|s| s.split_once(':').map(|(u, _)| u.to_string()).unwrap_or(s))
        .filter(|k| !k.is_empty());
    from_header.or_else(|| {
        body.and_then(|b| b.get("writeKey"))
            .and_then(|k| k.as_str())
            .map(str::to_string)
    })
}

fn tagged(source: &Source, mut payload: Value) -> Value {
    if let Value::Object(o) = &mut payload {
        o.remove("writeKey");
        o.insert(
            "_pulse".into(),
            json!({ "workspaceId": source.workspace_id, "sourceId": source.id }),
        );
    }
    payload
}

fn quarantined(source: &Source, received: &str, reason: &str, payload: Value) -> OutRecord {
    let value = json!({
        "workspaceId": source.workspace_id,
        "sourceId": source.id,
        "receivedAt": received,
        "reason": reason,
        "payload": payload,
    });
    OutRecord {
        key: source.id.to_string(),
        value: serde_json::to_vec(&value).unwrap_or_default(),
        timestamp_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
    }
}

async fn call(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
    forced: Option<CallType>,
) -> Response {
    let limit = if forced.is_some() {
        MAX_EVENT_BYTES
    } else {
        MAX_BATCH_BYTES
    };
    let received_at = time::OffsetDateTime::now_utc();
    let received = received_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let parsed = gateway::parse_body(&body, limit);
    let key = write_key(&headers, parsed.as_ref().ok());
    let Some(key) = key else {
        return refuse(401, "send the source's write key as HTTP Basic auth username (writeKey:) or as `writeKey` in the body");
    };
    let source = match gateway::sources::authenticate(&state.pool, &key).await {
        Ok(Some(s)) => s,
        Ok(None) => return refuse(401, "unknown or disabled write key"),
        Err(e) => {
            tracing::error!(error = %e, "source lookup failed");
            return refuse(503, "the gateway cannot reach its database; retry");
        }
    };
    let ctx = RequestContext {
        received_at,
        ip: Some(peer.ip().to_string()),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };

    // Body-level refusals are quarantined too (with the raw text), then answered with the reason.
    let body_value = match parsed {
        Ok(v) => v,
        Err(r) => {
            let raw = String::from_utf8_lossy(&body[..body.len().min(MAX_BATCH_BYTES)]).to_string();
            return match state
                .bus
                .produce(
                    QUARANTINE_TOPIC,
                    vec![quarantined(
                        &source,
                        &received,
                        &r.reason,
                        Value::String(raw),
                    )],
                )
                .await
            {
                Ok(_) => refuse(r.status, &r.reason),
                Err(e) => unavailable(e),
            };
        }
    };
    let count = match (&forced, &body_value) {
        (Some(_), _) => 1,
        (None, v) => v
            .get("batch")
            .and_then(|b| b.as_array())
            .map(|a| a.len())
            .unwrap_or(1),
    };
    if let Err(wait) = state.limiter.check(source.id, count) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        metrics::counter!("gateway_requests_rate_limited_total").increment(1);
        let mut r = refuse(
            429,
            &format!("this source sends more than its events-per-second limit; retry in {secs} s"),
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(secs.max(1)),
        );
        return r;
    }
    let items = match forced {
        Some(c) => vec![gateway::accept_call(
            body_value.clone(),
            Some(c),
            None,
            &ctx,
        )],
        None => match gateway::accept_batch(body_value.clone(), &ctx) {
            Ok(items) => items,
            Err(r) => {
                return match state
                    .bus
                    .produce(
                        QUARANTINE_TOPIC,
                        vec![quarantined(&source, &received, &r.reason, body_value)],
                    )
                    .await
                {
                    Ok(_) => refuse(r.status, &r.reason),
                    Err(e) => unavailable(e),
                };
            }
        },
    };
    let originals: Vec<Value> = match (&forced, &body_value) {
        (Some(_), v) => vec![v.clone()],
        (None, v) => v
            .get("batch")
            .and_then(|b| b.as_array())
            .cloned()
            .unwrap_or_default(),
    };
    let mut events = Vec::new();
    let mut refused = Vec::new();
    let mut first_reason = None;
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Ok(a) => events.push(OutRecord {
                key: a.key,
                value: serde_json::to_vec(&tagged(&source, a.payload)).unwrap_or_default(),
                timestamp_ms: (a.timestamp.unix_timestamp_nanos() / 1_000_000) as i64,
            }),
            Err(r) => {
                first_reason.get_or_insert((r.status, r.reason.clone()));
                refused.push(quarantined(
                    &source,
                    &received,
                    &r.reason,
                    originals.get(i).cloned().unwrap_or(Value::Null),
                ));
            }
        }
    }
    let (accepted, quarantined_n) = (events.len(), refused.len());
    // Quarantine first: if the events then fail, the client retries and nothing is lost; the
    // quarantine may then hold a duplicate, which carries the same messageId.
    if !refused.is_empty() {
        if let Err(e) = state.bus.produce(QUARANTINE_TOPIC, refused).await {
            return unavailable(e);
        }
    }
    if !events.is_empty() {
        if let Err(e) = state.bus.produce(EVENTS_TOPIC, events).await {
            return unavailable(e);
        }
    }
    metrics::counter!("gateway_events_accepted_total").increment(accepted as u64);
    metrics::counter!("gateway_events_quarantined_total").increment(quarantined_n as u64);
    match (forced, first_reason) {
        // A single call that was refused: the client hears why (it is quarantined).
        (Some(_), Some((status, reason))) => refuse(status, &reason),
        _ => reply(
            StatusCode::OK,
            json!({ "success": true, "accepted": accepted, "quarantined": quarantined_n }),
        ),
    }
}

fn unavailable(e: bus::BusError) -> Response {
    tracing::error!(error = %e, "bus refused events; answered 503");
    refuse(
        503,
        "events could not be stored durably; nothing from this request was accepted; retry",
    )
}
