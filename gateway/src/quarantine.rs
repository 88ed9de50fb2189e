//! The quarantine: every event the gateway refused or flagged, with the exact reason and the
//! payload. The `events.quarantine` topic is the record; [`store`] copies it into a table that
//! the UI browses (grouped by reason) and from which [`replay`] sends fixed events to
//! `events.raw`.

use crate::policy::Verdict;
use crate::sources::{self, Source};
use crate::{accept_call, RequestContext, EVENTS_TOPIC};
use base64::Engine;
use bus::{Bus, Message, OutRecord};
use domain::events::PulseMeta;
use domain::tracking::{QuarantineGroup, QuarantinedEvent, ReplayReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// Quarantine failures.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    #[error(transparent)]
    Source(#[from] sources::SourceError),
}

pub use crate::route::{Disposition, QuarantineRecord};

impl Disposition {
    fn as_str(self) -> &'static str {
        match self {
            Disposition::Blocked => "blocked",
            Disposition::Flagged => "flagged",
        }
    }
}

impl QuarantineRecord {
    /// The record as it goes on the bus (keyed by source).
    pub fn to_bus(&self) -> OutRecord {
        OutRecord {
            key: self.source_id.to_string(),
            value: serde_json::to_vec(self).unwrap_or_default(),
            timestamp_ms: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
        }
    }
}

/// A body the gateway could not read, as the quarantine keeps it: the text when it is text
/// Postgres can store, else its bytes in base64 (binary, invalid UTF-8, NUL characters).
pub fn raw_payload(bytes: &[u8]) -> Value {
    let bytes = &bytes[..bytes.len().min(crate::MAX_BATCH_BYTES)];
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => Value::String(text.to_string()),
        _ => serde_json::json!({
            "encoding": "base64",
            "bytes": bytes.len(),
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
    }
}

/// Replaces what Postgres cannot store in `jsonb` or `text` (the NUL character, which JSON
/// may carry as `\u0000`) with U+FFFD, in every string and key; says whether it changed any.
fn make_storable(v: &mut Value) -> bool {
    fn text(s: &mut String) -> bool {
        if s.contains('\0') {
            *s = s.replace('\0', "\u{FFFD}");
            true
        } else {
            false
        }
    }
    match v {
        Value::String(s) => text(s),
        Value::Array(items) => items.iter_mut().fold(false, |c, i| make_storable(i) | c),
        Value::Object(o) => {
            let mut changed = false;
            if o.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(o);
                for (mut k, v) in entries {
                    text(&mut k);
                    o.insert(k, v);
                }
                changed = true;
            }
            o.values_mut().fold(changed, |c, i| make_storable(i) | c)
        }
        _ => false,
    }
}

