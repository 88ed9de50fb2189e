//! CRM changes on profiles: identifiers joining visitors, fields becoming traits and threshold
//! labels.

use super::*;

#[test]
fn a_crm_customers_email_joins_the_visitor_who_identifies_with_it() {
    let mut e = Engine::new(config());
    let change = change(
        "r",
        "customer_identifiers",
        T0,
        json!({"workspace_id": "", "customer_id": "c-42", "kind": "email",
               "namespace": "", "value": "ada@acme.example"}),
    );
    e.feed_crm(0, 0, &change);
    e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
    let fx = e.feed(
        0,
        1,
        &identify("a", "u-1", "Ada@Acme.example", T0 + 1, "m2"),
    );
    let profile = fx
        .iter()
        .find_map(|f| match &f.effect {
            Effect::Event { profile, .. } => Some(profile.clone()),
            _ => None,
        })
        .unwrap();
    let ids = ids_of(&e, &profile);
    assert!(ids.contains(&"crm:c-42".to_string()), "{ids:?}");
    assert!(ids.contains(&"anon:a".to_string()), "{ids:?}");
    // Replaying the change (after a restore) changes nothing.
    assert!(e.feed_crm(0, 0, &change).is_empty());
}

#[test]
fn crm_fields_become_profile_traits_and_drive_threshold_labels() {
    let mut e = Engine::new(config());
    e.set_labels(
        "",
        vec![LabelDefinition {
            name: "churned".into(),
            description: String::new(),
            rule: LabelRule::Threshold {
                field: "crm.lifecycle_stage".into(),
                op: domain::labels::Comparison::Eq,
                value: "churned".into(),
            },
            trigger: false,
        }],
    );
    let row = |stage: &str, at: i64| {
        change(
            "u",
            "customers",
            at,
            json!({"workspace_id": "", "id": "c-7", "first_name": "Ada",
                   "last_name": "King", "lifecycle_stage": stage}),
        )
    };
    assert!(e.feed_crm(0, 0, &row("customer", T0)).is_empty());
    let snap = e.take_profiles();
    let traits = &snap[0].traits.as_ref().unwrap().traits;
    assert_eq!(traits["crm.lifecycle_stage"], json!("customer"));
    assert_eq!(traits["crm.first_name"], json!("Ada"));
    let fx = e.feed_crm(0, 1, &row("churned", T0 + 10));
    assert!(
        matches!(&fx[..], [Emitted { effect: Effect::Label(c), .. }] if c.set && c.reason.contains("churned")),
        "{fx:?}"
    );
    // An older change arriving late does not bring "customer" back.
    assert!(e.feed_crm(0, 2, &row("customer", T0 + 5)).is_empty());
    assert_eq!(
        e.labels_of("", &snap[0].profile),
        vec!["churned".to_string()]
    );
}
