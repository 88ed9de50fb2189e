//! Domain types that the browser and the server share.
//!
//! This crate compiles to `wasm32-unknown-unknown`: it must never depend on tokio, sqlx,
//! rdkafka or anything else that only runs on the server. It holds the vocabulary of the
//! product (roles, workbench sections, the signed-in viewer, member records) and the pure
//! validation rules that both the forms in the browser and the services on the server apply.

pub mod access;
pub mod control;
pub mod crm;
pub mod crm_change;
pub mod event_time;
pub mod events;
pub mod identity;
pub mod import;
pub mod integrations;
pub mod labels;
pub mod money;
pub mod names;
pub mod phone;
pub mod profiles;
pub mod tracking;
pub mod validation;

/// The partition key of a workspace's records on `events.raw`.
///
/// All of a workspace's events share one partition, so the one pipeline instance that owns it
/// holds the workspace's whole identity graph (a visitor and the user they become arrive under
/// different ids, and only one owner can join them).
pub fn events_key(workspace: impl Into<events::WorkspaceId>) -> String {
    workspace.into().to_string()
}

pub use access::{Area, MemberSummary, Need, Refused, Role, Section, Viewer, WorkspaceSummary};
pub use events::WorkspaceId;
pub use identity::{IdKind, Identifier};
pub use validation::FieldErrors;
