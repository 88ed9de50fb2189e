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

use domain::control::Control;
use domain::phone::PhoneCountries;

/// One record of `events.raw`: a customer's event, or a control record that moves the model
/// at its place in the log (time, CRM changes, label definitions).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Event(Result<segment::SegmentEvent, Invalid>),
    Control(Control),
}

/// Decodes one record of `events.raw` (see [`segment::decode`] for events).
pub fn decode(value: &[u8], phone_countries: &PhoneCountries) -> Record {
    match Control::decode(value) {
        Some(Ok(control)) => Record::Control(control),
        Some(Err(e)) => Record::Event(Err(Invalid(format!("a control record: {e}")))),
        None => Record::Event(segment::decode(value, phone_countries)),
    }
}
