//! The Data Router's HTTP face: `POST /api/v1/integrations/{source}/{kind}` for third-party
//! systems. Authenticated by the integration's credential (Bearer, Basic, or `?token=` for
//! systems that cannot set headers), rate-limited per integration, idempotent per delivery id.
//! The answer is 200 once everything is written, 422 naming the system's fields when the
//! payload does not fit (the delivery is kept for replay), 503 when nothing could be written.

use super::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use integrations::{IntegrationError, Outcome};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Largest webhook body accepted (a big Shopify order is ~50 KB).
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// Headers that carry a sender's delivery id, in order of preference.
const DELIVERY_ID_HEADERS: &[&str] = &[
    "idempotency-key",
    "x-shopify-webhook-id",
    "x-zendesk-webhook-invocation-id",
    "x-github-delivery",
];

/// Headers that carry the payload kind when the URL does not.
const KIND_HEADERS: &[&str] = &["x-shopify-topic"];

/// The webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/integrations/{source}",
            post(|s, h, q, Path(source): Path<String>, b| receive(s, h, q, source, None, b)),
        )
        .route(
            "/api/v1/integrations/{source}/{*kind}",
            post(|s, h, q, Path((source, kind)): Path<(String, String)>, b| {
                receive(s, h, q, source, Some(kind), b)
            }),
        )
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "status": "error", "error": message }))).into_response()
}

/// The credential from `Authorization: Bearer`, Basic (password, else user name) or `?token=`.
fn credential(headers: &HeaderMap, query: Option<String>) -> Option<String> {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let from_header = auth.and_then(|v| {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
        let decoded = STANDARD.decode(v.strip_prefix("Basic ")?.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        Some(if password.is_empty() { user } else { password }.to_string())
    });
    from_header.or(query).filter(|t| !t.is_empty())
}

fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    source: String,
    kind: Option<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_WEBHOOK_BYTES {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the body is {} bytes; at most {MAX_WEBHOOK_BYTES} are accepted",
                body.len()
            ),
        );
    }
    let Some(secret) = credential(&headers, q.token) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "send the integration's credential as `Authorization: Bearer <token>`, as the Basic auth password, or as `?token=<token>`",
        );
    };
    let integration = match integrations::authenticate(&state.pool, &secret).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return problem(
                StatusCode::UNAUTHORIZED,
                "unknown or revoked integration credential",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "integration lookup failed");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Pulse cannot reach its database; retry",
            );
        }
    };
    if integration.slug != source && integration.id.to_string() != source {
        return problem(
            StatusCode::NOT_FOUND,
            &format!(
                "this credential belongs to integration `{}`, not `{source}`",
                integration.slug
            ),
        );
    }
    if integration.disabled {
        return problem(StatusCode::FORBIDDEN, "this integration is disabled");
    }
    if let Err(wait) = state
        .gateway
        .check_integration_rate(integration.id, integration.rate_per_minute)
    {
        let secs = wait.as_secs().max(1);
        let mut r = problem(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "more than {} requests a minute; retry in {secs} s",
                integration.rate_per_minute
            ),
        );
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("the body is not JSON: {e}"),
            )
        }
    };
    let kind = kind
        .map(|k| k.trim_matches('/').to_string())
        .filter(|k| !k.is_empty())
        .or_else(|| header(&headers, KIND_HEADERS).map(str::to_string))
        .unwrap_or_else(|| "default".into());
    if kind.len() > 100 {
        return problem(
            StatusCode::BAD_REQUEST,
            "the payload kind is longer than 100 characters",
        );
    }
    let key = match header(&headers, DELIVERY_ID_HEADERS) {
        Some(k) if k.len() <= 200 => k.to_string(),
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "the idempotency key is longer than 200 characters",
            )
        }
        // Without a delivery id, the same body of the same kind is the same delivery.
        None => format!(
            "sha256:{:x}",
            Sha256::digest([kind.as_bytes(), b"\n", &body].concat())
        ),
    };
    match integrations::deliver(
        &state.pool,
        state.bus.as_ref(),
        &integration,
        &kind,
        &key,
        &payload,
    )
    .await
    {
        Ok(Outcome::Done {
            delivery_id,
            written,
            replayed,
        }) => {
            let mut r = (
                StatusCode::OK,
                Json(json!({ "status": "ok", "delivery": delivery_id, "written": written })),
            )
                .into_response();
            if replayed {
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            r
        }
        Ok(Outcome::Failed { delivery_id, error }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "status": "failed",
                "delivery": delivery_id,
                "error": error.message,
                "fields": error.fields,
            })),
        )
            .into_response(),
        Err(IntegrationError::Bus(e)) => {
            tracing::warn!(error = %e, "webhook events not taken by the bus");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event bus is unavailable; nothing from this request was written — retry",
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Pulse could not record this delivery; nothing was written — retry",
            )
        }
    }
}
