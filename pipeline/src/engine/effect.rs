//! What the engine emits: effects with deterministic ids, each in its workspace, so the
//! sinks can write them idempotently.

use crate::operator::identity::Merge;
use crate::operator::labels::LabelChange;
use crate::operator::SessionChange;
use crate::time::EventTimeMs;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the engine decided; each effect has a deterministic id, so writing one twice (after a
/// replay) is harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// An event attributed to a profile (the timeline).
    Event {
        profile: String,
        message_id: String,
        name: String,
        at: EventTimeMs,
        properties: Value,
    },
    /// Two profiles merged.
    Merged(Merge),
    /// A label set or cleared.
    Label(LabelChange),
    /// A session started or ended.
    Session {
        profile: String,
        session: String,
        started: bool,
        at: EventTimeMs,
        duration_ms: i64,
        events: u64,
    },
}

impl Effect {
    /// The effect's deterministic id.
    pub fn id(&self) -> String {
        match self {
            Effect::Event { message_id, .. } => format!("event:{message_id}"),
            Effect::Merged(m) => format!("merge:{}:{}:{}", m.from, m.into, m.at),
            Effect::Label(c) => format!(
                "label:{}:{}:v{}:{}:{}",
                c.profile,
                c.label,
                c.version,
                if c.set { "set" } else { "cleared" },
                c.at
            ),
            Effect::Session {
                session, started, ..
            } => format!(
                "session:{session}:{}",
                if *started { "start" } else { "end" }
            ),
        }
    }

    /// The profile the effect is about (the routing key of its record).
    pub fn profile(&self) -> &str {
        match self {
            Effect::Event { profile, .. } | Effect::Session { profile, .. } => profile,
            Effect::Merged(m) => &m.into,
            Effect::Label(c) => &c.profile,
        }
    }
}

/// An effect in the workspace it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emitted {
    pub workspace: String,
    #[serde(flatten)]
    pub effect: Effect,
}

impl Emitted {
    /// The effect's deterministic id, unique across workspaces.
    pub fn id(&self) -> String {
        format!("{}:{}", self.workspace, self.effect.id())
    }
}

/// A session that started or ended, as the effect the sinks write.
pub(super) fn session_effect(c: SessionChange) -> Effect {
    match c {
        SessionChange::Started { key, session } => Effect::Session {
            profile: key,
            at: session.start,
            session: session.id,
            started: true,
            duration_ms: 0,
            events: session.events,
        },
        SessionChange::Ended {
            key,
            session,
            duration_ms,
        } => Effect::Session {
            profile: key,
            at: session.last,
            session: session.id,
            started: false,
            duration_ms,
            events: session.events,
        },
    }
}
