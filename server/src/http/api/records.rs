//! `/api/v1/<records>` for every CRM record type: list, get, create, update (If-Match),
//! delete, restore and audit history. Handlers parse, call the CRM service, map errors.

use super::auth::ApiActor;
use super::error::ApiError;
use crate::http::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

/// A JSON body whose shape errors become 422 with the parser's message.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Unprocessable(e.body_text())),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// The record id in the path, with a clear error for malformed ids.
pub struct RecordId(pub Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RecordId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        raw.parse().map(RecordId).map_err(|_| {
            ApiError::BadRequest(format!("`{raw}` is not a record id (expected a UUID)"))
        })
    }
}

/// Reads the version from `If-Match` (`"3"`, `W/"3"` or `3`).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i32>, ApiError> {
    let Some(v) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse().map(Some).map_err(|_| {
        ApiError::BadRequest("If-Match must carry the record's ETag, e.g. \"3\"".into())
    })
}

/// A record as JSON with its version as the ETag.
pub fn with_etag<T: Serialize>(status: StatusCode, version: i32, body: T) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header"),
    );
    res
}

/// Query pairs of a list request.
pub type Pairs = Query<Vec<(String, String)>>;

/// Turns query pairs into list parameters for a list spec.
pub fn params(
    spec: &crm::list::ListSpec,
    pairs: &[(String, String)],
) -> Result<crm::ListParams, ApiError> {
    Ok(crm::ListParams::from_pairs(
        spec,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?)
}

/// Generates the handlers of one record type from its CRM service module.
macro_rules! record_api {
    ($module:ident, $service:ident, $record:ty, $input:ty) => {
        /// Handlers for one record type.
        pub mod $module {
            use super::*;
            use crm::records::Record;
            use crm::$service as service;

            /// `GET /api/v1/<records>`: filters, `q`, `sort`, `cursor`, `limit`.
            pub async fn list(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                Query(pairs): Pairs,
            ) -> Result<Json<domain::crm::Page<$record>>, ApiError> {
                let p = params(&service::LIST, &pairs)?;
                let mut conn = state.pool.acquire().await?;
                Ok(Json(service::list(&mut conn, &actor, &p).await?))
            }

            /// `GET /api/v1/<records>/{id}`.
            pub async fn get(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                RecordId(id): RecordId,
            ) -> Result<Response, ApiError> {
                let mut conn = state.pool.acquire().await?;
                let r = service::get(&mut conn, &actor, id).await?;
                Ok(with_etag(StatusCode::OK, r.version, r))
            }

            /// `POST /api/v1/<records>`.
            pub async fn create(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                Body(input): Body<$input>,
            ) -> Result<Response, ApiError> {
                let mut conn = state.pool.acquire().await?;
                let r = service::create(&mut conn, &actor, input).await?;
                Ok(with_etag(StatusCode::CREATED, r.version, r))
            }

            /// `PUT /api/v1/<records>/{id}` with `If-Match: "<version>"`.
            pub async fn update(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                RecordId(id): RecordId,
                headers: HeaderMap,
                Body(input): Body<$input>,
            ) -> Result<Response, ApiError> {
                let version = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
                let mut conn = state.pool.acquire().await?;
                let r = service::update(&mut conn, &actor, id, version, input).await?;
                Ok(with_etag(StatusCode::OK, r.version, r))
            }

            /// `DELETE /api/v1/<records>/{id}` (to the trash; `If-Match` optional).
            pub async fn delete(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                RecordId(id): RecordId,
                headers: HeaderMap,
            ) -> Result<StatusCode, ApiError> {
                let version = if_match(&headers)?;
                let mut conn = state.pool.acquire().await?;
                crm::records::delete::<$record>(&mut conn, &actor, id, version).await?;
                Ok(StatusCode::NO_CONTENT)
            }

            /// `POST /api/v1/<records>/{id}/restore`: back from the trash.
            pub async fn restore(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                RecordId(id): RecordId,
            ) -> Result<Response, ApiError> {
                let mut conn = state.pool.acquire().await?;
                let r: $record = crm::records::restore(&mut conn, &actor, id).await?;
                Ok(with_etag(StatusCode::OK, r.version, r))
            }

            /// `GET /api/v1/<records>/{id}/history`: audit entries, newest first.
            pub async fn history(
                State(state): State<AppState>,
                ApiActor(actor): ApiActor,
                RecordId(id): RecordId,
            ) -> Result<Json<Vec<domain::crm::AuditRecord>>, ApiError> {
                let mut conn = state.pool.acquire().await?;
                Ok(Json(
                    crm::audit::history(&mut conn, &actor, <$record as Record>::KIND, id, 200)
                        .await?,
                ))
            }

            /// `GET /api/v1/<records>/export.csv`: the whole list view as CSV.
            pub async fn export(
                state: State<AppState>,
                actor: ApiActor,
                pairs: Pairs,
            ) -> Result<Response, ApiError> {
                super::super::export::export(state, actor, <$record as Record>::KIND, pairs).await
            }

            /// The routes of this record type under its collection path.
            pub fn routes() -> axum::Router<AppState> {
                use axum::routing::{get as g, post};
                let coll = <$record as Record>::KIND.collection();
                axum::Router::new()
                    .route(&format!("/{coll}"), g(list).post(create))
                    .route(&format!("/{coll}/export.csv"), g(export))
                    .route(
                        &format!("/{coll}/{{id}}"),
                        g(get).put(update).delete(delete),
                    )
                    .route(&format!("/{coll}/{{id}}/restore"), post(restore))
                    .route(&format!("/{coll}/{{id}}/history"), g(history))
            }
        }
    };
}

use domain::crm as d;

record_api!(account_api, accounts, d::Account, d::AccountInput);
record_api!(customer_api, customers, d::Customer, d::CustomerInput);
record_api!(lead_api, leads, d::Lead, d::LeadInput);
record_api!(order_api, orders, d::Order, d::OrderInput);
record_api!(contract_api, contracts, d::Contract, d::ContractInput);
record_api!(
    loyalty_api,
    loyalty,
    d::LoyaltyMembership,
    d::LoyaltyMembershipInput
);
record_api!(ticket_api, tickets, d::Ticket, d::TicketInput);
record_api!(activity_api, activities, d::Activity, d::ActivityInput);

/// Routes of every record type.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(account_api::routes())
        .merge(customer_api::routes())
        .merge(lead_api::routes())
        .merge(order_api::routes())
        .merge(contract_api::routes())
        .merge(loyalty_api::routes())
        .merge(ticket_api::routes())
        .merge(activity_api::routes())
}
