//! The settings documents browser SDKs read before they send. analytics.js
//! (`@segment/analytics-next`) reads `{cdnURL}/v1/projects/{writeKey}/settings` and sends
//! nothing without it; a site that sets `cdnURL` to Pulse gets settings that send every call to
//! this Pulse's gateway and nothing to Segment (no bundled destinations, metrics sampling off).
//! posthog-js reads `{api_host}/array/{token}/config`; Pulse's says it takes gzip-js bodies and
//! has no feature flags, session recording or surveys, so posthog-js asks for none of them.

use super::reply::GatewayError;
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, HOST};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Whether a write key is enabled: refused with 404 when it is unknown or disabled.
async fn known(state: &AppState, write_key: &str) -> Result<(), GatewayError> {
    state
        .gateway
        .authenticate(&state.pool, write_key)
        .await
        .map_err(GatewayError::Database)?
        .map(|_| ())
        .ok_or(GatewayError::UnknownSettings)
}

/// `GET /array/{token}/config`: posthog-js's remote config.
pub async fn posthog_config(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, GatewayError> {
    known(&state, &token).await?;
    Ok((
        [(CACHE_CONTROL, "public, max-age=60")],
        Json(json!({
            "token": token,
            "supportedCompression": ["gzip", "gzip-js"],
            "hasFeatureFlags": false,
            "sessionRecording": false,
            "surveys": false,
            "heatmaps": false,
            "siteApps": [],
        })),
    )
        .into_response())
}

/// `GET /v1/projects/{writeKey}/settings`: analytics.js's settings.
pub async fn project_settings(
    State(state): State<AppState>,
    Path(write_key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    known(&state, &write_key).await?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The host the browser reached Pulse under; behind a proxy, the one it forwarded.
    let host = text("x-forwarded-host")
        .or_else(|| text(HOST.as_str()))
        .unwrap_or("127.0.0.1:3000");
    let protocol = text("x-forwarded-proto").unwrap_or("http");
    Ok((
        [(CACHE_CONTROL, "public, max-age=60")],
        Json(json!({
            "integrations": {
                "Segment.io": {
                    "apiKey": write_key,
                    "apiHost": format!("{host}/v1"),
                    "protocol": protocol,
                    "unbundledIntegrations": [],
                    "addBundledMetadata": false,
                    "maybeBundledConfigIds": {},
                }
            },
            "plan": {
                "track": { "__default": { "enabled": true, "integrations": {} } },
                "identify": { "__default": { "enabled": true } },
                "group": { "__default": { "enabled": true } },
            },
            "edgeFunction": {},
            "analyticsNextEnabled": true,
            "middlewareSettings": {},
            "enabledMiddleware": {},
            "metrics": { "sampleRate": 0 },
            "legacyVideoPluginsEnabled": false,
            "remotePlugins": [],
        })),
    )
        .into_response())
}
