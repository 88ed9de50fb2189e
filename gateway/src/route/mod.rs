//! Where the events of one request go, decided without I/O: accepted events (the source's
//! policy stamped in) for `events.raw`, refused and flagged ones as records for
//! `events.quarantine`, what the live debugger shows, the source's counts, and the answer. The
//! HTTP face parses the body ([`Body::parse`]), finds the source, calls [`route`] (or
//! [`refuse`] when the body itself was refused), publishes what comes back, then answers with
//! [`Routed::reply`].

mod body;

pub use body::{Body, Endpoint};

use crate::policy::{Policy, Verdict};
use crate::{Accepted, Rejected, RequestContext, StatusCode};
use domain::tracking::{DebugEvent, SourceCounts};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// Why an event is in the quarantine and whether it was delivered anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Not delivered: malformed, or blocked by the tracking plan.
    Blocked,
    /// Delivered with its violations marked (tracking plan in flag mode).
    Flagged,
}

/// A record on `events.quarantine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRecord {
    pub workspace_id: Uuid,
    pub source_id: Uuid,
    pub received_at: String,
    pub reason: String,
    pub disposition: Disposition,
    /// The original payload (malformed input as text), or the normalised event when the
    /// tracking plan refused it.
    pub payload: Value,
}

/// The source a request's write key belongs to, as routing needs it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub workspace_id: Uuid,
    pub source_id: Uuid,
    /// The source's tracking plan and consent policy.
    pub policy: &'a Policy,
    /// Whether someone watches the live debugger; debug events are built only then.
    pub watched: bool,
}

#[cfg(feature = "postgres")]
impl<'a> Origin<'a> {
    /// The origin of a request authenticated as `source`.
    pub fn of(source: &'a crate::sources::Source, watched: bool) -> Self {
        Origin {
            workspace_id: source.workspace_id,
            source_id: source.id,
            policy: &source.policy,
            watched,
        }
    }
}

/// How the gateway answers a request once its events are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200: how many events went to `events.raw` and how many only to the quarantine
    /// (flagged events count as accepted).
    Accepted { accepted: usize, quarantined: usize },
    /// The request was one event, or a body that could not be read, and it was refused: the
    /// client hears why (it is in the quarantine all the same).
    Refused(Rejected),
}

/// Everything a request leads to, for the HTTP face to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// Accepted events with the source's policy applied, in request order, for `events.raw`.
    pub events: Vec<Accepted>,
    /// Refused, blocked and flagged events with their reasons, for `events.quarantine`.
    pub quarantine: Vec<QuarantineRecord>,
    /// What the live debugger shows (empty when nobody watches).
    pub debug: Vec<DebugEvent>,
    /// The request's contribution to the source's volume chart.
    pub counts: SourceCounts,
    pub reply: Reply,
}

/// Routes every event of a parsed request that `origin` sent to `endpoint`.
pub fn route(
    origin: &Origin,
    ctx: &RequestContext,
    endpoint: Endpoint,
    mut body: Body<'_>,
) -> Routed {
    let mut out = Outcomes::new(origin, ctx);
    let items = body.accept(endpoint.forced(), ctx);
    let mut first_refusal = None;
    for (i, item) in items.into_iter().enumerate() {
        let mut a = match item {
            Ok(a) => a,
            Err(r) => {
                out.hold(&r.reason, Disposition::Blocked, body.original(i));
                first_refusal.get_or_insert(r);
                continue;
            }
        };
        if a.clamped_from.is_some() {
            out.counts.future_clamped += 1;
        }
        let verdict = origin
            .policy
            .apply(origin.workspace_id, origin.source_id, &mut a.payload);
        if a.payload.pointer("/_pulse/activatable") == Some(&Value::Bool(false)) {
            out.counts.not_activatable += 1;
        }
        match verdict {
            Verdict::Deliver { violations } if violations.is_empty() => {
                out.show("accepted", None, &a.payload);
                out.events.push(a);
            }
            Verdict::Deliver { violations } => {
                out.counts.flagged += 1;
                out.hold(
                    &violations.join("; "),
                    Disposition::Flagged,
                    a.payload.clone(),
                );
                out.events.push(a);
            }
            Verdict::Block { violations } => {
                let reason = violations.join("; ");
                first_refusal.get_or_insert(Rejected {
                    status: StatusCode::BAD_REQUEST,
                    reason: reason.clone(),
                });
                out.hold(&reason, Disposition::Blocked, a.payload);
            }
        }
    }
    let accepted = out.events.len();
    let quarantined = out.quarantine.len() - out.counts.flagged as usize;
    let reply = match first_refusal {
        Some(r) if body.single() && accepted == 0 => Reply::Refused(r),
        _ => Reply::Accepted {
            accepted,
            quarantined,
        },
    };
    out.finish(reply)
}

