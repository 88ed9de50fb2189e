//! Tracking plans and consent policies of event sources: the vocabulary the Sources page edits
//! and the gateway enforces, with the pure checks both sides run.
//!
//! A plan lists the `track` events a source may send and, per event, the properties with a
//! JSON type (the subset of JSON Schema that matters for analytics: `type` and `required`, plus
//! `enum` for strings). The mode says what happens to an event that breaks the plan: `allow`
//! (the plan is documentation only), `flag` (delivered, marked with its violations and recorded
//! in the quarantine as flagged) or `block` (quarantined until a fix or mapping replays it).

use crate::FieldErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the gateway does with an event that breaks the plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Violations are ignored (the plan documents, nothing is enforced).
    #[default]
    Allow,
    /// Violating events are delivered, marked with their violations, and recorded as flagged.
    Flag,
    /// Violating events are quarantined and not delivered.
    Block,
}

impl PlanMode {
    /// Every mode, in menu order.
    pub const ALL: [PlanMode; 3] = [PlanMode::Allow, PlanMode::Flag, PlanMode::Block];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanMode::Allow => "allow",
            PlanMode::Flag => "flag",
            PlanMode::Block => "block",
        }
    }

    /// What the mode does, for the form.
    pub fn describe(self) -> &'static str {
        match self {
            PlanMode::Allow => "Allow: accept everything; the plan is documentation",
            PlanMode::Flag => "Flag: accept, but mark and record every violation",
            PlanMode::Block => "Block: quarantine violating events until fixed and replayed",
        }
    }
}

impl std::str::FromStr for PlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PlanMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| "must be allow, flag or block".into())
    }
}

/// The JSON type a property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    /// Any JSON value (only presence is checked).
    Any,
}

impl PropertyType {
    /// Every type, in menu order.
    pub const ALL: [PropertyType; 7] = [
        PropertyType::String,
        PropertyType::Number,
        PropertyType::Integer,
        PropertyType::Boolean,
        PropertyType::Object,
        PropertyType::Array,
        PropertyType::Any,
    ];

    /// Wire name (JSON Schema's).
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Integer => "integer",
            PropertyType::Boolean => "boolean",
            PropertyType::Object => "object",
            PropertyType::Array => "array",
            PropertyType::Any => "any",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            PropertyType::String => v.is_string(),
            PropertyType::Number => v.is_number(),
            PropertyType::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            PropertyType::Boolean => v.is_boolean(),
            PropertyType::Object => v.is_object(),
            PropertyType::Array => v.is_array(),
            PropertyType::Any => true,
        }
    }
}

impl std::str::FromStr for PropertyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PropertyType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown type `{s}`"))
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One property of a planned event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyRule {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PropertyType,
    #[serde(default)]
    pub required: bool,
    /// For strings: the allowed values (empty: any).
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
}

/// One planned `track` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub properties: Vec<PropertyRule>,
    /// Whether properties the plan does not list are violations.
    #[serde(default)]
    pub strict: bool,
}

/// A source's tracking plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackingPlan {
    #[serde(default)]
    pub mode: PlanMode,
    #[serde(default)]
    pub events: Vec<EventRule>,
}

/// Limits that keep a plan editable and cheap to check.
pub const MAX_PLAN_EVENTS: usize = 500;
/// Properties per planned event.
pub const MAX_PLAN_PROPERTIES: usize = 100;

fn valid_name(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t == s && s.chars().count() <= 200
}

