//! Label definitions against a real Postgres: who may save and archive, what the list, the
//! filters and the runner see, and live counts.

mod common;

use audiences::{labels, AudienceError};
use domain::labels::{EventMatch, LabelDefinition, LabelRule};
use std::collections::BTreeMap;

fn viewed_pricing(name: &str, within_ms: i64) -> LabelDefinition {
    let mut matching = EventMatch::named("Page Viewed");
    matching.properties.insert("path".into(), "/pricing".into());
    LabelDefinition {
        name: name.into(),
        description: "Viewed pricing recently".into(),
        rule: LabelRule::Recency {
            matching,
            within_ms,
        },
        trigger: false,
    }
}

#[tokio::test]
async fn a_marketer_creates_a_label_and_editing_it_by_name_replaces_it() {
    let w = common::world().await;
    labels::save(
        &w.pool,
        &w.marketer,
        &viewed_pricing("pricing_fans", 600_000),
    )
    .await
    .unwrap();
    let mut edited = viewed_pricing("pricing_fans", 3_600_000);
    edited.description = "Viewed pricing within the hour".into();
    edited.trigger = true;
    labels::save(&w.pool, &w.manager, &edited).await.unwrap();

    let list = labels::list(&w.pool, &w.admin).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].definition, edited);
    assert_eq!(list[0].live_count, None);
}

#[tokio::test]
async fn a_sales_rep_reads_labels_but_cannot_create_edit_or_archive_one() {
    let w = common::world().await;
    let refused = labels::save(&w.pool, &w.rep, &viewed_pricing("pricing_fans", 600_000))
        .await
        .unwrap_err();
    assert!(matches!(refused, AudienceError::Refused(_)), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        "Only admins, managers and marketers change labels."
    );
    assert!(labels::list(&w.pool, &w.rep).await.unwrap().is_empty());

    labels::save(&w.pool, &w.admin, &viewed_pricing("pricing_fans", 600_000))
        .await
        .unwrap();
    let edit = labels::save(&w.pool, &w.rep, &viewed_pricing("pricing_fans", 1))
        .await
        .unwrap_err();
    assert!(matches!(edit, AudienceError::Refused(_)), "{edit:?}");
    let archive = labels::archive(&w.pool, &w.rep, "pricing_fans")
        .await
        .unwrap_err();
    assert!(matches!(archive, AudienceError::Refused(_)), "{archive:?}");

    let list = labels::list(&w.pool, &w.rep).await.unwrap();
    assert_eq!(list.len(), 1, "a rep sees the labels");
    assert_eq!(list[0].definition, viewed_pricing("pricing_fans", 600_000));
}

#[tokio::test]
async fn an_archived_label_leaves_the_list_the_filters_and_the_runner_until_saved_again() {
    let w = common::world().await;
    labels::save(
        &w.pool,
        &w.marketer,
        &viewed_pricing("pricing_fans", 600_000),
    )
    .await
    .unwrap();
    labels::save(&w.pool, &w.marketer, &viewed_pricing("keepers", 600_000))
        .await
        .unwrap();
    labels::archive(&w.pool, &w.marketer, "pricing_fans")
        .await
        .unwrap();

    let listed: Vec<String> = labels::list(&w.pool, &w.admin)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.definition.name)
        .collect();
    assert_eq!(listed, vec!["keepers"]);
    assert_eq!(
        labels::names(&w.pool, &w.rep).await.unwrap(),
        vec!["keepers"]
    );
    let latest = labels::latest_versions(&w.pool).await.unwrap();
    let ours = latest
        .iter()
        .find(|v| v.workspace == w.admin.workspace_id)
        .unwrap();
    assert_eq!(ours.definitions, vec![viewed_pricing("keepers", 600_000)]);

    labels::save(
        &w.pool,
        &w.marketer,
        &viewed_pricing("pricing_fans", 600_000),
    )
    .await
    .unwrap();
    assert_eq!(
        labels::names(&w.pool, &w.admin).await.unwrap(),
        vec!["keepers", "pricing_fans"]
    );
}

