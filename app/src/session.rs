//! Server-side session access for server functions: who is signed in, in which workspace.

use crate::UiError;
use access::{AccessError, LoginPolicy, Viewer};
use domain::{Area, Need};
use leptos::prelude::*;
use sqlx::PgPool;
use tower_sessions::Session;
use uuid::Uuid;

/// Session key of the signed-in user's id.
pub const USER_KEY: &str = "user_id";
/// Session key of the workspace the user is working in.
pub const WORKSPACE_KEY: &str = "workspace_id";

/// What server functions need from the server, provided as Leptos context per request.
#[derive(Clone)]
pub struct ServerContext {
    pub pool: PgPool,
    pub login_policy: LoginPolicy,
    /// Demo mode: the sign-in page lists the demo accounts.
    pub demo: bool,
    /// The event bus (quarantine replays write to `events.raw`).
    pub bus: std::sync::Arc<dyn bus::Bus>,
    /// The analytics store (profiles, timelines).
    pub analytics: std::sync::Arc<dyn analytics::AnalyticsStore>,
}

/// The server context of the current request.
pub fn server_context() -> Result<ServerContext, UiError> {
    use_context::<ServerContext>().ok_or_else(|| internal("server context missing"))
}

/// The tower-sessions session of the current request.
pub async fn session() -> Result<Session, UiError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|e| internal(&format!("session unavailable: {e}")))
}

/// Logs an unexpected failure and returns an opaque error with a reference.
pub fn internal(what: &str) -> UiError {
    let reference = crate::error::uuid_ref();
    tracing::error!(reference, "{what}");
    UiError::Internal(reference)
}

fn session_err(e: tower_sessions::session::Error) -> UiError {
    internal(&format!("session store failed: {e}"))
}

/// The ids stored in the session, if someone is signed in.
pub async fn session_ids(session: &Session) -> Result<Option<(Uuid, Option<Uuid>)>, UiError> {
    let user: Option<Uuid> = session.get(USER_KEY).await.map_err(session_err)?;
    let ws: Option<Uuid> = session.get(WORKSPACE_KEY).await.map_err(session_err)?;
    Ok(user.map(|u| (u, ws)))
}

/// Starts a signed-in session, with a new session id so a planted id cannot be reused.
pub async fn sign_in(session: &Session, user_id: Uuid, workspace_id: Uuid) -> Result<(), UiError> {
    session.cycle_id().await.map_err(session_err)?;
    session
        .insert(USER_KEY, user_id)
        .await
        .map_err(session_err)?;
    session
        .insert(WORKSPACE_KEY, workspace_id)
        .await
        .map_err(session_err)?;
    Ok(())
}

/// Switches the session's workspace.
pub async fn set_workspace(session: &Session, workspace_id: Uuid) -> Result<(), UiError> {
    session
        .insert(WORKSPACE_KEY, workspace_id)
        .await
        .map_err(session_err)
}

/// Ends the session and deletes it from the store.
pub async fn sign_out(session: &Session) -> Result<(), UiError> {
    session.flush().await.map_err(session_err)
}

/// The signed-in viewer; a session whose user lost access is ended and reported as signed out.
pub async fn require_viewer() -> Result<(Viewer, ServerContext), UiError> {
    let ctx = server_context()?;
    let session = session().await?;
    let Some((user_id, ws)) = session_ids(&session).await? else {
        return Err(unauthorized());
    };
    match access::load_viewer(&ctx.pool, user_id, ws).await {
        Ok(viewer) => Ok((viewer, ctx)),
        Err(AccessError::Deactivated | AccessError::NotFound(_)) => {
            sign_out(&session).await?;
            Err(unauthorized())
        }
        Err(e) => Err(e.into()),
    }
}

/// A signed-in member whose role the authorization table allowed for the request's area.
pub struct Member {
    pub viewer: Viewer,
    pub ctx: ServerContext,
}

impl Member {
    /// The workspace every read and write of this request is scoped to.
    pub fn workspace_id(&self) -> Uuid {
        self.viewer.workspace.id
    }

    /// The member as a CRM actor (the CRM services add their row-level rules on top).
    pub fn actor(&self) -> crm::Actor {
        crm::Actor::user(
            self.viewer.workspace.id,
            self.viewer.user_id,
            self.viewer.role,
        )
    }
}

/// The signed-in member, when [`domain::Role::may`] lets their role `need` `area`: the first
/// call of every server function that touches a workspace. Refuses with 401 when nobody is
/// signed in and 403 naming who may otherwise.
pub async fn require(area: Area, need: Need) -> Result<Member, UiError> {
    let (viewer, ctx) = require_viewer().await?;
    viewer.role.authorize(area, need)?;
    Ok(Member { viewer, ctx })
}

fn unauthorized() -> UiError {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(axum::http::StatusCode::UNAUTHORIZED);
    }
    UiError::Unauthorized
}

/// Accepts only local paths as post-sign-in targets, so `next=` cannot redirect off-site.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.contains("://");
    if ok {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next("/settings/users?page=2"),
            "/settings/users?page=2"
        );
        for evil in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(evil), "/", "{evil}");
        }
    }
}
