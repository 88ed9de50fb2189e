//! The live event debugger's feed: `GET /api/sources/{id}/live` streams the source's events as
//! server-sent events while the gateway in this process handles them.

use super::AppState;
use app::session::{USER_KEY, WORKSPACE_KEY};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::{Area, Need};
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use tower_sessions::Session;
use uuid::Uuid;

/// Streams a source's events to a signed-in member of its workspace whose role may read event
/// sources (checked once, at connect).
pub async fn live(
    State(state): State<AppState>,
    session: Session,
    Path(source): Path<Uuid>,
) -> Response {
    let user: Option<Uuid> = session.get(USER_KEY).await.ok().flatten();
    let Some(user) = user else {
        return (StatusCode::UNAUTHORIZED, "Sign in to watch live events.").into_response();
    };
    let workspace: Option<Uuid> = session.get(WORKSPACE_KEY).await.ok().flatten();
    let viewer = match access::load_viewer(&state.pool, user, workspace).await {
        Ok(v) => v,
        Err(_) => return (StatusCode::UNAUTHORIZED, "Sign in again.").into_response(),
    };
    if let Err(refused) = viewer.role.authorize(Area::Sources, Need::Read) {
        return (StatusCode::FORBIDDEN, refused.to_string()).into_response();
    }
    match gateway::sources::by_id(&state.pool, viewer.workspace.id, source).await {
        Ok(_) => {}
        Err(gateway::sources::SourceError::NotFound) => {
            return (StatusCode::NOT_FOUND, "No such source.").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "live feed: source lookup failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "Try again.").into_response();
        }
    }
    let stream =
        BroadcastStream::new(state.gateway.subscribe()).filter_map(move |item| match item {
            Ok((s, e)) if s == source => Some(Ok::<_, std::convert::Infallible>(
                Event::default().data(serde_json::to_string(&e).unwrap_or_default()),
            )),
            Ok(_) => None,
            // A slow browser skipped some events; say so instead of silently hiding the gap.
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(Event::default().event("lagged").data(n.to_string())))
            }
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
