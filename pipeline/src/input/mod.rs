//! The engine's edge: records of the bus decoded into the typed inputs the engine applies.
//! Wire formats stop here; the engine and its operators never parse JSON.

pub mod crm;
pub mod segment;

/// A record that is not a readable input: the engine counts it and moves past it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a readable record: {0}")]
pub struct Invalid(pub String);

impl From<serde_json::Error> for Invalid {
    fn from(e: serde_json::Error) -> Self {
        Invalid(e.to_string())
    }
}

/// The engine's key for a workspace (the empty key holds events that name none).
pub fn workspace_key(workspace: Option<domain::WorkspaceId>) -> String {
    workspace.map(|w| w.to_string()).unwrap_or_default()
}
