use super::*;
use crate::posthog::Hints;
use crate::CallType;
use domain::tracking::ConsentPolicy;
use serde_json::json;
use time::macros::datetime;

const WORKSPACE: Uuid = Uuid::from_u128(1);
const SOURCE: Uuid = Uuid::from_u128(2);

fn ctx() -> RequestContext {
    RequestContext::at(datetime!(2026-11-25 10:00:00 UTC))
}

/// A plan that knows only `Signed Up`, in `mode`, and a consent policy asking for marketing.
fn policy(mode: &str) -> Policy {
    Policy {
        plan: serde_json::from_value(json!({"mode": mode, "events": [{"name": "Signed Up"}]}))
            .unwrap(),
        consent: ConsentPolicy {
            activation: vec!["marketing".into()],
        },
    }
}

fn origin(policy: &Policy, watched: bool) -> Origin<'_> {
    Origin {
        workspace_id: WORKSPACE,
        source_id: SOURCE,
        policy,
        watched,
    }
}

/// Parses `body` as sent to `endpoint` and routes it.
fn send(origin: &Origin, endpoint: Endpoint, body: &serde_json::Value) -> Routed {
    let bytes = serde_json::to_vec(body).unwrap();
    let parsed = Body::parse(endpoint, &bytes, &Hints::default()).unwrap();
    route(origin, &ctx(), endpoint, parsed)
}

const BATCH: Endpoint = Endpoint::Segment(None);
const TRACK: Endpoint = Endpoint::Segment(Some(CallType::Track));

#[test]
fn a_batch_delivers_good_events_flags_unplanned_ones_and_quarantines_malformed_ones() {
    let p = policy("flag");
    let r = send(
        &origin(&p, false),
        BATCH,
        &json!({ "writeKey": "wk_x", "batch": [
            { "type": "track", "userId": "u", "event": "Signed Up" },
            { "type": "launch", "userId": "u" },
            { "type": "track", "userId": "u", "event": "Clicked" },
        ]}),
    );
    let names: Vec<_> = r
        .events
        .iter()
        .map(|a| a.payload["event"].clone())
        .collect();
    assert_eq!(names, [json!("Signed Up"), json!("Clicked")]);
    assert_eq!(
        r.quarantine
            .iter()
            .map(|q| q.disposition)
            .collect::<Vec<_>>(),
        [Disposition::Blocked, Disposition::Flagged]
    );
    let malformed = &r.quarantine[0];
    assert!(malformed.reason.contains("unknown `type`"));
    assert_eq!(
        malformed.payload,
        json!({ "type": "launch", "userId": "u" }),
        "a refused item is kept as it was sent"
    );
    assert_eq!(
        (malformed.workspace_id, malformed.source_id),
        (WORKSPACE, SOURCE)
    );
    assert_eq!(malformed.received_at, "2026-11-25T10:00:00Z");
    let flagged = &r.quarantine[1];
    assert_eq!(
        flagged.reason,
        "event `Clicked` is not in the tracking plan"
    );
    assert_eq!(
        flagged.payload, r.events[1].payload,
        "a flagged event is recorded as delivered"
    );
    assert_eq!(
        r.counts,
        SourceCounts {
            accepted: 2,
            flagged: 1,
            quarantined: 1,
            not_activatable: 2,
            future_clamped: 0,
        }
    );
    assert_eq!(
        r.reply,
        Reply::Accepted {
            accepted: 2,
            quarantined: 1
        }
    );
}

#[test]
fn delivered_events_carry_the_sources_envelope_and_never_the_write_key() {
    let p = policy("allow");
    let r = send(
        &origin(&p, false),
        TRACK,
        &json!({ "writeKey": "wk_x", "userId": "u", "event": "Clicked",
            "context": { "consent": { "categoryPreferences": { "marketing": true } } } }),
    );
    let e = &r.events[0].payload;
    assert!(e.get("writeKey").is_none());
    assert_eq!(e["_pulse"]["workspaceId"], json!(WORKSPACE));
    assert_eq!(e["_pulse"]["sourceId"], json!(SOURCE));
    assert_eq!(e["_pulse"]["activatable"], true);
    assert_eq!(r.counts.not_activatable, 0);
    assert!(r.quarantine.is_empty());
}

#[test]
fn a_refused_single_call_is_answered_with_its_reason_and_kept_as_sent() {
    let p = policy("allow");
    let sent = json!({ "writeKey": "wk_x", "event": "Clicked" });
    let r = send(&origin(&p, false), TRACK, &sent);
    let Reply::Refused(refusal) = &r.reply else {
        panic!("a single bad call is refused, got {:?}", r.reply)
    };
    assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
    assert!(refusal.reason.contains("userId"));
    assert_eq!(r.quarantine.len(), 1);
    assert_eq!(r.quarantine[0].payload, sent);
    assert_eq!(r.quarantine[0].reason, refusal.reason);
    assert_eq!(r.counts.quarantined, 1);
}