impl TrackingPlan {
    /// Checks the plan itself; errors are keyed `events[i].name`, `events[i].properties[j].name`.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.events.len() > MAX_PLAN_EVENTS {
            errors.add(
                "events",
                format!("A plan has at most {MAX_PLAN_EVENTS} events."),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, e) in self.events.iter().enumerate() {
            if !valid_name(&e.name) {
                errors.add(
                    &format!("events[{i}].name"),
                    "Name the event (1-200 characters, no leading or trailing spaces).",
                );
            } else if !seen.insert(e.name.as_str()) {
                errors.add(
                    &format!("events[{i}].name"),
                    format!("`{}` is planned twice.", e.name),
                );
            }
            if e.properties.len() > MAX_PLAN_PROPERTIES {
                errors.add(
                    &format!("events[{i}].properties"),
                    format!("An event has at most {MAX_PLAN_PROPERTIES} properties."),
                );
            }
            let mut props = std::collections::HashSet::new();
            for (j, p) in e.properties.iter().enumerate() {
                let key = format!("events[{i}].properties[{j}].name");
                if !valid_name(&p.name) {
                    errors.add(&key, "Name the property (1-200 characters).");
                } else if !props.insert(p.name.as_str()) {
                    errors.add(&key, format!("`{}` is listed twice.", p.name));
                } else if !p.allowed.is_empty() && p.kind != PropertyType::String {
                    errors.add(&key, "Allowed values apply to string properties only.");
                }
            }
        }
        errors.into_result()
    }

    /// The violations of one Segment event (empty: it follows the plan). Only `track` events are
    /// planned; every other call type passes.
    pub fn check(&self, event: &Value) -> Vec<String> {
        if self.mode == PlanMode::Allow
            || event.get("type").and_then(Value::as_str) != Some("track")
        {
            return Vec::new();
        }
        let name = event.get("event").and_then(Value::as_str).unwrap_or("");
        let Some(rule) = self.events.iter().find(|e| e.name == name) else {
            return vec![format!("event `{name}` is not in the tracking plan")];
        };
        let empty = serde_json::Map::new();
        let props = event
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut out = Vec::new();
        for p in &rule.properties {
            match props.get(&p.name) {
                None | Some(Value::Null) if p.required => out.push(format!(
                    "`{name}`: required property `{}` is missing",
                    p.name
                )),
                None | Some(Value::Null) => {}
                Some(v) if !p.kind.accepts(v) => out.push(format!(
                    "`{name}`: property `{}` must be {} {}, not {}",
                    p.name,
                    if p.kind == PropertyType::Integer {
                        "an"
                    } else {
                        "a"
                    },
                    p.kind.as_str(),
                    json_type(v)
                )),
                Some(Value::String(s)) if !p.allowed.is_empty() && !p.allowed.contains(s) => out
                    .push(format!(
                        "`{name}`: property `{}` must be one of {}, not `{s}`",
                        p.name,
                        p.allowed.join(", ")
                    )),
                Some(_) => {}
            }
        }
        if rule.strict {
            for k in props.keys() {
                if !rule.properties.iter().any(|p| &p.name == k) {
                    out.push(format!(
                        "`{name}`: property `{k}` is not in the tracking plan"
                    ));
                }
            }
        }
        out
    }
}

/// Which consent categories an event needs before it may be used for activation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentPolicy {
    /// Categories (as the consent manager names them, e.g. `marketing`) that must be granted.
    #[serde(default)]
    pub activation: Vec<String>,
}

impl ConsentPolicy {
    /// Checks the policy: 0-20 category names of 1-50 characters, no duplicates.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.activation.len() > 20 {
            errors.add("activation", "At most 20 categories.");
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.activation {
            if c.trim().is_empty() || c.trim() != c || c.chars().count() > 50 {
                errors.add("activation", format!("`{c}` is not a category name."));
            } else if !seen.insert(c.to_lowercase()) {
                errors.add("activation", format!("`{c}` is listed twice."));
            }
        }
        errors.into_result()
    }

    /// The required categories this event was not granted (empty: activatable). Reads Segment's
    /// `context.consent.categoryPreferences`; category names compare case-insensitively, and a
    /// category that is absent counts as not granted.
    pub fn missing(&self, event: &Value) -> Vec<String> {
        let prefs = event
            .pointer("/context/consent/categoryPreferences")
            .and_then(Value::as_object);
        self.activation
            .iter()
            .filter(|c| {
                !prefs.is_some_and(|p| {
                    p.iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case(c) && v.as_bool() == Some(true))
                })
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(mode: PlanMode) -> TrackingPlan {
        serde_json::from_value(json!({
            "mode": mode.as_str(),
            "events": [{
                "name": "Plan Selected",
                "properties": [
                    {"name": "plan", "type": "string", "required": true, "enum": ["basic", "pro"]},
                    {"name": "price", "type": "number"},
                    {"name": "seats", "type": "integer"}
                ],
                "strict": true
            }]
        }))
        .unwrap()
    }

    #[test]
    fn a_planned_event_with_the_right_properties_passes() {
        let e = json!({"type": "track", "event": "Plan Selected",
                       "properties": {"plan": "pro", "price": 49.5, "seats": 3.0}});
        assert!(plan(PlanMode::Block).check(&e).is_empty());
    }

    #[test]
    fn violations_name_the_event_the_property_and_the_problem() {
        let p = plan(PlanMode::Block);
        let e = json!({"type": "track", "event": "Plan Selected",
                       "properties": {"price": "49", "seats": 1.5, "color": "red"}});
        assert_eq!(
            p.check(&e),
            vec![
                "`Plan Selected`: required property `plan` is missing",
                "`Plan Selected`: property `price` must be a number, not string",
                "`Plan Selected`: property `seats` must be an integer, not number",
                "`Plan Selected`: property `color` is not in the tracking plan",
            ]
        );
        let e = json!({"type": "track", "event": "Plan Selected", "properties": {"plan": "gold"}});
        assert_eq!(
            p.check(&e),
            vec!["`Plan Selected`: property `plan` must be one of basic, pro, not `gold`"]
        );
        let e = json!({"type": "track", "event": "Signed Up"});
        assert_eq!(
            p.check(&e),
            vec!["event `Signed Up` is not in the tracking plan"]
        );
    }

    #[test]
    fn allow_mode_and_untracked_calls_are_never_violations() {
        let e = json!({"type": "track", "event": "Unplanned"});
        assert!(plan(PlanMode::Allow).check(&e).is_empty());
        let page = json!({"type": "page", "name": "Pricing"});
        assert!(plan(PlanMode::Block).check(&page).is_empty());
    }

    #[test]
    fn a_plan_with_duplicates_or_blank_names_is_refused_per_field() {
        let bad: TrackingPlan = serde_json::from_value(json!({
            "mode": "flag",
            "events": [
                {"name": "A", "properties": [{"name": "x", "type": "number", "enum": ["1"]}]},
                {"name": "A"},
                {"name": " "}
            ]
        }))
        .unwrap();
        let errors = bad.validate().unwrap_err();
        assert!(errors.get("events[0].properties[0].name").is_some());
        assert!(errors.get("events[1].name").is_some());
        assert!(errors.get("events[2].name").is_some());
    }

    #[test]
    fn consent_missing_lists_categories_not_granted() {
        let policy = ConsentPolicy {
            activation: vec!["marketing".into(), "analytics".into()],
        };
        let granted = json!({"context": {"consent": {"categoryPreferences":
            {"Marketing": true, "analytics": true}}}});
        assert!(policy.missing(&granted).is_empty());
        let partial = json!({"context": {"consent": {"categoryPreferences":
            {"marketing": false, "analytics": true}}}});
        assert_eq!(policy.missing(&partial), vec!["marketing"]);
        assert_eq!(
            policy.missing(&json!({})).len(),
            2,
            "no consent given at all"
        );
        assert!(ConsentPolicy::default().missing(&json!({})).is_empty());
    }
}

/// Event counts of a source over some period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounts {
    pub accepted: i64,
    pub flagged: i64,
    pub quarantined: i64,
    pub not_activatable: i64,
    /// Accepted with a time too far in the future, replaced by the receive time.
    pub future_clamped: i64,
}

