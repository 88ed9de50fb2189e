//! The event gateway's payload rules, without I/O: parse Segment-spec calls (`track`,
//! `identify`, `page`, `screen`, `group`, `alias`, and `batch` of them), enforce the size
//! limits, stamp `receivedAt`, correct client clock skew, fill a missing `messageId`, and add
//! the caller's IP and user agent to `context`. The HTTP layer parses a body into a
//! [`route::Body`], and [`route::route`] decides where each of its events goes; the HTTP layer
//! puts the results on the bus.

pub mod encoding;
pub mod policy;
pub mod posthog;
#[cfg(feature = "postgres")]
pub mod quarantine;
pub mod route;
#[cfg(feature = "postgres")]
pub mod sources;

pub use http::StatusCode;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use domain::events::PulseMeta;
pub use domain::events::{CallType, EVENTS_TOPIC, QUARANTINE_TOPIC};

/// Largest single event, as Segment's HTTP API allows.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Largest batch request body.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// Why a request or an event was refused; the HTTP layer answers with `status` and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejected {
    /// 400 (malformed), 413 (too large) or 415 (an encoding Pulse cannot read): all final,
    /// so SDKs drop the request instead of retrying it.
    pub status: StatusCode,
    pub reason: String,
}

pub(crate) fn bad(reason: impl Into<String>) -> Rejected {
    Rejected {
        status: StatusCode::BAD_REQUEST,
        reason: reason.into(),
    }
}

/// What the gateway knows about the request an event came in.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub received_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How far ahead of `received_at` an event time is believed (see [`domain::event_time`]).
    pub future_tolerance: time::Duration,
}

impl RequestContext {
    /// A request received at `received_at` with the default future tolerance and no peer.
    pub fn at(received_at: OffsetDateTime) -> Self {
        RequestContext {
            received_at,
            ip: None,
            user_agent: None,
            future_tolerance: domain::event_time::DEFAULT_FUTURE_TOLERANCE,
        }
    }
}

/// An accepted event, ready for `events.raw`.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub call: CallType,
    pub message_id: String,
    /// The person the call is about: the user id, else the anonymous id (the bus key is the
    /// workspace's, see [`domain::events_key`]).
    pub key: String,
    /// Event time after skew correction and the future rule.
    pub timestamp: OffsetDateTime,
    /// The time the event claimed when it lay too far in the future (then `timestamp` is the
    /// receive time).
    pub clamped_from: Option<OffsetDateTime>,
    /// The normalised payload (what goes on the bus).
    pub payload: Value,
}

fn parse_time(v: &Value, field: &str) -> Result<Option<OffsetDateTime>, Rejected> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|_| {
            bad(format!(
                "`{field}` must be an ISO-8601 date-time with a zone, got {s:?}"
            ))
        }),
        _ => Err(bad(format!("`{field}` must be a string date-time"))),
    }
}

