//! What travels on the bus between crates: topic names, the workspace id, the accepted event
//! with Pulse's `_pulse` metadata, and the label trigger. Producers and consumers both use
//! these types, so a field is spelled once.

use crate::identity::Identifier;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Accepted events (gateway, Data Router, demo traffic → pipeline).
pub const EVENTS_TOPIC: &str = "events.raw";
/// Refused and flagged events, with their reasons.
pub const QUARANTINE_TOPIC: &str = "events.quarantine";
/// CRM row changes in Debezium envelopes (CDC → pipeline).
pub const CRM_CHANGES_TOPIC: &str = "crm.changes";
/// The pipeline's effects other than timeline events (merges, labels, sessions).
pub const PROFILE_CHANGES_TOPIC: &str = "profiles.changes";
/// Label triggers (pipeline → alerts).
pub const TRIGGERS_TOPIC: &str = "triggers";

/// A workspace: the tenant every event, CRM row and profile belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct WorkspaceId(pub Uuid);

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for WorkspaceId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(WorkspaceId)
    }
}

impl From<Uuid> for WorkspaceId {
    fn from(id: Uuid) -> Self {
        WorkspaceId(id)
    }
}

/// The kinds of Segment calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallType {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl CallType {
    /// The `type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Track => "track",
            CallType::Identify => "identify",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }

    /// Parses a `type` value.
    pub fn parse(s: &str) -> Option<CallType> {
        Some(match s {
            "track" => CallType::Track,
            "identify" => CallType::Identify,
            "page" => CallType::Page,
            "screen" => CallType::Screen,
            "group" => CallType::Group,
            "alias" => CallType::Alias,
            _ => return None,
        })
    }
}

/// Pulse's own metadata on an accepted event (its `_pulse` object). Senders never set it: the
/// gateway drops any `_pulse` in a payload before stamping its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PulseMeta {
    /// The time the event claimed, RFC 3339, when it lay too far in the future (the event's
    /// `timestamp` is then its receive time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub future_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<WorkspaceId>,
    /// The gateway source (write key) it came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<Uuid>,
    /// The Data Router integration it came through, and that integration's slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// Whether the consent policy lets destinations activate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activatable: Option<bool>,
    /// Consent categories the sender had not granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_consent: Vec<String>,
    /// What the tracking plan flagged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// Made up by the demo traffic generator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
}

impl PulseMeta {
    /// Whether nothing is stamped.
    pub fn is_empty(&self) -> bool {
        *self == PulseMeta::default()
    }

    /// The metadata an event payload carries (empty when it has none or it is unreadable).
    pub fn of(payload: &Value) -> PulseMeta {
        payload
            .get("_pulse")
            .and_then(|p| PulseMeta::deserialize(p).ok())
            .unwrap_or_default()
    }

    /// Writes this metadata into an event payload, in the place an earlier `_pulse` held.
    pub fn stamp(&self, payload: &mut Value) {
        if let Value::Object(o) = payload {
            o.insert(
                "_pulse".into(),
                serde_json::to_value(self).expect("the envelope serialises"),
            );
        }
    }
}

/// An accepted event as it is on `events.raw`: a Segment call the gateway (or the Data Router,
/// or demo traffic) normalised, with `_pulse`. Fields the platform reads are typed; the rest
/// of the sender's payload is kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptedEvent {
    #[serde(rename = "type")]
    pub call: CallType,
    pub message_id: String,
    /// Event time, RFC 3339, after skew correction.
    pub timestamp: String,
    #[serde(
        rename = "_pulse",
        default,
        skip_serializing_if = "PulseMeta::is_empty"
    )]
    pub pulse: PulseMeta,
    /// Everything else, as sent (ids, `event`, `properties`, `traits`, `context`, …).
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl AcceptedEvent {
    /// A field of the payload as text (ids sent as numbers are not text).
    pub fn text(&self, field: &str) -> Option<&str> {
        self.rest.get(field).and_then(Value::as_str)
    }

    /// The `userId`.
    pub fn user_id(&self) -> Option<&str> {
        self.text("userId")
    }

    /// The `anonymousId`.
    pub fn anonymous_id(&self) -> Option<&str> {
        self.text("anonymousId")
    }

    /// An alias call's `previousId`.
    pub fn previous_id(&self) -> Option<&str> {
        self.text("previousId")
    }

    /// A track call's `event` name.
    pub fn event(&self) -> Option<&str> {
        self.text("event")
    }

    /// An object field (`properties`, `traits`, `context`), if present.
    pub fn object(&self, field: &str) -> Option<&Map<String, Value>> {
        self.rest.get(field).and_then(Value::as_object)
    }
}