/// Copies quarantine records from the bus into the table; a record already copied (same
/// partition and offset) is skipped, so a consumer may replay after a crash. Returns how many
/// were new. No record can stop the copy: text Postgres cannot store is made safe first, and a
/// record the table still refuses is stored with the refusal in place of its payload.
pub async fn store(pool: &PgPool, messages: &[Message]) -> Result<u64, QuarantineError> {
    let mut rows = Vec::with_capacity(messages.len());
    for m in messages {
        match serde_json::from_slice::<QuarantineRecord>(&m.value) {
            Ok(mut r) => {
                let mut changed = make_storable(&mut r.payload);
                let mut reason = Value::String(std::mem::take(&mut r.reason));
                changed |= make_storable(&mut reason);
                r.reason = reason.as_str().unwrap_or_default().to_string();
                if changed {
                    metrics::counter!("gateway_quarantine_payloads_made_safe_total").increment(1);
                }
                rows.push((m.partition, m.offset, r));
            }
            // The topic still holds it; the table is only the browsable copy.
            Err(e) => {
                metrics::counter!("gateway_quarantine_unreadable_total").increment(1);
                tracing::warn!(partition = m.partition, offset = m.offset, error = %e,
                    "quarantine record is not readable; left on the topic only")
            }
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    let mut whole = Ok(());
    for (partition, offset, r) in &rows {
        match insert(&mut tx, *partition, *offset, r).await {
            Ok(n) => inserted += n,
            Err(e) => {
                whole = Err(e);
                break;
            }
        }
    }
    if whole.is_ok() {
        tx.commit().await?;
        return Ok(inserted);
    }
    drop(tx);
    // One record spoiled the batch: store them one by one, so only that one is set aside.
    let mut inserted = 0;
    for (partition, offset, r) in rows {
        let mut tx = pool.begin().await?;
        match insert(&mut tx, partition, offset, &r).await {
            Ok(n) => {
                tx.commit().await?;
                inserted += n;
            }
            Err(e) => {
                drop(tx);
                tracing::warn!(partition, offset, error = %e,
                    "the quarantine table refused a record; storing it without its payload");
                metrics::counter!("gateway_quarantine_payloads_set_aside_total").increment(1);
                let set_aside = QuarantineRecord {
                    payload: serde_json::json!({
                        "setAside": format!("the payload could not be stored: {e}; it stays on events.quarantine at partition {partition}, offset {offset}")
                    }),
                    ..r
                };
                let mut tx = pool.begin().await?;
                inserted += insert(&mut tx, partition, offset, &set_aside).await?;
                tx.commit().await?;
            }
        }
    }
    Ok(inserted)
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    partition: i32,
    offset: i64,
    r: &QuarantineRecord,
) -> Result<u64, sqlx::Error> {
    let text = |k: &str| r.payload.get(k).and_then(Value::as_str).map(str::to_string);
    let received = OffsetDateTime::parse(&r.received_at, &Rfc3339)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let status = match r.disposition {
        Disposition::Blocked => "open",
        Disposition::Flagged => "flagged",
    };
    Ok(sqlx::query(
        "INSERT INTO quarantine (workspace_id, source_id, bus_partition, bus_offset,
             received_at, reason, disposition, message_id, event_name, payload, status)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
         WHERE EXISTS (SELECT 1 FROM sources WHERE id = $2)
         ON CONFLICT (bus_partition, bus_offset) DO NOTHING",
    )
    .bind(r.workspace_id)
    .bind(r.source_id)
    .bind(partition)
    .bind(offset)
    .bind(received)
    .bind(&r.reason)
    .bind(r.disposition.as_str())
    .bind(text("messageId"))
    .bind(text("event").or_else(|| text("name")))
    .bind(Json(&r.payload))
    .bind(status)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Quarantined events grouped by source, reason and disposition, the largest groups first.
/// `open_only` hides replayed events.
pub async fn groups(
    pool: &PgPool,
    workspace_id: Uuid,
    open_only: bool,
) -> Result<Vec<QuarantineGroup>, QuarantineError> {
    type Row = (
        String,
        String,
        Uuid,
        String,
        i64,
        OffsetDateTime,
        OffsetDateTime,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT q.reason, q.disposition, q.source_id, s.name, count(*),
                min(q.received_at), max(q.received_at),
                CASE WHEN count(DISTINCT q.event_name) = 1 THEN min(q.event_name) END
         FROM quarantine q JOIN sources s ON s.id = q.source_id
         WHERE q.workspace_id = $1 AND (NOT $2 OR q.status <> 'replayed')
         GROUP BY q.reason, q.disposition, q.source_id, s.name
         ORDER BY count(*) DESC, max(q.received_at) DESC
         LIMIT 500",
    )
    .bind(workspace_id)
    .bind(open_only)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                reason,
                disposition,
                source_id,
                source_name,
                count,
                first_at,
                last_at,
                event_name,
            )| {
                QuarantineGroup {
                    reason,
                    disposition,
                    source_id,
                    source_name,
                    count,
                    first_at,
                    last_at,
                    event_name,
                }
            },
        )
        .collect())
}

