//! The StarRocks store against a real StarRocks, when `STARROCKS_URL` names one
//! (`mysql://root:@127.0.0.1:9030/pulse`; see docs/OPERATIONS.md for docker-compose). Without
//! it the test says so and does nothing: this machine cannot run StarRocks.

use analytics::{AnalyticsStore, BatchBuilder, ProfileQuery, StarRocksConfig, StarRocksStore};
use pipeline::operator::identity::Merge;
use pipeline::operator::TraitsView;
use pipeline::{Effect, Emitted, ProfileSnapshot};
use serde_json::json;

fn snapshot(ws: &str, profile: &str, revision: u64, name: &str) -> ProfileSnapshot {
    let traits: TraitsView = serde_json::from_value(json!({
        "revision": revision, "first_seen": 1, "last_seen": 2, "events_total": revision,
        "sessions_total": 1, "events_today": 1, "events_7d": 1, "events_30d": 1, "orders_30d": 0,
        "revenue_30d": 0.0, "distinct_pages_7d": 1, "traits": {"name": name}
    }))
    .unwrap();
    ProfileSnapshot {
        workspace: ws.into(),
        profile: profile.into(),
        identifiers: vec![format!("email:{profile}@x.example")],
        labels: vec!["vip".into()],
        traits: Some(traits),
    }
}

#[tokio::test]
async fn starrocks_keeps_the_newest_profile_merges_and_the_timeline() {
    let Ok(url) = std::env::var("STARROCKS_URL") else {
        eprintln!("STARROCKS_URL is not set: the live StarRocks suite is skipped");
        return;
    };
    let http = std::env::var("STARROCKS_HTTP_URL").ok();
    let store =
        StarRocksStore::new(StarRocksConfig::from_url(&url, http.as_deref()).unwrap()).unwrap();
    store.migrate().await.unwrap();
    let ws = format!("live-{}", std::process::id());
    let mut b = BatchBuilder::new();
    b.effect(&Emitted {
        workspace: ws.clone(),
        effect: Effect::Event {
            profile: "q".into(),
            message_id: format!("{ws}-m1"),
            name: "Page Viewed".into(),
            at: 1,
            properties: json!({"path": "/pricing"}),
        },
    });
    b.profile(&snapshot(&ws, "p", 5, "New"));
    b.profile(&snapshot(&ws, "q", 1, "Other"));
    store.write(b.take()).await.unwrap();
    let mut b = BatchBuilder::new();
    b.profile(&snapshot(&ws, "p", 2, "Old"));
    b.effect(&Emitted {
        workspace: ws.clone(),
        effect: Effect::Merged(Merge {
            from: "q".into(),
            into: "p".into(),
            via: "email:q@x.example".into(),
            at: 3,
        }),
    });
    store.write(b.take()).await.unwrap();

    let p = store.profile(&ws, "q", 10).await.unwrap().unwrap();
    assert_eq!(p.profile, "p");
    assert_eq!(p.display, "New", "merge_condition kept revision 5");
    assert_eq!(p.timeline.len(), 1);
    let page = store
        .search(
            &ws,
            &ProfileQuery {
                text: "new".into(),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}
