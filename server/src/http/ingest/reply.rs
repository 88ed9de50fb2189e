//! How the gateway answers. One error body that every SDK we know reads: Pulse's own
//! `success`/`error`, Segment's `code`/`message` (analytics-python and RudderStack's SDKs raise
//! `APIError(status, code, message)` from them) and PostHog's `type`/`detail`. 400, 401, 413
//! and 415 are final (SDKs drop the request); 429 and 503 carry `Retry-After` (SDKs retry).

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// The request shape a caller used, which decides the shape of a successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Segment,
    PostHog,
}

/// A successful answer: how many events were accepted and how many quarantined.
pub fn accepted(dialect: Dialect, accepted: usize, quarantined: usize) -> Response {
    let body = match dialect {
        Dialect::Segment => {
            json!({ "success": true, "accepted": accepted, "quarantined": quarantined })
        }
        // PostHog's capture answers `{"status": 1}`.
        Dialect::PostHog => {
            json!({ "status": 1, "accepted": accepted, "quarantined": quarantined })
        }
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// A refusal with its status and reason.
pub fn refuse_with(status: u16, reason: &str) -> Response {
    let (code, kind) = match status {
        401 => ("invalid_write_key", "authentication_error"),
        404 => ("not_found", "invalid_request"),
        413 => ("payload_too_large", "validation_error"),
        415 => ("unsupported_encoding", "validation_error"),
        429 => ("rate_limited", "throttled"),
        503 => ("unavailable", "server_error"),
        s if s >= 500 => ("server_error", "server_error"),
        _ => ("invalid_request", "validation_error"),
    };
    let body: Value = json!({
        "success": false,
        "error": reason,
        "code": code,
        "message": reason,
        "type": kind,
        "detail": reason,
    });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(body),
    )
        .into_response()
}

/// A refusal the caller should retry after `after` (429 or 503).
pub fn retry_later(status: u16, reason: &str, after: Duration) -> Response {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    let mut r = refuse_with(status, reason);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

/// The bus could not take the request's events: nothing was acknowledged, so the SDK retries.
pub fn unavailable(e: bus::BusError) -> Response {
    tracing::error!(error = %e, "bus refused events; answered 503");
    retry_later(
        503,
        "events could not be stored durably; nothing from this request was accepted; retry",
        Duration::from_secs(1),
    )
}