fn id_field(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, Rejected> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() > 256 => {
            Err(bad(format!("`{field}` is longer than 256 characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // Segment libraries send numeric ids as numbers sometimes; keep them as strings.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad(format!("`{field}` must be a string"))),
    }
}

/// The length of a value's compact JSON encoding, counted without building it.
fn encoded_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, value) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Accepts one call. `forced` is the call type of the endpoint (`/v1/track` → track); batch
/// items carry their own `type`. `sent_at` is the batch's `sentAt` when the item has none.
pub fn accept_call(
    value: Value,
    forced: Option<CallType>,
    batch_sent_at: Option<OffsetDateTime>,
    ctx: &RequestContext,
) -> Result<Accepted, Rejected> {
    let size = encoded_len(&value);
    accept_sized(value, forced, batch_sent_at, ctx, size)
}

/// [`accept_call`] for an event whose encoded size is already known.
fn accept_sized(
    mut value: Value,
    forced: Option<CallType>,
    batch_sent_at: Option<OffsetDateTime>,
    ctx: &RequestContext,
    size: usize,
) -> Result<Accepted, Rejected> {
    if size > MAX_EVENT_BYTES {
        return Err(Rejected {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: format!(
                "an event may be at most 32 KB; this one is {} KB",
                size / 1024
            ),
        });
    }
    let Value::Object(obj) = &mut value else {
        return Err(bad("an event must be a JSON object"));
    };
    let call = match (forced, obj.get("type")) {
        (Some(c), None) => c,
        (Some(c), Some(Value::String(t))) if t == c.as_str() => c,
        (Some(c), Some(other)) => {
            return Err(bad(format!(
                "this endpoint takes `{}` calls, the payload says type {other}",
                c.as_str()
            )));
        }
        (None, Some(Value::String(t))) => CallType::parse(t).ok_or_else(|| {
            bad(format!(
                "unknown `type` {t:?}; use track, identify, page, screen, group or alias"
            ))
        })?,
        (None, _) => return Err(bad("every batch item needs a `type`")),
    };
    obj.insert("type".into(), Value::String(call.as_str().into()));
    // `_pulse` is Pulse's own envelope (workspace, source, consent); a sender never sets it.
    obj.remove("_pulse");

    let user_id = id_field(obj, "userId")?;
    let anonymous_id = id_field(obj, "anonymousId")?;
    let key = match (&user_id, &anonymous_id) {
        (Some(u), _) => u.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => return Err(bad("either `userId` or `anonymousId` is required")),
    };
    match call {
        CallType::Track => match obj.get("event") {
            Some(Value::String(e)) if !e.trim().is_empty() && e.len() <= 200 => {}
            Some(Value::String(e)) if e.len() > 200 => {
                return Err(bad("`event` is longer than 200 characters"))
            }
            _ => return Err(bad("a track call needs an `event` name")),
        },
        CallType::Group => {
            if id_field(obj, "groupId")?.is_none() {
                return Err(bad("a group call needs a `groupId`"));
            }
        }
        CallType::Alias => {
            if id_field(obj, "previousId")?.is_none() || user_id.is_none() {
                return Err(bad("an alias call needs `previousId` and `userId`"));
            }
        }
        CallType::Identify | CallType::Page | CallType::Screen => {}
    }
    for (field, must_be_object) in [
        ("properties", true),
        ("traits", true),
        ("context", true),
        ("integrations", true),
    ] {
        if let Some(v) = obj.get(field) {
            if must_be_object && !(v.is_object() || v.is_null()) {
                return Err(bad(format!("`{field}` must be an object")));
            }
        }
    }
    if let Some(name) = obj.get("name") {
        if !(name.is_string() || name.is_null()) {
            return Err(bad("`name` must be a string"));
        }
    }

    // Clock skew: the client's clock may be off; shift its timestamp by the difference
    // between its send time and our receive time (Segment's rule).
    let original = parse_time(obj.get("timestamp").unwrap_or(&Value::Null), "timestamp")?;
    let sent_at = match parse_time(obj.get("sentAt").unwrap_or(&Value::Null), "sentAt")? {
        Some(s) => Some(s),
        None => batch_sent_at,
    };
    let corrected = match (original, sent_at) {
        (Some(t), Some(s)) => ctx.received_at.checked_sub(s - t).ok_or_else(|| {
            bad("`timestamp` and `sentAt` are too far apart to correct the clock")
        })?,
        (Some(t), None) => t,
        (None, _) => ctx.received_at,
    };
    let domain::event_time::EventTime {
        at: timestamp,
        clamped_from,
    } = domain::event_time::clamp_future(corrected, ctx.received_at, ctx.future_tolerance);
    if !(1970..=9999).contains(&timestamp.year()) {
        return Err(bad(
            "`timestamp` (after correcting the client clock with `sentAt`) falls outside 1970-9999; `timestamp` and `sentAt` are too far apart",
        ));
    }
    let message_id = match id_field(obj, "messageId")? {
        Some(m) => m,
        None => {
            let generated = format!("pulse-{}", uuid::Uuid::new_v4());
            obj.insert("messageId".into(), Value::String(generated.clone()));
            generated
        }
    };
    if let Some(t) = original {
        obj.insert("originalTimestamp".into(), Value::String(rfc3339(t)));
    }
    obj.insert("timestamp".into(), Value::String(rfc3339(timestamp)));
    obj.insert("receivedAt".into(), Value::String(rfc3339(ctx.received_at)));
    if let Some(s) = sent_at {
        obj.insert("sentAt".into(), Value::String(rfc3339(s)));
    }
    if let Some(claimed) = clamped_from {
        // The policy adds the rest of the envelope to this object.
        let envelope = PulseMeta {
            future_timestamp: Some(rfc3339(claimed)),
            ..PulseMeta::default()
        };
        obj.insert(
            "_pulse".into(),
            serde_json::to_value(envelope).expect("the envelope serialises"),
        );
    }
    let context = obj
        .entry("context")
        .or_insert_with(|| Value::Object(Map::new()));
    if context.is_null() {
        *context = Value::Object(Map::new());
    }
    if let Value::Object(c) = context {
        if let Some(ip) = &ctx.ip {
            c.entry("ip").or_insert_with(|| Value::String(ip.clone()));
        }
        if let Some(ua) = &ctx.user_agent {
            c.entry("userAgent")
                .or_insert_with(|| Value::String(ua.clone()));
        }
    }
    Ok(Accepted {
        call,
        message_id,
        key,
        timestamp,
        clamped_from,
        payload: value,
    })
}

/// The outcome of one batch item.
pub type ItemResult = Result<Accepted, Rejected>;

/// Accepts a `/v1/batch` body: `{"batch": [...], "sentAt": ..., "writeKey": ...}`. A malformed
/// body refuses the whole request; a malformed item refuses only that item (the caller
/// quarantines it with the reason).
pub fn accept_batch(body: Value, ctx: &RequestContext) -> Result<Vec<ItemResult>, Rejected> {
    let Value::Object(mut obj) = body else {
        return Err(bad("the body must be a JSON object with a `batch` array"));
    };
    let sent_at = parse_time(obj.get("sentAt").unwrap_or(&Value::Null), "sentAt")?;
    let items = match obj.remove("batch") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("`batch` must be an array")),
        None => return Err(bad("the body needs a `batch` array")),
    };
    if items.is_empty() {
        return Err(bad("`batch` is empty"));
    }
    // Batch-level context (Segment libraries send it for the whole batch) applies to items
    // without their own.
    let shared_context = obj.get("context").cloned();
    Ok(items
        .into_iter()
        .map(|mut item| {
            if let (Some(c), Value::Object(o)) = (&shared_context, &mut item) {
                o.entry("context").or_insert_with(|| c.clone());
            }
            accept_call(item, None, sent_at, ctx)
        })
        .collect())
}

