//! Test support: every integration test gets its own fresh, migrated Postgres database.
//!
//! The test command (`scripts/test`, via `cargo xtask test`) starts one managed Postgres cluster
//! for the whole run and exports its admin URL as `PULSE_TEST_DATABASE_URL`. The first test to
//! need a database migrates a template database (named by the migrations' checksums, so a
//! changed migration gets a new template); every test then clones it with
//! `CREATE DATABASE … TEMPLATE …`, which takes milliseconds and isolates tests completely.

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// The product's migrations, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A database that belongs to one test.
pub struct TestDb {
    /// A pool on the test's database.
    pub pool: PgPool,
    /// The database's connection URL (for code under test that opens its own connections).
    pub url: String,
}

/// The admin URL of the suite's cluster, or a panic that says how to get one.
pub fn admin_url() -> String {
    std::env::var("PULSE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "integration tests need Postgres: run `scripts/test` (it starts a private cluster), \
             or set PULSE_TEST_DATABASE_URL to a superuser URL of a Postgres 14+ server"
        )
    })
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

fn template_name() -> String {
    // FNV-1a over the migrations' versions and checksums.
    let mut h: u64 = 0xcbf29ce484222325;
    for m in MIGRATOR.iter() {
        for b in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("pulse_tpl_{h:016x}")
}

/// Creates a fresh database from the migrated template and returns a pool on it.
pub async fn fresh_db() -> TestDb {
    let admin = admin_url();
    let template = template_name();
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the test cluster");
    sqlx::query("SELECT pg_advisory_lock(7243001)")
        .execute(&mut conn)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut conn)
            .await
            .expect("query pg_database");
    if !exists {
        let building = format!("{template}_building");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {building}"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {building}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut tpl = PgConnection::connect(&with_database(&admin, &building))
            .await
            .unwrap();
        MIGRATOR
            .run(&mut tpl)
            .await
            .expect("migrations apply to an empty database");
        tpl.close().await.unwrap();
        sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let name = format!("t_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .execute(&mut conn)
        .await
        .expect("clone the template database");
    sqlx::query("SELECT pg_advisory_unlock(7243001)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let url = with_database(&admin, &name);
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect(&url)
        .await
        .expect("connect to the test database");
    TestDb { pool, url }
}

/// A workspace named and slugged `slug`, for tests that need one outside the demo data.
pub async fn add_workspace(pool: &PgPool, slug: &str) -> Uuid {
    let ws = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)")
        .bind(ws)
        .bind(slug)
        .bind(slug)
        .execute(pool)
        .await
        .expect("insert a test workspace");
    ws
}

/// A user called `name` (who cannot sign in) with `role` (`admin`, `sales_rep`, …) in `ws`;
/// returns the user's id.
pub async fn add_member(pool: &PgPool, ws: Uuid, name: &str, role: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, 'x')")
        .bind(id)
        .bind(format!("{}@{}.example", name.to_lowercase(), id.simple()))
        .bind(name)
        .execute(pool)
        .await
        .expect("insert a test user");
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(ws)
        .bind(id)
        .bind(role)
        .execute(pool)
        .await
        .expect("insert a test membership");
    id
}

/// The suite's Kafka-protocol broker (`host:port`), or a panic that says how to get one.
pub fn kafka_brokers() -> String {
    std::env::var("PULSE_TEST_KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!(
            "Kafka bus tests need a Kafka-protocol broker: run `scripts/test` (it starts one on \
             loopback), or set PULSE_TEST_KAFKA_BROKERS=host:port of a Kafka cluster"
        )
    })
}

/// librdkafka properties the Kafka tests add for the suite's broker.
///
/// tansu 0.6 (the broker the test command runs) answers a fetch from an offset inside a
/// multi-record batch with nothing, and re-delivers a batch's records under one offset, so
/// committed positions inside a batch would strand a consumer there. One record per batch
/// sidesteps that broker bug; set `PULSE_TEST_KAFKA_IS_APACHE` when the brokers are Apache Kafka,
/// which needs no such setting.
pub fn kafka_test_properties() -> Vec<(String, String)> {
    if std::env::var("PULSE_TEST_KAFKA_IS_APACHE").is_ok() {
        Vec::new()
    } else {
        vec![("batch.num.messages".into(), "1".into())]
    }
}

/// The Postgres a benchmark runs against: `PULSE_BENCH_DATABASE_URL` when set, else a private
/// managed cluster under `$CARGO_TARGET_DIR/<dir>` (kept between runs, so data loaded once is
/// reused) with the database `db` and extra server `settings`. Returns the URL and the cluster
/// to stop at the end.
pub async fn bench_database(
    dir: &str,
    db: &str,
    settings: &[(&str, &str)],
) -> Result<(String, Option<managed_pg::Cluster>), managed_pg::PgError> {
    if let Ok(url) = std::env::var("PULSE_BENCH_DATABASE_URL") {
        return Ok((url, None));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let mut opts = managed_pg::ClusterOptions::new(target.join(dir));
    for (k, v) in settings {
        opts.settings.push((k.to_string(), v.to_string()));
    }
    let cluster = managed_pg::Cluster::start(opts).await?;
    let url = cluster.ensure_database(db).await?;
    Ok((url, Some(cluster)))
}

/// A Kafka-protocol broker of one test's own (tansu, in memory), for tests whose code under
/// test uses fixed topic names that other tests' records on the suite's broker would disturb.
/// Stopped when dropped.
pub struct PrivateBroker {
    child: std::process::Child,
    /// `host:port` for `bootstrap.servers`.
    pub address: String,
}

impl PrivateBroker {
    /// Starts the broker the test command installed (`PULSE_TEST_TANSU_BIN`) on a free port.
    pub fn start() -> PrivateBroker {
        let bin = std::env::var("PULSE_TEST_TANSU_BIN").unwrap_or_else(|_| {
            panic!(
                "this test starts its own Kafka-protocol broker: run `scripts/test`, or set \
                 PULSE_TEST_TANSU_BIN to a tansu 0.6 binary"
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let child = std::process::Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let broker = PrivateBroker { child, address };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(&broker.address).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not listen on {}",
                broker.address
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        broker
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_and_query_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres", "x"),
            "postgres://u:p@h:1/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
    }
}
