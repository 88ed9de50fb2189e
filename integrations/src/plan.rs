//! From a payload and a mapping to the writes it causes — pure, so previews and deliveries
//! decide alike and tests need no database. Every error names the sending system's field path.

use domain::crm::{
    ExternalId, OrderLineInput, OrderStatus, Priority, SalesChannel, TicketChannel, TicketStatus,
};
use domain::events::PulseMeta;
use domain::integrations::{DeliveryError, FieldMap, Mapping, PlannedWrite, Rule, Target};
use domain::money::{self, MoneyError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A customer as a payload describes it; found by any identifier, created when none matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerData {
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub external_id: Option<ExternalId>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
}

/// An order keyed by its number.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderData {
    pub number: String,
    pub status: Option<OrderStatus>,
    pub currency: String,
    pub channel: Option<SalesChannel>,
    pub ordered_at: Option<OffsetDateTime>,
    pub lines: Vec<OrderLineInput>,
}

/// A ticket keyed by its external reference.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketData {
    pub external_ref: String,
    pub subject: String,
    pub description: Option<String>,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub channel: Option<TicketChannel>,
    pub opened_at: Option<OffsetDateTime>,
    pub satisfaction: Option<i16>,
}

/// What one write does.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteBody {
    Customer(CustomerData),
    Order(CustomerData, OrderData),
    Ticket(CustomerData, TicketData),
    /// A Segment-format track event for `events.raw`, with the person's key (the
    /// `anonymousId` when no identity is mapped) and event time.
    Event {
        key: String,
        event: Value,
        timestamp_ms: i64,
    },
}

/// One write with the rule that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub rule: String,
    pub body: WriteBody,
    /// CRM field error keys (`emails[0]`, `lines[1].quantity`) → the payload path they came
    /// from, so CRM validation errors can name the system's field.
    pub origins: BTreeMap<String, String>,
}

/// Reads a dotted path (`customer.email`, `line_items.0.sku`; `$` is the value itself).
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path.is_empty() || path == "$" {
        return Some(value);
    }
    let mut at = value;
    for part in path.trim_start_matches("$.").split('.') {
        at = match at {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// Resolves fields of one item, collecting errors keyed by payload path.
struct Resolver<'a> {
    item: &'a Value,
    prefix: String,
    errors: &'a mut BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn path_of(&self, f: &FieldMap) -> String {
        if f.from.trim().is_empty() {
            format!("({})", f.to)
        } else {
            join(&self.prefix, f.from.trim())
        }
    }

    /// The raw value of a field after the value map and default; `None` when absent.
    fn raw(&self, f: &FieldMap) -> Option<Value> {
        let found = if f.from.trim().is_empty() {
            None
        } else {
            lookup(self.item, &f.from).filter(|v| !v.is_null())
        };
        let v = match found {
            Some(v) => v.clone(),
            None => return f.default.clone().map(Value::String),
        };
        let as_key = match &v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match as_key.and_then(|k| f.map.get(&k)) {
            Some(mapped) => Some(Value::String(mapped.clone())),
            None => Some(v),
        }
    }

    fn fail(&mut self, f: &FieldMap, message: String) {
        let path = self.path_of(f);
        self.errors.entry(path).or_insert(message);
    }

    fn text(&mut self, f: &FieldMap) -> Option<String> {
        match self.raw(f)? {
            Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                let what = if other.is_array() {
                    "a list"
                } else {
                    "an object"
                };
                self.fail(f, format!("is {what}, but {} needs a single value", f.to));
                None
            }
        }
    }

    fn required_text(&mut self, f: Option<&FieldMap>, to: &str) -> String {
        match f {
            Some(f) => match self.text(f) {
                Some(s) => s,
                None => {
                    if !self.errors.contains_key(&self.path_of(f)) {
                        self.fail(f, format!("is missing; it is needed for {to}"));
                    }
                    String::new()
                }
            },
            None => String::new(),
        }
    }

    /// An amount in minor units of `currency`; prices and discounts are never negative.
    fn money(&mut self, f: &FieldMap, currency: &str) -> Option<i64> {
        let raw = self.text(f)?;
        match money::parse_minor(&raw, currency) {
            Ok(m) if m >= 0 => Some(m),
            Err(e @ MoneyError::TooManyDecimals { .. }) => {
                self.fail(f, format!("\"{raw}\" {e} (for {})", f.to));
                None
            }
            _ => {
                self.fail(
                    f,
                    format!("\"{raw}\" is not an amount like 19.99 (for {})", f.to),
                );
                None
            }
        }
    }

    fn int(&mut self, f: &FieldMap) -> Option<i64> {
        let raw = self.text(f)?;
        match raw.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.fail(f, format!("\"{raw}\" is not a whole number (for {})", f.to));
                None
            }
        }
    }

    fn time(&mut self, f: &FieldMap) -> Option<OffsetDateTime> {
        let raw = self.text(f)?;
        match parse_time(&raw) {
            Some(t) => Some(t),
            None => {
                self.fail(
                    f,
                    format!(
                        "\"{raw}\" is not a time (RFC 3339 or Unix seconds) for {}",
                        f.to
                    ),
                );
                None
            }
        }
    }

    fn choice<T: FromStr<Err = String>>(&mut self, f: &FieldMap) -> Option<T> {
        let raw = self.text(f)?;
        match T::from_str(&raw.to_lowercase()) {
            Ok(v) => Some(v),
            Err(allowed) => {
                self.fail(
                    f,
                    format!(
                        "\"{raw}\" has no meaning for {}: map it to a value that {allowed}",
                        f.to
                    ),
                );
                None
            }
        }
    }
}

