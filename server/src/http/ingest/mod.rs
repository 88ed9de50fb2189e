//! The event gateway's HTTP face: Segment-compatible `/v1/*` endpoints (with the one-letter
//! aliases analytics.js posts to), PostHog's capture endpoints, and Segment's settings
//! document for analytics.js. Bodies may be compressed. A request is answered only after every
//! event in it is durably on the bus — accepted events on `events.raw`, refused ones with their
//! reason on `events.quarantine`. If the bus cannot take them, the answer is 503 and nothing
//! was acknowledged.

mod reply;
mod sdk;
mod settings;

use super::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bus::OutRecord;
use domain::tracking::{DebugEvent, SourceCounts};
use gateway::policy::Verdict;
use gateway::quarantine::{Disposition, QuarantineRecord};
use gateway::sources::Source;
use gateway::{CallType, Rejected, RequestContext, MAX_BATCH_BYTES, MAX_EVENT_BYTES};
use reply::{refuse_with, unavailable, Dialect};
use serde_json::Value;
use std::net::SocketAddr;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

pub use gateway::{EVENTS_TOPIC, QUARANTINE_TOPIC};

/// What an endpoint takes.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    /// A Segment call: one of a fixed type (`/v1/track`), or a batch (`None`).
    Segment(Option<CallType>),
    /// PostHog's capture: one event, a list, or a batch.
    PostHog,
}

impl Endpoint {
    /// The largest body, counted after decompression.
    fn limit(self) -> usize {
        match self {
            Endpoint::Segment(Some(_)) => MAX_EVENT_BYTES,
            _ => MAX_BATCH_BYTES,
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Endpoint::Segment(_) => Dialect::Segment,
            Endpoint::PostHog => Dialect::PostHog,
        }
    }
}

fn endpoint(e: Endpoint) -> MethodRouter<AppState> {
    post(move |s, c, h, q, b| ingest(s, c, h, q, b, e))
}

/// The gateway's routes.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for (full, short, call) in [
        ("track", "t", CallType::Track),
        ("identify", "i", CallType::Identify),
        ("page", "p", CallType::Page),
        ("screen", "s", CallType::Screen),
        ("group", "g", CallType::Group),
        ("alias", "a", CallType::Alias),
    ] {
        let e = Endpoint::Segment(Some(call));
        r = r
            .route(&format!("/v1/{full}"), endpoint(e))
            .route(&format!("/v1/{short}"), endpoint(e));
    }
    let batch = Endpoint::Segment(None);
    for path in ["/v1/batch", "/v1/b", "/v1/import"] {
        r = r.route(path, endpoint(batch));
    }
    // PostHog's capture paths, with and without the trailing slash its SDKs use.
    for path in ["/capture", "/e", "/batch", "/i/v0/e", "/track"] {
        r = r
            .route(path, endpoint(Endpoint::PostHog))
            .route(&format!("{path}/"), endpoint(Endpoint::PostHog));
    }
    r.route(
        "/v1/projects/{write_key}/settings",
        get(settings::project_settings),
    )
    .route("/array/{token}/config", get(settings::posthog_config))
    // posthog-js tries a script form of its config first and falls back to the JSON above
    // when it is missing; answered here so it is not redirected to the sign-in page.
    .route(
        "/array/{token}/config.js",
        get(|| async {
            refuse_with(
                404,
                "Pulse serves the remote config as JSON at /array/{token}/config",
            )
        }),
    )
    // Browsers post from the customer's own sites, so every origin is allowed, and preflights
    // are answered here, before any redirect or sign-in gate. Credentials are allowed because
    // posthog-js sends its XHRs with them; that exposes nothing, since the gateway
    // authenticates by write key and never reads a cookie (these routes have no session layer).
    .layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(std::time::Duration::from_secs(86_400)),
    )
    .route("/sdk/pulse.js", get(sdk::sdk_script))
    .route("/sdk/demo", get(sdk::sdk_demo))
}

/// The write key from HTTP Basic auth (`writeKey:`), a Bearer token, or the body.
fn write_key(headers: &HeaderMap, body: Option<String>) -> Option<String> {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let basic = auth
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|d| String::from_utf8(d).ok())
        .map(|s| s.split_once(':').map(|(u, _)| u.to_string()).unwrap_or(s));
    let bearer = auth
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    basic.or(bearer).filter(|k| !k.is_empty()).or(body)
}

/// A request body once parsed: one call as a tree, a batch split into raw items, or PostHog
/// events.
enum Parsed<'a> {
    Single(Value),
    Batch(gateway::RawBatch<'a>),
    PostHog(gateway::posthog::Request),
}

