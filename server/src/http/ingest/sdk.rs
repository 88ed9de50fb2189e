//! Pulse's own web SDK and its demo page, served from Pulse so sites load the script from the
//! same host they send to.

use super::reply::GatewayError;
use crate::http::AppState;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The web SDK, served from Pulse so sites load it from the same host they send to.
const SDK_JS: &str = include_str!("../../../../sdk/pulse.js");
const SDK_DEMO: &str = include_str!("../../../../sdk/demo.html");

pub async fn sdk_script() -> Response {
    (
        [
            (CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        SDK_JS,
    )
        .into_response()
}

/// The demo page's query: which source's key it loads the SDK with.
#[derive(serde::Deserialize)]
pub struct DemoQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

/// A demo page that loads the SDK with a write key (`?writeKey=`; in demo mode the demo
/// source's key by default).
pub async fn sdk_demo(
    State(state): State<AppState>,
    Query(q): Query<DemoQuery>,
) -> Result<Response, GatewayError> {
    let key = match q.write_key {
        Some(k)
            if k.starts_with(gateway::sources::WRITE_KEY_PREFIX)
                && k.len() <= 100
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) =>
        {
            k
        }
        Some(_) => {
            return Err(GatewayError::refused(
                StatusCode::BAD_REQUEST,
                "`writeKey` is not a write key",
            ))
        }
        None if state.ctx.demo => crate::DEMO_WRITE_KEY.to_string(),
        None => {
            return Err(GatewayError::refused(
                StatusCode::BAD_REQUEST,
                "open /sdk/demo?writeKey=wk_… with the write key of one of your sources",
            ))
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
    Ok((
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        SDK_DEMO
            .replace("{{WRITE_KEY}}", &key)
            .replace("{{DEMO_EMAIL}}", &email),
    )
        .into_response())
}
