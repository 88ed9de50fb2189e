//! How the gateway answers. One error body that every SDK we know reads: Pulse's own
//! `success`/`error`, Segment's `code`/`message` (analytics-python and RudderStack's SDKs raise
//! `APIError(status, code, message)` from them) and PostHog's `type`/`detail`. 400, 401, 404,
//! 413 and 415 are final (SDKs drop the request); 429 and 503 carry `Retry-After` (SDKs retry).

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gateway::route::Endpoint;
use gateway::Rejected;
use serde_json::{json, Value};
use std::time::Duration;

/// A successful answer: how many events were accepted and how many quarantined.
pub fn accepted(endpoint: Endpoint, accepted: usize, quarantined: usize) -> Response {
    let body = match endpoint {
        Endpoint::Segment(_) => {
            json!({ "success": true, "accepted": accepted, "quarantined": quarantined })
        }
        // PostHog's capture answers `{"status": 1}`.
        Endpoint::PostHog => {
            json!({ "status": 1, "accepted": accepted, "quarantined": quarantined })
        }
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// Why the gateway did not take a request; the one place its refusals become HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request, or its one event, broke a payload rule (400, 404, 413, 415): final.
    #[error("{0}")]
    Rejected(#[from] Rejected),
    #[error("send the source's write key as HTTP Basic auth username (writeKey:) or as `writeKey` in the body")]
    NoWriteKey,
    /// 401 on the ingest endpoints.
    #[error("unknown or disabled write key")]
    UnknownWriteKey,
    /// 404 on the settings documents, which are looked up by their key.
    #[error("unknown or disabled write key")]
    UnknownSettings,
    /// The source sends more than its events-per-second limit; retry after the wait.
    #[error("this source sends more than its events-per-second limit; retry in {} s", whole_seconds(.0))]
    RateLimited(Duration),
    /// The write key could not be looked up.
    #[error("the gateway cannot reach its database; retry")]
    Database(#[source] gateway::sources::SourceError),
    /// The bus did not take the request's events: nothing was acknowledged, so the SDK retries.
    #[error("events could not be stored durably; nothing from this request was accepted; retry")]
    Bus(#[source] bus::BusError),
}

impl GatewayError {
    /// A final refusal with its status (for answers outside the payload rules).
    pub fn refused(status: StatusCode, reason: impl Into<String>) -> Self {
        GatewayError::Rejected(Rejected {
            status,
            reason: reason.into(),
        })
    }

    fn status(&self) -> StatusCode {
        match self {
            GatewayError::Rejected(r) => r.status,
            GatewayError::NoWriteKey | GatewayError::UnknownWriteKey => StatusCode::UNAUTHORIZED,
            GatewayError::UnknownSettings => StatusCode::NOT_FOUND,
            GatewayError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Database(_) | GatewayError::Bus(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// How long the caller should wait before retrying, for refusals it may retry.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::RateLimited(wait) => Some(*wait),
            GatewayError::Database(_) | GatewayError::Bus(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// A wait in whole seconds, rounded up.
fn whole_seconds(wait: &Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Segment's `code` and PostHog's `type` for a status.
fn codes(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::UNAUTHORIZED => ("invalid_write_key", "authentication_error"),
        StatusCode::NOT_FOUND => ("not_found", "invalid_request"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "validation_error"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_encoding", "validation_error"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "throttled"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "server_error"),
        s if s.is_server_error() => ("server_error", "server_error"),
        _ => ("invalid_request", "validation_error"),
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match &self {
            GatewayError::Database(e) => tracing::error!(error = %e, "source lookup failed"),
            GatewayError::Bus(e) => tracing::error!(error = %e, "bus refused events; answered 503"),
            GatewayError::RateLimited(_) => {
                metrics::counter!("gateway_requests_rate_limited_total").increment(1)
            }
            _ => {}
        }
        let status = self.status();
        let reason = self.to_string();
        let (code, kind) = codes(status);
        let body: Value = json!({
            "success": false,
            "error": reason,
            "code": code,
            "message": reason,
            "type": kind,
            "detail": reason,
        });
        let mut response = (status, Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(whole_seconds(&wait).max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: GatewayError) -> (StatusCode, Option<String>, Value) {
        let r = e.into_response();
        let retry = r
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn every_refusal_carries_segment_and_posthog_error_fields() {
        let (status, retry, body) = answer(GatewayError::UnknownWriteKey).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(retry, None);
        assert_eq!(
            body,
            json!({
                "success": false, "error": "unknown or disabled write key",
                "code": "invalid_write_key", "message": "unknown or disabled write key",
                "type": "authentication_error", "detail": "unknown or disabled write key",
            })
        );
        let (status, _, body) = answer(GatewayError::UnknownSettings).await;
        assert_eq!(
            (status, &body["code"]),
            (StatusCode::NOT_FOUND, &json!("not_found"))
        );
        let too_big = GatewayError::refused(StatusCode::PAYLOAD_TOO_LARGE, "big");
        let (status, _, body) = answer(too_big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "payload_too_large");
        assert_eq!(body["message"], "big");
    }

    #[tokio::test]
    async fn a_rate_limited_request_is_told_the_whole_seconds_to_wait() {
        let (status, retry, body) =
            answer(GatewayError::RateLimited(Duration::from_millis(1_200))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("2"));
        assert_eq!(
            body["message"],
            "this source sends more than its events-per-second limit; retry in 2 s"
        );
        let (_, retry, _) = answer(GatewayError::RateLimited(Duration::from_millis(1))).await;
        assert_eq!(retry.as_deref(), Some("1"));
    }

    #[tokio::test]
    async fn a_bus_failure_is_a_503_to_retry_in_a_second() {
        let (status, retry, body) =
            answer(GatewayError::Bus(bus::BusError::Unavailable("down".into()))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body["code"], "unavailable");
    }
}
