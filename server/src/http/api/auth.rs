//! Who is calling the API: a bearer API token, or the signed-in session of the workbench.

use super::error::ApiError;
use crate::http::AppState;
use app::session::{USER_KEY, WORKSPACE_KEY};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use crm::Actor;
use tower_sessions::Session;
use uuid::Uuid;

/// The authenticated caller of an API request.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(auth) = parts.headers.get(AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthenticated)?;
            let mut conn = state.pool.acquire().await?;
            return crm::tokens::authenticate(&mut conn, token.trim())
                .await?
                .map(ApiActor)
                .ok_or(ApiError::Unauthenticated);
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::Unauthenticated)?;
        let user: Option<Uuid> = session.get(USER_KEY).await.ok().flatten();
        let Some(user) = user else {
            return Err(ApiError::Unauthenticated);
        };
        let workspace: Option<Uuid> = session.get(WORKSPACE_KEY).await.ok().flatten();
        let viewer = access::load_viewer(&state.pool, user, workspace)
            .await
            .map_err(|_| ApiError::Unauthenticated)?;
        Ok(ApiActor(Actor::user(
            viewer.workspace.id,
            viewer.user_id,
            viewer.role,
        )))
    }
}
