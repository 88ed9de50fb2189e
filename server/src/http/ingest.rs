//! The event gateway's HTTP face: Segment-compatible `/v1/*` endpoints. A request is
//! answered only after every event in it is durably on the bus — accepted events on
//! `events.raw`, refused ones with their reason on `events.quarantine`. If the bus cannot take
//! them, the answer is 503 and nothing was acknowledged.

use super::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bus::OutRecord;
use domain::tracking::{DebugEvent, SourceCounts};
use gateway::policy::Verdict;
use gateway::quarantine::{Disposition, QuarantineRecord};
use gateway::sources::Source;
use gateway::{CallType, RequestContext, MAX_BATCH_BYTES, MAX_EVENT_BYTES};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tower_http::cors::{Any, CorsLayer};

pub use gateway::{EVENTS_TOPIC, QUARANTINE_TOPIC};

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
        // Browsers post from the customer's own sites: any origin, authenticated by write key
        // (never by cookie, so allowing every origin exposes nothing).
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::POST])
                .allow_headers([AUTHORIZATION, CONTENT_TYPE])
                .max_age(std::time::Duration::from_secs(86_400)),
        )
        .route("/sdk/pulse.js", get(sdk_script))
        .route("/sdk/demo", get(sdk_demo))
}

/// The web SDK, served from Pulse so sites load it from the same host they send to.
const SDK_JS: &str = include_str!("../../../sdk/pulse.js");
const SDK_DEMO: &str = include_str!("../../../sdk/demo.html");

