//! PostHog's capture API (`/capture/`, `/e/`, `/batch/`, `/i/v0/e/`), so PostHog's SDKs work
//! against Pulse by changing only the host. A request is unwrapped from PostHog's body forms
//! (one event, an array, `{"batch": [...]}`, a form with a base64 `data` field, gzip) and each
//! event is turned into the Segment call it means, which then goes through the same parser,
//! tracking plans, consent and quarantine as every other call.

use crate::{bad, Rejected, StatusCode};
use base64::Engine;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A PostHog request, unwrapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The project API key (Pulse's write key) from the body or its events.
    pub api_key: Option<String>,
    /// When the client sent the request, for clock-skew correction.
    pub sent_at: Option<OffsetDateTime>,
    /// The events as PostHog sent them.
    pub events: Vec<Value>,
    /// The body was one event rather than a list (a refusal then answers the request).
    pub single: bool,
}

/// What the URL and headers say about a body.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub content_type: Option<String>,
    /// The `compression` query parameter (`gzip-js`, `base64`; gzip is also found by its bytes).
    pub compression: Option<String>,
    /// The `_` query parameter: the client's clock at sending, in milliseconds.
    pub sent_at_ms: Option<String>,
    /// A `token` or `api_key` query parameter.
    pub token: Option<String>,
}

impl Hints {
    /// Reads the hints from a request's `Content-Type` and query string.
    pub fn new(content_type: Option<&str>, query: Option<&str>) -> Hints {
        let mut hints = Hints {
            content_type: content_type.map(str::to_string),
            ..Hints::default()
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "compression" => hints.compression = Some(v.into_owned()),
                "_" => hints.sent_at_ms = Some(v.into_owned()),
                "token" | "api_key" => hints.token = Some(v.into_owned()),
                _ => {}
            }
        }
        hints
    }
}

/// Unwraps a (decompressed) PostHog body; `limit` bounds what a base64 field inflates to.
pub fn parse(bytes: &[u8], hints: &Hints, limit: usize) -> Result<Request, Rejected> {
    // posthog-js sends base64 as a form; other clients label JSON (even gzip) as a form too,
    // so the bytes decide: a JSON body starts with `{` or `[`.
    let json_like = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    let is_form = !json_like
        && (bytes.starts_with(b"data=")
            || hints
                .content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")));
    let mut compression = hints.compression.clone();
    let mut form_key = None;
    let json: Value = if is_form {
        let mut data = None;
        for (k, v) in form_urlencoded::parse(bytes) {
            match &*k {
                "data" => data = Some(v.into_owned()),
                "compression" => compression = Some(v.into_owned()),
                "api_key" | "token" => form_key = Some(v.into_owned()),
                _ => {}
            }
        }
        let data = data.ok_or_else(|| bad("a form body needs a `data` field"))?;
        let raw = match compression.as_deref() {
            Some("lz64") => {
                return Err(Rejected {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    reason: "lz64 compression is not supported; posthog-js sends gzip-js or base64 when its server supports them".into(),
                })
            }
            _ => base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data.trim()))
                .unwrap_or_else(|_| data.into_bytes()),
        };
        let raw = crate::encoding::decode(&raw, &[], limit)?;
        serde_json::from_slice(&raw)
            .map_err(|e| bad(format!("the `data` field is not valid JSON: {e}")))?
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("the body is not valid JSON: {e}")))?
    };
    let mut request = match json {
        Value::Array(events) => Request {
            api_key: None,
            sent_at: None,
            events,
            single: false,
        },
        Value::Object(mut o) => {
            let sent_at = o.remove("sent_at");
            let key = take_key(&o);
            match o.remove("batch").or_else(|| o.remove("data")) {
                Some(Value::Array(events)) => Request {
                    api_key: key,
                    sent_at: sent_time(sent_at.as_ref())?,
                    events,
                    single: false,
                },
                Some(Value::Object(event)) => Request {
                    api_key: key,
                    sent_at: sent_time(sent_at.as_ref())?,
                    events: vec![Value::Object(event)],
                    single: true,
                },
                Some(_) => return Err(bad("`batch` must be a list of events")),
                None => {
                    // One event at the top level.
                    Request {
                        api_key: key,
                        sent_at: sent_time(sent_at.as_ref())?,
                        events: vec![Value::Object(o)],
                        single: true,
                    }
                }
            }
        }
        _ => {
            return Err(bad(
                "the body must be a PostHog event, a list of them or a batch",
            ))
        }
    };
    if request.events.is_empty() {
        return Err(bad("the request holds no events"));
    }
    if request.sent_at.is_none() {
        request.sent_at = hints
            .sent_at_ms
            .as_deref()
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(from_ms);
    }
    request.api_key = request
        .api_key
        .or(form_key)
        .or_else(|| hints.token.clone())
        .or_else(|| request.events.iter().find_map(event_key));
    Ok(request)
}

