//! Property tests: whatever bytes arrive, the parser answers with an event or a 4xx reason.

use gateway::{
    accept_batch, accept_call, parse_body, split_batch, CallType, RequestContext, StatusCode,
    MAX_BATCH_BYTES,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn ctx() -> RequestContext {
    RequestContext::at(time::OffsetDateTime::UNIX_EPOCH)
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
                    prop_assert!(e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::PAYLOAD_TOO_LARGE);
                    prop_assert!(!e.reason.is_empty());
                }
            }
            Err(e) => prop_assert!(e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::PAYLOAD_TOO_LARGE),
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
                prop_assert!(e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::PAYLOAD_TOO_LARGE);
                prop_assert!(!e.reason.is_empty());
            }
        }
        if let Ok(items) = accept_batch(json!({ "batch": [v] }), &ctx()) {
            prop_assert_eq!(items.len(), 1);
        }
    }

    #[test]
    fn arbitrary_bytes_split_as_batches_never_panic_and_errors_are_4xx(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        match split_batch(&bytes, MAX_BATCH_BYTES) {
            Ok(b) => {
                for item in b.accept(&ctx()) {
                    if let Err(e) = item {
                        prop_assert!(e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::PAYLOAD_TOO_LARGE);
                    }
                }
            }
            Err(e) => prop_assert!(e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::PAYLOAD_TOO_LARGE),
        }
    }

    /// The gateway's fast path (items split from the raw body) decides exactly like the tree
    /// path: the same items accepted, the same reasons for the refused.
    #[test]
    fn the_raw_batch_path_decides_like_the_tree_path(items in prop::collection::vec(arb_json(), 0..6), sent_at in prop_oneof![Just(Value::Null), Just(json!("2026-11-25T10:00:00Z")), Just(json!(5))], context in prop_oneof![Just(Value::Null), Just(json!({"ip": "1.2.3.4"})), Just(json!("x"))]) {
        let body = json!({ "batch": items, "sentAt": sent_at, "context": context });
        let bytes = serde_json::to_vec(&body).unwrap();
        let tree = accept_batch(body, &ctx());
        let raw = split_batch(&bytes, MAX_BATCH_BYTES).map(|b| b.accept(&ctx()));
        match (tree, raw) {
            (Ok(t), Ok(r)) => {
                prop_assert_eq!(t.len(), r.len());
                for (a, b) in t.iter().zip(r.iter()) {
                    match (a, b) {
                        (Ok(x), Ok(y)) => {
                            prop_assert_eq!(&x.key, &y.key);
                            prop_assert_eq!(x.timestamp, y.timestamp);
                        }
                        (Err(x), Err(y)) => prop_assert_eq!(x, y),
                        (x, y) => prop_assert!(false, "tree {:?} vs raw {:?}", x, y),
                    }
                }
            }
            (Err(x), Err(y)) => prop_assert_eq!(x.status, y.status),
            (x, y) => prop_assert!(false, "tree {:?} vs raw {:?}", x.is_ok(), y.is_ok()),
        }
    }
}
