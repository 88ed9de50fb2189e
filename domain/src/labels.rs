//! Labels: declarative conditions on a customer's behaviour, evaluated by the pipeline on event
//! time. Marketers define them in the UI; the pipeline sets and clears them with a reason.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which events a rule looks at: a name and, optionally, property values that must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMatch {
    /// The event name (`track` name; page views are `Page Viewed`, identify calls `Identified`).
    pub event: String,
    /// Property → required value (as text), e.g. `path` → `/pricing`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

impl EventMatch {
    /// A match on the name alone.
    pub fn named(event: &str) -> Self {
        EventMatch {
            event: event.to_string(),
            properties: BTreeMap::new(),
        }
    }

    /// Whether an event with this name and properties matches.
    pub fn matches(&self, name: &str, properties: &serde_json::Value) -> bool {
        name == self.event
            && self
                .properties
                .iter()
                .all(|(k, want)| match properties.get(k) {
                    Some(serde_json::Value::String(s)) => s == want,
                    Some(serde_json::Value::Null) | None => false,
                    Some(other) => *want == format!("{other}"),
                })
    }

    /// In words, e.g. `Page Viewed with path = /pricing`.
    pub fn describe(&self) -> String {
        if self.properties.is_empty() {
            self.event.clone()
        } else {
            let conds: Vec<String> = self
                .properties
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            format!("{} with {}", self.event, conds.join(", "))
        }
    }
}

/// The condition of a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LabelRule {
    /// At least `count` matching events within a sliding window of `window_ms` event time.
    Count {
        matching: EventMatch,
        count: u32,
        window_ms: i64,
    },
    /// A `first` event, then no `then_not` event within `within_ms` (set when the time passes).
    Absence {
        first: EventMatch,
        then_not: EventMatch,
        within_ms: i64,
    },
    /// A matching event within the last `within_ms` (cleared when that much time passes).
    Recency {
        matching: EventMatch,
        within_ms: i64,
    },
    /// A `first` event, then a `then` event within `within_ms` (set when `then` happens).
    Sequence {
        first: EventMatch,
        then: EventMatch,
        within_ms: i64,
    },
    /// A profile field compared with a value: a behaviour trait (`revenue_30d`, `events_7d`, …),
    /// an identify trait (`traits.plan`) or a CRM field (`crm.lifecycle_stage`). Set while
    /// the comparison holds, re-checked whenever the profile changes.
    Threshold {
        field: String,
        op: Comparison,
        value: String,
    },
}

/// How a threshold compares: numbers numerically, anything else as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Gte,
    Lte,
    Eq,
    Neq,
}

impl Comparison {
    /// The operator as people write it.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Gte => "≥",
            Comparison::Lte => "≤",
            Comparison::Eq => "=",
            Comparison::Neq => "≠",
        }
    }

    /// Parses `gte`, `lte`, `eq`, `neq` (the form's values).
    pub fn parse(s: &str) -> Option<Comparison> {
        match s {
            "gte" => Some(Comparison::Gte),
            "lte" => Some(Comparison::Lte),
            "eq" => Some(Comparison::Eq),
            "neq" => Some(Comparison::Neq),
            _ => None,
        }
    }

    /// Whether `actual op expected` holds; a missing value never does.
    pub fn holds(self, actual: Option<&serde_json::Value>, expected: &str) -> bool {
        let Some(actual) = actual.filter(|v| !v.is_null()) else {
            return false;
        };
        let text = match actual {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match (text.trim().parse::<f64>(), expected.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => match self {
                Comparison::Gte => a >= b,
                Comparison::Lte => a <= b,
                Comparison::Eq => a == b,
                Comparison::Neq => a != b,
            },
            _ => match self {
                Comparison::Eq => text.trim().eq_ignore_ascii_case(expected.trim()),
                Comparison::Neq => !text.trim().eq_ignore_ascii_case(expected.trim()),
                // Text is not ordered: ≥ / ≤ need numbers.
                Comparison::Gte | Comparison::Lte => false,
            },
        }
    }
}

