//! Event-pattern rules over event time, and label state surviving an identity merge.

use super::*;
use domain::labels::EventMatch;
use serde_json::json;

const MIN: i64 = 60_000;

fn flagship() -> LabelDefinition {
    let mut first = EventMatch::named("Page Viewed");
    first.properties.insert("path".into(), "/pricing".into());
    LabelDefinition {
        name: "high_intent_unresolved".into(),
        description: String::new(),
        rule: LabelRule::Absence {
            first,
            then_not: EventMatch::named("form_submit"),
            within_ms: 10 * MIN,
        },
        trigger: true,
    }
}

#[test]
fn pricing_visit_without_a_form_within_ten_minutes_sets_the_label_once() {
    let mut l = Labels::new(vec![flagship()]);
    let t0 = 1_000_000;
    assert!(l
        .on_event("p", "Page Viewed", &json!({"path": "/pricing"}), t0)
        .is_empty());
    assert!(l.advance(t0 + 9 * MIN).is_empty());
    // A second pricing visit while waiting does not start a second wait.
    l.on_event(
        "p",
        "Page Viewed",
        &json!({"path": "/pricing"}),
        t0 + 5 * MIN,
    );
    let fired = l.advance(t0 + 10 * MIN);
    assert_eq!(fired.len(), 1);
    assert!(fired[0].set && fired[0].trigger);
    assert_eq!(fired[0].at, t0 + 10 * MIN);
    assert!(
        fired[0].reason.contains("no form_submit"),
        "{}",
        fired[0].reason
    );
    assert!(l.advance(t0 + 60 * MIN).is_empty(), "fires once");
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
    assert!(l.advance(30 * MIN).is_empty());
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
    let cleared = l.advance(61 * MIN);
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
    assert!(l.advance(45 * MIN).is_empty(), "the newer order keeps it");
    assert_eq!(l.advance(50 * MIN).len(), 1);
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
    assert!(l.advance(11 * MIN).is_empty());
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
    let fired = l.advance(10 * MIN);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].profile, "user");
}
