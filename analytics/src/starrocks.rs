//! StarRocks as the analytics store at scale. Writes go by Stream Load (HTTP, JSON rows, one
//! load per table per batch, labelled by a hash of its content so a retried load is refused as
//! a duplicate instead of applied twice); the profile table is a Primary Key table whose
//! `merge_condition` on `revision` keeps the newest state when loads arrive out of order.
//! Events are a Duplicate Key table sorted by (workspace, profile, ts). Reads use the MySQL
//! protocol (`mysql_async`).

use crate::query::{Datum, Dialect, Sql, StarRocks};
use crate::reader::{Executor, Row};
use crate::tables::{Record, TABLES};
use crate::{AnalyticsError, AnalyticsStore, Batch};
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Params, Pool, Value as MyValue};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Where StarRocks is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct StarRocksConfig {
    /// `mysql://user:password@fe-host:9030/database` (the FE's MySQL port).
    pub mysql_url: String,
    /// `http://fe-host:8030` (the FE's HTTP port, which redirects Stream Loads to a BE).
    pub http_url: String,
    pub user: String,
    pub password: String,
    pub database: String,
    /// Replicas per tablet (1 for a single-node cluster).
    pub replication: u32,
    pub buckets: u32,
}

impl StarRocksConfig {
    /// Reads `mysql://user:password@host:port/database`; the HTTP address defaults to the same
    /// host on port 8030.
    pub fn from_url(url: &str, http_url: Option<&str>) -> Result<Self, AnalyticsError> {
        let bad = |why: &str| {
            AnalyticsError::Config(format!(
                "StarRocks URL {url:?}: {why} (expected mysql://user:password@host:9030/database)"
            ))
        };
        let rest = url
            .strip_prefix("mysql://")
            .ok_or_else(|| bad("not mysql://"))?;
        let (auth, host_db) = rest.rsplit_once('@').unwrap_or(("root:", rest));
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (host_port, database) = host_db.split_once('/').ok_or_else(|| bad("no database"))?;
        if database.is_empty()
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad("the database name must be letters, digits or _"));
        }
        let host = host_port.split(':').next().unwrap_or(host_port);
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(StarRocksConfig {
            mysql_url: url.to_string(),
            http_url: http_url
                .map(|h| h.trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("http://{host}:8030")),
            user: user.to_string(),
            password: password.to_string(),
            database: database.to_string(),
            replication: 1,
            buckets: 8,
        })
    }

    /// The SQL dialect, with this cluster's distribution settings for DDL.
    pub fn dialect(&self) -> StarRocks {
        StarRocks {
            buckets: self.buckets,
            replication: self.replication,
        }
    }

    /// The tables' DDL.
    pub fn ddl(&self) -> Vec<String> {
        let d = self.dialect();
        TABLES.iter().map(|t| d.create_table(t)).collect()
    }
}

/// One Stream Load: the table, its headers and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamLoad {
    pub table: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl StreamLoad {
    fn new(table: &'static str, rows: Vec<Value>, extra: Vec<(&'static str, String)>) -> Self {
        let body = serde_json::to_vec(&rows).expect("rows serialise");
        let mut h = Sha256::new();
        h.update(table.as_bytes());
        for (k, v) in &extra {
            h.update(k.as_bytes());
            h.update(v.as_bytes());
        }
        h.update(&body);
        let digest: String = h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut headers = vec![
            // Same content, same label: StarRocks refuses a second load with a used label.
            ("label", format!("pulse_{table}_{digest}")),
            ("format", "json".to_string()),
            ("strip_outer_array", "true".to_string()),
            ("Expect", "100-continue".to_string()),
        ];
        headers.extend(extra);
        StreamLoad {
            table,
            headers,
            body,
        }
    }

    /// The header's value, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn json(d: Datum) -> Value {
    match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => b.into(),
        Datum::Int(n) => n.into(),
        Datum::Float(f) => f.into(),
        Datum::Text(t) => t.into(),
    }
}

/// The rows as JSON objects keyed by their table's column names.
fn json_rows<R: Record>(rows: &[R]) -> Vec<Map<String, Value>> {
    rows.iter()
        .map(|r| {
            R::TABLE
                .columns
                .iter()
                .zip(r.cells())
                .map(|(c, v)| (c.name.to_string(), json(v)))
                .collect()
        })
        .collect()
}