/// Behaviour traits a threshold may name (besides `traits.*` and `crm.*`).
pub const THRESHOLD_FIELDS: [&str; 10] = [
    "events_total",
    "sessions_total",
    "events_today",
    "events_7d",
    "events_30d",
    "orders_30d",
    "revenue_30d",
    "distinct_pages_7d",
    "first_seen",
    "last_seen",
];

impl LabelRule {
    /// In words, for lists and reasons.
    pub fn describe(&self) -> String {
        match self {
            LabelRule::Count {
                matching,
                count,
                window_ms,
            } => format!(
                "{count}× {} within {}",
                matching.describe(),
                duration(*window_ms)
            ),
            LabelRule::Absence {
                first,
                then_not,
                within_ms,
            } => format!(
                "{}, then no {} within {}",
                first.describe(),
                then_not.describe(),
                duration(*within_ms)
            ),
            LabelRule::Recency {
                matching,
                within_ms,
            } => format!(
                "{} within the last {}",
                matching.describe(),
                duration(*within_ms)
            ),
            LabelRule::Sequence {
                first,
                then,
                within_ms,
            } => format!(
                "{}, then {} within {}",
                first.describe(),
                then.describe(),
                duration(*within_ms)
            ),
            LabelRule::Threshold { field, op, value } => {
                format!("{field} {} {value}", op.symbol())
            }
        }
    }
}

/// A label definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelDefinition {
    /// Stable name, e.g. `high_intent_unresolved`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub rule: LabelRule,
    /// When set, a change to "set" also emits a trigger (alerts, journeys).
    #[serde(default)]
    pub trigger: bool,
}

impl LabelDefinition {
    /// Checks the definition; errors keyed by field.
    pub fn validate(&self) -> crate::FieldErrors {
        let mut e = crate::FieldErrors::default();
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok_name {
            e.add(
                "name",
                "Use 1–64 lower-case letters, digits and underscores.",
            );
        }
        let window = |e: &mut crate::FieldErrors, ms: i64| {
            if !(1_000..=90 * 86_400_000).contains(&ms) {
                e.add("window", "Choose a time between 1 second and 90 days.");
            }
        };
        match &self.rule {
            LabelRule::Count {
                matching,
                count,
                window_ms,
            } => {
                if matching.event.trim().is_empty() {
                    e.add("event", "Name the event to count.");
                }
                if *count == 0 {
                    e.add("count", "Count at least 1.");
                }
                window(&mut e, *window_ms);
            }
            LabelRule::Absence {
                first,
                then_not,
                within_ms,
            } => {
                if first.event.trim().is_empty() {
                    e.add("event", "Name the first event.");
                }
                if then_not.event.trim().is_empty() {
                    e.add("then_not", "Name the event that should follow.");
                }
                window(&mut e, *within_ms);
            }
            LabelRule::Recency {
                matching,
                within_ms,
            } => {
                if matching.event.trim().is_empty() {
                    e.add("event", "Name the event.");
                }
                window(&mut e, *within_ms);
            }
            LabelRule::Sequence {
                first,
                then,
                within_ms,
            } => {
                if first.event.trim().is_empty() {
                    e.add("event", "Name the first event.");
                }
                if then.event.trim().is_empty() {
                    e.add("then_not", "Name the event that should follow.");
                }
                window(&mut e, *within_ms);
            }
            LabelRule::Threshold { field, value, op } => {
                let known = THRESHOLD_FIELDS.contains(&field.as_str())
                    || field
                        .strip_prefix("traits.")
                        .or_else(|| field.strip_prefix("crm."))
                        .is_some_and(|f| {
                            !f.is_empty()
                                && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        });
                if !known {
                    e.add(
                        "field",
                        format!(
                            "Use one of {}, traits.<name> or crm.<field>.",
                            THRESHOLD_FIELDS.join(", ")
                        ),
                    );
                }
                if value.trim().is_empty() {
                    e.add("value", "Give the value to compare with.");
                } else if matches!(op, Comparison::Gte | Comparison::Lte)
                    && value.trim().parse::<f64>().is_err()
                {
                    e.add("value", "≥ and ≤ compare numbers: give a number.");
                }
            }
        }
        e
    }
}

