//! The REST API under `/api/v1`: CRM records, lead conversion, API tokens and CRM settings.
//! Callers authenticate with the workbench session or `Authorization: Bearer <API token>`.

mod auth;
mod docs;
mod error;
mod export;
pub mod openapi;
mod records;

pub use auth::{guarded, ApiActor};
pub use error::ApiError;

use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use domain::Area;
use records::{with_etag, Body, RecordId};
use serde::{Deserialize, Serialize};

/// `GET /api/openapi.json` and the browsable reference at `GET /api/docs`.
pub fn doc_routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs::page))
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

/// Every `/api/v1` route (relative; the caller nests them), each under the area of the
/// authorization table it belongs to (GET reads the area, other methods change it).
pub fn routes() -> Router<AppState> {
    let crm = records::routes()
        .route("/leads/{id}/convert", post(convert_lead))
        .route("/loyalty-memberships/{id}/tiers", get(tier_history))
        .route("/imports/{id}/rows.csv", get(import_rows_csv));
    let administration = Router::new()
        .route("/tokens", get(list_tokens).post(issue_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/settings/crm", get(crm_settings).put(put_crm_settings));
    Router::new()
        .merge(guarded(Area::Crm, crm))
        .merge(guarded(Area::ApiTokens, administration))
        .fallback(not_found)
}

async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(
            serde_json::json!({ "error": "not_found", "message": "No such API endpoint; see /api/openapi.json." }),
        ),
    )
}

/// `POST /api/v1/leads/{id}/convert`.
async fn convert_lead(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    RecordId(id): RecordId,
    Body(req): Body<domain::crm::LeadConversion>,
) -> Result<Response, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let res = crm::leads::convert(&mut conn, &actor, id, req).await?;
    Ok(with_etag(StatusCode::OK, res.lead.version, res))
}

/// `GET /api/v1/loyalty-memberships/{id}/tiers`.
async fn tier_history(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    RecordId(id): RecordId,
) -> Result<Json<Vec<domain::crm::TierChange>>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(
        crm::loyalty::tier_history(&mut conn, &actor, id).await?,
    ))
}

/// A request for a new API token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    scopes: Vec<String>,
}

async fn list_tokens(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<Vec<crm::tokens::ApiToken>>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(crm::tokens::list(&mut conn, &actor).await?))
}

async fn issue_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(req): Body<NewToken>,
) -> Result<(StatusCode, Json<crm::tokens::IssuedToken>), ApiError> {
    let mut conn = state.pool.acquire().await?;
    let t = crm::tokens::issue(&mut conn, &actor, &req.name, &req.scopes).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

async fn revoke_token(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    RecordId(id): RecordId,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.pool.acquire().await?;
    crm::tokens::revoke(&mut conn, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// CRM settings of the workspace.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrmSettings {
    /// Sales reps change only records they own.
    reps_edit_own_only: bool,
    /// The calling code phones written without one take (`+1`, `+44`); unchanged when a PUT
    /// leaves it out.
    #[serde(default)]
    phone_country: Option<String>,
}

async fn crm_settings(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> Result<Json<CrmSettings>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let v = crm::actor::reps_edit_own_only(&mut conn, actor.workspace_id).await?;
    let country = crm::settings::phone_country(&mut conn, actor.workspace_id)
        .await
        .map_err(crm::CrmError::from)?;
    Ok(Json(CrmSettings {
        reps_edit_own_only: v,
        phone_country: Some(country.to_string()),
    }))
}

async fn put_crm_settings(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Body(s): Body<CrmSettings>,
) -> Result<Json<CrmSettings>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    if let Some(code) = &s.phone_country {
        let code = code.parse().map_err(|_| {
            let mut errors = domain::FieldErrors::default();
            errors.add(
                "phone_country",
                "a calling code of 1 to 3 digits, such as 44 or +49",
            );
            ApiError::Crm(crm::CrmError::Invalid(errors))
        })?;
        crm::settings::set_phone_country(&mut conn, &actor, code).await?;
    }
    crm::actor::set_reps_edit_own_only(&mut conn, &actor, s.reps_edit_own_only).await?;
    drop(conn);
    crm_settings(State(state), ApiActor(actor)).await
}

/// `GET /api/v1/imports/{id}/rows.csv`: every row of an import with its outcome and problems.
async fn import_rows_csv(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    RecordId(id): RecordId,
) -> Result<Response, ApiError> {
    use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let mut conn = state.pool.acquire().await?;
    let csv = crm::import::outcomes_csv(&mut conn, &actor, id).await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{id}.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