#[tokio::test]
async fn archiving_a_label_of_another_workspace_or_none_at_all_is_not_found() {
    let w = common::world().await;
    labels::save(&w.pool, &w.admin, &viewed_pricing("pricing_fans", 600_000))
        .await
        .unwrap();
    for (who, name) in [(&w.stranger, "pricing_fans"), (&w.admin, "nothing_here")] {
        let e = labels::archive(&w.pool, who, name).await.unwrap_err();
        assert!(matches!(e, AudienceError::NotFound(_)), "{e:?}");
    }
    assert!(labels::list(&w.pool, &w.stranger).await.unwrap().is_empty());
    assert_eq!(labels::list(&w.pool, &w.admin).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_invalid_definition_is_refused_with_its_field_errors_and_not_stored() {
    let w = common::world().await;
    let e = labels::save(&w.pool, &w.admin, &viewed_pricing("Not A Name!", 600_000))
        .await
        .unwrap_err();
    let AudienceError::Invalid(fields) = e else {
        panic!("expected field errors, got {e:?}");
    };
    assert!(fields.get("name").is_some(), "{fields:?}");
    assert!(labels::list(&w.pool, &w.admin).await.unwrap().is_empty());
}

#[tokio::test]
async fn live_counts_show_in_the_list_and_a_changed_rule_clears_its_stale_count() {
    let w = common::world().await;
    let ws = w.admin.workspace_id;
    labels::save(&w.pool, &w.admin, &viewed_pricing("pricing_fans", 600_000))
        .await
        .unwrap();
    labels::record_live_counts(
        &w.pool,
        ws,
        &BTreeMap::from([("pricing_fans".to_string(), 7)]),
    )
    .await
    .unwrap();
    let count = |w: &common::World| {
        let (pool, admin) = (w.pool.clone(), w.admin);
        async move { labels::list(&pool, &admin).await.unwrap()[0].live_count }
    };
    assert_eq!(count(&w).await, Some(7));

    // The demo seeds the same rule again at start: the count stays.
    labels::store(&w.pool, ws, &viewed_pricing("pricing_fans", 600_000))
        .await
        .unwrap();
    assert_eq!(count(&w).await, Some(7));

    labels::save(&w.pool, &w.admin, &viewed_pricing("pricing_fans", 60_000))
        .await
        .unwrap();
    assert_eq!(count(&w).await, None, "the old rule's count is not shown");
}

#[tokio::test]
async fn seeding_adds_missing_labels_and_leaves_changed_or_archived_ones_alone() {
    let w = common::world().await;
    let ws = w.admin.workspace_id;
    let mut edited = viewed_pricing("pricing_fans", 60_000);
    edited.description = "Edited by a person".into();
    labels::save(&w.pool, &w.admin, &edited).await.unwrap();
    labels::save(&w.pool, &w.admin, &viewed_pricing("retired", 60_000))
        .await
        .unwrap();
    labels::archive(&w.pool, &w.admin, "retired").await.unwrap();

    let seeds = [
        viewed_pricing("pricing_fans", 600_000),
        viewed_pricing("retired", 600_000),
        viewed_pricing("newcomers", 600_000),
    ];
    labels::seed(&w.pool, ws, &seeds).await.unwrap();

    let list: Vec<LabelDefinition> = labels::list(&w.pool, &w.admin)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.definition)
        .collect();
    assert_eq!(list, vec![viewed_pricing("newcomers", 600_000), edited]);
}

#[tokio::test]
async fn every_change_is_a_new_version_published_once_and_saving_the_same_rule_is_none() {
    let w = common::world().await;
    let ws = w.admin.workspace_id;
    let ours = |all: Vec<labels::LabelsVersion>| -> Vec<(u64, Vec<String>)> {
        all.into_iter()
            .filter(|v| v.workspace == ws)
            .map(|v| {
                (
                    v.version,
                    v.definitions.into_iter().map(|d| d.name).collect(),
                )
            })
            .collect()
    };
    labels::save(&w.pool, &w.admin, &viewed_pricing("pricing_fans", 60_000))
        .await
        .unwrap();
    labels::save(&w.pool, &w.admin, &viewed_pricing("retired", 60_000))
        .await
        .unwrap();
    // The same rule again (the demo at every start): no version.
    labels::store(&w.pool, ws, &viewed_pricing("retired", 60_000))
        .await
        .unwrap();
    labels::archive(&w.pool, &w.admin, "retired").await.unwrap();
    let pending = ours(labels::unpublished(&w.pool, 100).await.unwrap());
    assert_eq!(
        pending,
        vec![
            (1, vec!["pricing_fans".to_string()]),
            (2, vec!["pricing_fans".to_string(), "retired".to_string()]),
            (3, vec!["pricing_fans".to_string()]),
        ]
    );
    for (version, _) in &pending {
        labels::mark_published(&w.pool, ws, *version).await.unwrap();
    }
    assert!(ours(labels::unpublished(&w.pool, 100).await.unwrap()).is_empty());
    assert_eq!(
        ours(labels::latest_versions(&w.pool).await.unwrap()),
        vec![(3, vec!["pricing_fans".to_string()])]
    );
}