/// The events of one group, newest first, `limit` at a time below the `before` id.
pub async fn events(
    pool: &PgPool,
    workspace_id: Uuid,
    source_id: Uuid,
    reason: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<QuarantinedEvent>, QuarantineError> {
    type Row = (
        i64,
        String,
        OffsetDateTime,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Json<Value>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT q.id, s.name, q.received_at, q.reason, q.disposition, q.status, q.message_id,
                q.event_name, q.payload
         FROM quarantine q JOIN sources s ON s.id = q.source_id
         WHERE q.workspace_id = $1 AND q.source_id = $2 AND q.reason = $3
           AND ($4::int8 IS NULL OR q.id < $4)
         ORDER BY q.id DESC LIMIT $5",
    )
    .bind(workspace_id)
    .bind(source_id)
    .bind(reason)
    .bind(before)
    .bind(limit.clamp(1, 200))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                source_name,
                received_at,
                reason,
                disposition,
                status,
                message_id,
                event_name,
                payload,
            )| {
                QuarantinedEvent {
                    id,
                    source_name,
                    received_at,
                    reason,
                    disposition,
                    status,
                    message_id,
                    event_name,
                    payload: payload.0,
                }
            },
        )
        .collect())
}

/// How a replay may change events before checking them again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Rename `track` events: `(from, to)`.
    pub rename_event: Option<(String, String)>,
}

/// Most events one replay call handles (the UI calls again for the rest).
pub const REPLAY_BATCH: i64 = 5_000;