/// RFC 3339, or Unix time in seconds (milliseconds when it is that large).
pub fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t);
    }
    let n: i64 = raw.parse().ok()?;
    if n > 100_000_000_000 {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(n) * 1_000_000).ok()
    } else {
        OffsetDateTime::from_unix_timestamp(n).ok()
    }
}

/// The items a rule writes, with the path prefix that names them in errors.
fn items<'a>(rule: &Rule, payload: &'a Value) -> Result<Vec<(String, &'a Value)>, String> {
    let each = rule.each.trim();
    if each.is_empty() {
        return Ok(vec![(String::new(), payload)]);
    }
    match lookup(payload, each) {
        Some(Value::Array(a)) => Ok(a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let base = if each == "$" {
                    String::new()
                } else {
                    each.to_string()
                };
                (join(&base, &i.to_string()), v)
            })
            .collect()),
        Some(_) => Err(format!("`{each}` is not a list")),
        None => Err(format!("`{each}` is missing")),
    }
}

/// Plans the writes of a payload of `kind`. `id_base` makes generated event ids deterministic
/// (integration and idempotency key), so a redelivered payload yields the same messageIds.
pub fn plan(
    mapping: &Mapping,
    kind: &str,
    payload: &Value,
    id_base: &str,
) -> Result<Vec<Write>, DeliveryError> {
    let rules: Vec<(usize, &Rule)> = mapping
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.handles(kind))
        .collect();
    if rules.is_empty() {
        let mut known: Vec<&str> = mapping
            .rules
            .iter()
            .flat_map(|r| r.kinds.iter().map(String::as_str))
            .collect();
        known.sort_unstable();
        known.dedup();
        return Err(DeliveryError {
            message: format!(
                "No rule of this integration's mapping handles payloads of kind `{kind}` (rules handle: {}). Add a rule, then replay the delivery.",
                if known.is_empty() { "nothing".to_string() } else { known.join(", ") }
            ),
            fields: BTreeMap::new(),
        });
    }
    let mut errors = BTreeMap::new();
    let mut writes = Vec::new();
    for (rule_no, rule) in rules {
        let list = match items(rule, payload) {
            Ok(l) => l,
            Err(m) => {
                errors.insert(rule.each.trim().to_string(), m);
                continue;
            }
        };
        for (item_no, (prefix, item)) in list.into_iter().enumerate() {
            if let Some(cond) = &rule.when {
                let v = lookup(item, &cond.path).map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                if !v.is_some_and(|v| cond.equals.contains(&v)) {
                    continue;
                }
            }
            let mut r = Resolver {
                item,
                prefix,
                errors: &mut errors,
            };
            let id = format!("{id_base}:{rule_no}:{item_no}");
            if let Some(w) = plan_item(rule, &mut r, &id) {
                writes.push(w);
            }
        }
    }
    if errors.is_empty() {
        Ok(writes)
    } else {
        Err(DeliveryError {
            message: format!(
                "The payload does not fit the mapping: {} field(s) need attention.",
                errors.len()
            ),
            fields: errors,
        })
    }
}

