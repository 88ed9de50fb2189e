//! The event gateway's HTTP face: Segment-compatible `/v1/*` endpoints (with the one-letter
//! aliases analytics.js posts to), PostHog's capture endpoints, and Segment's settings
//! document for analytics.js. Bodies may be compressed. A request is answered only after every
//! event in it is durably on the bus — accepted events on `events.raw`, refused ones with their
//! reason on `events.quarantine`. If the bus cannot take them, the answer is 503 and nothing
//! was acknowledged.

mod reply;
mod sdk;
mod settings;

use super::credentials::Authorization;
use super::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use bus::OutRecord;
use gateway::posthog::Hints;
use gateway::route::{self, Endpoint, Origin, Reply, Routed};
use gateway::sources::Source;
use gateway::{CallType, Rejected, RequestContext};
use reply::GatewayError;
use std::net::SocketAddr;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

pub use gateway::{EVENTS_TOPIC, QUARANTINE_TOPIC};

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
            GatewayError::refused(
                StatusCode::NOT_FOUND,
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

/// Reads the body, refusing once it passes what any request to `endpoint` may send (a
/// compressed body is checked again, after inflating, by [`gateway::encoding::decode`]).
async fn read_body(body: Body, endpoint: Endpoint) -> Result<Bytes, Rejected> {
    // Compressed bodies of incompressible data are a little larger than what they hold.
    let cap = endpoint.limit() + 64 * 1024;
    axum::body::to_bytes(body, cap).await.map_err(|_| Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        reason: format!(
            "the request body may be at most {} KB",
            endpoint.limit() / 1024
        ),
    })
}

/// Parse, authenticate, route, publish, answer. A body the gateway cannot read is still
/// quarantined under its source (so the sender can see why), then refused.
async fn ingest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
    endpoint: Endpoint,
) -> Result<Response, GatewayError> {
    let received_at = time::OffsetDateTime::now_utc();
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let body = read_body(body, endpoint).await?;
    let hints = Hints::new(header(CONTENT_TYPE), query.as_deref());
    let decoded = gateway::encoding::parse_content_encoding(header(CONTENT_ENCODING))
        .and_then(|codings| gateway::encoding::decode(&body, &codings, endpoint.limit()));
    let parsed = match &decoded {
        Ok(bytes) => route::Body::parse(endpoint, bytes, &hints),
        Err(r) => Err(r.clone()),
    };
    let in_body = parsed.as_ref().ok().and_then(route::Body::write_key);
    let key = Authorization::from_headers(&headers)
        .map(Authorization::user_or_token)
        .filter(|k| !k.is_empty())
        .or(in_body)
        .or(hints.token)
        .ok_or(GatewayError::NoWriteKey)?;
    let source = state
        .gateway
        .authenticate(&state.pool, &key)
        .await
        .map_err(GatewayError::Database)?
        .ok_or(GatewayError::UnknownWriteKey)?;
    let ctx = RequestContext {
        received_at,
        ip: Some(peer.ip().to_string()),
        user_agent: header(USER_AGENT).map(str::to_string),
        future_tolerance: state.gateway.future_tolerance(),
    };
    let origin = Origin::of(&source, state.gateway.watched());
    let routed = match parsed {
        Ok(parsed) => {
            state
                .gateway
                .check_rate(source.id, parsed.len())
                .map_err(GatewayError::RateLimited)?;
            route::route(&origin, &ctx, endpoint, parsed)
        }
        Err(refusal) => {
            let raw = gateway::quarantine::raw_payload(decoded.as_deref().unwrap_or(&body[..]));
            route::refuse(&origin, &ctx, refusal, raw)
        }
    };
    Ok(match publish(&state, &source, routed).await? {
        Reply::Accepted {
            accepted,
            quarantined,
        } => reply::accepted(endpoint, accepted, quarantined),
        Reply::Refused(r) => GatewayError::Rejected(r).into_response(),
    })
}

/// Puts a request's outcome on the bus, then counts it and shows it in the debugger. The
/// quarantine goes first: if the events then fail, the client retries and nothing is lost; the
/// quarantine may then hold a duplicate, which carries the same messageId.
async fn publish(state: &AppState, source: &Source, routed: Routed) -> Result<Reply, GatewayError> {
    let Routed {
        events,
        quarantine,
        debug,
        counts,
        reply,
    } = routed;
    if !quarantine.is_empty() {
        let records = quarantine.iter().map(|q| q.to_bus()).collect();
        state
            .bus
            .produce(QUARANTINE_TOPIC, records)
            .await
            .map_err(GatewayError::Bus)?;
    }
    if !events.is_empty() {
        let records = events
            .iter()
            .map(|a| OutRecord {
                key: domain::events_key(source.workspace_id),
                value: serde_json::to_vec(&a.payload).unwrap_or_default(),
                timestamp_ms: (a.timestamp.unix_timestamp_nanos() / 1_000_000) as i64,
            })
            .collect();
        state
            .bus
            .produce(EVENTS_TOPIC, records)
            .await
            .map_err(GatewayError::Bus)?;
    }
    metrics::counter!("gateway_events_accepted_total").increment(counts.accepted as u64);
    metrics::counter!("gateway_events_quarantined_total").increment(counts.quarantined as u64);
    metrics::counter!("gateway_events_flagged_total").increment(counts.flagged as u64);
    if counts.future_clamped > 0 {
        metrics::counter!("gateway_events_future_clamped_total", "source" => source.id.to_string())
            .increment(counts.future_clamped as u64);
    }
    state.gateway.count(source.id, counts);
    for d in debug {
        state.gateway.publish(source.id, d);
    }
    Ok(reply)
}