#[test]
fn a_single_call_the_plan_blocks_is_refused_with_the_plans_reason() {
    let p = policy("block");
    let r = send(
        &origin(&p, false),
        TRACK,
        &json!({ "userId": "u", "event": "Clicked" }),
    );
    assert!(r.events.is_empty());
    assert_eq!(
        r.reply,
        Reply::Refused(Rejected {
            status: StatusCode::BAD_REQUEST,
            reason: "event `Clicked` is not in the tracking plan".into(),
        })
    );
    assert_eq!(r.quarantine[0].disposition, Disposition::Blocked);
    assert_eq!(
        r.quarantine[0].payload["_pulse"]["sourceId"],
        json!(SOURCE),
        "a blocked event is kept normalised, so a replay need not parse it again"
    );
}

#[test]
fn a_batch_of_only_refused_events_is_still_answered_200() {
    let p = policy("block");
    let r = send(
        &origin(&p, false),
        BATCH,
        &json!({ "batch": [{ "type": "track", "userId": "u", "event": "Clicked" }] }),
    );
    assert_eq!(
        r.reply,
        Reply::Accepted {
            accepted: 0,
            quarantined: 1
        }
    );
}

#[test]
fn the_debugger_sees_every_outcome_only_while_someone_watches() {
    let p = policy("flag");
    let batch = json!({ "batch": [
        { "type": "identify", "userId": "u1" },
        { "type": "track", "userId": "u", "event": "Clicked" },
        { "type": "group", "userId": "u" },
    ]});
    let r = send(&origin(&p, true), BATCH, &batch);
    let shown: Vec<_> = r
        .debug
        .iter()
        .map(|d| (d.outcome.as_str(), d.call.as_str(), d.label.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("accepted", "identify", "u1"),
            ("flagged", "track", "Clicked"),
            ("quarantined", "group", ""),
        ]
    );
    assert_eq!(r.debug[0].reason, None);
    assert!(r.debug[2].reason.as_deref().unwrap().contains("groupId"));
    assert!(!r.debug[0].activatable, "no marketing consent was sent");
    assert_eq!(r.debug[0].received_at, "2026-11-25T10:00:00Z");
    assert!(send(&origin(&p, false), BATCH, &batch).debug.is_empty());
}

#[test]
fn a_clamped_future_time_is_counted() {
    let p = policy("allow");
    let r = send(
        &origin(&p, false),
        TRACK,
        &json!({ "userId": "u", "event": "e", "timestamp": "9999-12-31T00:00:00Z" }),
    );
    assert_eq!(r.counts.future_clamped, 1);
    assert_eq!(
        r.events[0].payload["_pulse"]["futureTimestamp"],
        "9999-12-31T00:00:00Z"
    );
}

#[test]
fn posthog_events_are_routed_like_segment_calls_and_quarantined_without_their_key() {
    let p = policy("allow");
    let r = send(
        &origin(&p, false),
        Endpoint::PostHog,
        &json!([
            { "event": "$pageview", "properties": { "token": "wk_js", "distinct_id": "d" } },
            { "event": "clicked", "properties": { "token": "wk_js" } },
        ]),
    );
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].payload["type"], "page");
    assert_eq!(
        r.quarantine[0].payload,
        json!({ "event": "clicked", "properties": {} })
    );
    assert_eq!(
        r.reply,
        Reply::Accepted {
            accepted: 1,
            quarantined: 1
        }
    );
    // One PostHog event on its own is answered like a single Segment call.
    let one = send(
        &origin(&p, false),
        Endpoint::PostHog,
        &json!({ "api_key": "wk_js", "event": "clicked" }),
    );
    assert!(matches!(one.reply, Reply::Refused(r) if r.reason.contains("distinct_id")));
}

#[test]
fn a_refused_body_is_one_blocked_record_shown_without_its_bytes() {
    let p = policy("allow");
    let refusal = Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        reason: "too big".into(),
    };
    let r = refuse(
        &origin(&p, true),
        &ctx(),
        refusal.clone(),
        json!("{not json"),
    );
    assert!(r.events.is_empty());
    assert_eq!(r.quarantine.len(), 1);
    assert_eq!(r.quarantine[0].payload, json!("{not json"));
    assert_eq!(r.quarantine[0].disposition, Disposition::Blocked);
    assert_eq!(r.debug.len(), 1);
    assert_eq!(r.debug[0].payload, Value::Null);
    assert_eq!(r.debug[0].outcome, "quarantined");
    assert_eq!(
        r.counts,
        SourceCounts {
            quarantined: 1,
            ..SourceCounts::default()
        }
    );
    assert_eq!(r.reply, Reply::Refused(refusal));
}

#[test]
fn a_quarantine_record_keeps_its_wire_form() {
    let record = QuarantineRecord {
        workspace_id: WORKSPACE,
        source_id: SOURCE,
        received_at: "2026-11-25T10:00:00Z".into(),
        reason: "r".into(),
        disposition: Disposition::Flagged,
        payload: json!({ "a": 1 }),
    };
    let wire = json!({
        "workspaceId": WORKSPACE, "sourceId": SOURCE, "receivedAt": "2026-11-25T10:00:00Z",
        "reason": "r", "disposition": "flagged", "payload": { "a": 1 },
    });
    assert_eq!(serde_json::to_value(&record).unwrap(), wire);
    assert_eq!(
        serde_json::from_value::<QuarantineRecord>(wire).unwrap(),
        record
    );
}