fn field<'r>(rule: &'r Rule, to: &str) -> Option<&'r FieldMap> {
    rule.fields.iter().find(|f| f.to == to)
}

fn customer(
    rule: &Rule,
    r: &mut Resolver<'_>,
    origins: &mut BTreeMap<String, String>,
) -> CustomerData {
    let mut c = CustomerData::default();
    for f in rule.fields.iter().filter(|f| f.to.starts_with("customer.")) {
        let path = r.path_of(f);
        match f.to.as_str() {
            "customer.email" => {
                if let Some(v) = r.text(f) {
                    origins.insert(format!("emails[{}]", c.emails.len()), path);
                    c.emails.push(v);
                }
            }
            "customer.phone" => {
                if let Some(v) = r.text(f) {
                    origins.insert(format!("phones[{}]", c.phones.len()), path);
                    c.phones.push(v);
                }
            }
            "customer.external_id" => {
                if let Some(v) = r.text(f) {
                    origins.insert("external_ids[0].value".into(), path);
                    c.external_id = Some(ExternalId {
                        namespace: rule.namespace.trim().to_lowercase(),
                        value: v,
                    });
                }
            }
            "customer.name" => {
                origins.insert("first_name".into(), path);
                if let Some(full) = r.text(f) {
                    let (first, last) = full.split_once(' ').unwrap_or((&full, ""));
                    c.first_name.get_or_insert_with(|| first.trim().to_string());
                    if !last.trim().is_empty() {
                        c.last_name.get_or_insert_with(|| last.trim().to_string());
                    }
                }
            }
            "customer.first_name" => {
                origins.insert("first_name".into(), path);
                c.first_name = r.text(f).or(c.first_name.take());
            }
            "customer.last_name" => {
                origins.insert("last_name".into(), path);
                c.last_name = r.text(f).or(c.last_name.take());
            }
            "customer.locale" => {
                origins.insert("locale".into(), path);
                c.locale = r.text(f);
            }
            _ => {}
        }
    }
    c
}

fn plan_item(rule: &Rule, r: &mut Resolver<'_>, id: &str) -> Option<Write> {
    let mut origins = BTreeMap::new();
    let before = r.errors.len();
    let body = match rule.target {
        Target::Customer => {
            let c = customer(rule, r, &mut origins);
            WriteBody::Customer(c)
        }
        Target::Order => {
            let c = customer(rule, r, &mut origins);
            let number = r.required_text(field(rule, "number"), "the order number");
            let currency = r
                .required_text(field(rule, "currency"), "the order currency")
                .to_uppercase();
            for (k, to) in [
                ("number", "number"),
                ("currency", "currency"),
                ("status", "status"),
            ] {
                if let Some(f) = field(rule, to) {
                    origins.insert(k.into(), r.path_of(f));
                }
            }
            let status = field(rule, "status").and_then(|f| r.choice(f));
            let channel = field(rule, "channel").and_then(|f| r.choice(f));
            let ordered_at = field(rule, "ordered_at").and_then(|f| r.time(f));
            let lines = order_lines(rule, r, &mut origins, &currency);
            WriteBody::Order(
                c,
                OrderData {
                    number,
                    status,
                    currency,
                    channel,
                    ordered_at,
                    lines,
                },
            )
        }
        Target::Ticket => {
            let c = customer(rule, r, &mut origins);
            for k in ["external_ref", "subject", "description", "satisfaction"] {
                if let Some(f) = field(rule, k) {
                    origins.insert(k.into(), r.path_of(f));
                }
            }
            let external_ref = r.required_text(field(rule, "external_ref"), "the ticket reference");
            let subject = r.required_text(field(rule, "subject"), "the ticket subject");
            let satisfaction = field(rule, "satisfaction")
                .and_then(|f| r.int(f))
                .map(|n| n.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16);
            WriteBody::Ticket(
                c,
                TicketData {
                    external_ref,
                    subject,
                    description: field(rule, "description").and_then(|f| r.text(f)),
                    status: field(rule, "status").and_then(|f| r.choice(f)),
                    priority: field(rule, "priority").and_then(|f| r.choice(f)),
                    channel: field(rule, "channel").and_then(|f| r.choice(f)),
                    opened_at: field(rule, "opened_at").and_then(|f| r.time(f)),
                    satisfaction,
                },
            )
        }
        Target::Event => event(rule, r, id)?,
    };
    (r.errors.len() == before).then(|| Write {
        rule: rule.name.clone(),
        body,
        origins,
    })
}

