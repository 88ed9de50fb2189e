//! CDC against a real Postgres with logical replication: the snapshot, then live inserts,
//! updates and deletes in Debezium envelopes on `crm.changes`, and a CDC task killed
//! mid-stream that resumes from the slot's confirmed LSN without losing a committed change.

use bus::{Bus, PgBus};
use cdc::{CancellationToken, CdcConfig, TOPIC};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

async fn add_customer(pool: &sqlx::PgPool, ws: Uuid, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO customers (id, workspace_id, first_name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(ws)
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
    id
}

/// Every change on the topic so far, in partition order.
async fn changes(bus: &PgBus, group: &str) -> Vec<(String, Value)> {
    let mut c = bus.subscribe(group, TOPIC).await.unwrap();
    let mut out = Vec::new();
    loop {
        let batch = c.poll(1000, Duration::from_millis(300)).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for m in batch {
            out.push((m.key, serde_json::from_slice(&m.value).unwrap()));
        }
    }
}

async fn wait_for(bus: &PgBus, n: usize) -> Vec<(String, Value)> {
    for i in 0..100 {
        let got = changes(bus, &format!("probe-{}", Uuid::new_v4().simple())).await;
        if got.len() >= n || i == 99 {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    unreachable!()
}

fn start(
    pool: sqlx::PgPool,
    config: CdcConfig,
    bus: Arc<dyn Bus>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let task = tokio::spawn(async move {
        cdc::run(&pool, &config, "pulse", bus, c)
            .await
            .expect("cdc run");
    });
    (cancel, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_changes_arrive_as_debezium_envelopes_and_a_killed_cdc_resumes_without_loss() {
    let db = testkit::fresh_db().await;
    let ws = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'CDC', 'cdc')")
        .bind(ws)
        .execute(&db.pool)
        .await
        .unwrap();
    let mut config = CdcConfig::new(db.url.clone());
    config.slot = format!("pulse_cdc_{}", Uuid::new_v4().simple());
    config.heartbeat = Duration::from_millis(300);
    cdc::prepare(&db.pool, &config).await.unwrap();
    cdc::prepare(&db.pool, &config).await.unwrap();
    let bus = PgBus::new(db.pool.clone());
    let shared: Arc<dyn Bus> = Arc::new(PgBus::new(db.pool.clone()));
    shared.ensure_topic(TOPIC, 12).await.unwrap();

    // Rows that exist before CDC starts arrive through the snapshot.
    let ada = add_customer(&db.pool, ws, "Ada").await;
    let bob = add_customer(&db.pool, ws, "Bob").await;
    let (cancel, task) = start(db.pool.clone(), config.clone(), shared.clone());
    let snap = wait_for(&bus, 2).await;
    let snapped: HashSet<String> = snap
        .iter()
        .filter(|(_, v)| v["op"] == "r" && v["source"]["table"] == "customers")
        .map(|(_, v)| v["after"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(snapped, HashSet::from([ada.to_string(), bob.to_string()]));

    // Live changes: insert, update (with before-image), delete.
    let cy = add_customer(&db.pool, ws, "Cy").await;
    sqlx::query("UPDATE customers SET first_name = 'Ada L.' WHERE id = $1")
        .bind(ada)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM customers WHERE id = $1")
        .bind(bob)
        .execute(&db.pool)
        .await
        .unwrap();
    let all = wait_for(&bus, 5).await;
    // Partitions interleave; the WAL position orders changes across customers.
    let mut live: Vec<&Value> = all
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["op"] != "r")
        .collect();
    live.sort_by_key(|v| v["source"]["lsn"].as_u64());
    let ops: Vec<&str> = live.iter().map(|v| v["op"].as_str().unwrap()).collect();
    assert_eq!(ops, vec!["c", "u", "d"]);
    assert_eq!(live[0]["after"]["id"], cy.to_string());
    assert_eq!(live[1]["before"]["first_name"], "Ada");
    assert_eq!(live[1]["after"]["first_name"], "Ada L.");
    // Values keep their types: integers, booleans and RFC 3339 times, not pgoutput's text.
    assert_eq!(live[1]["after"]["version"], 1);
    assert!(live[1]["after"]["consent_email"].is_boolean());
    let created = live[1]["after"]["created_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{created}"
    );
    assert_eq!(live[2]["before"]["id"], bob.to_string());
    assert!(live[2]["after"].is_null());
    for v in &live {
        assert_eq!(v["source"]["schema"], "public");
        assert!(v["source"]["lsn"].as_u64().unwrap() > 0);
        assert!(v["source"]["txId"].as_u64().is_some());
        assert!(v["ts_ms"].as_i64().unwrap() > 1_700_000_000_000);
    }
    let keys: BTreeMap<String, &str> = all
        .iter()
        .filter(|(_, v)| v["op"] == "u")
        .map(|(k, _)| (k.clone(), "u"))
        .collect();
    assert!(keys.contains_key(&ada.to_string()), "keyed by the customer");

    // Kill the task mid-stream (no graceful stop), change data while it is down, restart.
    task.abort();
    let _ = task.await;
    drop(cancel);
    let mut while_down = Vec::new();
    for i in 0..20 {
        while_down.push(add_customer(&db.pool, ws, &format!("Down {i}")).await);
    }
    let (cancel, task) = start(db.pool.clone(), config.clone(), shared.clone());
    let after = wait_for(&bus, 25).await;
    let created: HashSet<String> = after
        .iter()
        .filter(|(_, v)| v["op"] == "c")
        .map(|(_, v)| v["after"]["id"].as_str().unwrap().to_string())
        .collect();
    for id in &while_down {
        assert!(
            created.contains(&id.to_string()),
            "{id} lost across the restart"
        );
    }
    // A change that was re-sent after the kill carries the same LSN as its first copy.
    let mut by_row: BTreeMap<(String, String), HashSet<u64>> = BTreeMap::new();
    for (_, v) in after.iter().filter(|(_, v)| v["op"] != "r") {
        let id = v["after"]["id"]
            .as_str()
            .or(v["before"]["id"].as_str())
            .unwrap();
        by_row
            .entry((v["op"].as_str().unwrap().to_string(), id.to_string()))
            .or_default()
            .insert(v["source"]["lsn"].as_u64().unwrap());
    }
    assert!(
        by_row.values().all(|lsns| lsns.len() == 1),
        "duplicates share their LSN"
    );

    // The slot is streaming and reports how far it trails the database.
    let lag = cdc::lag(&db.pool, &config)
        .await
        .unwrap()
        .expect("slot exists");
    assert!(lag.active, "the restarted task streams from the slot");
    assert_eq!(lag.wal_status, "reserved");
    assert!(lag.bytes >= 0);

    // A quiet CRM while other tables write lots of WAL: the heartbeat's commits let the
    // confirmed position follow, so Postgres does not keep that WAL for the slot.
    sqlx::query("CREATE TABLE noise (x int)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO noise SELECT generate_series(1, 100000)")
        .execute(&db.pool)
        .await
        .unwrap();
    let noisy = cdc::lag(&db.pool, &config).await.unwrap().unwrap().bytes;
    assert!(
        noisy > 1_000_000,
        "the noise wrote WAL ({noisy} bytes behind)"
    );
    let mut caught_up = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if cdc::lag(&db.pool, &config).await.unwrap().unwrap().bytes < 100_000 {
            caught_up = true;
            break;
        }
    }
    assert!(
        caught_up,
        "the confirmed position follows WAL that has no CRM changes"
    );

    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    for _ in 0..50 {
        if cdc::uninstall(&db.pool, &config).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        cdc::lag(&db.pool, &config).await.unwrap(),
        None,
        "uninstall drops the slot"
    );
    let publication: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(&config.publication)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!publication, "uninstall drops the publication");
}
