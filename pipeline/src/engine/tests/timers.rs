//! Event time moving on: each workspace on its own clock, timers fired by an idle stream, and
//! window thresholds cleared as days pass.

use super::*;
use crate::operator::traits::DAY_MS;

#[test]
fn a_workspaces_events_do_not_move_another_workspaces_time() {
    let mut e = Engine::new(config());
    e.set_labels(WS_A, vec![flagship()]);
    e.feed(0, 0, &in_ws(WS_A, page("x", "/pricing", T0, "m1")));
    let fired = e.feed(0, 1, &in_ws(WS_B, track("y", "ping", T0 + 11 * MIN, "m2")));
    assert!(
        fired.iter().all(|f| f.workspace != WS_A),
        "B's clock fired A's timer: {fired:?}"
    );
    assert_eq!(e.watermark_of(WS_A), Some(T0 - 2_000));
    // A's own time passing fires it.
    let fired = e.feed(0, 2, &in_ws(WS_A, track("z", "ping", T0 + 11 * MIN, "m3")));
    assert!(
        fired
            .iter()
            .any(|f| f.workspace == WS_A && matches!(&f.effect, Effect::Label(c) if c.set)),
        "{fired:?}"
    );
}

#[test]
fn a_future_stamped_event_does_not_move_any_workspaces_time_and_later_events_reach_their_profiles()
{
    let mut e = Engine::new(config());
    e.set_labels(WS_A, vec![flagship()]);
    e.feed(0, 0, &in_ws(WS_A, page("x", "/pricing", T0, "m1")));
    // Year 9999 from a producer that did not clamp it, in the same workspace: taken as the
    // time it arrived, so the pending wait does not fire and nothing after it is dropped.
    let mut bad: Value =
        serde_json::from_slice(&in_ws(WS_A, track("evil", "ping", T0, "m2"))).unwrap();
    bad["timestamp"] = json!("9999-12-31T23:59:59Z");
    bad["receivedAt"] = json!(ts(T0 + 1_000));
    let fired = e.feed(0, 1, &serde_json::to_vec(&bad).unwrap());
    assert!(
        fired.iter().all(|f| !matches!(f.effect, Effect::Label(_))),
        "{fired:?}"
    );
    assert!(e.watermark_of(WS_A) < Some(T0 + MIN));
    let later = e.feed(
        0,
        2,
        &in_ws(WS_A, track("x", "form_submit", T0 + 2 * MIN, "m3")),
    );
    assert!(
        later
            .iter()
            .any(|f| matches!(&f.effect, Effect::Event { message_id, .. } if message_id == "m3")),
        "the next event reaches its profile: {later:?}"
    );
    assert_eq!(e.stats().duplicates, 0);
    assert_eq!(e.stats().processed, 3);
}

#[test]
fn an_idle_stream_still_fires_when_time_moves_on() {
    let mut e = engine();
    e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
    assert!(e
        .advance_to(T0 + 9 * MIN)
        .iter()
        .all(|f| !matches!(f.effect, Effect::Label(_))));
    // Decided once the deadline is the allowed lateness (10 s here) behind event time.
    assert!(e
        .advance_to(T0 + 10 * MIN + 9_999)
        .iter()
        .all(|f| !matches!(f.effect, Effect::Label(_))));
    let fired = e.advance_to(T0 + 10 * MIN + 10_000);
    assert!(
        fired
            .iter()
            .any(|f| matches!(&f.effect, Effect::Label(c) if c.set && c.at == T0 + 10 * MIN)),
        "{fired:?}"
    );
}

#[test]
fn a_window_threshold_clears_when_the_window_moves_past_the_activity() {
    let mut e = Engine::new(config());
    e.set_labels("", vec![big_spender(false)]);
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

#[test]
fn an_anonymous_visitor_gone_for_the_ttl_is_forgotten_and_a_known_customer_is_kept() {
    let mut e = Engine::new(EngineConfig {
        anonymous_ttl_ms: 2 * DAY_MS,
        ..config()
    });
    e.set_labels("", vec![flagship()]);
    e.feed(0, 0, &page("drifter", "/pricing", T0, "m1"));
    e.feed(
        0,
        1,
        &identify("known", "u-1", "ada@shop.example", T0, "m2"),
    );
    e.take_profiles();
    // Three days later someone else visits: the day rolls, the drifter is forgotten.
    e.feed(0, 2, &page("other", "/", T0 + 3 * DAY_MS, "m3"));
    assert_eq!(e.stats().evicted, 1);
    let anon = |v: &str| domain::Identifier::new(domain::IdKind::Anonymous, v);
    let graph = e.identity("").unwrap();
    assert_eq!(graph.profile_of(&anon("drifter")), None);
    assert!(
        graph.profile_of(&anon("known")).is_some(),
        "identified profiles stay"
    );
    let (profiles, _, timers) = e.sizes();
    assert_eq!(profiles, 2, "the known customer and today's visitor");
    assert_eq!(timers, 0, "the drifter's label state went with it");
    // Back after all: a new profile, from scratch.
    let fx = e.feed(0, 3, &page("drifter", "/", T0 + 3 * DAY_MS + 1, "m4"));
    assert!(fx.iter().any(|f| matches!(f.effect, Effect::Event { .. })));
    assert_eq!(e.identity("").unwrap().len(), 3);
}