/// A request whose body was refused as a whole: one quarantine record holding `raw` (the body
/// as received, made safe to store), and the refusal as the answer.
pub fn refuse(origin: &Origin, ctx: &RequestContext, refusal: Rejected, raw: Value) -> Routed {
    let mut out = Outcomes::new(origin, ctx);
    out.quarantine
        .push(out.record(&refusal.reason, Disposition::Blocked, raw));
    // The debugger shows the refusal without the body, which may be large or unreadable.
    out.show("quarantined", Some(&refusal.reason), &Value::Null);
    out.finish(Reply::Refused(refusal))
}

/// What routing gathers while it walks a request's events.
struct Outcomes<'o> {
    origin: &'o Origin<'o>,
    received: String,
    events: Vec<Accepted>,
    quarantine: Vec<QuarantineRecord>,
    debug: Vec<DebugEvent>,
    counts: SourceCounts,
}

impl<'o> Outcomes<'o> {
    fn new(origin: &'o Origin<'o>, ctx: &RequestContext) -> Self {
        Outcomes {
            origin,
            received: ctx.received_at.format(&Rfc3339).unwrap_or_default(),
            events: Vec::new(),
            quarantine: Vec::new(),
            debug: Vec::new(),
            counts: SourceCounts::default(),
        }
    }

    fn record(&self, reason: &str, disposition: Disposition, payload: Value) -> QuarantineRecord {
        QuarantineRecord {
            workspace_id: self.origin.workspace_id,
            source_id: self.origin.source_id,
            received_at: self.received.clone(),
            reason: reason.to_string(),
            disposition,
            payload,
        }
    }

    /// Puts an event in the quarantine and shows it in the debugger.
    fn hold(&mut self, reason: &str, disposition: Disposition, payload: Value) {
        let outcome = match disposition {
            Disposition::Blocked => "quarantined",
            Disposition::Flagged => "flagged",
        };
        self.show(outcome, Some(reason), &payload);
        self.quarantine
            .push(self.record(reason, disposition, payload));
    }

    /// Shows an event in the live debugger, if anyone watches.
    fn show(&mut self, outcome: &str, reason: Option<&str>, payload: &Value) {
        if self.origin.watched {
            self.debug
                .push(debug_event(&self.received, outcome, reason, payload));
        }
    }

    fn finish(self, reply: Reply) -> Routed {
        let mut counts = self.counts;
        counts.accepted = self.events.len() as i64;
        counts.quarantined = self.quarantine.len() as i64 - counts.flagged;
        Routed {
            events: self.events,
            quarantine: self.quarantine,
            debug: self.debug,
            counts,
            reply,
        }
    }
}

/// What the debugger shows of an event.
fn debug_event(received: &str, outcome: &str, reason: Option<&str>, payload: &Value) -> DebugEvent {
    let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("");
    let call = text("type").to_string();
    let label = match call.as_str() {
        "track" => text("event"),
        "page" | "screen" => text("name"),
        "identify" | "alias" => text("userId"),
        "group" => text("groupId"),
        _ => "",
    }
    .to_string();
    DebugEvent {
        received_at: received.to_string(),
        outcome: outcome.to_string(),
        call,
        label,
        reason: reason.map(str::to_string),
        activatable: payload
            .pointer("/_pulse/activatable")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        payload: payload.clone(),
    }
}

#[cfg(test)]
mod tests;