fn take_key(o: &Map<String, Value>) -> Option<String> {
    ["api_key", "token"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_string))
}

/// An event as the quarantine keeps it: as sent, without the project key it carries.
pub fn without_key(event: &Value) -> Value {
    let mut e = event.clone();
    if let Value::Object(o) = &mut e {
        o.remove("api_key");
        o.remove("token");
        if let Some(Value::Object(p)) = o.get_mut("properties") {
            p.remove("token");
        }
    }
    e
}

/// The key an event carries itself (`posthog-js` puts `token` into every event's properties).
fn event_key(event: &Value) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    text(event.get("api_key"))
        .or_else(|| text(event.get("token")))
        .or_else(|| text(event.pointer("/properties/token")))
}

fn from_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn sent_time(v: Option<&Value>) -> Result<Option<OffsetDateTime>, Rejected> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_i64().and_then(from_ms)),
        Some(Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|_| {
            bad(format!(
                "`sent_at` must be an ISO-8601 date-time, got {s:?}"
            ))
        }),
        Some(_) => Err(bad("`sent_at` must be a date-time")),
    }
}

fn id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn object(v: Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

/// The Segment call a PostHog event means: `$identify` and `$set` identify the person (with
/// `$set_once` then `$set` as traits), `$create_alias` aliases, `$groupidentify` is a group
/// call, `$pageview` a page and `$screen` a screen; anything else is a track. `uuid` becomes
/// the `messageId`. The distinct id is the anonymous id while PostHog says the person is not
/// identified (`$is_identified: false`, or the id is the device id), else the user id.
pub fn to_call(event: &Value, received_at: OffsetDateTime) -> Result<Value, Rejected> {
    let Value::Object(e) = event else {
        return Err(bad("a PostHog event must be a JSON object"));
    };
    let name = match e.get("event") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.as_str(),
        _ => return Err(bad("a PostHog event needs an `event` name")),
    };
    let mut props = match e.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(bad("`properties` must be an object")),
    };
    let distinct_id = id(e.get("distinct_id"))
        .or_else(|| id(e.get("$distinct_id")))
        .or_else(|| id(props.get("distinct_id")))
        .ok_or_else(|| bad("a PostHog event needs a `distinct_id`"))?;
    for k in ["token", "distinct_id", "api_key"] {
        props.remove(k);
    }
    let mut traits = object(props.remove("$set_once"));
    traits.extend(object(e.get("$set_once").cloned()));
    traits.extend(object(props.remove("$set")));
    traits.extend(object(e.get("$set").cloned()));

    let mut call = Map::new();
    if let Some(uuid) = id(e.get("uuid")) {
        call.insert("messageId".into(), Value::String(uuid));
    }
    match e.get("timestamp") {
        Some(Value::Number(n)) => {
            if let Some(t) = n.as_i64().and_then(from_ms) {
                call.insert("timestamp".into(), Value::String(rfc3339(t)));
            }
        }
        Some(t @ Value::String(_)) => {
            call.insert("timestamp".into(), t.clone());
        }
        _ => {
            // `offset`: how many milliseconds before sending the event happened.
            if let Some(offset) = e.get("offset").and_then(Value::as_i64) {
                let t = received_at - time::Duration::milliseconds(offset.max(0));
                call.insert("timestamp".into(), Value::String(rfc3339(t)));
            }
        }
    }
    let mut context = Map::new();
    if let Some(lib) = props.get("$lib").and_then(Value::as_str) {
        let mut library = Map::new();
        library.insert("name".into(), Value::String(lib.to_string()));
        if let Some(v) = props.get("$lib_version").and_then(Value::as_str) {
            library.insert("version".into(), Value::String(v.to_string()));
        }
        context.insert("library".into(), Value::Object(library));
    }
    if let Some(ua) = props.get("$raw_user_agent").and_then(Value::as_str) {
        context.insert("userAgent".into(), Value::String(ua.to_string()));
    }
    let anonymous = props.get("$is_identified") == Some(&Value::Bool(false))
        || id(props.get("$device_id")).as_deref() == Some(distinct_id.as_str());
    let person = |call: &mut Map<String, Value>, anonymous: bool| {
        let field = if anonymous { "anonymousId" } else { "userId" };
        call.insert(field.into(), Value::String(distinct_id.clone()));
    };
    let kind = match name {
        "$identify" => {
            person(&mut call, false);
            if let Some(anon) = id(props.get("$anon_distinct_id")).filter(|a| *a != distinct_id) {
                call.insert("anonymousId".into(), Value::String(anon));
            }
            call.insert("traits".into(), Value::Object(traits));
            "identify"
        }
        "$set" => {
            person(&mut call, anonymous);
            call.insert("traits".into(), Value::Object(traits));
            "identify"
        }
        "$create_alias" => {
            person(&mut call, false);
            let alias = id(props.get("alias"))
                .ok_or_else(|| bad("a `$create_alias` event needs `properties.alias`"))?;
            call.insert("previousId".into(), Value::String(alias));
            "alias"
        }
        "$groupidentify" => {
            person(&mut call, anonymous);
            let key = id(props.get("$group_key"))
                .ok_or_else(|| bad("a `$groupidentify` event needs `properties.$group_key`"))?;
            call.insert("groupId".into(), Value::String(key));
            let mut group_traits = object(props.get("$group_set").cloned());
            if let Some(t) = props.get("$group_type") {
                group_traits.insert("groupType".into(), t.clone());
            }
            call.insert("traits".into(), Value::Object(group_traits));
            "group"
        }
        "$pageview" => {
            person(&mut call, anonymous);
            // Segment's page properties, so page rules (path = /pricing) read PostHog pages.
            for (from, to) in [
                ("$current_url", "url"),
                ("$pathname", "path"),
                ("$referrer", "referrer"),
                ("title", "title"),
            ] {
                if let Some(v) = props.get(from).filter(|v| v.is_string()).cloned() {
                    props.entry(to).or_insert(v);
                }
            }
            if let Some(t) = props.get("title").cloned() {
                call.insert("name".into(), t);
            }
            "page"
        }
        "$screen" => {
            person(&mut call, anonymous);
            if let Some(n) = props.get("$screen_name").cloned() {
                call.insert("name".into(), n);
            }
            "screen"
        }
        other => {
            person(&mut call, anonymous);
            call.insert("event".into(), Value::String(other.to_string()));
            if !traits.is_empty() {
                context.insert("traits".into(), Value::Object(traits));
            }
            "track"
        }
    };
    call.insert("type".into(), Value::String(kind.into()));
    call.insert("properties".into(), Value::Object(props));
    call.insert("context".into(), Value::Object(context));
    Ok(Value::Object(call))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 10:00 UTC);

    #[test]
    fn a_python_style_batch_gives_its_key_sent_at_and_events() {
        let body = json!({
            "api_key": "wk_x",
            "sent_at": "2026-12-03T10:00:00Z",
            "batch": [{ "event": "Signed Up", "distinct_id": "u1", "properties": {} }]
        });
        let r = parse(body.to_string().as_bytes(), &Hints::default(), 1 << 20).unwrap();
        assert_eq!(r.api_key.as_deref(), Some("wk_x"));
        assert_eq!(r.sent_at, Some(NOW));
        assert_eq!((r.events.len(), r.single), (1, false));
    }

    #[test]
    fn a_browser_array_carries_its_key_in_the_properties_and_time_in_the_url() {
        let body = json!([{ "event": "$pageview", "properties": { "token": "wk_js", "distinct_id": "d" } }]);
        let hints = Hints::new(None, Some("ip=1&_=1796292000000&ver=1.200.0"));
        let r = parse(body.to_string().as_bytes(), &hints, 1 << 20).unwrap();
        assert_eq!(r.api_key.as_deref(), Some("wk_js"));
        assert_eq!(r.sent_at, from_ms(1_796_292_000_000));
    }

    #[test]
    fn a_base64_form_body_is_unwrapped() {
        let data = base64::engine::general_purpose::STANDARD.encode(
            json!({ "event": "clicked", "properties": { "token": "wk_f", "distinct_id": "d" } })
                .to_string(),
        );
        let body = format!(
            "data={}",
            form_urlencoded::byte_serialize(data.as_bytes()).collect::<String>()
        );
        let r = parse(body.as_bytes(), &Hints::default(), 1 << 20).unwrap();
        assert!(r.single);
        assert_eq!(r.api_key.as_deref(), Some("wk_f"));
        assert_eq!(r.events[0]["event"], "clicked");
        assert_eq!(
            without_key(&r.events[0]),
            json!({ "event": "clicked", "properties": { "distinct_id": "d" } }),
            "a quarantined event does not keep the key"
        );
    }

    #[test]
    fn identify_maps_the_anonymous_id_and_merges_set_once_under_set() {
        let c = to_call(
            &json!({ "event": "$identify", "distinct_id": "user-1", "uuid": "m-1",
                "properties": { "$anon_distinct_id": "anon-1",
                    "$set": { "email": "a@x.co", "plan": "pro" }, "$set_once": { "plan": "free", "first": 1 } } }),
            NOW,
        )
        .unwrap();
        assert_eq!(c["type"], "identify");
        assert_eq!(
            (c["userId"].as_str(), c["anonymousId"].as_str()),
            (Some("user-1"), Some("anon-1"))
        );
        assert_eq!(c["messageId"], "m-1");
        assert_eq!(
            c["traits"],
            json!({ "email": "a@x.co", "plan": "pro", "first": 1 })
        );
    }

    #[test]
    fn anonymous_browser_events_use_the_anonymous_id_and_pages_get_segment_properties() {
        let c = to_call(
            &json!({ "event": "$pageview", "offset": 1500, "properties": {
                "distinct_id": "dev-1", "$device_id": "dev-1", "$current_url": "https://shop.example/pricing",
                "$pathname": "/pricing", "token": "wk" } }),
            NOW,
        )
        .unwrap();
        assert_eq!(c["type"], "page");
        assert_eq!(c["anonymousId"], "dev-1");
        assert!(c.get("userId").is_none());
        assert_eq!(c["properties"]["path"], "/pricing");
        assert!(
            c["properties"].get("token").is_none(),
            "the key never reaches the bus"
        );
        assert_eq!(c["timestamp"], "2026-12-03T09:59:58.5Z");
    }

    #[test]
    fn alias_group_and_screen_events_become_their_segment_calls() {
        let alias = to_call(&json!({ "event": "$create_alias", "distinct_id": "u", "properties": { "alias": "old" } }), NOW).unwrap();
        assert_eq!(
            (alias["type"].as_str(), alias["previousId"].as_str()),
            (Some("alias"), Some("old"))
        );
        let group = to_call(&json!({ "event": "$groupidentify", "distinct_id": "u",
            "properties": { "$group_type": "company", "$group_key": "acme", "$group_set": { "size": 5 } } }), NOW).unwrap();
        assert_eq!(group["groupId"], "acme");
        assert_eq!(
            group["traits"],
            json!({ "size": 5, "groupType": "company" })
        );
        let screen = to_call(&json!({ "event": "$screen", "distinct_id": "u", "properties": { "$screen_name": "Cart" } }), NOW).unwrap();
        assert_eq!(
            (screen["type"].as_str(), screen["name"].as_str()),
            (Some("screen"), Some("Cart"))
        );
        let track = to_call(&json!({ "event": "Order Completed", "distinct_id": 42, "properties": { "$set": { "vip": true } } }), NOW).unwrap();
        assert_eq!(
            (track["type"].as_str(), track["userId"].as_str()),
            (Some("track"), Some("42"))
        );
        assert_eq!(track["context"]["traits"], json!({ "vip": true }));
    }

    #[test]
    fn events_without_a_name_or_a_person_are_refused_with_a_reason() {
        assert!(to_call(&json!({ "distinct_id": "u" }), NOW)
            .unwrap_err()
            .reason
            .contains("`event`"));
        assert!(to_call(&json!({ "event": "x" }), NOW)
            .unwrap_err()
            .reason
            .contains("distinct_id"));
        assert!(parse(b"[]", &Hints::default(), 100).is_err());
        assert!(parse(b"\"x\"", &Hints::default(), 100).is_err());
    }
}