/// `600000` → `10 min`.
pub fn duration(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s % 86_400 == 0 && s >= 86_400 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 && s >= 3_600 => format!("{} h", s / 3_600),
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_are_numeric_for_numbers_and_case_blind_equality_for_text() {
        let v = |j: serde_json::Value| Some(j);
        assert!(Comparison::Gte.holds(v(serde_json::json!(120.5)).as_ref(), "100"));
        assert!(Comparison::Gte.holds(v(serde_json::json!("120")).as_ref(), "100"));
        assert!(!Comparison::Lte.holds(v(serde_json::json!(120)).as_ref(), "100"));
        assert!(Comparison::Eq.holds(v(serde_json::json!("Churned")).as_ref(), "churned"));
        assert!(Comparison::Neq.holds(v(serde_json::json!("customer")).as_ref(), "churned"));
        assert!(!Comparison::Gte.holds(v(serde_json::json!("gold")).as_ref(), "silver"));
        assert!(
            !Comparison::Eq.holds(None, "x"),
            "a missing field never matches"
        );
    }

    #[test]
    fn threshold_fields_and_values_are_checked() {
        let def = |field: &str, op, value: &str| LabelDefinition {
            name: "t".into(),
            description: String::new(),
            rule: LabelRule::Threshold {
                field: field.into(),
                op,
                value: value.into(),
            },
            trigger: false,
        };
        assert!(def("revenue_30d", Comparison::Gte, "100")
            .validate()
            .is_empty());
        assert!(def("crm.lifecycle_stage", Comparison::Eq, "churned")
            .validate()
            .is_empty());
        assert!(!def("revenue", Comparison::Gte, "1").validate().is_empty());
        assert!(!def("events_7d", Comparison::Gte, "many")
            .validate()
            .is_empty());
        assert_eq!(
            def("revenue_30d", Comparison::Gte, "100").rule.describe(),
            "revenue_30d ≥ 100"
        );
    }
    use serde_json::json;

    #[test]
    fn matches_name_and_property_values() {
        let mut m = EventMatch::named("Page Viewed");
        m.properties.insert("path".into(), "/pricing".into());
        assert!(m.matches("Page Viewed", &json!({"path": "/pricing"})));
        assert!(!m.matches("Page Viewed", &json!({"path": "/blog"})));
        assert!(!m.matches("Page Viewed", &json!({})));
        assert!(!m.matches("Signed Up", &json!({"path": "/pricing"})));
        assert_eq!(m.describe(), "Page Viewed with path = /pricing");
    }

    #[test]
    fn rules_describe_themselves_and_validate() {
        let d = LabelDefinition {
            name: "high_intent_unresolved".into(),
            description: String::new(),
            rule: LabelRule::Absence {
                first: EventMatch::named("Page Viewed"),
                then_not: EventMatch::named("form_submit"),
                within_ms: 600_000,
            },
            trigger: true,
        };
        assert!(d.validate().is_empty());
        assert_eq!(
            d.rule.describe(),
            "Page Viewed, then no form_submit within 10 min"
        );
        let bad = LabelDefinition {
            name: "Bad Name".into(),
            ..d
        };
        assert!(bad.validate().get("name").is_some());
    }
}

/// An in-app alert from a label trigger, as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub customer_id: Option<uuid::Uuid>,
    pub customer_name: Option<String>,
    pub label: String,
    pub reason: String,
    /// Event time of the label change.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub read: bool,
}

/// A label in the Labels page's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSummary {
    pub definition: LabelDefinition,
    /// Profiles carrying it now (as of the pipeline's last checkpoint), once counted.
    pub live_count: Option<i64>,
}

/// What a label would have done over recent stored events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// Events read from the bus.
    pub events: u64,
    /// Profiles seen in them.
    pub profiles: u64,
    /// Profiles the label was set on at least once.
    pub ever_set: u64,
    /// Profiles carrying it at the end.
    pub carrying_now: u64,
    /// True when the event limit stopped the replay early.
    pub truncated: bool,
}