/// A label marked as a trigger was set on a profile (on `triggers`, for alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// The effect's deterministic id.
    pub id: String,
    pub workspace: WorkspaceId,
    pub profile: String,
    pub label: String,
    pub reason: String,
    /// Event time of the change, ms since the epoch.
    pub at: i64,
    /// The profile's identifiers when it fired.
    pub identifiers: Vec<Identifier>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the gateway put on `events.raw` for a flagged track call with a clamped time
    /// (from the gateway's and policy's tests).
    const GATEWAY: &str = r#"{"type":"track","event":"Clicked","userId":"u-1","messageId":"m-1","originalTimestamp":"2099-01-01T00:00:00Z","timestamp":"2026-11-25T10:00:00Z","receivedAt":"2026-11-25T10:00:00Z","_pulse":{"futureTimestamp":"2099-01-01T00:00:00Z","workspaceId":"7d3c1f5e-0000-4000-8000-000000000001","sourceId":"00000000-0000-0000-0000-000000000000","activatable":false,"missingConsent":["marketing"],"violations":["event `Clicked` is not in the tracking plan"]},"context":{"ip":"10.0.0.1"}}"#;

    #[test]
    fn the_gateways_envelope_decodes_and_encodes_to_the_same_bytes() {
        let payload: Value = serde_json::from_str(GATEWAY).unwrap();
        let meta = PulseMeta::of(&payload);
        assert_eq!(meta.activatable, Some(false));
        assert_eq!(meta.missing_consent, vec!["marketing".to_string()]);
        assert_eq!(
            serde_json::to_string(&meta).unwrap(),
            serde_json::to_string(&payload["_pulse"]).unwrap()
        );
        let event: AcceptedEvent = serde_json::from_str(GATEWAY).unwrap();
        assert_eq!(event.call, CallType::Track);
        assert_eq!(event.user_id(), Some("u-1"));
        assert_eq!(event.pulse, meta);
        // Re-encoded it is the same event (keys the type names come first).
        assert_eq!(serde_json::to_value(&event).unwrap(), payload);
    }

    #[test]
    fn the_routers_and_the_demos_envelopes_decode_and_encode_to_the_same_event() {
        for sample in [
            json!({"type": "track", "event": "Order Completed", "messageId": "shopify-1",
                "timestamp": "2026-11-25T10:00:00Z", "properties": {"revenue": 12.5},
                "context": {}, "anonymousId": "email:ada@example.com",
                "receivedAt": "2026-11-25T10:00:01Z",
                "_pulse": {"workspaceId": "7d3c1f5e-0000-4000-8000-000000000001",
                    "integrationId": "7d3c1f5e-0000-4000-8000-000000000002",
                    "integration": "shopify", "activatable": true,
                    "futureTimestamp": "9999-12-31T00:00:00Z"}}),
            json!({"type": "page", "properties": {"path": "/pricing"}, "anonymousId": "demo-1",
                "messageId": "demo-2", "timestamp": "2026-11-25T10:00:00Z",
                "receivedAt": "2026-11-25T10:00:00Z",
                "_pulse": {"workspaceId": "7d3c1f5e-0000-4000-8000-000000000001",
                    "activatable": true, "synthetic": true}}),
        ] {
            let event: AcceptedEvent = serde_json::from_value(sample.clone()).unwrap();
            assert_eq!(serde_json::to_value(&event).unwrap(), sample);
        }
    }

    #[test]
    fn stamping_keeps_the_envelope_where_the_parser_started_it() {
        let mut payload =
            json!({"type": "track", "_pulse": {"futureTimestamp": "x"}, "context": {}});
        let mut meta = PulseMeta::of(&payload);
        meta.activatable = Some(true);
        meta.stamp(&mut payload);
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            r#"{"type":"track","_pulse":{"futureTimestamp":"x","activatable":true},"context":{}}"#
        );
    }

    #[test]
    fn a_trigger_reads_as_the_pipeline_wrote_it() {
        let old = r#"{"id":"w:label:p_1:vip:set:5","workspace":"7d3c1f5e-0000-4000-8000-000000000001","profile":"p_1","label":"vip","reason":"why","at":5,"identifiers":["email:ada@example.com","anon:a"]}"#;
        let t: Trigger = serde_json::from_str(old).unwrap();
        assert_eq!(t.identifiers[1].kind, crate::identity::IdKind::Anonymous);
        assert_eq!(serde_json::to_string(&t).unwrap(), old);
    }
}
