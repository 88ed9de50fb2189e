//! The managed cluster really initialises, starts, keeps data across restarts and stops.

use managed_pg::{Cluster, ClusterOptions};
use sqlx::{Connection, PgConnection};

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pulse-mpg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_new_cluster_starts_with_logical_wal_and_keeps_data_across_restarts() {
    let dir = scratch_dir("restart");
    let opts = ClusterOptions::new(dir.join("postgres"));

    let cluster = Cluster::start(opts.clone()).await.unwrap();
    let url = cluster.ensure_database("pulse").await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let wal: String = sqlx::query_scalar("SHOW wal_level")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(wal, "logical");
    sqlx::raw_sql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let first_port = cluster.port();
    cluster.stop().await.unwrap();
    assert!(
        !dir.join("postgres/postmaster.pid").exists(),
        "a stopped cluster leaves no pid file"
    );

    let cluster = Cluster::start(opts).await.unwrap();
    // Idempotent: the database exists already.
    let url = cluster.ensure_database("pulse").await.unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let v: i32 = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, 42);
    conn.close().await.unwrap();
    let _ = first_port;
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_cluster_requires_a_password() {
    let dir = scratch_dir("auth");
    let cluster = Cluster::start(ClusterOptions::new(dir.join("postgres")))
        .await
        .unwrap();
    let wrong = format!(
        "postgres://pulse:wrong@127.0.0.1:{}/postgres",
        cluster.port()
    );
    assert!(PgConnection::connect(&wrong).await.is_err());
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_dropped_cluster_is_shut_down_and_can_start_again() {
    let dir = scratch_dir("drop");
    let opts = ClusterOptions::new(dir.join("postgres"));
    {
        let _cluster = Cluster::start(opts.clone()).await.unwrap();
    }
    // The drop sent a fast shutdown; starting again must wait out or clean up the old server.
    let cluster = Cluster::start(opts).await.unwrap();
    cluster.ensure_database("again").await.unwrap();
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
