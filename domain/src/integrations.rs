//! The Data Router's vocabulary: integrations (third-party systems posting webhooks), the
//! mapping that says what each payload writes, previews and deliveries.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a mapping rule writes: CRM state (through the CRM services, so CDC carries it on) or a
/// behavioural event on `events.raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Upsert a CRM customer by its identifiers.
    Customer,
    /// Upsert a CRM order by number (and its customer).
    Order,
    /// Upsert a CRM ticket by external reference (and its customer).
    Ticket,
    /// Append a track event to `events.raw`.
    Event,
}

const CUSTOMER_FIELDS: &[(&str, &str)] = &[
    ("customer.email", "email address (identifies the customer)"),
    ("customer.phone", "phone number (identifies the customer)"),
    (
        "customer.external_id",
        "the system's id for the customer (identifies the customer)",
    ),
    (
        "customer.name",
        "full name, split into first and last name at the first space",
    ),
    ("customer.first_name", "first name"),
    ("customer.last_name", "last name"),
    ("customer.locale", "locale, e.g. en-US"),
];

const ORDER_FIELDS: &[(&str, &str)] = &[
    ("number", "order number (identifies the order) — required"),
    ("status", "pending, paid, fulfilled, cancelled or refunded"),
    ("currency", "ISO currency code — required"),
    ("channel", "web, app, store, phone, partner or marketplace"),
    ("ordered_at", "time of the order"),
    ("line.sku", "line: SKU"),
    ("line.description", "line: description — required"),
    ("line.quantity", "line: quantity — required"),
    (
        "line.unit_price",
        "line: unit price as a decimal amount — required",
    ),
    (
        "line.discount",
        "line: discount on the line as a decimal amount",
    ),
];

const TICKET_FIELDS: &[(&str, &str)] = &[
    (
        "external_ref",
        "the system's ticket id (identifies the ticket) — required",
    ),
    ("subject", "subject — required"),
    ("description", "description"),
    ("status", "open, pending, solved or closed"),
    ("priority", "low, normal, high or urgent"),
    ("channel", "email, phone, chat, web or social"),
    ("opened_at", "time the ticket was opened"),
    ("satisfaction", "CSAT 1–5"),
];

const EVENT_FIELDS: &[(&str, &str)] = &[
    ("event", "event name — required"),
    ("user_id", "user id"),
    ("anonymous_id", "anonymous id"),
    ("email", "email (stored as context.traits.email)"),
    ("timestamp", "event time (RFC 3339 or Unix seconds)"),
    (
        "message_id",
        "the system's unique event id (duplicates are dropped)",
    ),
    ("properties.*", "any property, e.g. properties.url"),
];

impl Target {
    /// Every target, in the order the UI lists them.
    pub const ALL: [Target; 4] = [
        Target::Customer,
        Target::Order,
        Target::Ticket,
        Target::Event,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Customer => "customer",
            Target::Order => "order",
            Target::Ticket => "ticket",
            Target::Event => "event",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            Target::Customer => "CRM customer (state)",
            Target::Order => "CRM order (state)",
            Target::Ticket => "CRM ticket (state)",
            Target::Event => "Event → events.raw",
        }
    }

    /// The fields a rule of this target can set, with what each means.
    pub fn fields(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Target::Customer => CUSTOMER_FIELDS.to_vec(),
            Target::Order => [CUSTOMER_FIELDS, ORDER_FIELDS].concat(),
            Target::Ticket => [CUSTOMER_FIELDS, TICKET_FIELDS].concat(),
            Target::Event => EVENT_FIELDS.to_vec(),
        }
    }

    /// Whether `field` is one this target can set.
    pub fn accepts(self, field: &str) -> bool {
        if self == Target::Event {
            if let Some(p) = field.strip_prefix("properties.") {
                return !p.is_empty();
            }
        }
        self.fields()
            .iter()
            .any(|(f, _)| *f == field && !f.ends_with('*'))
    }
}