async fn sdk_script() -> Response {
    (
        [
            (CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        SDK_JS,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct DemoQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

/// A demo page that loads the SDK with a write key (`?writeKey=`; in demo mode the demo
/// source's key by default).
async fn sdk_demo(State(state): State<AppState>, Query(q): Query<DemoQuery>) -> Response {
    let key = match q.write_key {
        Some(k)
            if k.starts_with(gateway::sources::WRITE_KEY_PREFIX)
                && k.len() <= 100
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) =>
        {
            k
        }
        Some(_) => return refuse(400, "`writeKey` is not a write key"),
        None if state.ctx.demo => crate::DEMO_WRITE_KEY.to_string(),
        None => {
            return refuse(
                400,
                "open /sdk/demo?writeKey=wk_… with the write key of one of your sources",
            )
        }
    };
    // In demo mode the page introduces itself as a customer of the demo sales rep, so the
    // flagship alert lands in that rep's inbox.
    let email: Option<String> = if state.ctx.demo {
        sqlx::query_scalar(
            "SELECT c.primary_email FROM customers c JOIN users u ON u.id = c.owner_id
              WHERE u.email = 'rep@acme.example' AND c.primary_email IS NOT NULL AND c.deleted_at IS NULL
              ORDER BY c.created_at, c.id LIMIT 1",
        )
        .fetch_optional(&state.pool)
        .await
        .unwrap_or(None)
    } else {
        None
    };
    let email: String = email
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "@._+-".contains(*c))
        .collect();
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        SDK_DEMO
            .replace("{{WRITE_KEY}}", &key)
            .replace("{{DEMO_EMAIL}}", &email),
    )
        .into_response()
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
fn write_key(headers: &HeaderMap, body: Option<String>) -> Option<String> {
    let from_header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|d| String::from_utf8(d).ok())
        .map(|s| s.split_once(':').map(|(u, _)| u.to_string()).unwrap_or(s))
        .filter(|k| !k.is_empty());
    from_header.or(body)
}

/// A request body once parsed: one call as a tree, or a batch split into raw items.
enum Parsed<'a> {
    Single(Value),
    Batch(gateway::RawBatch<'a>),
}

fn quarantined(
    source: &Source,
    received: &str,
    reason: &str,
    disposition: Disposition,
    payload: Value,
) -> QuarantineRecord {
    QuarantineRecord {
        workspace_id: source.workspace_id,
        source_id: source.id,
        received_at: received.to_string(),
        reason: reason.to_string(),
        disposition,
        payload,
    }
}

/// What the debugger shows of an event.
fn debug_event(received: &str, outcome: &str, reason: Option<&str>, payload: &Value) -> DebugEvent {
    let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("");
    let call = text("type").to_string();
    let label = match call.as_str() {
        "track" => text("event"),
        "page" | "screen" => text("name"),
        "identify" | "alias" => text("userId"),
        "group" => text("groupId"),
        _ => "",
    }
    .to_string();
    DebugEvent {
        received_at: received.to_string(),
        outcome: outcome.to_string(),
        call,
        label,
        reason: reason.map(str::to_string),
        activatable: payload
            .pointer("/_pulse/activatable")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        payload: payload.clone(),
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
    let parsed = match forced {
        Some(_) => gateway::parse_body(&body, limit).map(Parsed::Single),
        None => gateway::split_batch(&body, limit).map(Parsed::Batch),
    };
    let body_key = match &parsed {
        Ok(Parsed::Single(v)) => v
            .get("writeKey")
            .and_then(Value::as_str)
            .map(str::to_string),
        Ok(Parsed::Batch(b)) => b.write_key.clone(),
        Err(_) => None,
    };
    let key = write_key(&headers, body_key);
    let Some(key) = key else {
        return refuse(401, "send the source's write key as HTTP Basic auth username (writeKey:) or as `writeKey` in the body");
    };
    let source = match state.gateway.authenticate(&state.pool, &key).await {
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
    let parsed = match parsed {
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
                        Disposition::Blocked,
                        Value::String(raw),
                    )
                    .to_bus()],
                )
                .await
            {
                Ok(_) => {
                    refused_whole(&state, &source, &received, &r.reason);
                    refuse(r.status, &r.reason)
                }
                Err(e) => unavailable(e),
            };
        }
    };
    let count = match &parsed {
        Parsed::Single(_) => 1,
        Parsed::Batch(b) => b.len(),
    };
    if let Err(wait) = state.gateway.check_rate(source.id, count) {
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
    // Batch items are parsed once from their raw text; a refused item's original is read from
    // that text again (rare), so no request's events are ever copied wholesale.
    let (items, batch) = match parsed {
        Parsed::Single(v) => (vec![gateway::accept_call(v, forced, None, &ctx)], None),
        Parsed::Batch(b) => (b.accept(&ctx), Some(b)),
    };
    let original = |i: usize| -> Value {
        match &batch {
            Some(b) => b.original(i),
            None => serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    };
    let watched = state.gateway.watched();
    let mut debug = Vec::new();
    let mut events = Vec::new();
    let mut refused = Vec::new();
    let mut first_reason = None;
    let mut counts = SourceCounts::default();
    for (i, item) in items.into_iter().enumerate() {
        let mut a = match item {
            Ok(a) => a,
            Err(r) => {
                first_reason.get_or_insert((r.status, r.reason.clone()));
                let original = original(i);
                if watched {
                    debug.push(debug_event(
                        &received,
                        "quarantined",
                        Some(&r.reason),
                        &original,
                    ));
                }
                refused.push(
                    quarantined(
                        &source,
                        &received,
                        &r.reason,
                        Disposition::Blocked,
                        original,
                    )
                    .to_bus(),
                );
                continue;
            }
        };
        let verdict = source
            .policy
            .apply(source.workspace_id, source.id, &mut a.payload);
        if a.payload.pointer("/_pulse/activatable") == Some(&Value::Bool(false)) {
            counts.not_activatable += 1;
        }
        match verdict {
            Verdict::Deliver { violations } => {
                if !violations.is_empty() {
                    counts.flagged += 1;
                    let reason = violations.join("; ");
                    if watched {
                        debug.push(debug_event(&received, "flagged", Some(&reason), &a.payload));
                    }
                    refused.push(
                        quarantined(
                            &source,
                            &received,
                            &reason,
                            Disposition::Flagged,
                            a.payload.clone(),
                        )
                        .to_bus(),
                    );
                } else if watched {
                    debug.push(debug_event(&received, "accepted", None, &a.payload));
                }
                events.push(OutRecord {
                    key: domain::events_key(source.workspace_id),
                    value: serde_json::to_vec(&a.payload).unwrap_or_default(),
                    timestamp_ms: (a.timestamp.unix_timestamp_nanos() / 1_000_000) as i64,
                });
            }
            Verdict::Block { violations } => {
                let reason = violations.join("; ");
                first_reason.get_or_insert((400, reason.clone()));
                if watched {
                    debug.push(debug_event(
                        &received,
                        "quarantined",
                        Some(&reason),
                        &a.payload,
                    ));
                }
                refused.push(
                    quarantined(&source, &received, &reason, Disposition::Blocked, a.payload)
                        .to_bus(),
                );
            }
        }
    }
    let accepted = events.len();
    let quarantined_n = refused.len() - counts.flagged as usize;
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
    metrics::counter!("gateway_events_flagged_total").increment(counts.flagged as u64);
    counts.accepted = accepted as i64;
    counts.quarantined = quarantined_n as i64;
    state.gateway.count(source.id, counts);
    for d in debug {
        state.gateway.publish(source.id, d);
    }
    match (forced, first_reason) {
        // A single call that was refused: the client hears why (it is quarantined).
        (Some(_), Some((status, reason))) if accepted == 0 => refuse(status, &reason),
        _ => reply(
            StatusCode::OK,
            json!({ "success": true, "accepted": accepted, "quarantined": quarantined_n }),
        ),
    }
}

/// Counts and shows a request refused as a whole (it is quarantined as one record).
fn refused_whole(state: &AppState, source: &Source, received: &str, reason: &str) {
    metrics::counter!("gateway_events_quarantined_total").increment(1);
    state.gateway.count(
        source.id,
        SourceCounts {
            quarantined: 1,
            ..SourceCounts::default()
        },
    );
    if state.gateway.watched() {
        state.gateway.publish(
            source.id,
            debug_event(received, "quarantined", Some(reason), &Value::Null),
        );
    }
}

fn unavailable(e: bus::BusError) -> Response {
    tracing::error!(error = %e, "bus refused events; answered 503");
    refuse(
        503,
        "events could not be stored durably; nothing from this request was accepted; retry",
    )
}
