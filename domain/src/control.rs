//! Control records: records of `events.raw` that are no customer's event but change the customer
//! model at their place in the log — time moving on while nobody sends anything, CRM changes
//! joining, label definitions edited. Because they are in the log, every replay of a partition
//! meets them at the same position and decides exactly as the first run did.
//!
//! On the wire a control record is `{"pulseControl":{…}}`; no accepted event can look like
//! that, because an [`crate::events::AcceptedEvent`] always serialises `type` first.

use crate::events::WorkspaceId;
use crate::labels::LabelDefinition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a control record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Control {
    /// The runner owning the partition had read all of it at wall-clock time `at` (ms since
    /// the epoch): event time may move to `at` less the allowed disorder. The CRM changes
    /// before `crm` (partition of `crm.changes` → next offset) apply here.
    Tick {
        at: i64,
        #[serde(default)]
        crm: BTreeMap<i32, i64>,
    },
    /// A workspace's label definitions from this position on, as version `version` (versions
    /// only grow; an older or repeated one is ignored).
    Labels {
        workspace: WorkspaceId,
        version: u64,
        definitions: Vec<LabelDefinition>,
    },
}

#[derive(Serialize, Deserialize)]
struct Wire<T> {
    #[serde(rename = "pulseControl")]
    control: T,
}

const PREFIX: &[u8] = b"{\"pulseControl\":";

impl Control {
    /// The record's value on `events.raw`.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&Wire { control: self }).expect("a control record serialises")
    }

    /// The control record in `value`; `None` when `value` is not one (an event), an error when
    /// it is one this release cannot read.
    pub fn decode(value: &[u8]) -> Option<Result<Control, serde_json::Error>> {
        if !value.starts_with(PREFIX) {
            return None;
        }
        Some(serde_json::from_slice::<Wire<Control>>(value).map(|w| w.control))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{AcceptedEvent, CallType, PulseMeta};

    #[test]
    fn a_control_record_reads_back_and_an_event_is_never_taken_for_one() {
        let tick = Control::Tick {
            at: 1_700_000_000_000,
            crm: BTreeMap::from([(0, 12), (3, 4)]),
        };
        let bytes = tick.encode();
        assert!(bytes.starts_with(PREFIX));
        assert_eq!(Control::decode(&bytes).unwrap().unwrap(), tick);

        // A sender cannot forge one: its own `pulseControl` field lands after `type`.
        let mut rest = serde_json::Map::new();
        rest.insert(
            "pulseControl".into(),
            serde_json::json!({"tick": {"at": 9}}),
        );
        let event = AcceptedEvent {
            call: CallType::Track,
            message_id: "m".into(),
            timestamp: "2026-01-01T00:00:00Z".into(),
            pulse: PulseMeta::default(),
            rest,
        };
        assert!(Control::decode(&serde_json::to_vec(&event).unwrap()).is_none());
        assert!(Control::decode(b"{\"pulseControl\":{\"nonsense\":1}}")
            .unwrap()
            .is_err());
    }
}