/// One target field and where its value comes from in the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMap {
    /// The target field, e.g. `customer.email` or `properties.url`.
    pub to: String,
    /// A dotted path into the payload item, e.g. `customer.email` or `line_items.0.sku`;
    /// empty when only `default` is used.
    #[serde(default)]
    pub from: String,
    /// Value translations, e.g. Shopify `voided` → `cancelled`; values not listed pass as they are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
    /// Used when the path is missing or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Which payloads a rule applies to, beyond the kind: a field's value must be one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub path: String,
    pub equals: Vec<String>,
}

/// One rule: for payloads of these kinds, for each item, write one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// What the rule does, in words.
    pub name: String,
    /// Payload kinds (the URL segment after the integration, or the system's topic header);
    /// `*` matches every kind, `orders/*` every kind starting with `orders/`.
    pub kinds: Vec<String>,
    /// Path to an array whose items are each written (`$` for a payload that is an array);
    /// empty: the payload itself is the one item.
    #[serde(default)]
    pub each: String,
    /// Only items where this holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    pub target: Target,
    /// Namespace of `customer.external_id`, e.g. `shopify`.
    #[serde(default)]
    pub namespace: String,
    /// Orders: path (within the item) to the array of order lines.
    #[serde(default)]
    pub lines: String,
    pub fields: Vec<FieldMap>,
}

impl Rule {
    /// Whether this rule handles payloads of `kind`.
    pub fn handles(&self, kind: &str) -> bool {
        self.kinds.iter().any(|k| {
            k == "*"
                || k == kind
                || k.strip_suffix('*')
                    .is_some_and(|prefix| kind.starts_with(prefix))
        })
    }
}

/// An integration's mapping: its rules, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub rules: Vec<Rule>,
}

impl Mapping {
    /// Checks the mapping's shape; errors are keyed `rules.N.field`.
    pub fn validate(&self) -> crate::FieldErrors {
        let mut errors = crate::FieldErrors::default();
        if self.rules.is_empty() {
            errors.add("rules", "Add at least one rule.");
        }
        for (i, r) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("rules.{i}.{f}");
            if r.name.trim().is_empty() {
                errors.add(&at("name"), "Name the rule.");
            }
            if r.kinds.iter().all(|k| k.trim().is_empty()) {
                errors.add(
                    &at("kinds"),
                    "List the payload kinds it handles, or * for all.",
                );
            }
            for (j, f) in r.fields.iter().enumerate() {
                if !r.target.accepts(&f.to) {
                    errors.add(
                        &format!("rules.{i}.fields.{j}.to"),
                        format!("A {} rule has no field `{}`.", r.target.as_str(), f.to),
                    );
                }
                if f.from.trim().is_empty() && f.default.is_none() {
                    errors.add(
                        &format!("rules.{i}.fields.{j}.from"),
                        format!("Say where `{}` comes from, or give a default.", f.to),
                    );
                }
            }
            let has = |name: &str| r.fields.iter().any(|f| f.to == name);
            let required: &[&str] = match r.target {
                Target::Customer | Target::Order | Target::Ticket => &[],
                Target::Event => &["event"],
            };
            for name in required {
                if !has(name) {
                    errors.add(&at("fields"), format!("Map the required field `{name}`."));
                }
            }
            match r.target {
                Target::Order => {
                    for name in [
                        "number",
                        "currency",
                        "line.description",
                        "line.quantity",
                        "line.unit_price",
                    ] {
                        if !has(name) {
                            errors.add(&at("fields"), format!("Map the required field `{name}`."));
                        }
                    }
                    if r.lines.trim().is_empty() {
                        errors.add(
                            &at("lines"),
                            "Say where the order lines are, e.g. line_items.",
                        );
                    }
                }
                Target::Ticket => {
                    for name in ["external_ref", "subject"] {
                        if !has(name) {
                            errors.add(&at("fields"), format!("Map the required field `{name}`."));
                        }
                    }
                }
                Target::Customer | Target::Event => {}
            }
            if matches!(r.target, Target::Customer | Target::Order | Target::Ticket)
                && !["customer.email", "customer.phone", "customer.external_id"]
                    .iter()
                    .any(|f| has(f))
            {
                errors.add(
                    &at("fields"),
                    "Map at least one of customer.email, customer.phone or customer.external_id so the customer can be found.",
                );
            }
            if matches!(r.target, Target::Event)
                && !["user_id", "anonymous_id", "email"].iter().any(|f| has(f))
            {
                errors.add(
                    &at("fields"),
                    "Map at least one of user_id, anonymous_id or email so the event belongs to someone.",
                );
            }
            if has("customer.external_id") && r.namespace.trim().is_empty() {
                errors.add(
                    &at("namespace"),
                    "Name the namespace of customer.external_id, e.g. shopify.",
                );
            }
        }
        errors
    }
}

