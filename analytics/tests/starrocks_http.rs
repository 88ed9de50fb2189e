//! StarRocks writes checked against a local HTTP server that answers like StarRocks' FE (a 307
//! to a BE) and BE (Stream Load JSON answers, refusing a label it has seen).

use analytics::{AnalyticsStore, BatchBuilder, StarRocksConfig, StarRocksStore};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::put;
use axum::Router;
use pipeline::operator::identity::Merge;
use pipeline::operator::TraitsView;
use pipeline::{Effect, Emitted, ProfileSnapshot};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Load {
    table: String,
    label: String,
    headers: HeaderMap,
    rows: Vec<Value>,
}

#[derive(Default)]
struct Seen {
    loads: Vec<Load>,
    labels: HashSet<String>,
    fail_table: Option<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn fe(Path((db, table)): Path<(String, String)>, headers: HeaderMap) -> impl IntoResponse {
    let host = headers["host"].to_str().unwrap().to_string();
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(
            "location",
            format!("http://{host}/be/api/{db}/{table}/_stream_load"),
        )],
    )
}

async fn be(
    State(seen): State<Shared>,
    Path((_db, table)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    if headers.get("authorization").is_none() {
        return (StatusCode::UNAUTHORIZED, "no credentials").into_response();
    }
    let label = headers["label"].to_str().unwrap().to_string();
    let mut seen = seen.lock().unwrap();
    if seen.fail_table.as_deref() == Some(table.as_str()) {
        return axum::Json(json!({"Status": "Fail", "Message": "too many filtered rows"}))
            .into_response();
    }
    if !seen.labels.insert(label.clone()) {
        return axum::Json(
            json!({"Status": "Label Already Exists", "ExistingJobStatus": "FINISHED"}),
        )
        .into_response();
    }
    let rows: Vec<Value> = serde_json::from_str(&body).expect("a JSON array");
    seen.loads.push(Load {
        table,
        label,
        headers,
        rows,
    });
    axum::Json(json!({"Status": "Success", "NumberLoadedRows": 1})).into_response()
}

async fn server(seen: Shared) -> String {
    let app = Router::new()
        .route("/api/{db}/{table}/_stream_load", put(fe))
        .route("/be/api/{db}/{table}/_stream_load", put(be))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn store(http: &str) -> StarRocksStore {
    // The MySQL side is never dialled by writes.
    let config =
        StarRocksConfig::from_url("mysql://pulse:secret@127.0.0.1:9/pulse", Some(http)).unwrap();
    StarRocksStore::new(config).unwrap()
}

fn batch() -> analytics::Batch {
    let traits: TraitsView = serde_json::from_value(json!({
        "revision": 7, "first_seen": 1, "last_seen": 2, "events_total": 2, "sessions_total": 1,
        "events_today": 2, "events_7d": 2, "events_30d": 2, "orders_30d": 0, "revenue_30d": 0.0,
        "distinct_pages_7d": 1, "traits": {"name": "Ada"}
    }))
    .unwrap();
    let mut b = BatchBuilder::new();
    b.effect(&Emitted {
        workspace: "w".into(),
        effect: Effect::Event {
            profile: "p".into(),
            message_id: "m1".into(),
            name: "Page Viewed".into(),
            at: 2,
            properties: json!({"path": "/pricing"}),
        },
    });
    b.effect(&Emitted {
        workspace: "w".into(),
        effect: Effect::Merged(Merge {
            from: "q".into(),
            into: "p".into(),
            via: "email:ada@x.example".into(),
            at: 1,
        }),
    });
    b.profile(&ProfileSnapshot {
        workspace: "w".into(),
        profile: "p".into(),
        identifiers: vec!["email:ada@x.example".into()],
        labels: vec![],
        traits: Some(traits),
    });
    b.take()
}

#[tokio::test]
async fn a_batch_becomes_stream_loads_through_the_fe_redirect_with_credentials() {
    let seen = Shared::default();
    let http = server(seen.clone()).await;
    store(&http).write(batch()).await.unwrap();
    let loads = seen.lock().unwrap().loads.clone();
    let tables: Vec<_> = loads.iter().map(|l| l.table.as_str()).collect();
    assert_eq!(
        tables,
        ["events", "profiles", "identities", "merges", "profiles"]
    );
    for l in &loads {
        assert_eq!(l.headers["format"], "json");
        assert_eq!(l.headers["strip_outer_array"], "true");
        assert!(
            l.label.starts_with(&format!("pulse_{}_", l.table)),
            "{}",
            l.label
        );
    }
    assert_eq!(loads[1].headers["merge_condition"], "revision");
    assert_eq!(loads[1].rows[0]["revision"], 7);
    assert_eq!(loads[1].rows[0]["display"], "Ada");
    assert_eq!(loads[0].rows[0]["message_id"], "m1");
    assert_eq!(
        loads[4].headers["columns"],
        "workspace, profile, __op = 'delete'"
    );
    assert_eq!(
        loads[4].rows,
        vec![json!({"workspace": "w", "profile": "q"})]
    );
}

#[tokio::test]
async fn a_retried_batch_is_refused_by_label_and_counts_as_written() {
    let seen = Shared::default();
    let http = server(seen.clone()).await;
    let s = store(&http);
    s.write(batch()).await.unwrap();
    s.write(batch()).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().loads.len(),
        5,
        "the second write's loads were all refused as already loaded"
    );
}

#[tokio::test]
async fn a_failed_load_is_an_error_naming_the_table_and_starrocks_message() {
    let seen = Shared::default();
    seen.lock().unwrap().fail_table = Some("profiles".into());
    let http = server(seen.clone()).await;
    let err = store(&http).write(batch()).await.unwrap_err().to_string();
    assert!(err.contains("profiles"), "{err}");
    assert!(err.contains("too many filtered rows"), "{err}");
}
