//! The Data Router's HTTP face: `POST /api/v1/integrations/{source}/{kind}` for third-party
//! systems. Authenticated by the integration's credential (Bearer, Basic, or `?token=` for
//! systems that cannot set headers), rate-limited per integration, idempotent per delivery id.
//! The answer is 200 once everything is written, 422 naming the system's fields when the
//! payload does not fit (the delivery is kept for replay), 503 when nothing could be written.

use super::credentials::Authorization;
use super::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use integrations::{Integration, IntegrationError, Outcome};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

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

/// Why a webhook was not taken; the one place the Data Router's refusals become HTTP answers,
/// all with the body `{"status": "error", "error": <message>}`.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the body is {0} bytes; at most {max} are accepted", max = MAX_WEBHOOK_BYTES)]
    TooLarge(usize),
    #[error("send the integration's credential as `Authorization: Bearer <token>`, as the Basic auth password, or as `?token=<token>`")]
    NoCredential,
    #[error("unknown or revoked integration credential")]
    UnknownCredential,
    /// The credential is another integration's than the URL names.
    #[error("this credential belongs to integration `{slug}`, not `{requested}`")]
    OtherIntegration { slug: String, requested: String },
    #[error("this integration is disabled")]
    Disabled,
    /// More requests than the integration's rate a minute; retry after the wait.
    #[error("more than {per_minute} requests a minute; retry in {} s", .wait.as_secs().max(1))]
    RateLimited { per_minute: i32, wait: Duration },
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the payload kind is longer than 100 characters")]
    KindTooLong,
    #[error("the idempotency key is longer than 200 characters")]
    KeyTooLong,
    /// The credential could not be looked up.
    #[error("Pulse cannot reach its database; retry")]
    Lookup(#[source] IntegrationError),
    #[error("the event bus is unavailable; nothing from this request was written — retry")]
    Bus(#[source] bus::BusError),
    /// The delivery could not be recorded; nothing was written.
    #[error("Pulse could not record this delivery; nothing was written — retry")]
    Delivery(#[source] IntegrationError),
}

impl WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::NoCredential | WebhookError::UnknownCredential => {
                StatusCode::UNAUTHORIZED
            }
            WebhookError::OtherIntegration { .. } => StatusCode::NOT_FOUND,
            WebhookError::Disabled => StatusCode::FORBIDDEN,
            WebhookError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebhookError::NotJson(_) | WebhookError::KindTooLong | WebhookError::KeyTooLong => {
                StatusCode::BAD_REQUEST
            }
            WebhookError::Lookup(_) | WebhookError::Bus(_) | WebhookError::Delivery(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl From<IntegrationError> for WebhookError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::Bus(e) => WebhookError::Bus(e),
            e => WebhookError::Delivery(e),
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        match &self {
            WebhookError::Lookup(e) => tracing::error!(error = %e, "integration lookup failed"),
            WebhookError::Bus(e) => {
                tracing::warn!(error = %e, "webhook events not taken by the bus")
            }
            WebhookError::Delivery(e) => tracing::error!(error = %e, "webhook delivery failed"),
            _ => {}
        }
        let body = Json(json!({ "status": "error", "error": self.to_string() }));
        let mut response = (self.status(), body).into_response();
        if let WebhookError::RateLimited { wait, .. } = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        }
        response
    }
}

fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The integration a credential belongs to, if it is the one the URL names and may send now.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    query_token: Option<String>,
    source: &str,
) -> Result<Integration, WebhookError> {
    // `Authorization: Bearer`, the Basic password (else user name), or `?token=`.
    let secret = Authorization::from_headers(headers)
        .map(Authorization::password_or_token)
        .or(query_token)
        .filter(|t| !t.is_empty())
        .ok_or(WebhookError::NoCredential)?;
    let integration = integrations::authenticate(&state.pool, &secret)
        .await
        .map_err(WebhookError::Lookup)?
        .ok_or(WebhookError::UnknownCredential)?;
    if integration.slug != source && integration.id.to_string() != source {
        return Err(WebhookError::OtherIntegration {
            slug: integration.slug,
            requested: source.to_string(),
        });
    }
    if integration.disabled {
        return Err(WebhookError::Disabled);
    }
    state
        .gateway
        .check_integration_rate(integration.id, integration.rate_per_minute)
        .map_err(|wait| WebhookError::RateLimited {
            per_minute: integration.rate_per_minute,
            wait,
        })?;
    Ok(integration)
}

/// Parse, authorize, deliver, answer.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    source: String,
    kind: Option<String>,
    body: Bytes,
) -> Result<Response, WebhookError> {
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(WebhookError::TooLarge(body.len()));
    }
    let integration = authorize(&state, &headers, q.token, &source).await?;
    let payload: Value = serde_json::from_slice(&body).map_err(WebhookError::NotJson)?;
    let kind = kind
        .map(|k| k.trim_matches('/').to_string())
        .filter(|k| !k.is_empty())
        .or_else(|| header(&headers, KIND_HEADERS).map(str::to_string))
        .unwrap_or_else(|| "default".into());
    if kind.len() > 100 {
        return Err(WebhookError::KindTooLong);
    }
    let key = match header(&headers, DELIVERY_ID_HEADERS) {
        Some(k) if k.len() <= 200 => k.to_string(),
        Some(_) => return Err(WebhookError::KeyTooLong),
        // Without a delivery id, the same body of the same kind is the same delivery.
        None => format!(
            "sha256:{:x}",
            Sha256::digest([kind.as_bytes(), b"\n", &body].concat())
        ),
    };
    let outcome = integrations::deliver(
        &state.pool,
        state.bus.as_ref(),
        &integration,
        &kind,
        &key,
        &payload,
    )
    .await?;
    Ok(match outcome {
        Outcome::Done {
            delivery_id,
            written,
            replayed,
        } => {
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
        // The payload does not fit the mapping: kept for replay, answered in the sender's terms.
        Outcome::Failed { delivery_id, error } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "status": "failed",
                "delivery": delivery_id,
                "error": error.message,
                "fields": error.fields,
            })),
        )
            .into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: WebhookError) -> (StatusCode, Option<String>, Value) {
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
    async fn every_webhook_refusal_has_the_error_body_and_its_status() {
        let (status, retry, body) = answer(WebhookError::OtherIntegration {
            slug: "shopify".into(),
            requested: "zendesk".into(),
        })
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(retry, None);
        assert_eq!(
            body,
            json!({ "status": "error", "error": "this credential belongs to integration `shopify`, not `zendesk`" })
        );
        assert_eq!(
            answer(WebhookError::Disabled).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            answer(WebhookError::KeyTooLong).await.0,
            StatusCode::BAD_REQUEST
        );
        let bus = WebhookError::from(IntegrationError::Bus(bus::BusError::Unavailable(
            "down".into(),
        )));
        assert!(matches!(bus, WebhookError::Bus(_)));
        assert_eq!(answer(bus).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_rate_limited_webhook_is_told_at_least_a_second_to_wait() {
        let (status, retry, body) = answer(WebhookError::RateLimited {
            per_minute: 60,
            wait: Duration::from_millis(300),
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(
            body["error"],
            "more than 60 requests a minute; retry in 1 s"
        );
    }
}
