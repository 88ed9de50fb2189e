//! Event-pattern rules over event time, and label state surviving an identity merge.

use super::*;
use crate::fixtures::flagship;
use domain::labels::EventMatch;
use serde_json::json;

const MIN: i64 = 60_000;

#[test]
fn pricing_visit_without_a_form_within_ten_minutes_sets_the_label_once() {
    let mut l = Labels::new(vec![flagship()]);
    let t0 = 1_000_000;
    assert!(l
        .on_event("p", "Page Viewed", &json!({"path": "/pricing"}), t0)
        .is_empty());
    assert!(l.advance_now(t0 + 9 * MIN).is_empty());
    // A second pricing visit while waiting does not start a second wait.
    l.on_event(
        "p",
        "Page Viewed",
        &json!({"path": "/pricing"}),
        t0 + 5 * MIN,
    );
    let fired = l.advance_now(t0 + 10 * MIN);
    assert_eq!(fired.len(), 1);
    assert!(fired[0].set && fired[0].trigger);
    assert_eq!(fired[0].at, t0 + 10 * MIN);
    assert!(
        fired[0].reason.contains("no form_submit"),
        "{}",
        fired[0].reason
    );
    assert!(l.advance_now(t0 + 60 * MIN).is_empty(), "fires once");
    assert_eq!(l.current("p"), ["high_intent_unresolved"]);
    // The form, later, clears it.
    let cleared = l.on_event("p", "form_submit", &json!({}), t0 + 70 * MIN);
    assert_eq!(cleared.len(), 1);
    assert!(!cleared[0].set && !cleared[0].trigger);
}

#[test]
fn a_form_in_time_means_no_label() {
    let mut l = Labels::new(vec![flagship()]);
    l.on_event("p", "Page Viewed", &json!({"path": "/pricing"}), 0);
    l.on_event("p", "form_submit", &json!({}), 9 * MIN);
    assert!(l.advance_now(30 * MIN).is_empty());
    assert!(l.current("p").is_empty());
    assert_eq!(l.profiles(), 0, "idle state is dropped");
}

#[test]
fn count_in_window_sets_and_clears_as_the_window_slides() {
    let def = LabelDefinition {
        name: "engaged".into(),
        description: String::new(),
        rule: LabelRule::Count {
            matching: EventMatch::named("Product Viewed"),
            count: 3,
            window_ms: 60 * MIN,
        },
        trigger: false,
    };
    let mut l = Labels::new(vec![def]);
    assert!(l.on_event("p", "Product Viewed", &json!({}), 0).is_empty());
    assert!(l
        .on_event("p", "Product Viewed", &json!({}), 10 * MIN)
        .is_empty());
    // Out of order: an earlier view arrives last and still counts.
    let set = l.on_event("p", "Product Viewed", &json!({}), 5 * MIN);
    assert_eq!(set.len(), 1);
    assert!(set[0].set);
    let cleared = l.advance_now(61 * MIN);
    assert_eq!(cleared.len(), 1, "the view at 0 left the window");
    assert!(!cleared[0].set);
}

#[test]
fn recency_clears_after_the_quiet_time() {
    let def = LabelDefinition {
        name: "active".into(),
        description: String::new(),
        rule: LabelRule::Recency {
            matching: EventMatch::named("Order Completed"),
            within_ms: 30 * MIN,
        },
        trigger: false,
    };
    let mut l = Labels::new(vec![def]);
    assert_eq!(l.on_event("p", "Order Completed", &json!({}), 0).len(), 1);
    l.on_event("p", "Order Completed", &json!({}), 20 * MIN);
    assert!(
        l.advance_now(45 * MIN).is_empty(),
        "the newer order keeps it"
    );
    assert_eq!(l.advance_now(50 * MIN).len(), 1);
}

#[test]
fn a_sequence_sets_when_the_second_event_follows_in_time_and_not_later() {
    let def = LabelDefinition {
        name: "cart_then_checkout".into(),
        description: String::new(),
        rule: LabelRule::Sequence {
            first: EventMatch::named("Added To Cart"),
            then: EventMatch::named("Checkout Started"),
            within_ms: 10 * MIN,
        },
        trigger: false,
    };
    let mut l = Labels::new(vec![def]);
    l.on_event("a", "Added To Cart", &json!({}), 0);
    let set = l.on_event("a", "Checkout Started", &json!({}), 5 * MIN);
    assert_eq!(set.len(), 1);
    assert!(
        set[0].reason.contains("then Checkout Started"),
        "{}",
        set[0].reason
    );
    // Too late for b: the window passed, so the second event alone does nothing.
    l.on_event("b", "Added To Cart", &json!({}), 0);
    assert!(l.advance_now(11 * MIN).is_empty());
    assert!(l
        .on_event("b", "Checkout Started", &json!({}), 12 * MIN)
        .is_empty());
    assert_eq!(l.current("a"), vec!["cart_then_checkout".to_string()]);
    assert!(l.current("b").is_empty());
}