fn load<R: Record>(rows: &[R], extra: Vec<(&'static str, String)>) -> StreamLoad {
    let rows = json_rows(rows).into_iter().map(Value::Object).collect();
    StreamLoad::new(R::TABLE.name, rows, extra)
}

/// The loads that write a batch, in the order they must run (upserts before the deletes of
/// merged-away profiles).
pub fn stream_loads(b: &Batch) -> Vec<StreamLoad> {
    let mut out = Vec::new();
    if !b.events.is_empty() {
        out.push(load(&b.events, Vec::new()));
    }
    if !b.profiles.is_empty() {
        out.push(load(
            &b.profiles,
            vec![("merge_condition", "revision".to_string())],
        ));
    }
    if !b.identities.is_empty() {
        out.push(load(&b.identities, Vec::new()));
    }
    if !b.labels.is_empty() {
        out.push(load(&b.labels, Vec::new()));
    }
    if !b.sessions.is_empty() {
        let rows = json_rows(&b.sessions)
            .into_iter()
            .zip(&b.sessions)
            .map(|(mut row, s)| {
                row.insert("phase".into(), json!(i32::from(s.ended_at.is_some())));
                Value::Object(row)
            })
            .collect();
        // An ended session (phase 1) is never replaced by a replayed start (phase 0).
        out.push(StreamLoad::new(
            "sessions",
            rows,
            vec![("merge_condition", "phase".to_string())],
        ));
    }
    if !b.merges.is_empty() {
        out.push(load(&b.merges, Vec::new()));
        let gone = b
            .merges
            .iter()
            .map(|m| json!({"workspace": m.workspace, "profile": m.from_profile}))
            .collect();
        out.push(StreamLoad::new(
            "profiles",
            gone,
            vec![("columns", "workspace, profile, __op = 'delete'".to_string())],
        ));
    }
    out
}

/// StarRocks as the analytics store.
pub struct StarRocksStore {
    config: StarRocksConfig,
    dialect: StarRocks,
    pool: Pool,
    http: reqwest::Client,
}

impl StarRocksStore {
    /// Connects lazily (the pool opens connections on first use).
    pub fn new(config: StarRocksConfig) -> Result<Self, AnalyticsError> {
        let opts = mysql_async::Opts::from_url(&config.mysql_url)
            .map_err(|e| AnalyticsError::Config(format!("StarRocks URL: {e}")))?;
        let http = reqwest::Client::builder()
            // The FE answers 307 to a BE; reqwest would drop the credentials on a redirect to
            // another host, so redirects are followed here with them.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(StarRocksStore {
            pool: Pool::new(opts),
            dialect: config.dialect(),
            config,
            http,
        })
    }

    /// Runs one Stream Load, following the FE's redirect to a BE.
    pub async fn load(&self, load: &StreamLoad) -> Result<(), AnalyticsError> {
        let fail = |message: String| AnalyticsError::StreamLoad {
            table: load.table.to_string(),
            message,
        };
        let mut url = format!(
            "{}/api/{}/{}/_stream_load",
            self.config.http_url, self.config.database, load.table
        );
        for _ in 0..3 {
            let mut req = self
                .http
                .put(&url)
                .basic_auth(&self.config.user, Some(&self.config.password))
                .body(load.body.clone());
            for (k, v) in &load.headers {
                req = req.header(*k, v);
            }
            let resp = req.send().await?;
            if resp.status().is_redirection() {
                url = resp
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| fail("redirect without a Location".into()))?
                    .to_string();
                continue;
            }
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                return Err(fail(format!("HTTP {status}: {text}")));
            }
            let v: Value = serde_json::from_str(&text)
                .map_err(|_| fail(format!("unexpected answer: {text}")))?;
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
            return match field("Status") {
                // Publish Timeout: committed, visible shortly.
                "Success" | "Publish Timeout" => Ok(()),
                "Label Already Exists" if field("ExistingJobStatus") != "CANCELLED" => Ok(()),
                other => Err(fail(format!("{other}: {}", field("Message")))),
            };
        }
        Err(fail("too many redirects".into()))
    }
}

fn my_value(d: Datum) -> MyValue {
    match d {
        Datum::Null => MyValue::NULL,
        Datum::Bool(b) => b.into(),
        Datum::Int(n) => n.into(),
        Datum::Float(f) => f.into(),
        Datum::Text(t) => t.into(),
    }
}

fn datum(v: MyValue) -> Datum {
    match v {
        MyValue::NULL => Datum::Null,
        MyValue::Bytes(b) => Datum::Text(String::from_utf8_lossy(&b).into_owned()),
        MyValue::Int(n) => Datum::Int(n),
        MyValue::UInt(n) => Datum::Int(n as i64),
        MyValue::Float(f) => Datum::Float(f.into()),
        MyValue::Double(f) => Datum::Float(f),
        other => Datum::Text(other.as_sql(true)),
    }
}

