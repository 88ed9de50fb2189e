//! The analytics store contract: every engine passes the same functions. `duckdb` runs them on
//! an in-memory DuckDB always; `starrocks` on a real StarRocks when `PULSE_TEST_STARROCKS_URL`
//! names one (`mysql://root:@127.0.0.1:9030/pulse_test`, with `PULSE_TEST_STARROCKS_HTTP_URL`
//! if the FE's HTTP port is not 8030), and otherwise says so and passes. Each function gets its
//! own workspace, so runs against a shared StarRocks database do not see each other.

use analytics::query::{Cmp, Column, Cond, Datum, ProfileFilter, TextOp, Window};
use analytics::{AnalyticsStore, Batch, BatchBuilder, ProfileQuery};
use pipeline::operator::identity::Merge;
use pipeline::operator::{LabelChange, TraitsView};
use pipeline::{Effect, Emitted, ProfileSnapshot};
use serde_json::{json, Value};
use std::sync::Arc;

/// A workspace no other test (or earlier run against the same StarRocks) uses.
fn workspace(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

fn emitted(ws: &str, effect: Effect) -> Emitted {
    Emitted {
        workspace: ws.into(),
        effect,
    }
}

fn event(ws: &str, profile: &str, id: &str, name: &str, at: i64) -> Emitted {
    emitted(
        ws,
        Effect::Event {
            profile: profile.into(),
            message_id: format!("{ws}-{id}"),
            name: name.into(),
            at,
            properties: json!({"path": "/pricing"}),
        },
    )
}

fn merge(ws: &str, from: &str, into: &str, via: &str, at: i64) -> Emitted {
    emitted(
        ws,
        Effect::Merged(Merge {
            from: from.into(),
            into: into.into(),
            via: via.into(),
            at,
        }),
    )
}

/// A profile as the pipeline snapshots it; `last_seen` orders the profile list.
fn snapshot(
    ws: &str,
    profile: &str,
    revision: u64,
    ids: &[&str],
    labels: &[&str],
    traits: Value,
    last_seen: i64,
) -> ProfileSnapshot {
    let traits: TraitsView = serde_json::from_value(json!({
        "revision": revision, "first_seen": 1_000, "last_seen": last_seen,
        "events_total": revision, "sessions_total": 1, "events_today": 1, "events_7d": 1,
        "events_30d": 1, "orders_30d": 0, "revenue_30d": 0.0, "distinct_pages_7d": 1,
        "traits": traits
    }))
    .unwrap();
    ProfileSnapshot {
        workspace: ws.into(),
        profile: profile.into(),
        identifiers: ids.iter().map(|s| s.to_string()).collect(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        traits: Some(traits),
    }
}

fn batch(effects: &[Emitted], profiles: &[ProfileSnapshot]) -> Batch {
    let mut b = BatchBuilder::new();
    for e in effects {
        b.effect(e);
    }
    for p in profiles {
        b.profile(p);
    }
    b.take()
}

fn query(text: &str, label: Option<&str>, offset: u64, limit: u64) -> ProfileQuery {
    ProfileQuery {
        text: text.into(),
        label: label.map(Into::into),
        offset,
        limit,
    }
}

fn ids(page: &domain::profiles::ProfilePage) -> Vec<&str> {
    page.rows.iter().map(|r| r.profile.as_str()).collect()
}

pub async fn a_written_profile_is_found_by_any_identifier_name_or_trait(
    store: Arc<dyn AnalyticsStore>,
) {
    let ws = workspace("search");
    let ada = snapshot(
        &ws,
        "p",
        1,
        &["email:ada@x.example", "anon:a-1"],
        &[],
        json!({"name": "Ada Lovelace", "company": "Analytical Engines"}),
        2_000,
    );
    let other = snapshot(&ws, "q", 1, &["anon:b-1"], &[], json!({}), 1_000);
    store.write(batch(&[], &[ada, other])).await.unwrap();
    for text in ["ADA@x", "lovelace", "analytical", "a-1"] {
        let page = store.search(&ws, &query(text, None, 0, 25)).await.unwrap();
        assert_eq!((ids(&page), page.total), (vec!["p"], 1), "{text}");
    }
    let p = &store
        .search(&ws, &query("ada", None, 0, 25))
        .await
        .unwrap()
        .rows[0];
    assert_eq!(p.display, "Ada Lovelace");
    assert_eq!(p.email.as_deref(), Some("ada@x.example"));
    assert_eq!(p.last_seen, Some(2_000));
    let elsewhere = store
        .search(&workspace("elsewhere"), &query("", None, 0, 25))
        .await
        .unwrap();
    assert_eq!(
        elsewhere.total, 0,
        "workspaces do not see each other's profiles"
    );
}

pub async fn the_label_filter_keeps_only_profiles_carrying_the_label(
    store: Arc<dyn AnalyticsStore>,
) {
    let ws = workspace("label");
    store
        .write(batch(
            &[],
            &[
                snapshot(&ws, "p", 1, &["anon:p"], &["vip"], json!({}), 3),
                snapshot(&ws, "q", 1, &["anon:q"], &["vip_candidate"], json!({}), 2),
                snapshot(&ws, "r", 1, &["anon:r"], &["vip", "churn"], json!({}), 1),
            ],
        ))
        .await
        .unwrap();
    let page = store
        .search(&ws, &query("", Some("vip"), 0, 25))
        .await
        .unwrap();
    assert_eq!(
        (ids(&page), page.total),
        (vec!["p", "r"], 2),
        "a label whose name contains another's is not a match"
    );
    assert_eq!(page.rows[1].labels, ["vip", "churn"]);
    let page = store
        .search(&ws, &query("anon:r", Some("vip"), 0, 25))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["r"], "text and label together");
}

pub async fn pages_run_most_recent_first_and_carry_the_total(store: Arc<dyn AnalyticsStore>) {
    let ws = workspace("paging");
    let mut profiles: Vec<_> = (0..5)
        .map(|i| {
            snapshot(
                &ws,
                &format!("p{i}"),
                1,
                &[],
                &[],
                json!({}),
                1_000 + i as i64,
            )
        })
        .collect();
    // Known only from the CRM: never seen, so last in the list.
    profiles[0].traits.as_mut().unwrap().events_total = 0;
    store.write(batch(&[], &profiles)).await.unwrap();
    let first = store.search(&ws, &query("", None, 0, 2)).await.unwrap();
    assert_eq!((ids(&first), first.total), (vec!["p4", "p3"], 5));
    let second = store.search(&ws, &query("", None, 2, 2)).await.unwrap();
    assert_eq!((ids(&second), second.total), (vec!["p2", "p1"], 5));
    let last = store.search(&ws, &query("", None, 4, 2)).await.unwrap();
    assert_eq!(ids(&last), ["p0"]);
    assert_eq!(last.rows[0].last_seen, None);
    let past = store.search(&ws, &query("", None, 10, 2)).await.unwrap();
    assert_eq!(
        (past.rows.len(), past.total),
        (0, 5),
        "past the end still counts"
    );
}

pub async fn the_360_view_of_a_merged_profile_answers_the_survivor(store: Arc<dyn AnalyticsStore>) {
    let ws = workspace("merged");
    store
        .write(batch(
            &[
                event(&ws, "anon", "m1", "Page Viewed", 1_000),
                emitted(
                    &ws,
                    Effect::Label(LabelChange {
                        profile: "anon".into(),
                        label: "high_intent".into(),
                        set: true,
                        at: 1_001,
                        reason: "viewed /pricing".into(),
                        trigger: true,
                        version: 1,
                    }),
                ),
                emitted(
                    &ws,
                    Effect::Session {
                        profile: "anon".into(),
                        session: "anon:1000".into(),
                        started: true,
                        at: 1_000,
                        duration_ms: 0,
                        events: 1,
                    },
                ),
            ],
            &[snapshot(&ws, "anon", 1, &["anon:a"], &[], json!({}), 1_000)],
        ))
        .await
        .unwrap();
    store
        .write(batch(
            &[
                merge(&ws, "anon", "known", "email:ada@x.example", 1_010),
                event(&ws, "known", "m2", "Identified", 1_010),
            ],
            &[snapshot(
                &ws,
                "known",
                3,
                &["anon:a", "email:ada@x.example"],
                &["high_intent"],
                json!({"name": "Ada"}),
                1_010,
            )],
        ))
        .await
        .unwrap();
    let p = store.profile(&ws, "anon", 50).await.unwrap().unwrap();
    assert_eq!(p.profile, "known");
    assert_eq!(p.display, "Ada");
    assert_eq!(p.merges.len(), 1);
    assert_eq!(
        (p.merges[0].from_profile.as_str(), p.merges[0].via.as_str()),
        ("anon", "email:ada@x.example")
    );
    let timeline: Vec<_> = p.timeline.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(timeline, [format!("{ws}-m2"), format!("{ws}-m1")]);
    assert_eq!(p.timeline[1].properties, json!({"path": "/pricing"}));
    assert_eq!(p.label_history[0].reason, "viewed /pricing");
    assert!(p.label_history[0].set);
    assert_eq!(p.sessions.len(), 1, "the merged profile's session");
    assert_eq!(p.traits.events_total, 3);
    assert_eq!(p.identifiers.len(), 2);
    assert_eq!(p.labels, ["high_intent"]);
    let page = store.search(&ws, &query("", None, 0, 25)).await.unwrap();
    assert_eq!(ids(&page), ["known"], "the merged-away row is gone");
    assert!(store.profile(&ws, "nobody", 50).await.unwrap().is_none());
}

pub async fn events_after_returns_newer_events_oldest_first_across_merges(
    store: Arc<dyn AnalyticsStore>,
) {
    let ws = workspace("after");
    store
        .write(batch(
            &[
                event(&ws, "a", "m1", "Page Viewed", 1_000),
                event(&ws, "a", "m3", "Page Viewed", 1_003),
                event(&ws, "b", "m2", "Page Viewed", 1_002),
                event(&ws, "b", "m4", "Order Completed", 1_004),
                merge(&ws, "a", "b", "email:x@x.example", 1_003),
            ],
            &[snapshot(&ws, "b", 1, &["anon:b"], &[], json!({}), 1_004)],
        ))
        .await
        .unwrap();
    let names = |v: Vec<domain::profiles::TimelineEvent>| {
        v.into_iter()
            .map(|e| {
                e.message_id
                    .trim_start_matches(&format!("{ws}-"))
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let newer = store.events_after(&ws, "b", 1_000, 10).await.unwrap();
    assert_eq!(names(newer), ["m2", "m3", "m4"]);
    let from_merged = store.events_after(&ws, "a", 1_002, 10).await.unwrap();
    assert_eq!(
        names(from_merged),
        ["m3", "m4"],
        "asked for the merged-away profile"
    );
    let limited = store.events_after(&ws, "b", 0, 2).await.unwrap();
    assert_eq!(
        names(limited),
        ["m1", "m2"],
        "the oldest first within the limit"
    );
}

pub async fn an_identifier_resolves_to_its_profile_and_after_a_merge_to_the_survivor(
    store: Arc<dyn AnalyticsStore>,
) {
    let ws = workspace("resolve");
    store
        .write(batch(
            &[],
            &[
                snapshot(&ws, "a", 1, &["anon:a", "crm:c-1"], &[], json!({}), 1),
                snapshot(&ws, "b", 1, &["email:b@x.example"], &[], json!({}), 1),
            ],
        ))
        .await
        .unwrap();
    let resolve = |id: &'static str| {
        let (store, ws) = (store.clone(), ws.clone());
        async move { store.resolve(&ws, id).await.unwrap() }
    };
    assert_eq!(resolve("crm:c-1").await.as_deref(), Some("a"));
    assert_eq!(resolve("email:nobody@x.example").await, None);
    store
        .write(batch(&[merge(&ws, "a", "b", "crm:c-1", 2)], &[]))
        .await
        .unwrap();
    assert_eq!(resolve("anon:a").await.as_deref(), Some("b"));
    assert_eq!(resolve("email:b@x.example").await.as_deref(), Some("b"));
}

pub async fn writing_the_same_batch_again_changes_nothing(store: Arc<dyn AnalyticsStore>) {
    let ws = workspace("rewrite");
    let b = batch(
        &[
            event(&ws, "p", "m1", "Page Viewed", 1_000),
            emitted(
                &ws,
                Effect::Session {
                    profile: "p".into(),
                    session: "s".into(),
                    started: false,
                    at: 1_060,
                    duration_ms: 60,
                    events: 1,
                },
            ),
        ],
        &[snapshot(
            &ws,
            "p",
            5,
            &["anon:p"],
            &["vip"],
            json!({"name": "New"}),
            1_000,
        )],
    );
    store.write(b.clone()).await.unwrap();
    store.write(b).await.unwrap();
    let older = batch(
        &[emitted(
            &ws,
            Effect::Session {
                profile: "p".into(),
                session: "s".into(),
                started: true,
                at: 1_000,
                duration_ms: 0,
                events: 1,
            },
        )],
        &[snapshot(
            &ws,
            "p",
            3,
            &["anon:p"],
            &[],
            json!({"name": "Old"}),
            900,
        )],
    );
    store.write(older).await.unwrap();
    let p = store.profile(&ws, "p", 50).await.unwrap().unwrap();
    assert_eq!(p.timeline.len(), 1, "the rewritten event is shown once");
    assert_eq!(p.display, "New", "revision 3 does not overwrite revision 5");
    assert_eq!(p.labels, ["vip"]);
    assert_eq!(
        p.sessions[0].ended_at,
        Some(1_060),
        "a replayed start does not reopen an ended session"
    );
    let page = store.search(&ws, &query("", None, 0, 25)).await.unwrap();
    assert_eq!(page.total, 1);
}

pub async fn a_segment_combines_groups_traits_labels_and_event_counts(
    store: Arc<dyn AnalyticsStore>,
) {
    let ws = workspace("segment");
    let buyer = |p: &str, plan: &str, labels: &[&str], last_seen| {
        snapshot(
            &ws,
            p,
            1,
            &[],
            labels,
            json!({"plan": plan, "company": "Acme \"East\""}),
            last_seen,
        )
    };
    let mut profiles = vec![
        buyer("pro-2-orders", "Pro", &[], 4),
        buyer("pro-1-order", "Pro", &[], 3),
        buyer("vip-2-orders", "Free", &["vip"], 2),
        buyer("free-2-orders", "Free", &[], 1),
    ];
    profiles.push(snapshot(&ws, "no-traits", 1, &[], &["vip"], json!({}), 0));
    let mut events = Vec::new();
    for (p, n) in [("pro-2-orders", 2), ("pro-1-order", 1), ("vip-2-orders", 2)] {
        for i in 0..n {
            events.push(event(
                &ws,
                p,
                &format!("{p}-{i}"),
                "Order Completed",
                1_500 + i,
            ));
        }
    }
    events.push(event(&ws, "free-2-orders", "f1", "Order Completed", 1_500));
    events.push(event(&ws, "free-2-orders", "f2", "Order Completed", 2_500));
    store.write(batch(&events, &profiles)).await.unwrap();
    // A replay appends an event twice in StarRocks; the count is of distinct events.
    store.write(batch(&events[..1], &[])).await.unwrap();

    let segment = |cond: Cond| ProfileFilter::recent_first(cond, 0, 50);
    let two_orders = Cond::Events {
        name: "Order Completed".into(),
        window: Window {
            from: 1_000,
            to: 2_000,
        },
        cmp: Cmp::Ge,
        count: 2,
    };
    let pro_or_vip = Cond::Any(vec![
        Cond::Trait {
            key: "plan".into(),
            op: TextOp::Equals,
            value: "Pro".into(),
        },
        Cond::Label("vip".into()),
    ]);
    let page = store
        .find(&ws, &segment(pro_or_vip.clone().and(two_orders.clone())))
        .await
        .unwrap();
    assert_eq!(
        (ids(&page), page.total),
        (vec!["pro-2-orders", "vip-2-orders"], 2)
    );
    let page = store
        .find(&ws, &segment(Cond::Not(Box::new(two_orders))))
        .await
        .unwrap();
    assert_eq!(
        ids(&page),
        ["pro-1-order", "free-2-orders", "no-traits"],
        "the second order of free-2-orders is outside the window"
    );
    let quoted = Cond::Trait {
        key: "company".into(),
        op: TextOp::Contains,
        value: "e \"East".into(),
    };
    let page = store.find(&ws, &segment(quoted)).await.unwrap();
    assert_eq!(page.total, 4, "a quote in a trait value matches as text");
    let recent = Cond::Column {
        column: Column::LastSeen,
        cmp: Cmp::Ge,
        value: Datum::Int(3),
    };
    let page = store.find(&ws, &segment(recent)).await.unwrap();
    assert_eq!(ids(&page), ["pro-2-orders", "pro-1-order"]);
}

pub async fn values_a_store_would_refuse_are_stored_repaired_and_rows_after_them_flow(
    store: Arc<dyn AnalyticsStore>,
) {
    let ws = workspace("repair");
    // Within the 500 characters a name may have, but 900 bytes; and a NUL from a webhook.
    let long = "鈴".repeat(300);
    let odd = snapshot(
        &ws,
        "p-odd",
        1,
        &["anon:odd"],
        &[],
        json!({"name": format!("{long}\u{0}end")}),
        2_000,
    );
    let next = snapshot(
        &ws,
        "p-next",
        1,
        &["anon:next"],
        &[],
        json!({"name": "Next"}),
        1_000,
    );
    store
        .write(batch(
            &[event(
                &ws,
                "p-odd",
                &format!("m-{}", "x".repeat(400)),
                "Viewed\u{0}",
                1_500,
            )],
            &[odd, next],
        ))
        .await
        .unwrap();
    let page = store.search(&ws, &query("", None, 0, 25)).await.unwrap();
    assert_eq!(ids(&page), ["p-odd", "p-next"]);
    let odd = &page.rows[0];
    assert!(
        odd.display.len() <= 512 && odd.display.starts_with("鈴"),
        "{}",
        odd.display
    );
    assert!(!odd.display.contains('\u{0}'));
    let detail = store.profile(&ws, "p-odd", 10).await.unwrap().unwrap();
    assert_eq!(
        detail.timeline.len(),
        1,
        "the event with an over-long id is stored"
    );
}

/// One `#[tokio::test]` per contract function, on the store `$make` returns (if any).
macro_rules! contract {
    ($make:expr) => {
        contract!(@each $make;
            a_written_profile_is_found_by_any_identifier_name_or_trait,
            the_label_filter_keeps_only_profiles_carrying_the_label,
            pages_run_most_recent_first_and_carry_the_total,
            the_360_view_of_a_merged_profile_answers_the_survivor,
            events_after_returns_newer_events_oldest_first_across_merges,
            an_identifier_resolves_to_its_profile_and_after_a_merge_to_the_survivor,
            writing_the_same_batch_again_changes_nothing,
            a_segment_combines_groups_traits_labels_and_event_counts,
            values_a_store_would_refuse_are_stored_repaired_and_rows_after_them_flow,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(store) = $make.await {
                    super::$name(store).await;
                }
            }
        )*
    };
}

mod duck {
    use super::*;

    async fn store() -> Option<Arc<dyn AnalyticsStore>> {
        let store = analytics::DuckDbStore::in_memory().unwrap();
        store.migrate().await.unwrap();
        Some(Arc::new(store))
    }

    contract!(store());
}

mod starrocks {
    use super::*;
    use analytics::{StarRocksConfig, StarRocksStore};

    async fn store() -> Option<Arc<dyn AnalyticsStore>> {
        let Ok(url) = std::env::var("PULSE_TEST_STARROCKS_URL") else {
            eprintln!("PULSE_TEST_STARROCKS_URL is not set: the StarRocks contract is skipped");
            return None;
        };
        let http = std::env::var("PULSE_TEST_STARROCKS_HTTP_URL").ok();
        let config = StarRocksConfig::from_url(&url, http.as_deref()).unwrap();
        let store = StarRocksStore::new(config).unwrap();
        store.migrate().await.unwrap();
        Some(Arc::new(store))
    }

    contract!(store());
}
