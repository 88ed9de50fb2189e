//! Events applied to their profiles: lateness, duplicates and the flagship label over a
//! recorded stream, identity from identify calls.

use super::*;
use crate::operator::labels::LabelChange;

#[test]
fn a_too_late_event_reaches_its_profile_timeline_but_not_sessions_or_pattern_labels() {
    let mut e = engine();
    let mut fx = Vec::new();
    fx.extend(e.feed(0, 0, &page("now", "/", T0, "m-now")));
    // Two hours behind the watermark: far beyond the allowed lateness.
    fx.extend(e.feed(0, 1, &page("offline", "/pricing", T0 - 120 * MIN, "m-old")));
    fx.extend(e.feed(0, 2, &track("ticker", "heartbeat", T0 + 60 * MIN, "m-tick")));
    let profile = fx
        .iter()
        .find_map(|f| match &f.effect {
            Effect::Event {
                profile,
                message_id,
                ..
            } if message_id == "m-old" => Some(profile.clone()),
            _ => None,
        })
        .expect("the too-late event is on its profile's timeline");
    let other = fx.iter().find(|f| match &f.effect {
        Effect::Session { profile: p, .. } => *p == profile,
        Effect::Label(c) => c.profile == profile,
        _ => false,
    });
    assert!(other.is_none(), "no session or label: {other:?}");
    assert_eq!(e.stats().too_late, 1);
    assert_eq!(e.stats().processed, 2);
    assert!(e
        .take_profiles()
        .iter()
        .any(|p| p.profile == profile && p.traits.is_some()));
}

#[test]
fn the_flagship_label_fires_once_for_visitors_without_a_timely_form() {
    let (sink, engine) = run_clean(&recorded());
    let set: Vec<&LabelChange> = sink
        .values()
        .filter_map(|f| match &f.effect {
            Effect::Label(c) if c.set => Some(c),
            _ => None,
        })
        .collect();
    // i % 3 == 1 (form after 15 min) and i % 3 == 2 (never): 40 visitors.
    assert_eq!(set.len(), 40);
    assert!(set.iter().all(|c| c.trigger));
    let cleared = sink
        .values()
        .filter(|f| matches!(&f.effect, Effect::Label(c) if !c.set))
        .count();
    assert_eq!(cleared, 20, "the late forms clear the label");
    let stats = engine.stats();
    assert_eq!(stats.duplicates, 60);
    assert_eq!(stats.too_late, 1);
}

#[test]
fn identify_links_the_visitor_to_the_user_and_its_email() {
    let mut e = Engine::new(config());
    e.feed(0, 0, &page("a", "/", T0, "m1"));
    let fx = e.feed(
        0,
        1,
        &identify("a", "u-1", "Ada@Acme.example", T0 + 1, "m2"),
    );
    let profile = fx.iter().find_map(|f| match &f.effect {
        Effect::Event { profile, .. } => Some(profile.clone()),
        _ => None,
    });
    let ids = ids_of(&e, &profile.unwrap());
    assert!(
        ids.contains(&"email:ada@acme.example".to_string()),
        "{ids:?}"
    );
    assert!(ids.contains(&"anon:a".to_string()), "{ids:?}");
}

#[test]
fn a_three_day_old_import_reaches_its_profile() {
    let mut e = engine();
    e.feed(0, 0, &identify("a", "u-1", "ada@shop.example", T0, "m-now"));
    // Sent to /v1/import: three days behind the workspace's time, beyond the dedupe horizon.
    let fx = e.feed(
        0,
        1,
        &track("a", "Order Completed", T0 - 3 * 24 * 60 * MIN, "m-old"),
    );
    assert!(
        fx.iter().any(
            |f| matches!(&f.effect, Effect::Event { message_id, .. } if message_id == "m-old")
        ),
        "{fx:?}"
    );
    let stats = e.stats();
    assert_eq!(
        (stats.too_late, stats.duplicates),
        (1, 0),
        "late, never a duplicate"
    );
    let p = e.take_profiles();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].traits.as_ref().unwrap().events_total, 2);
}

#[test]
fn dedupe_is_per_workspace() {
    let mut e = Engine::new(config());
    e.feed(0, 0, &in_ws(WS_A, track("a", "x", T0, "same-id")));
    let fx = e.feed(0, 1, &in_ws(WS_B, track("b", "x", T0, "same-id")));
    assert!(
        fx.iter().any(|f| f.workspace == WS_B),
        "another workspace's message id does not hide this one: {fx:?}"
    );
    assert!(e
        .feed(0, 2, &in_ws(WS_B, track("b", "x", T0, "same-id")))
        .is_empty());
    assert_eq!(e.stats().duplicates, 1);
}

#[test]
fn a_workspace_at_its_profile_cap_keeps_its_profiles_and_counts_the_refused_newcomers() {
    let mut e = Engine::new(EngineConfig {
        max_profiles_per_workspace: 2,
        ..config()
    });
    e.feed(0, 0, &page("a", "/", T0, "m1"));
    e.feed(0, 1, &page("b", "/", T0 + 1, "m2"));
    assert!(
        e.feed(0, 2, &page("c", "/", T0 + 2, "m3")).is_empty(),
        "a third would pass the cap"
    );
    assert_eq!(e.stats().capped, 1);
    let again = e.feed(0, 3, &page("a", "/pricing", T0 + 3, "m4"));
    assert!(
        again
            .iter()
            .any(|f| matches!(&f.effect, Effect::Event { message_id, .. } if message_id == "m4")),
        "known visitors go on: {again:?}"
    );
    assert_eq!(e.identity("").unwrap().len(), 2);
    // Another workspace has its own cap.
    assert!(!e
        .feed(0, 4, &in_ws(WS_A, page("c", "/", T0 + 4, "m5")))
        .is_empty());
}
