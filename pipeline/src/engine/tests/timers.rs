//! Event time moving on: timers fired by other workspaces' events and by an idle stream, and
//! window thresholds cleared as days pass.

use super::*;
use crate::operator::traits::DAY_MS;

#[test]
fn another_workspaces_events_move_time_for_all_workspaces() {
    let mut e = Engine::new(config());
    e.set_labels(WS_A, vec![flagship()]);
    e.feed(0, 0, &in_ws(WS_A, page("x", "/pricing", T0, "m1")));
    let fired = e.feed(0, 1, &in_ws(WS_B, track("y", "ping", T0 + 11 * MIN, "m2")));
    assert!(
        fired
            .iter()
            .any(|f| f.workspace == WS_A && matches!(&f.effect, Effect::Label(c) if c.set)),
        "{fired:?}"
    );
}

#[test]
fn an_idle_stream_still_fires_when_time_moves_on() {
    let mut e = engine();
    e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
    assert!(e
        .advance_to(T0 + 9 * MIN)
        .iter()
        .all(|f| !matches!(f.effect, Effect::Label(_))));
    let fired = e.advance_to(T0 + 10 * MIN);
    assert!(
        fired
            .iter()
            .any(|f| matches!(&f.effect, Effect::Label(c) if c.set)),
        "{fired:?}"
    );
}

#[test]
fn a_window_threshold_clears_when_the_window_moves_past_the_activity() {
    let mut e = Engine::new(config());
    e.set_labels(
        "",
        vec![LabelDefinition {
            name: "big_spender".into(),
            description: String::new(),
            rule: LabelRule::Threshold {
                field: "revenue_30d".into(),
                op: domain::labels::Comparison::Gte,
                value: "100".into(),
            },
            trigger: false,
        }],
    );
    let order = serde_json::to_vec(&json!({"type": "track", "anonymousId": "a",
        "event": "Order Completed", "messageId": "o1", "timestamp": ts(T0),
        "properties": {"revenue": 150}}))
    .unwrap();
    let fx = e.feed(0, 0, &order);
    assert!(fx
        .iter()
        .any(|f| matches!(&f.effect, Effect::Label(c) if c.set)));
    let profile = e.take_profiles()[0].profile.clone();
    // Ten days without activity: still within the window, nothing changes.
    let quiet = e.advance_to(T0 + 10 * DAY_MS);
    assert!(quiet.iter().all(|f| !matches!(f.effect, Effect::Label(_))));
    assert_eq!(
        e.take_profiles().len(),
        1,
        "the day's refresh rewrites the row"
    );
    // Thirty-one days on, the order has left the window: cleared, and the row says 0.
    let later = e.advance_to(T0 + 31 * DAY_MS);
    assert!(
        later
            .iter()
            .any(|f| matches!(&f.effect, Effect::Label(c) if !c.set && c.profile == profile)),
        "{later:?}"
    );
    let row = e.take_profiles();
    assert_eq!(row[0].traits.as_ref().unwrap().revenue_30d, 0.0);
    assert!(e.labels_of("", &profile).is_empty());
}