fn order_lines(
    rule: &Rule,
    r: &mut Resolver<'_>,
    origins: &mut BTreeMap<String, String>,
    currency: &str,
) -> Vec<OrderLineInput> {
    let path = rule.lines.trim();
    let list = match lookup(r.item, path) {
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            r.errors
                .insert(join(&r.prefix, path), "is not a list of order lines".into());
            return vec![];
        }
        None => {
            r.errors.insert(
                join(&r.prefix, path),
                "is missing; an order needs its lines".into(),
            );
            return vec![];
        }
    };
    let mut lines = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let mut lr = Resolver {
            item,
            prefix: join(&r.prefix, &format!("{path}.{i}")),
            errors: &mut *r.errors,
        };
        let line_field = |to: &str| field(rule, &format!("line.{to}"));
        for (k, to) in [
            ("description", "description"),
            ("quantity", "quantity"),
            ("unit_price_minor", "unit_price"),
            ("discount_minor", "discount"),
            ("sku", "sku"),
        ] {
            if let Some(f) = line_field(to) {
                origins.insert(format!("lines[{i}].{k}"), lr.path_of(f));
            }
        }
        let description = lr.required_text(line_field("description"), "the line description");
        let quantity = line_field("quantity").and_then(|f| lr.int(f)).unwrap_or(0);
        let unit = line_field("unit_price")
            .and_then(|f| lr.money(f, currency))
            .unwrap_or(0);
        let discount = line_field("discount")
            .and_then(|f| lr.money(f, currency))
            .unwrap_or(0);
        lines.push(OrderLineInput {
            sku: line_field("sku").and_then(|f| lr.text(f)),
            description,
            quantity: quantity.clamp(0, i64::from(i32::MAX)) as i32,
            unit_price_minor: unit,
            discount_minor: discount,
        });
    }
    lines
}

