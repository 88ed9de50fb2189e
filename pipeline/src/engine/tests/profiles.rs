//! Profile snapshots: each changed profile comes out once, with what it is now.

use super::*;

#[test]
fn changed_profiles_come_out_once_with_identifiers_traits_and_labels() {
    let mut e = Engine::new(config());
    e.set_labels("", vec![flagship()]);
    e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
    e.feed(
        0,
        1,
        &identify("a", "u-1", "ada@acme.example", T0 + 1, "m2"),
    );
    let snaps = e.take_profiles();
    assert_eq!(
        snaps.len(),
        1,
        "two events of one profile, one snapshot: {snaps:?}"
    );
    let p = &snaps[0];
    assert!(p
        .identifiers
        .contains(&"email:ada@acme.example".to_string()));
    let traits = p.traits.as_ref().unwrap();
    assert_eq!(traits.events_total, 2);
    assert_eq!(traits.sessions_total, 1);
    assert_eq!(traits.traits["email"], json!("ada@acme.example"));
    assert!(e.take_profiles().is_empty(), "nothing changed since");
    // The absence timer fires with no event: the profile is snapshotted with its label.
    e.advance_to(T0 + 11 * MIN);
    let snaps = e.take_profiles();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].labels, vec!["high_intent_unresolved".to_string()]);
    assert!(snaps[0].traits.as_ref().unwrap().revision >= traits.revision);
}
