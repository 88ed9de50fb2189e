//! Who is calling the API and whether the route lets them: a bearer API token, or the signed-in
//! session of the workbench, checked against the area and need the route declares.

use super::error::ApiError;
use crate::http::credentials::Authorization;
use crate::http::AppState;
use app::session::{USER_KEY, WORKSPACE_KEY};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use crm::{Actor, CrmError};
use domain::{Area, Need};
use tower_sessions::Session;
use uuid::Uuid;

/// The authenticated caller of an API request, already authorized for the route's area.
pub struct ApiActor(pub Actor);

/// The area a route belongs to and what the request needs of it, set by [`guarded`].
#[derive(Debug, Clone, Copy)]
struct Required(Area, Need);

/// Declares that every route of `router` reads `area` on GET and HEAD and changes it on any
/// other method; [`ApiActor`] then refuses callers the authorization table does not allow.
pub fn guarded(area: Area, router: Router<AppState>) -> Router<AppState> {
    router.route_layer(axum::middleware::from_fn_with_state(area, declare))
}

async fn declare(State(area): State<Area>, mut req: Request, next: Next) -> Response {
    let need = match *req.method() {
        Method::GET | Method::HEAD => Need::Read,
        _ => Need::Change,
    };
    req.extensions_mut().insert(Required(area, need));
    next.run(req).await
}

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let actor = authenticate(parts, state).await?;
        // A route that declares no area is refused rather than left open.
        let Some(Required(area, need)) = parts.extensions.get::<Required>().copied() else {
            tracing::error!(path = %parts.uri.path(), "API route declares no area");
            return Err(ApiError::Crm(CrmError::Forbidden(
                "this endpoint declares no access rule".into(),
            )));
        };
        actor.authorize(area, need)?;
        Ok(ApiActor(actor))
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Actor, ApiError> {
    if parts.headers.contains_key(AUTHORIZATION) {
        // A header that is present but not a bearer token is refused, never treated as absent
        // (which would fall back to the session).
        let Some(Authorization::Bearer(token)) = Authorization::from_headers(&parts.headers) else {
            return Err(ApiError::Unauthenticated);
        };
        let mut conn = state.pool.acquire().await?;
        return crm::tokens::authenticate(&mut conn, &token)
            .await?
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
    Ok(Actor::user(
        viewer.workspace.id,
        viewer.user_id,
        viewer.role,
    ))
}
