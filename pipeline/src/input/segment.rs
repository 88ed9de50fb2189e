//! `events.raw` → [`SegmentEvent`]: an accepted Segment call reduced to what the customer
//! model uses — its workspace, id, name, event time, identifiers and properties.

use super::Invalid;
use crate::operator::identity::{identifier, IdKind, Identifier};
use crate::time::EventTimeMs;
use domain::events::{AcceptedEvent, CallType};
use domain::phone::{CallingCode, PhoneCountries};
use domain::WorkspaceId;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One accepted event, as the engine applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentEvent {
    /// `_pulse.workspaceId`.
    pub workspace: Option<WorkspaceId>,
    pub message_id: String,
    /// The event's name on the timeline (`Page Viewed` for a page call, …).
    pub name: String,
    pub at: EventTimeMs,
    /// When the gateway received it (`receivedAt`), if the record says.
    pub received_at: Option<EventTimeMs>,
    /// Cleaned identifiers; junk ones are left out.
    pub ids: Vec<Identifier>,
    /// Properties (for identify: traits).
    pub properties: Value,
    pub identify: bool,
}

/// Decodes one record of `events.raw`; its phones take the calling code of its workspace in
/// `phone_countries` when written without one, as the CRM stores them.
pub fn decode(value: &[u8], phone_countries: &PhoneCountries) -> Result<SegmentEvent, Invalid> {
    let event: AcceptedEvent = serde_json::from_slice(value)?;
    let phone_country = phone_countries.of(event.pulse.workspace_id);
    SegmentEvent::new(event, phone_country)
}