fn check_size(bytes: &[u8], limit: usize) -> Result<(), Rejected> {
    if bytes.len() > limit {
        return Err(Rejected {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: format!(
                "the request body may be at most {} KB; this one is {} KB",
                limit / 1024,
                bytes.len() / 1024
            ),
        });
    }
    Ok(())
}

/// A `/v1/batch` body split into its items without building a tree for each yet: the gateway
/// parses every item once, measures it by its bytes as sent, and reads an item again only if
/// it has to quarantine it.
pub struct RawBatch<'a> {
    /// The body's `writeKey`, if it carries one.
    pub write_key: Option<String>,
    sent_at: Option<OffsetDateTime>,
    context: Option<Value>,
    items: Vec<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    batch: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "sentAt", default)]
    sent_at: Value,
    #[serde(default)]
    context: Option<Value>,
    #[serde(rename = "writeKey", default)]
    write_key: Option<Value>,
}

/// Splits a batch body (`{"batch": [...], "sentAt": ..., "context": ..., "writeKey": ...}`)
/// with the same limit and refusals as [`parse_body`] followed by [`accept_batch`].
pub fn split_batch(bytes: &[u8], limit: usize) -> Result<RawBatch<'_>, Rejected> {
    check_size(bytes, limit)?;
    let text =
        std::str::from_utf8(bytes).map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) if e.is_data() => {
            return Err(bad("the body must be a JSON object with a `batch` array"))
        }
        Err(e) => return Err(bad(format!("the body is not valid JSON: {e}"))),
    };
    let sent_at = parse_time(&envelope.sent_at, "sentAt")?;
    let items: Vec<&serde_json::value::RawValue> = match envelope.batch {
        None => return Err(bad("the body needs a `batch` array")),
        Some(raw) => {
            serde_json::from_str(raw.get()).map_err(|_| bad("`batch` must be an array"))?
        }
    };
    if items.is_empty() {
        return Err(bad("`batch` is empty"));
    }
    Ok(RawBatch {
        write_key: envelope
            .write_key
            .and_then(|k| k.as_str().map(str::to_string)),
        sent_at,
        context: envelope.context,
        items,
    })
}