/// What a delivery failed on: a message and errors keyed by the sending system's field path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryError {
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// One write a payload causes (planned in a preview, or done by a delivery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedWrite {
    /// The rule's name.
    pub rule: String,
    pub target: Target,
    /// One line: what is written where.
    pub summary: String,
    /// The resolved values by target field.
    pub values: BTreeMap<String, serde_json::Value>,
}

/// The outcome of a test payload against a mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub writes: Vec<PlannedWrite>,
    pub error: Option<DeliveryError>,
}

/// An integration in lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// The template it started from: shopify, zendesk, sendgrid or custom.
    pub system: String,
    pub disabled: bool,
    pub ok_24h: i64,
    pub failed_24h: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_delivery_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One integration with its mapping and a sample payload for previews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationDetail {
    pub summary: IntegrationSummary,
    pub mapping: Mapping,
    pub mapping_version: i32,
    pub rate_per_minute: i32,
    /// The first characters of the credential, to tell it apart.
    pub token_prefix: String,
    /// A payload kind and body of the system's real format, for the preview.
    pub sample_kind: String,
    pub sample_payload: String,
}

/// One webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub idempotency_key: String,
    pub kind: String,
    /// `ok` or `failed`.
    pub status: String,
    pub error: Option<DeliveryError>,
    pub written: Vec<String>,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The systems with a ready-made mapping: (id, label).
pub const SYSTEMS: &[(&str, &str)] = &[
    ("shopify", "Shopify (orders)"),
    ("zendesk", "Zendesk (tickets)"),
    ("sendgrid", "SendGrid (email events)"),
    ("custom", "Custom (start empty)"),
];

/// Replication lag of CRM change capture, for the Settings page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdcStatus {
    /// False when change capture is switched off in this process.
    pub enabled: bool,
    /// None until the slot exists.
    pub lag_bytes: Option<i64>,
    /// Seconds the streaming connection trails the database (None when idle or unknown).
    pub lag_seconds: Option<f64>,
    pub active: bool,
    /// `reserved`, `extended`, `unreserved` or `lost`.
    pub wal_status: String,
    /// The alert, in words, when the slot is lost or too far behind.
    pub alert: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_exactly_by_prefix_or_all() {
        let mut r = Rule {
            name: "r".into(),
            kinds: vec!["orders/*".into()],
            each: String::new(),
            when: None,
            target: Target::Customer,
            namespace: String::new(),
            lines: String::new(),
            fields: vec![],
        };
        assert!(r.handles("orders/create"));
        assert!(!r.handles("tickets/create"));
        r.kinds = vec!["*".into()];
        assert!(r.handles("anything"));
    }

    #[test]
    fn validation_names_unknown_fields_and_missing_identity() {
        let m = Mapping {
            rules: vec![Rule {
                name: "Orders".into(),
                kinds: vec!["orders/create".into()],
                each: String::new(),
                when: None,
                target: Target::Order,
                namespace: String::new(),
                lines: String::new(),
                fields: vec![FieldMap {
                    to: "colour".into(),
                    from: "x".into(),
                    map: BTreeMap::new(),
                    default: None,
                }],
            }],
        };
        let e = m.validate();
        assert!(e.get("rules.0.fields.0.to").unwrap().contains("colour"));
        assert!(e.get("rules.0.fields").is_some());
        assert!(e.get("rules.0.lines").is_some());
    }
}