impl std::ops::AddAssign for SourceCounts {
    fn add_assign(&mut self, o: SourceCounts) {
        self.accepted += o.accepted;
        self.flagged += o.flagged;
        self.quarantined += o.quarantined;
        self.not_activatable += o.not_activatable;
        self.future_clamped += o.future_clamped;
    }
}

/// A source as the Sources list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    pub id: uuid::Uuid,
    pub name: String,
    pub kind: String,
    /// The first characters of the write key (the key itself is shown once).
    pub key_prefix: String,
    pub created_at: time::OffsetDateTime,
    pub key_rotated_at: Option<time::OffsetDateTime>,
    pub disabled: bool,
    pub plan_mode: PlanMode,
    pub planned_events: usize,
    /// The last 24 hours.
    pub last_day: SourceCounts,
}

/// A source with its editable settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDetail {
    pub summary: SourceSummary,
    pub plan: TrackingPlan,
    pub consent: ConsentPolicy,
    pub settings_version: i32,
}

/// Counts of one minute, for the volume chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatPoint {
    pub minute: time::OffsetDateTime,
    pub counts: SourceCounts,
}

/// Quarantined events that share a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineGroup {
    pub reason: String,
    pub disposition: String,
    pub source_id: uuid::Uuid,
    pub source_name: String,
    pub count: i64,
    pub first_at: time::OffsetDateTime,
    pub last_at: time::OffsetDateTime,
    /// The event name of the group's events when they share one (for rename mappings).
    pub event_name: Option<String>,
}

/// One quarantined event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedEvent {
    pub id: i64,
    pub source_name: String,
    pub received_at: time::OffsetDateTime,
    pub reason: String,
    pub disposition: String,
    pub status: String,
    pub message_id: Option<String>,
    pub event_name: Option<String>,
    pub payload: Value,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Now on `events.raw`.
    pub replayed: usize,
    /// Still refused (their reason was updated).
    pub still_refused: usize,
}

/// An event as the live debugger shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebugEvent {
    pub received_at: String,
    /// `accepted`, `flagged` or `quarantined`.
    pub outcome: String,
    /// `track`, `page`, … (empty when the payload could not be parsed).
    pub call: String,
    /// The event or page name, or the user id for identify.
    pub label: String,
    pub reason: Option<String>,
    pub activatable: bool,
    pub payload: Value,
}