impl RawBatch<'_> {
    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no events (never true for a split batch).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Accepts or refuses every item, like [`accept_batch`].
    pub fn accept(&self, ctx: &RequestContext) -> Vec<ItemResult> {
        self.items
            .iter()
            .map(|raw| {
                let mut item: Value = serde_json::from_str(raw.get())
                    .map_err(|e| bad(format!("the event is not valid JSON: {e}")))?;
                if let (Some(c), Value::Object(o)) = (&self.context, &mut item) {
                    o.entry("context").or_insert_with(|| c.clone());
                }
                accept_sized(item, None, self.sent_at, ctx, raw.get().len())
            })
            .collect()
    }

    /// Item `i` as it arrived (for the quarantine record of a refused item).
    pub fn original(&self, i: usize) -> Value {
        self.items
            .get(i)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null)
    }
}

/// Parses a request body as JSON, with the size limit of its endpoint.
pub fn parse_body(bytes: &[u8], limit: usize) -> Result<Value, Rejected> {
    check_size(bytes, limit)?;
    serde_json::from_slice(bytes).map_err(|e| bad(format!("the body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn ctx() -> RequestContext {
        RequestContext {
            ip: Some("203.0.113.7".into()),
            user_agent: Some("analytics-node".into()),
            ..RequestContext::at(datetime!(2026-11-25 10:00:00 UTC))
        }
    }

    #[test]
    fn a_track_call_is_stamped_enriched_and_keyed_by_user() {
        let a = accept_call(
            json!({ "userId": "u1", "event": "Signed Up", "properties": { "plan": "pro" } }),
            Some(CallType::Track),
            None,
            &ctx(),
        )
        .unwrap();
        assert_eq!(a.key, "u1");
        assert!(a.message_id.starts_with("pulse-"));
        assert_eq!(a.payload["type"], "track");
        assert_eq!(a.payload["receivedAt"], "2026-11-25T10:00:00Z");
        assert_eq!(a.payload["timestamp"], "2026-11-25T10:00:00Z");
        assert_eq!(a.payload["context"]["ip"], "203.0.113.7");
        assert_eq!(a.payload["context"]["userAgent"], "analytics-node");
    }

    #[test]
    fn client_clock_skew_is_corrected_with_sent_at() {
        // The client clock is 5 minutes fast: it says it sent at 10:05 what happened at 10:04.
        let a = accept_call(
            json!({ "anonymousId": "a1", "event": "Clicked", "timestamp": "2026-11-25T10:04:00Z", "sentAt": "2026-11-25T10:05:00Z" }),
            Some(CallType::Track),
            None,
            &ctx(),
        )
        .unwrap();
        assert_eq!(a.timestamp, datetime!(2026-11-25 09:59:00 UTC));
        assert_eq!(a.payload["originalTimestamp"], "2026-11-25T10:04:00Z");
        assert_eq!(a.key, "a1");
    }

    #[test]
    fn each_call_type_needs_its_fields() {
        let c = ctx();
        assert!(
            accept_call(json!({ "event": "x" }), Some(CallType::Track), None, &c)
                .unwrap_err()
                .reason
                .contains("userId")
        );
        assert!(
            accept_call(json!({ "userId": "u" }), Some(CallType::Track), None, &c)
                .unwrap_err()
                .reason
                .contains("event")
        );
        assert!(
            accept_call(json!({ "userId": "u" }), Some(CallType::Group), None, &c)
                .unwrap_err()
                .reason
                .contains("groupId")
        );
        assert!(
            accept_call(json!({ "userId": "u" }), Some(CallType::Alias), None, &c)
                .unwrap_err()
                .reason
                .contains("previousId")
        );
        assert!(accept_call(
            json!({ "userId": "u", "traits": "x" }),
            Some(CallType::Identify),
            None,
            &c
        )
        .unwrap_err()
        .reason
        .contains("traits"));
        assert!(accept_call(
            json!({ "userId": "u", "type": "identify" }),
            Some(CallType::Track),
            None,
            &c
        )
        .is_err());
        assert!(accept_call(
            json!({ "userId": "u", "timestamp": "yesterday" }),
            Some(CallType::Page),
            None,
            &c
        )
        .unwrap_err()
        .reason
        .contains("timestamp"));
        assert!(
            accept_call(json!({ "userId": 42 }), Some(CallType::Identify), None, &c).is_ok(),
            "numeric ids are kept as strings"
        );
    }

    #[test]
    fn a_timestamp_far_ahead_of_arrival_is_clamped_and_a_senders_envelope_is_dropped() {
        let a = accept_call(
            json!({ "userId": "u", "event": "e", "timestamp": "9999-12-31T00:00:00Z",
                "_pulse": { "workspaceId": "someone-else" } }),
            Some(CallType::Track),
            None,
            &ctx(),
        )
        .unwrap();
        assert_eq!(a.timestamp, ctx().received_at);
        assert_eq!(a.clamped_from, Some(datetime!(9999-12-31 0:00 UTC)));
        assert_eq!(a.payload["timestamp"], "2026-11-25T10:00:00Z");
        assert_eq!(a.payload["originalTimestamp"], "9999-12-31T00:00:00Z");
        assert_eq!(
            a.payload["_pulse"],
            json!({ "futureTimestamp": "9999-12-31T00:00:00Z" })
        );
        // Skew correction first: a client whose clock runs an hour fast is not clamped.
        let fast = accept_call(
            json!({ "userId": "u", "event": "e", "timestamp": "2026-11-25T11:00:00Z", "sentAt": "2026-11-25T11:00:01Z" }),
            Some(CallType::Track),
            None,
            &ctx(),
        )
        .unwrap();
        assert_eq!(fast.clamped_from, None);
        assert_eq!(fast.timestamp, datetime!(2026-11-25 09:59:59 UTC));
        assert!(fast.payload.get("_pulse").is_none());
    }

    #[test]
    fn absurd_clock_differences_are_refused_not_a_panic() {
        let r = accept_call(
            json!({ "userId": "u", "event": "e", "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z" }),
            Some(CallType::Track),
            None,
            &ctx(),
        );
        assert!(r.unwrap_err().reason.contains("too far apart"));
    }

    #[test]
    fn oversized_events_and_bodies_are_413() {
        let big = "x".repeat(MAX_EVENT_BYTES);
        let r = accept_call(
            json!({ "userId": "u", "event": "e", "properties": { "blob": big } }),
            Some(CallType::Track),
            None,
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            parse_body(&vec![b' '; MAX_BATCH_BYTES + 1], MAX_BATCH_BYTES)
                .unwrap_err()
                .status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn a_batch_refuses_bad_items_one_by_one_and_shares_its_sent_at() {
        let items = accept_batch(
            json!({
                "sentAt": "2026-11-25T10:00:10Z",
                "batch": [
                    { "type": "track", "userId": "u", "event": "A", "timestamp": "2026-11-25T10:00:05Z" },
                    { "type": "launch", "userId": "u" },
                    { "type": "identify", "anonymousId": "a", "traits": { "email": "a@x.com" } }
                ]
            }),
            &ctx(),
        )
        .unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0].as_ref().unwrap().timestamp,
            datetime!(2026-11-25 09:59:55 UTC)
        );
        assert!(items[1]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("unknown `type`"));
        assert!(items[2].is_ok());
        assert!(accept_batch(json!({ "batch": [] }), &ctx()).is_err());
        assert!(accept_batch(json!([1, 2]), &ctx()).is_err());
    }
}
