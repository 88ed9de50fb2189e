//! The DuckDB store against a real DuckDB file: batches in, the profile search and 360 view out.

use analytics::{AnalyticsStore, BatchBuilder, DuckDbStore, ProfileQuery};
use pipeline::operator::identity::Merge;
use pipeline::operator::{LabelChange, TraitsView};
use pipeline::{Effect, Emitted, ProfileSnapshot};
use serde_json::json;

fn emitted(effect: Effect) -> Emitted {
    Emitted {
        workspace: "w".into(),
        effect,
    }
}

fn event(profile: &str, id: &str, name: &str, at: i64) -> Emitted {
    emitted(Effect::Event {
        profile: profile.into(),
        message_id: id.into(),
        name: name.into(),
        at,
        properties: json!({"path": "/pricing"}),
    })
}

fn snapshot(
    profile: &str,
    revision: u64,
    ids: &[&str],
    labels: &[&str],
    name: &str,
) -> ProfileSnapshot {
    let traits: TraitsView = serde_json::from_value(json!({
        "revision": revision, "first_seen": 1_000, "last_seen": 1_000 + revision as i64,
        "events_total": revision, "sessions_total": 1, "events_today": revision,
        "events_7d": revision, "events_30d": revision, "orders_30d": 0, "revenue_30d": 0.0,
        "distinct_pages_7d": 1, "traits": {"name": name}
    }))
    .unwrap();
    ProfileSnapshot {
        workspace: "w".into(),
        profile: profile.into(),
        identifiers: ids.iter().map(|s| s.to_string()).collect(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        traits: Some(traits),
    }
}

async fn store() -> (DuckDbStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = DuckDbStore::open(&dir.path().join("analytics/pulse.duckdb")).unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn a_written_profile_is_found_by_any_identifier_and_shows_its_360_view() {
    let (store, _dir) = store().await;
    let mut b = BatchBuilder::new();
    b.effect(&event("p", "m1", "Page Viewed", 1_000));
    b.effect(&event("p", "m2", "Page Viewed", 1_001));
    b.effect(&emitted(Effect::Label(LabelChange {
        profile: "p".into(),
        label: "high_intent_unresolved".into(),
        set: true,
        at: 1_001,
        reason: "viewed /pricing, no form_submit within 10m".into(),
        trigger: true,
        version: 1,
    })));
    b.effect(&emitted(Effect::Session {
        profile: "p".into(),
        session: "p:1000".into(),
        started: true,
        at: 1_000,
        duration_ms: 0,
        events: 1,
    }));
    b.profile(&snapshot(
        "p",
        2,
        &["email:ada@x.example", "anon:a-1"],
        &["high_intent_unresolved"],
        "Ada Lovelace",
    ));
    b.profile(&snapshot("q", 1, &["anon:b-1"], &[], ""));
    store.write(b.take()).await.unwrap();

    let page = store
        .search(
            "w",
            &ProfileQuery {
                text: "ADA@x".into(),
                limit: 25,
                ..ProfileQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.rows[0].display, "Ada Lovelace");
    assert_eq!(page.rows[0].labels, vec!["high_intent_unresolved"]);
    let by_label = store
        .search(
            "w",
            &ProfileQuery {
                label: Some("high_intent_unresolved".into()),
                limit: 25,
                ..ProfileQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_label.total, 1);
    let all = store
        .search(
            "w",
            &ProfileQuery {
                limit: 1,
                ..ProfileQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((all.total, all.rows.len()), (2, 1), "paged, with the total");
    let other = store
        .search(
            "other-workspace",
            &ProfileQuery {
                limit: 25,
                ..ProfileQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        other.total, 0,
        "workspaces do not see each other's profiles"
    );

    let p = store.profile("w", "p", 50).await.unwrap().unwrap();
    assert_eq!(p.timeline.len(), 2);
    assert_eq!(p.timeline[0].message_id, "m2", "newest first");
    assert_eq!(
        p.label_history[0].reason,
        "viewed /pricing, no form_submit within 10m"
    );
    assert_eq!(p.sessions.len(), 1);
    assert_eq!(p.traits.events_total, 2);
    assert_eq!(
        store
            .resolve("w", "email:ada@x.example")
            .await
            .unwrap()
            .as_deref(),
        Some("p")
    );
    let newer = store.events_after("w", "p", 1_000, 10).await.unwrap();
    assert_eq!(newer.len(), 1);
    assert!(store.profile("w", "nobody", 50).await.unwrap().is_none());
}

#[tokio::test]
async fn writing_a_batch_twice_and_an_older_snapshot_change_nothing() {
    let (store, _dir) = store().await;
    let mut b = BatchBuilder::new();
    b.effect(&event("p", "m1", "Page Viewed", 1_000));
    b.profile(&snapshot("p", 5, &["anon:a"], &["vip"], "New"));
    let batch = b.take();
    store.write(batch.clone()).await.unwrap();
    store.write(batch).await.unwrap();
    let mut b = BatchBuilder::new();
    b.profile(&snapshot("p", 3, &["anon:a"], &[], "Old"));
    store.write(b.take()).await.unwrap();
    let p = store.profile("w", "p", 50).await.unwrap().unwrap();
    assert_eq!(p.timeline.len(), 1, "the replayed event is stored once");
    assert_eq!(p.display, "New", "revision 3 does not overwrite revision 5");
    assert_eq!(p.labels, vec!["vip"]);
}

#[tokio::test]
async fn a_merged_profile_answers_with_the_survivor_and_its_history_and_events() {
    let (store, _dir) = store().await;
    let mut b = BatchBuilder::new();
    b.effect(&event("anon-profile", "m1", "Page Viewed", 1_000));
    b.profile(&snapshot("anon-profile", 1, &["anon:a"], &[], ""));
    store.write(b.take()).await.unwrap();
    let mut b = BatchBuilder::new();
    b.effect(&emitted(Effect::Merged(Merge {
        from: "anon-profile".into(),
        into: "known".into(),
        via: "email:ada@x.example".into(),
        at: 1_010,
    })));
    b.effect(&event("known", "m2", "Identified", 1_010));
    b.profile(&snapshot(
        "known",
        3,
        &["anon:a", "email:ada@x.example"],
        &[],
        "Ada",
    ));
    store.write(b.take()).await.unwrap();

    let p = store
        .profile("w", "anon-profile", 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.profile, "known");
    assert_eq!(p.merges.len(), 1);
    assert_eq!(p.merges[0].via, "email:ada@x.example");
    let ids: Vec<_> = p.timeline.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(
        ids,
        ["m2", "m1"],
        "the merged profile's events are on the survivor's timeline"
    );
    let page = store
        .search(
            "w",
            &ProfileQuery {
                limit: 25,
                ..ProfileQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1, "the merged-away row is gone");
    assert_eq!(
        store.resolve("w", "anon:a").await.unwrap().as_deref(),
        Some("known")
    );
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.duckdb");
    {
        let store = DuckDbStore::open(&path).unwrap();
        store.migrate().await.unwrap();
        let mut b = BatchBuilder::new();
        b.profile(&snapshot("p", 1, &["anon:a"], &[], "Ada"));
        store.write(b.take()).await.unwrap();
    }
    let store = DuckDbStore::open(&path).unwrap();
    store.migrate().await.unwrap();
    assert!(store.profile("w", "p", 10).await.unwrap().is_some());
}
