//! The error type every server function returns, shaped for showing to people.

use domain::FieldErrors;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// An error as the UI shows it; serialised from server functions to the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum UiError {
    #[error("Please sign in to continue.")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Please correct the highlighted fields.")]
    Invalid(FieldErrors),
    #[error("{0}")]
    Conflict(String),
    #[error("Too many failed sign-in attempts. Try again in {} minute(s).", .0.div_ceil(60))]
    Throttled(u64),
    #[error("Something went wrong on our side (reference {0}). Please try again.")]
    Internal(String),
    #[error("The request failed: {0}")]
    Request(String),
}

impl UiError {
    /// The message for one form field, when this is a validation error.
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            UiError::Invalid(f) => f.get(name).map(str::to_string),
            _ => None,
        }
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        UiError::Request(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<access::AccessError> for UiError {
    /// Maps domain errors to UI errors and sets the HTTP status of the server-function response.
    fn from(e: access::AccessError) -> Self {
        use access::AccessError as A;
        use axum::http::StatusCode;
        let (status, ui) = match e {
            A::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                UiError::Invalid({
                    let mut f = FieldErrors::default();
                    f.add("password", "The email or password is not correct.");
                    f
                }),
            ),
            A::Throttled { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                UiError::Throttled(retry_after_secs),
            ),
            A::Deactivated => (StatusCode::FORBIDDEN, UiError::Forbidden(e.to_string())),
            A::Forbidden(m) => (
                StatusCode::FORBIDDEN,
                UiError::Forbidden(format!("You are not allowed to do this: {m}.")),
            ),
            A::NotFound(what) => (
                StatusCode::NOT_FOUND,
                UiError::NotFound(format!("That {what} does not exist in this workspace.")),
            ),
            A::Invalid(f) => (StatusCode::UNPROCESSABLE_ENTITY, UiError::Invalid(f)),
            A::Conflict(m) => (StatusCode::CONFLICT, UiError::Conflict(m)),
            A::Database(_) | A::Hashing(_) => {
                let reference = uuid_ref();
                tracing::error!(error = %e, reference, "server function failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    UiError::Internal(reference),
                )
            }
        };
        set_status(status);
        ui
    }
}

/// Sets the HTTP status of the current server-function response (when there is one).
#[cfg(feature = "ssr")]
pub(crate) fn set_status(status: axum::http::StatusCode) {
    if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(status);
    }
}

#[cfg(feature = "ssr")]
impl From<domain::Refused> for UiError {
    /// A role the authorization table does not allow: 403 with the sentence naming who may.
    fn from(e: domain::Refused) -> Self {
        set_status(axum::http::StatusCode::FORBIDDEN);
        UiError::Forbidden(e.to_string())
    }
}

/// A short reference shown to the user and logged with the error, to find one in the other.
#[cfg(feature = "ssr")]
pub(crate) fn uuid_ref() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[cfg(feature = "ssr")]
impl From<crm::CrmError> for UiError {
    /// Maps CRM errors to UI errors and sets the HTTP status of the server-function response.
    fn from(e: crm::CrmError) -> Self {
        use axum::http::StatusCode;
        use crm::CrmError as C;
        let (status, ui) = match e {
            C::Invalid(f) => (StatusCode::UNPROCESSABLE_ENTITY, UiError::Invalid(f)),
            C::NotFound(kind) => (
                StatusCode::NOT_FOUND,
                UiError::NotFound(format!(
                    "That {} does not exist in this workspace (or was deleted).",
                    kind.label().to_lowercase()
                )),
            ),
            e @ C::Conflict { .. } => (
                StatusCode::CONFLICT,
                UiError::Conflict(format!("{}.", capitalize(&e.to_string()))),
            ),
            C::Forbidden(m) => (
                StatusCode::FORBIDDEN,
                UiError::Forbidden(format!("{}.", capitalize(&m))),
            ),
            C::BadQuery(m) => (StatusCode::BAD_REQUEST, UiError::Request(m)),
            C::Database(e) => {
                let reference = uuid_ref();
                tracing::error!(error = %e, reference, "server function failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    UiError::Internal(reference),
                )
            }
        };
        set_status(status);
        ui
    }
}

#[cfg(feature = "ssr")]
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(feature = "ssr")]
impl From<audiences::AudienceError> for UiError {
    /// Maps label and inbox service errors to UI errors and sets the HTTP status.
    fn from(e: audiences::AudienceError) -> Self {
        use audiences::AudienceError as A;
        use axum::http::StatusCode;
        let (status, ui) = match e {
            A::Refused(r) => (StatusCode::FORBIDDEN, UiError::Forbidden(r.to_string())),
            A::NotYours(m) => (StatusCode::FORBIDDEN, UiError::Forbidden(m.into())),
            A::Invalid(f) => (StatusCode::UNPROCESSABLE_ENTITY, UiError::Invalid(f)),
            A::NotFound(m) => (StatusCode::NOT_FOUND, UiError::NotFound(m.into())),
            e @ A::BacktestRunning => (StatusCode::CONFLICT, UiError::Conflict(e.to_string())),
            e @ A::BacktestTimedOut(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                UiError::Request(e.to_string()),
            ),
            A::Bus(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                UiError::Request(format!(
                    "The backtest could not read the events ({e}). Try again."
                )),
            ),
            // The CRM's own mapping sets its status.
            A::Crm(e) => return UiError::from(e),
            A::Database(e) => {
                let reference = uuid_ref();
                tracing::error!(error = %e, reference, "server function failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    UiError::Internal(reference),
                )
            }
        };
        set_status(status);
        ui
    }
}
