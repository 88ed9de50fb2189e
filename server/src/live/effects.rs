//! Effect emission: the engine's effects as records of `profiles.changes` and `triggers`.

use domain::events::Trigger;
use pipeline::{Effect, Emitted, Engine};
use serde_json::Value;

/// Label changes, merges and sessions, keyed by profile.
pub const CHANGES_TOPIC: &str = domain::events::PROFILE_CHANGES_TOPIC;
/// Label triggers (labels marked as triggers, when set).
pub const TRIGGERS_TOPIC: &str = domain::events::TRIGGERS_TOPIC;

/// The records of one round of effects, by topic.
#[derive(Default)]
pub(super) struct Records {
    pub changes: Vec<bus::OutRecord>,
    pub triggers: Vec<bus::OutRecord>,
}

impl Records {
    /// Adds the records of an engine's pending effects.
    pub fn add(&mut self, engine: &Engine, pending: &[Emitted]) {
        for e in pending {
            let id = e.id();
            let record = |value: Value| bus::OutRecord {
                key: e.effect.profile().to_string(),
                value: serde_json::to_vec(&value).expect("JSON serialises"),
                timestamp_ms: match &e.effect {
                    Effect::Event { at, .. } | Effect::Session { at, .. } => *at,
                    Effect::Merged(m) => m.at,
                    Effect::Label(c) => c.at,
                },
            };
            if let Effect::Label(c) = &e.effect {
                // Events without a workspace (none come from the gateway) cannot alert anyone.
                if let (true, Ok(workspace)) =
                    (c.trigger, e.workspace.parse::<domain::WorkspaceId>())
                {
                    let trigger = Trigger {
                        id: id.clone(),
                        workspace,
                        profile: c.profile.clone(),
                        label: c.label.clone(),
                        reason: c.reason.clone(),
                        at: c.at,
                        identifiers: engine
                            .identity(&e.workspace)
                            .map(|g| g.identifiers(&c.profile))
                            .unwrap_or_default(),
                    };
                    self.triggers.push(record(
                        serde_json::to_value(trigger).expect("a trigger serialises"),
                    ));
                }
            }
            // The timeline's events belong in the analytics store, not on the change topic.
            if !matches!(e.effect, Effect::Event { .. }) {
                let mut v = serde_json::to_value(e).expect("effects serialise");
                v["id"] = Value::String(id);
                self.changes.push(record(v));
            }
        }
    }

    /// Produces the records, changes first (a trigger's label change is on its topic before
    /// the trigger is).
    pub async fn produce(self, bus: &dyn bus::Bus) -> Result<(), bus::BusError> {
        if !self.changes.is_empty() {
            bus.produce(CHANGES_TOPIC, self.changes).await?;
        }
        if !self.triggers.is_empty() {
            bus.produce(TRIGGERS_TOPIC, self.triggers).await?;
        }
        Ok(())
    }
}