fn event(rule: &Rule, r: &mut Resolver<'_>, id: &str) -> Option<WriteBody> {
    let name = r.required_text(field(rule, "event"), "the event name");
    let user_id = field(rule, "user_id").and_then(|f| r.text(f));
    let anonymous_id = field(rule, "anonymous_id").and_then(|f| r.text(f));
    let email = field(rule, "email")
        .and_then(|f| r.text(f))
        .map(|e| e.to_lowercase());
    let timestamp = field(rule, "timestamp").and_then(|f| r.time(f));
    let message_id = field(rule, "message_id")
        .and_then(|f| r.text(f))
        .unwrap_or_else(|| deterministic_id(id));
    let mut properties = Map::new();
    for f in rule.fields.iter() {
        if let Some(p) = f.to.strip_prefix("properties.") {
            if let Some(v) = r.raw(f) {
                properties.insert(p.to_string(), v);
            }
        }
    }
    let key = match (&user_id, &anonymous_id, &email) {
        (Some(u), _, _) => u.clone(),
        (None, Some(a), _) => a.clone(),
        (None, None, Some(e)) => format!("email:{e}"),
        (None, None, None) => {
            let f = field(rule, "user_id")
                .or_else(|| field(rule, "email"))
                .or_else(|| field(rule, "anonymous_id"))?;
            r.fail(f, "is missing, so the event belongs to no one".into());
            return None;
        }
    };
    if name.is_empty() {
        return None;
    }
    // The gateway's rule for times too far in the future: the payload's claim is kept aside.
    let now = OffsetDateTime::now_utc();
    let domain::event_time::EventTime {
        at: ts,
        clamped_from,
    } = domain::event_time::clamp_future(
        timestamp.unwrap_or(now),
        now,
        domain::event_time::DEFAULT_FUTURE_TOLERANCE,
    );
    let mut event = json!({
        "type": "track",
        "event": name,
        "messageId": message_id,
        "timestamp": ts.format(&Rfc3339).unwrap_or_default(),
        "properties": properties,
        "context": {},
    });
    if let Some(claimed) = clamped_from {
        PulseMeta {
            future_timestamp: Some(claimed.format(&Rfc3339).unwrap_or_default()),
            ..PulseMeta::default()
        }
        .stamp(&mut event);
    }
    if let Some(u) = user_id {
        event["userId"] = Value::String(u);
    }
    // Segment requires one of the two ids; an email-only event gets a stable anonymous id.
    event["anonymousId"] = Value::String(anonymous_id.unwrap_or_else(|| key.clone()));
    if let Some(e) = email {
        event["context"]["traits"] = json!({ "email": e });
    }
    Some(WriteBody::Event {
        key,
        event,
        timestamp_ms: (ts.unix_timestamp_nanos() / 1_000_000) as i64,
    })
}

/// A stable id from a seed: 128 bits of FNV-1a over two halves, in hex.
fn deterministic_id(seed: &str) -> String {
    let h = |salt: u64| {
        let mut x: u64 = 0xcbf29ce484222325 ^ salt;
        for b in seed.as_bytes() {
            x ^= u64::from(*b);
            x = x.wrapping_mul(0x100000001b3);
        }
        x
    };
    format!("pulse-rt-{:016x}{:016x}", h(0), h(0x9e3779b97f4a7c15))
}