impl SegmentEvent {
    /// What the model uses of an accepted event; phones written without a country code take
    /// `phone_country` (the event's workspace's).
    pub fn new(mut e: AcceptedEvent, phone_country: CallingCode) -> Result<Self, Invalid> {
        let at = OffsetDateTime::parse(&e.timestamp, &Rfc3339)
            .map_err(|err| Invalid(format!("timestamp {:?}: {err}", e.timestamp)))?;
        let at = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        let received_at = e
            .text("receivedAt")
            .and_then(|r| OffsetDateTime::parse(r, &Rfc3339).ok())
            .map(|r| (r.unix_timestamp_nanos() / 1_000_000) as i64);
        let mut ids = Vec::new();
        let mut push = |kind: IdKind, raw: Option<&str>| {
            if let Some(id) = raw.and_then(|r| identifier(kind, r, phone_country)) {
                ids.push(id);
            }
        };
        push(IdKind::User, e.user_id());
        push(IdKind::Anonymous, e.anonymous_id());
        push(IdKind::Anonymous, e.previous_id());
        let traits = |o: Option<&Value>, field: &str| -> Option<String> {
            o?.get(field)?.as_str().map(str::to_string)
        };
        let context_traits = e.object("context").and_then(|c| c.get("traits"));
        for base in [e.rest.get("traits"), context_traits] {
            push(IdKind::Email, traits(base, "email").as_deref());
            push(IdKind::Phone, traits(base, "phone").as_deref());
        }
        let mut properties = e.rest.remove("properties").unwrap_or(Value::Null);
        let name = match e.call {
            CallType::Track => e
                .event()
                .ok_or_else(|| Invalid("a track call without an event name".into()))?
                .to_string(),
            CallType::Page => {
                // Segment puts the path in properties; the SDKs also send context.page.
                let path = e
                    .object("context")
                    .and_then(|c| c.get("page"))
                    .and_then(|p| p.get("path"))
                    .and_then(Value::as_str);
                if let (Some(path), Value::Object(p)) = (path, &mut properties) {
                    p.entry("path")
                        .or_insert_with(|| Value::String(path.to_string()));
                }
                "Page Viewed".to_string()
            }
            CallType::Screen => "Screen Viewed".to_string(),
            CallType::Identify => {
                properties = e.rest.remove("traits").unwrap_or(Value::Null);
                "Identified".to_string()
            }
            CallType::Alias => "Aliased".to_string(),
            CallType::Group => "Group".to_string(),
        };
        Ok(SegmentEvent {
            workspace: e.pulse.workspace_id,
            message_id: e.message_id,
            name,
            at,
            received_at,
            ids,
            properties,
            identify: e.call == CallType::Identify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A batch item as the gateway put it on `events.raw` (from `server/tests/gateway.rs`).
    const GATEWAY_IDENTIFY: &str = r#"{"type":"identify","userId":"u-1","anonymousId":"a-1","traits":{"email":"Ada@Acme.example","plan":"pro"},"context":{"traits":{"phone":"+1 415 555 0100"},"ip":"10.0.0.1"},"messageId":"m-2","originalTimestamp":"2026-11-25T10:00:00Z","timestamp":"2026-11-25T10:00:00Z","receivedAt":"2026-11-25T10:00:00Z","_pulse":{"workspaceId":"7d3c1f5e-0000-4000-8000-000000000001","sourceId":"7d3c1f5e-0000-4000-8000-000000000002","activatable":true}}"#;

    #[test]
    fn an_identify_call_yields_its_identifiers_and_traits() {
        let e = decode(GATEWAY_IDENTIFY.as_bytes(), &PhoneCountries::default()).unwrap();
        assert_eq!(
            e.workspace.map(|w| w.to_string()).as_deref(),
            Some("7d3c1f5e-0000-4000-8000-000000000001")
        );
        let ids: Vec<String> = e.ids.iter().map(ToString::to_string).collect();
        assert_eq!(
            ids,
            [
                "user:u-1",
                "anon:a-1",
                "email:ada@acme.example",
                "phone:+14155550100"
            ]
        );
        assert!(e.identify);
        assert_eq!(e.name, "Identified");
        assert_eq!(e.properties["plan"], "pro");
        assert_eq!(e.at, 1_795_600_800_000);
    }

    #[test]
    fn the_time_the_gateway_received_an_event_comes_with_it() {
        let e = decode(GATEWAY_IDENTIFY.as_bytes(), &PhoneCountries::default()).unwrap();
        assert_eq!(e.received_at, Some(1_795_600_800_000));
    }

    #[test]
    fn a_page_call_takes_its_path_from_the_context_when_properties_lack_it() {
        let e = decode(
            json!({"type": "page", "anonymousId": "a", "messageId": "m",
                "timestamp": "2026-11-25T10:00:00.5Z", "context": {"page": {"path": "/pricing"}}})
            .to_string()
            .as_bytes(),
            &PhoneCountries::default(),
        )
        .unwrap();
        assert_eq!(e.name, "Page Viewed");
        assert_eq!(
            e.properties,
            Value::Null,
            "no properties object to put it in"
        );
        let e = decode(
            json!({"type": "page", "anonymousId": "a", "messageId": "m", "properties": {},
                "timestamp": "2026-11-25T10:00:00.5Z", "context": {"page": {"path": "/pricing"}}})
            .to_string()
            .as_bytes(),
            &PhoneCountries::default(),
        )
        .unwrap();
        assert_eq!(e.properties["path"], "/pricing");
        assert_eq!(e.at % 1_000, 500);
        assert_eq!(e.workspace, None);
    }

    #[test]
    fn a_national_phone_takes_the_calling_code_of_the_events_workspace() {
        let ws: WorkspaceId = "7d3c1f5e-0000-4000-8000-000000000001".parse().unwrap();
        let germany = CallingCode::new(49).unwrap();
        let countries: PhoneCountries = [(ws, germany)].into_iter().collect();
        let event = |workspace: &str| {
            json!({"type": "identify", "anonymousId": "a", "messageId": "m",
                "timestamp": "2026-11-25T10:00:00Z", "traits": {"phone": "030 1234567"},
                "_pulse": {"workspaceId": workspace}})
            .to_string()
        };
        let phone = |record: String| {
            decode(record.as_bytes(), &countries)
                .unwrap()
                .ids
                .into_iter()
                .find(|i| i.kind == IdKind::Phone)
                .map(|i| i.value)
        };
        assert_eq!(
            phone(event("7d3c1f5e-0000-4000-8000-000000000001")).as_deref(),
            Some("+49301234567")
        );
        assert_eq!(
            phone(event("7d3c1f5e-0000-4000-8000-000000000002")).as_deref(),
            Some("+1301234567"),
            "a workspace without a setting keeps North America"
        );
    }

    #[test]
    fn records_that_are_not_accepted_events_are_invalid() {
        for bad in [
            &b"not json"[..],
            br#"{"type":"unknown","messageId":"m","timestamp":"2026-11-25T10:00:00Z"}"#,
            br#"{"type":"track","messageId":"m","timestamp":"2026-11-25T10:00:00Z"}"#,
            br#"{"type":"page","messageId":"m","timestamp":"yesterday"}"#,
        ] {
            assert!(
                decode(bad, &PhoneCountries::default()).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
