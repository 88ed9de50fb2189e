//! The Data Router: third-party systems post webhooks to `/api/v1/integrations/{slug}/{kind}`;
//! each integration's mapping says, per payload kind, what is CRM state (upserted through the
//! CRM services, so CDC carries it downstream like any edit) and what is a behavioural event
//! (appended to `events.raw`). Every delivery is recorded once per idempotency key and failed
//! ones can be replayed after the mapping is fixed.

mod deliver;
pub mod plan;
mod store;
pub mod templates;

pub use deliver::{deliver, preview, replay, replay_failed, Outcome, EVENTS_TOPIC};
pub use store::{
    authenticate, check_slug, create, deliveries, delivery_payload, get, list, save_mapping,
    Integration,
};

use domain::FieldErrors;

/// Why an integration operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// Input failed validation; messages per field.
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    /// No such integration or delivery in the workspace.
    #[error("not found")]
    NotFound,
    /// The mapping changed since the caller read it.
    #[error("the mapping was changed by someone else; reload and edit again")]
    Conflict,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The CRM refused an operation outside a delivery (e.g. issuing the credential).
    #[error("{0}")]
    Crm(crm::CrmError),
    /// The event bus did not take the events; nothing was written.
    #[error("the event bus did not take the events: {0}")]
    Bus(#[from] bus::BusError),
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