#[test]
fn merged_profiles_keep_their_pending_wait() {
    let mut l = Labels::new(vec![flagship()]);
    l.on_event("anon", "Page Viewed", &json!({"path": "/pricing"}), 0);
    l.merge("anon", "user");
    let fired = l.advance_now(10 * MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].profile, "user");
}

impl Labels {
    /// Fires due timers with no allowed lateness (the rules' own timing).
    fn advance_now(&mut self, watermark: EventTimeMs) -> Vec<LabelChange> {
        self.advance(watermark, 0)
    }
}

#[test]
fn a_form_arriving_late_but_within_the_allowed_lateness_prevents_the_alert() {
    let mut l = Labels::new(vec![flagship()]);
    let t0 = 1_000_000;
    l.on_event("p", "Page Viewed", &json!({"path": "/pricing"}), t0);
    // Event time passed the deadline, but not by the allowed lateness: nothing decided yet.
    assert!(l.advance(t0 + 10 * MIN + 30_000, MIN).is_empty());
    // The form, sent at 9 minutes, arrives now.
    assert!(l
        .on_event("p", "form_submit", &json!({}), t0 + 9 * MIN)
        .is_empty());
    assert!(l.advance(t0 + 60 * MIN, MIN).is_empty(), "no alert");
    assert!(l.current("p").is_empty());
}

#[test]
fn an_absence_fires_at_its_deadline_once_the_lateness_has_passed() {
    let mut l = Labels::new(vec![flagship()]);
    let t0 = 1_000_000;
    l.on_event("p", "Page Viewed", &json!({"path": "/pricing"}), t0);
    assert!(l.advance(t0 + 10 * MIN + MIN - 1, MIN).is_empty());
    let fired = l.advance(t0 + 11 * MIN, MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].at,
        t0 + 10 * MIN,
        "the label's time is the deadline"
    );
}

#[test]
fn editing_an_absence_window_leaves_no_wait_stuck() {
    let mut l = Labels::new(vec![flagship()]);
    let t0 = 1_000_000;
    l.on_event("p", "Page Viewed", &json!({"path": "/pricing"}), t0);
    let mut longer = flagship();
    if let LabelRule::Absence { within_ms, .. } = &mut longer.rule {
        *within_ms = 20 * MIN;
    }
    l.set_definitions(vec![longer]);
    assert!(
        l.advance_now(t0 + 15 * MIN).is_empty(),
        "the new window holds"
    );
    let fired = l.advance_now(t0 + 20 * MIN);
    assert_eq!(fired.len(), 1, "the wait fires under the edited window");
    let mut shorter = flagship();
    if let LabelRule::Absence { within_ms, .. } = &mut shorter.rule {
        *within_ms = 5 * MIN;
    }
    l.set_definitions(vec![shorter]);
    l.on_event(
        "q",
        "Page Viewed",
        &json!({"path": "/pricing"}),
        t0 + 30 * MIN,
    );
    l.set_definitions(vec![flagship()]);
    assert_eq!(
        l.advance_now(t0 + 40 * MIN).len(),
        1,
        "q's wait is not stuck either"
    );
}

#[test]
fn merging_a_pending_wait_into_a_profile_with_the_label_sets_it_once() {
    let mut l = Labels::new(vec![flagship()]);
    let t0 = 1_000_000;
    l.on_event("a", "Page Viewed", &json!({"path": "/pricing"}), t0);
    assert_eq!(l.advance_now(t0 + 10 * MIN).len(), 1, "a carries the label");
    l.on_event(
        "b",
        "Page Viewed",
        &json!({"path": "/pricing"}),
        t0 + 11 * MIN,
    );
    l.merge("b", "a");
    let fired = l.advance_now(t0 + 30 * MIN);
    assert!(fired.is_empty(), "no second set or trigger: {fired:?}");
    assert_eq!(l.current("a"), ["high_intent_unresolved"]);
}