/// Checks a group's blocked events again against the source's current policy (after the
/// mapping) and sends those that now pass to `events.raw`, in their original order, keeping
/// their `messageId`. The others stay quarantined with their new reason.
pub async fn replay(
    pool: &PgPool,
    bus: &dyn Bus,
    workspace_id: Uuid,
    source_id: Uuid,
    reason: &str,
    mapping: &Mapping,
) -> Result<ReplayReport, QuarantineError> {
    if let Some((from, to)) = &mapping.rename_event {
        if from.trim().is_empty() || to.trim().is_empty() || to.len() > 200 {
            return Err(QuarantineError::Invalid(
                "A rename needs the old and the new event name (at most 200 characters).".into(),
            ));
        }
    }
    let source: Source = sources::by_id(pool, workspace_id, source_id).await?;
    let mut tx = pool.begin().await?;
    // Locked so two replays of the same group never send an event twice.
    let rows: Vec<(i64, OffsetDateTime, Json<Value>)> = sqlx::query_as(
        "SELECT id, received_at, payload FROM quarantine
         WHERE workspace_id = $1 AND source_id = $2 AND reason = $3 AND status = 'open'
         ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED",
    )
    .bind(workspace_id)
    .bind(source_id)
    .bind(reason)
    .bind(REPLAY_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut delivered_ids = Vec::new();
    let mut out = Vec::new();
    let mut refused: Vec<(i64, String)> = Vec::new();
    for (id, received_at, Json(payload)) in rows {
        // Plan-refused events were already normalised (they carry `_pulse`); malformed input
        // goes through the parser again as if it had arrived when it did.
        let accepted = if payload.get("_pulse").is_some() {
            normalised(payload)
        } else {
            let ctx = RequestContext::at(received_at);
            match payload {
                Value::String(_) => {
                    Err("the request body was not JSON; it cannot be replayed".to_string())
                }
                p if p.get("encoding").is_some() && p.get("base64").is_some() => {
                    Err("the request body was not readable JSON; it cannot be replayed".to_string())
                }
                p => accept_call(p, None, None, &ctx).map_err(|r| r.reason),
            }
        };
        let mut a = match accepted {
            Ok(a) => a,
            Err(reason) => {
                refused.push((id, reason));
                continue;
            }
        };
        if let (Some((from, to)), Some(Value::String(name))) =
            (&mapping.rename_event, a.payload.get("event"))
        {
            if name == from && a.call == crate::CallType::Track {
                a.payload["event"] = Value::String(to.clone());
            }
        }
        match source
            .policy
            .apply(source.workspace_id, source.id, &mut a.payload)
        {
            Verdict::Deliver { .. } => {
                delivered_ids.push(id);
                out.push(OutRecord {
                    key: domain::events_key(source.workspace_id),
                    value: serde_json::to_vec(&a.payload).unwrap_or_default(),
                    timestamp_ms: (a.timestamp.unix_timestamp_nanos() / 1_000_000) as i64,
                });
            }
            Verdict::Block { violations } => refused.push((id, violations.join("; "))),
        }
    }
    // On the bus first: if marking them fails afterwards, a second replay sends them again
    // with the same messageId (the pipeline drops such duplicates), never loses them.
    bus.produce(EVENTS_TOPIC, out).await?;
    sqlx::query(
        "UPDATE quarantine SET status = 'replayed', replayed_at = now() WHERE id = ANY($1)",
    )
    .bind(&delivered_ids)
    .execute(&mut *tx)
    .await?;
    for (id, reason) in &refused {
        sqlx::query("UPDATE quarantine SET reason = $2 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ReplayReport {
        replayed: delivered_ids.len(),
        still_refused: refused.len(),
    })
}

/// An event the gateway had already normalised, back as [`crate::Accepted`].
fn normalised(mut payload: Value) -> Result<crate::Accepted, String> {
    let mut clamped_from = None;
    if let Value::Object(o) = &mut payload {
        // The policy stamps the envelope again; only the parser's note of a clamped time stays.
        let claimed = o
            .remove("_pulse")
            .and_then(|p| PulseMeta::deserialize(p).ok())
            .and_then(|p| p.future_timestamp);
        if let Some(c) = claimed {
            clamped_from = OffsetDateTime::parse(&c, &Rfc3339).ok();
            let envelope = PulseMeta {
                future_timestamp: Some(c),
                ..PulseMeta::default()
            };
            o.insert(
                "_pulse".into(),
                serde_json::to_value(envelope).expect("the envelope serialises"),
            );
        }
    }
    let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
    let call = text("type")
        .and_then(|t| crate::CallType::parse(&t))
        .ok_or("the event has no valid `type`")?;
    let message_id = text("messageId").ok_or("the event has no `messageId`")?;
    let key = text("userId")
        .or_else(|| text("anonymousId"))
        .ok_or("the event has neither `userId` nor `anonymousId`")?;
    let timestamp = text("timestamp")
        .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
        .ok_or("the event has no valid `timestamp`")?;
    Ok(crate::Accepted {
        call,
        message_id,
        key,
        timestamp,
        clamped_from,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_characters_in_strings_and_keys_are_replaced_and_the_rest_is_kept() {
        let mut v = json!({ "a\u{0}b": ["x\u{0}", 1, { "k": "fine" }], "n": null });
        assert!(make_storable(&mut v));
        assert_eq!(
            v,
            json!({ "a\u{FFFD}b": ["x\u{FFFD}", 1, { "k": "fine" }], "n": null })
        );
        let mut clean = json!({ "k": "v" });
        assert!(!make_storable(&mut clean));
    }

    #[test]
    fn unreadable_bodies_are_kept_as_base64_and_text_as_text() {
        assert_eq!(raw_payload(b"{oops"), json!("{oops"));
        for bytes in [&b"\x1f\x8b\x08\x00\xff"[..], b"a\0b", b"\xc3\x28"] {
            let v = raw_payload(bytes);
            assert_eq!(v["encoding"], "base64");
            let back = base64::engine::general_purpose::STANDARD
                .decode(v["base64"].as_str().unwrap())
                .unwrap();
            assert_eq!(back, bytes);
        }
    }
}
