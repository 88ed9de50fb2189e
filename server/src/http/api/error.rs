//! JSON error bodies with the HTTP status that says what the caller should do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use crm::CrmError;
use serde_json::json;

/// An API failure, rendered as `{"error": code, "message": text, ...}`.
#[derive(Debug)]
pub enum ApiError {
    /// A CRM service refused or failed.
    Crm(CrmError),
    /// No session and no valid API token.
    Unauthenticated,
    /// An update without `If-Match`.
    PreconditionRequired,
    /// The request body or path could not be read.
    BadRequest(String),
    /// The body was JSON but not the expected shape.
    Unprocessable(String),
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> Self {
        ApiError::Crm(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Crm(CrmError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Crm(CrmError::Invalid(fields)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "validation_failed", "message": "Some fields are not valid.", "fields": fields.0 }),
            ),
            ApiError::Crm(CrmError::NotFound(kind)) => (
                StatusCode::NOT_FOUND,
                json!({ "error": "not_found", "message": format!("{} not found.", kind.label()) }),
            ),
            ApiError::Crm(
                e @ CrmError::Conflict {
                    current_version, ..
                },
            ) => (
                StatusCode::CONFLICT,
                json!({ "error": "version_conflict", "message": e.to_string(), "current_version": current_version }),
            ),
            ApiError::Crm(CrmError::Forbidden(m)) => (
                StatusCode::FORBIDDEN,
                json!({ "error": "forbidden", "message": m }),
            ),
            ApiError::Crm(CrmError::BadQuery(m)) | ApiError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "bad_request", "message": m }),
            ),
            ApiError::Unprocessable(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "invalid_body", "message": m }),
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "unauthenticated", "message": "Sign in, or send an API token as `Authorization: Bearer pulse_…`." }),
            ),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                json!({ "error": "precondition_required", "message": "Send If-Match with the version you read (the ETag of the record) so concurrent edits are not lost." }),
            ),
            ApiError::Crm(CrmError::Database(e)) => {
                tracing::error!(error = %e, "database error in API request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal", "message": "Something went wrong on our side; the request was not applied." }),
                )
            }
        };
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"pulse\""),
            );
        }
        res
    }
}