#[async_trait]
impl Executor for StarRocksStore {
    fn dialect(&self) -> &dyn Dialect {
        &self.dialect
    }

    async fn rows(&self, sql: Sql) -> Result<Vec<Row>, AnalyticsError> {
        let mut conn = self.pool.get_conn().await?;
        let Sql { text, params } = sql;
        let params = if params.is_empty() {
            Params::Empty
        } else {
            Params::Positional(params.into_iter().map(my_value).collect())
        };
        let rows: Vec<mysql_async::Row> = conn.exec(text.as_str(), params).await?;
        Ok(rows
            .into_iter()
            .map(|r| Row(r.unwrap().into_iter().map(datum).collect()))
            .collect())
    }
}

#[async_trait]
impl AnalyticsStore for StarRocksStore {
    fn engine(&self) -> &'static str {
        "starrocks"
    }

    fn executor(&self) -> &dyn Executor {
        self
    }

    async fn migrate(&self) -> Result<(), AnalyticsError> {
        // The database may not exist yet: create it over a connection that names none.
        let opts = mysql_async::Opts::from_url(&self.config.mysql_url)
            .map_err(|e| AnalyticsError::Config(format!("StarRocks URL: {e}")))?;
        let mut bare = mysql_async::Conn::new(
            mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>),
        )
        .await?;
        bare.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            self.dialect.quote(&self.config.database)
        ))
        .await?;
        bare.disconnect().await?;
        let mut conn = self.pool.get_conn().await?;
        for ddl in self.config.ddl() {
            conn.query_drop(ddl).await?;
        }
        Ok(())
    }

    async fn write(&self, batch: Batch) -> Result<(), AnalyticsError> {
        for load in stream_loads(&batch) {
            self.load(&load).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{EventRow, MergeRow};

    #[test]
    fn the_url_gives_database_credentials_and_the_fe_http_port() {
        let c =
            StarRocksConfig::from_url("mysql://root:secret@sr.internal:9030/pulse", None).unwrap();
        assert_eq!(c.http_url, "http://sr.internal:8030");
        assert_eq!((c.user.as_str(), c.password.as_str()), ("root", "secret"));
        assert_eq!(c.database, "pulse");
        let err = StarRocksConfig::from_url("http://sr:8030", None).unwrap_err();
        assert!(err.to_string().contains("expected mysql://"), "{err}");
        assert!(StarRocksConfig::from_url("mysql://root:@sr:9030/pu;lse", None).is_err());
    }

    #[test]
    fn ddl_uses_primary_keys_for_state_and_duplicate_keys_for_events() {
        let c = StarRocksConfig::from_url("mysql://root:@sr:9030/pulse", None).unwrap();
        let ddl = c.ddl();
        assert!(ddl[0].contains("DUPLICATE KEY(workspace, profile, ts)"));
        assert!(ddl[1].contains("PRIMARY KEY(workspace, profile)"));
        assert!(ddl
            .iter()
            .all(|d| d.contains("\"replication_num\" = \"1\"")));
    }

    #[test]
    fn loads_are_labelled_by_content_and_merges_delete_the_old_profile_last() {
        let batch = Batch {
            events: vec![EventRow {
                workspace: "w".into(),
                profile: "p".into(),
                message_id: "m1".into(),
                name: "Page Viewed".into(),
                at: 5,
                properties: "{}".into(),
            }],
            merges: vec![MergeRow {
                workspace: "w".into(),
                from_profile: "q".into(),
                into_profile: "p".into(),
                via: "email:a@x.example".into(),
                at: 4,
            }],
            ..Batch::default()
        };
        let loads = stream_loads(&batch);
        let tables: Vec<_> = loads.iter().map(|l| l.table).collect();
        assert_eq!(tables, ["events", "merges", "profiles"]);
        assert_eq!(
            loads[2].header("columns"),
            Some("workspace, profile, __op = 'delete'")
        );
        let again = stream_loads(&batch);
        assert_eq!(loads[0].header("label"), again[0].header("label"));
        let mut other = batch.clone();
        other.events[0].message_id = "m2".into();
        assert_ne!(
            loads[0].header("label"),
            stream_loads(&other)[0].header("label")
        );
        assert_ne!(
            loads[1].header("label"),
            loads[2].header("label"),
            "the two loads of a merge have their own labels"
        );
    }
}
