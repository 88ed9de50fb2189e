//! Property tests: whatever bytes arrive, the parser answers with an event or a 4xx reason.

use gateway::{accept_batch, accept_call, parse_body, CallType, RequestContext, MAX_BATCH_BYTES};
use proptest::prelude::*;
use serde_json::{json, Value};

fn ctx() -> RequestContext {
    RequestContext {
        received_at: time::OffsetDateTime::UNIX_EPOCH,
        ip: None,
        user_agent: None,
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("track"),
            Just("identify"),
            Just("page"),
            Just("alias"),
            Just("group"),
            Just("2026-11-25T10:00:00Z")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("userId".to_string()),
                    Just("anonymousId".to_string()),
                    Just("event".to_string()),
                    Just("timestamp".to_string()),
                    Just("sentAt".to_string()),
                    Just("batch".to_string()),
                    Just("context".to_string()),
                    Just("traits".to_string()),
                    Just("previousId".to_string()),
                    Just("groupId".to_string()),
                    ".{0,8}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_errors_are_4xx(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        match parse_body(&bytes, MAX_BATCH_BYTES) {
            Ok(v) => {
                if let Err(e) = accept_batch(v, &ctx()) {
                    prop_assert!(e.status == 400 || e.status == 413);
                    prop_assert!(!e.reason.is_empty());
                }
            }
            Err(e) => prop_assert!(e.status == 400 || e.status == 413),
        }
    }

    #[test]
    fn arbitrary_json_calls_are_accepted_or_refused_with_a_reason(v in arb_json(), forced in prop::option::of(prop_oneof![Just(CallType::Track), Just(CallType::Identify), Just(CallType::Alias)])) {
        match accept_call(v.clone(), forced, None, &ctx()) {
            Ok(a) => {
                prop_assert!(!a.key.is_empty());
                prop_assert!(!a.message_id.is_empty());
                prop_assert!(a.payload.get("receivedAt").is_some());
            }
            Err(e) => {
                prop_assert!(e.status == 400 || e.status == 413);
                prop_assert!(!e.reason.is_empty());
            }
        }
        if let Ok(items) = accept_batch(json!({ "batch": [v] }), &ctx()) {
            prop_assert_eq!(items.len(), 1);
        }
    }
}