impl<'a> Parsed<'a> {
    fn parse(
        endpoint: Endpoint,
        bytes: &'a [u8],
        hints: &gateway::posthog::Hints,
    ) -> Result<Parsed<'a>, Rejected> {
        let limit = endpoint.limit();
        match endpoint {
            Endpoint::Segment(Some(_)) => gateway::parse_body(bytes, limit).map(Parsed::Single),
            Endpoint::Segment(None) => gateway::split_batch(bytes, limit).map(Parsed::Batch),
            Endpoint::PostHog => gateway::posthog::parse(bytes, hints, limit).map(Parsed::PostHog),
        }
    }

    fn write_key(&self) -> Option<String> {
        match self {
            Parsed::Single(v) => v
                .get("writeKey")
                .and_then(Value::as_str)
                .map(str::to_string),
            Parsed::Batch(b) => b.write_key.clone(),
            Parsed::PostHog(r) => r.api_key.clone(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Parsed::Single(_) => 1,
            Parsed::Batch(b) => b.len(),
            Parsed::PostHog(r) => r.events.len(),
        }
    }

    /// Whether the request was one event, so that a refusal answers it with the reason.
    fn single(&self) -> bool {
        match self {
            Parsed::Single(_) => true,
            Parsed::Batch(_) => false,
            Parsed::PostHog(r) => r.single,
        }
    }

    /// Accepts or refuses every event (`forced` is the call type of a Segment endpoint).
    fn accept(
        &mut self,
        forced: Option<CallType>,
        ctx: &RequestContext,
    ) -> Vec<gateway::ItemResult> {
        match self {
            Parsed::Single(v) => vec![gateway::accept_call(v.take(), forced, None, ctx)],
            Parsed::Batch(b) => b.accept(ctx),
            Parsed::PostHog(r) => r
                .events
                .iter()
                .map(|e| {
                    gateway::posthog::to_call(e, ctx.received_at)
                        .and_then(|call| gateway::accept_call(call, None, r.sent_at, ctx))
                })
                .collect(),
        }
    }
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

/// Reads the body, refusing once it passes what any request to `endpoint` may send (a
/// compressed body is checked again, after inflating, by [`gateway::encoding::decode`]).
async fn read_body(body: Body, endpoint: Endpoint) -> Result<Bytes, Rejected> {
    // Compressed bodies of incompressible data are a little larger than what they hold.
    let cap = endpoint.limit() + 64 * 1024;
    axum::body::to_bytes(body, cap).await.map_err(|_| Rejected {
        status: 413,
        reason: format!(
            "the request body may be at most {} KB",
            endpoint.limit() / 1024
        ),
    })
}

async fn ingest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
    endpoint: Endpoint,
) -> Response {
    let received_at = time::OffsetDateTime::now_utc();
    let received = received_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let body = match read_body(body, endpoint).await {
        Ok(b) => b,
        Err(r) => return refuse_with(r.status, &r.reason),
    };
    let hints = gateway::posthog::Hints::new(header(CONTENT_TYPE), query.as_deref());
    let decoded = gateway::encoding::parse_content_encoding(header(CONTENT_ENCODING))
        .and_then(|codings| gateway::encoding::decode(&body, &codings, endpoint.limit()));
    let parsed = match &decoded {
        Ok(bytes) => Parsed::parse(endpoint, bytes, &hints),
        Err(r) => Err(r.clone()),
    };
    let body_key = parsed.as_ref().ok().and_then(Parsed::write_key);
    let Some(key) = write_key(&headers, body_key.or_else(|| hints.token.clone())) else {
        return refuse_with(401, "send the source's write key as HTTP Basic auth username (writeKey:) or as `writeKey` in the body");
    };
    let source = match state.gateway.authenticate(&state.pool, &key).await {
        Ok(Some(s)) => s,
        Ok(None) => return refuse_with(401, "unknown or disabled write key"),
        Err(e) => {
            tracing::error!(error = %e, "source lookup failed");
            return reply::retry_later(
                503,
                "the gateway cannot reach its database; retry",
                std::time::Duration::from_secs(1),
            );
        }
    };
    let ctx = RequestContext {
        received_at,
        ip: Some(peer.ip().to_string()),
        user_agent: header(USER_AGENT).map(str::to_string),
        future_tolerance: state.gateway.future_tolerance(),
    };

    // Body-level refusals are quarantined too (the bytes as received, made safe to store),
    // then answered with the reason.
    let mut parsed = match parsed {
        Ok(v) => v,
        Err(r) => {
            let raw = match &decoded {
                Ok(bytes) => gateway::quarantine::raw_payload(bytes),
                Err(_) => gateway::quarantine::raw_payload(&body),
            };
            let record = quarantined(&source, &received, &r.reason, Disposition::Blocked, raw);
            return match state
                .bus
                .produce(QUARANTINE_TOPIC, vec![record.to_bus()])
                .await
            {
                Ok(_) => {
                    refused_whole(&state, &source, &received, &r.reason);
                    refuse_with(r.status, &r.reason)
                }
                Err(e) => unavailable(e),
            };
        }
    };
    if let Err(wait) = state.gateway.check_rate(source.id, parsed.len()) {
        metrics::counter!("gateway_requests_rate_limited_total").increment(1);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return reply::retry_later(
            429,
            &format!("this source sends more than its events-per-second limit; retry in {secs} s"),
            wait,
        );
    }
    let forced = match endpoint {
        Endpoint::Segment(call) => call,
        Endpoint::PostHog => None,
    };
    // A Segment single call is moved into the parser; its original is read from the body again
    // if it is refused (rare), so no request's events are ever copied wholesale.
    let items = parsed.accept(forced, &ctx);
    let original = |i: usize| -> Value {
        match &parsed {
            Parsed::Batch(b) => b.original(i),
            Parsed::PostHog(r) => r
                .events
                .get(i)
                .map(gateway::posthog::without_key)
                .unwrap_or(Value::Null),
            Parsed::Single(_) => decoded
                .as_ref()
                .ok()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null),
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
        if a.clamped_from.is_some() {
            counts.future_clamped += 1;
        }
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
    if counts.future_clamped > 0 {
        metrics::counter!("gateway_events_future_clamped_total", "source" => source.id.to_string())
            .increment(counts.future_clamped as u64);
    }
    counts.accepted = accepted as i64;
    counts.quarantined = quarantined_n as i64;
    state.gateway.count(source.id, counts);
    for d in debug {
        state.gateway.publish(source.id, d);
    }
    match first_reason {
        // A single call that was refused: the client hears why (it is quarantined).
        Some((status, reason)) if parsed.single() && accepted == 0 => refuse_with(status, &reason),
        _ => reply::accepted(endpoint.dialect(), accepted, quarantined_n),
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