impl Write {
    /// The write as a preview line with its resolved values.
    pub fn preview(&self) -> PlannedWrite {
        let mut values = BTreeMap::new();
        let customer_values = |values: &mut BTreeMap<String, Value>, c: &CustomerData| {
            if !c.emails.is_empty() {
                values.insert("customer.email".into(), json!(c.emails));
            }
            if !c.phones.is_empty() {
                values.insert("customer.phone".into(), json!(c.phones));
            }
            if let Some(x) = &c.external_id {
                values.insert(
                    "customer.external_id".into(),
                    json!(format!("{}:{}", x.namespace, x.value)),
                );
            }
            for (k, v) in [
                ("customer.first_name", &c.first_name),
                ("customer.last_name", &c.last_name),
                ("customer.locale", &c.locale),
            ] {
                if let Some(v) = v {
                    values.insert(k.into(), json!(v));
                }
            }
        };
        let who = |c: &CustomerData| {
            c.emails
                .first()
                .cloned()
                .or_else(|| c.phones.first().cloned())
                .or_else(|| {
                    c.external_id
                        .as_ref()
                        .map(|x| format!("{}:{}", x.namespace, x.value))
                })
                .unwrap_or_else(|| "?".into())
        };
        let (target, summary) = match &self.body {
            WriteBody::Customer(c) => {
                customer_values(&mut values, c);
                (Target::Customer, format!("Upsert CRM customer {}", who(c)))
            }
            WriteBody::Order(c, o) => {
                customer_values(&mut values, c);
                values.insert("number".into(), json!(o.number));
                values.insert("currency".into(), json!(o.currency));
                if let Some(s) = o.status {
                    values.insert("status".into(), json!(s.as_str()));
                }
                if let Some(t) = o.ordered_at {
                    values.insert(
                        "ordered_at".into(),
                        json!(t.format(&Rfc3339).unwrap_or_default()),
                    );
                }
                let total: i64 = o.lines.iter().filter_map(OrderLineInput::total_minor).sum();
                values.insert(
                    "lines".into(),
                    json!(o.lines.iter().map(|l| json!({
                        "sku": l.sku, "description": l.description, "quantity": l.quantity,
                        "unit_price_minor": l.unit_price_minor, "discount_minor": l.discount_minor,
                    })).collect::<Vec<_>>()),
                );
                (
                    Target::Order,
                    format!(
                        "Upsert CRM order {} for customer {} — {} line(s), {}.{:02} {}",
                        o.number,
                        who(c),
                        o.lines.len(),
                        total / 100,
                        total % 100,
                        o.currency
                    ),
                )
            }
            WriteBody::Ticket(c, t) => {
                customer_values(&mut values, c);
                values.insert("external_ref".into(), json!(t.external_ref));
                values.insert("subject".into(), json!(t.subject));
                if let Some(s) = t.status {
                    values.insert("status".into(), json!(s.as_str()));
                }
                if let Some(p) = t.priority {
                    values.insert("priority".into(), json!(p.as_str()));
                }
                (
                    Target::Ticket,
                    format!(
                        "Upsert CRM ticket {} “{}” for customer {}",
                        t.external_ref,
                        t.subject,
                        who(c)
                    ),
                )
            }
            WriteBody::Event { key, event, .. } => {
                values.insert("event".into(), event.clone());
                (
                    Target::Event,
                    format!(
                        "Event “{}” → events.raw (for {key})",
                        event["event"].as_str().unwrap_or("?")
                    ),
                )
            }
        };
        PlannedWrite {
            rule: self.rule.clone(),
            target,
            summary,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_prices(currency: &str, prices: &[&str]) -> Result<Vec<i64>, DeliveryError> {
        let m: Mapping = serde_json::from_value(json!({"rules": [{
            "name": "o", "kinds": ["*"], "target": "order", "lines": "lines",
            "fields": [{"to": "email", "from": "email"}, {"to": "number", "from": "number"},
                       {"to": "currency", "from": "currency"},
                       {"to": "line.description", "from": "title"},
                       {"to": "line.quantity", "from": "qty"},
                       {"to": "line.unit_price", "from": "price"}]
        }]}))
        .unwrap();
        let lines: Vec<Value> = prices
            .iter()
            .map(|p| json!({"title": "Tea", "qty": 1, "price": p}))
            .collect();
        let p = json!({"email": "a@shop.io", "number": "1", "currency": currency, "lines": lines});
        let writes = plan(&m, "orders", &p, "x")?;
        match &writes[0].body {
            WriteBody::Order(_, o) => Ok(o.lines.iter().map(|l| l.unit_price_minor).collect()),
            other => panic!("not an order: {other:?}"),
        }
    }

    #[test]
    fn a_yen_amount_has_no_minor_digits() {
        assert_eq!(
            order_prices("JPY", &["1500", "980"]).unwrap(),
            vec![1500, 980]
        );
        let e = order_prices("jpy", &["1500.5"]).unwrap_err();
        assert!(
            e.fields["lines.0.price"].contains("more than 0 decimals for JPY"),
            "{e:?}"
        );
    }

    #[test]
    fn a_dinar_amount_has_three_minor_digits() {
        assert_eq!(
            order_prices("KWD", &["1.250", "2"]).unwrap(),
            vec![1250, 2000]
        );
        let e = order_prices("BHD", &["0.1234"]).unwrap_err();
        assert!(
            e.fields["lines.0.price"].contains("more than 3 decimals for BHD"),
            "{e:?}"
        );
    }

    #[test]
    fn prices_in_most_currencies_have_two_minor_digits_and_junk_is_refused() {
        assert_eq!(
            order_prices("USD", &["89.00", "49.5", "7"]).unwrap(),
            vec![8900, 4950, 700]
        );
        for junk in ["1.999", "-1.00", "abc"] {
            assert!(order_prices("USD", &[junk]).is_err(), "{junk}");
        }
    }

    #[test]
    fn times_accept_rfc3339_and_unix_seconds_or_millis() {
        let t = parse_time("2026-11-20T10:00:00-05:00").unwrap();
        assert_eq!(t.to_offset(time::UtcOffset::UTC).hour(), 15);
        let secs = t.unix_timestamp();
        assert_eq!(parse_time(&secs.to_string()), Some(t));
        assert_eq!(parse_time(&(secs * 1000).to_string()), Some(t));
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn paths_walk_objects_and_arrays() {
        let v = json!({"a": {"b": [{"c": 1}]}});
        assert_eq!(lookup(&v, "a.b.0.c"), Some(&json!(1)));
        assert_eq!(lookup(&v, "$"), Some(&v));
        assert_eq!(lookup(&v, "a.x"), None);
    }

    #[test]
    fn unknown_kind_says_which_kinds_are_handled() {
        let m: Mapping = serde_json::from_value(json!({"rules": [{
            "name": "e", "kinds": ["orders/create"], "target": "event",
            "fields": [{"to": "event", "default": "x"}, {"to": "email", "from": "email"}]
        }]}))
        .unwrap();
        let e = plan(&m, "refunds/create", &json!({}), "x").unwrap_err();
        assert!(e.message.contains("refunds/create"), "{}", e.message);
        assert!(e.message.contains("orders/create"), "{}", e.message);
    }

    #[test]
    fn errors_name_the_payload_path_of_each_item() {
        let m: Mapping = serde_json::from_value(json!({"rules": [{
            "name": "e", "kinds": ["*"], "each": "$", "target": "event",
            "fields": [{"to": "event", "from": "event"}, {"to": "email", "from": "email"},
                       {"to": "timestamp", "from": "timestamp"}]
        }]}))
        .unwrap();
        let payload = json!([
            {"event": "open", "email": "a@example.com", "timestamp": 1795705200},
            {"event": "open", "email": "a@example.com", "timestamp": "soon"}
        ]);
        let e = plan(&m, "events", &payload, "x").unwrap_err();
        assert_eq!(e.fields.len(), 1, "{e:?}");
        assert!(e.fields["1.timestamp"].contains("soon"));
    }

    #[test]
    fn event_ids_are_deterministic_per_delivery() {
        let m: Mapping = serde_json::from_value(json!({"rules": [{
            "name": "e", "kinds": ["*"], "target": "event",
            "fields": [{"to": "event", "default": "Thing Happened"}, {"to": "email", "from": "email"}]
        }]}))
        .unwrap();
        let p = json!({"email": "A@Example.com"});
        let a = plan(&m, "k", &p, "int:key1").unwrap();
        let b = plan(&m, "k", &p, "int:key1").unwrap();
        let c = plan(&m, "k", &p, "int:key2").unwrap();
        let id = |w: &[Write]| match &w[0].body {
            WriteBody::Event { event, key, .. } => {
                assert_eq!(key, "email:a@example.com");
                event["messageId"].clone()
            }
            _ => unreachable!(),
        };
        assert_eq!(id(&a), id(&b));
        assert_ne!(id(&a), id(&c));
    }

    #[test]
    fn a_payload_time_far_in_the_future_becomes_now_and_the_claim_is_kept() {
        let m: Mapping = serde_json::from_value(json!({"rules": [{
            "name": "e", "kinds": ["*"], "target": "event",
            "fields": [{"to": "event", "default": "Opened"}, {"to": "email", "from": "email"},
                       {"to": "timestamp", "from": "timestamp"}]
        }]}))
        .unwrap();
        let p = json!({"email": "a@example.com", "timestamp": "9999-12-31T00:00:00Z"});
        let before = OffsetDateTime::now_utc();
        let w = plan(&m, "k", &p, "x").unwrap();
        let WriteBody::Event {
            event,
            timestamp_ms,
            ..
        } = &w[0].body
        else {
            unreachable!()
        };
        assert!(*timestamp_ms >= (before.unix_timestamp_nanos() / 1_000_000) as i64);
        assert!(*timestamp_ms < (before.unix_timestamp_nanos() / 1_000_000) as i64 + 60_000);
        assert_eq!(event["_pulse"]["futureTimestamp"], "9999-12-31T00:00:00Z");
    }
}
