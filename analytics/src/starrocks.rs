//! StarRocks as the analytics store at scale. Writes go by Stream Load (HTTP, JSON rows, one
//! load per table per batch, labelled by a hash of its content so a retried load is refused as
//! a duplicate instead of applied twice); the profile table is a Primary Key table whose
//! `merge_condition` on `revision` keeps the newest state when loads arrive out of order.
//! Events are a Duplicate Key table sorted by (workspace, profile, ts). Reads use the MySQL
//! protocol (`mysql_async`).

use crate::{AnalyticsError, AnalyticsStore, Batch, ProfileQuery};
use async_trait::async_trait;
use domain::profiles::{
    Identifier, LabelEvent, MergeRecord, ProfileDetail, ProfilePage, ProfileSummary, ProfileTraits,
    SessionRecord, TimelineEvent,
};
use mysql_async::prelude::Queryable;
use mysql_async::{Params, Pool, Row, Value as MyValue};
use serde_json::{json, Value};
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

    /// The tables' DDL.
    pub fn ddl(&self) -> Vec<String> {
        let props = format!(
            "DISTRIBUTED BY HASH({{key}}) BUCKETS {} PROPERTIES (\"replication_num\" = \"{}\")",
            self.buckets, self.replication
        );
        let with = |key: &str| props.replace("{key}", key);
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS events (
                    workspace VARCHAR(64) NOT NULL, profile VARCHAR(128) NOT NULL,
                    ts BIGINT NOT NULL, message_id VARCHAR(256) NOT NULL,
                    name VARCHAR(256) NOT NULL, properties STRING
                 ) DUPLICATE KEY(workspace, profile, ts) {}",
                with("profile")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS profiles (
                    workspace VARCHAR(64) NOT NULL, profile VARCHAR(128) NOT NULL,
                    revision BIGINT NOT NULL, display VARCHAR(512) NOT NULL, email VARCHAR(320),
                    crm_customer VARCHAR(64), identifiers STRING NOT NULL, labels STRING NOT NULL,
                    traits STRING NOT NULL, first_seen BIGINT, last_seen BIGINT,
                    events_total BIGINT NOT NULL, sessions_total BIGINT NOT NULL,
                    events_today BIGINT NOT NULL, events_7d BIGINT NOT NULL,
                    events_30d BIGINT NOT NULL, orders_30d BIGINT NOT NULL,
                    revenue_30d DOUBLE NOT NULL, distinct_pages_7d BIGINT NOT NULL,
                    search STRING NOT NULL
                 ) PRIMARY KEY(workspace, profile) {}",
                with("profile")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS identities (
                    workspace VARCHAR(64) NOT NULL, identifier VARCHAR(512) NOT NULL,
                    profile VARCHAR(128) NOT NULL
                 ) PRIMARY KEY(workspace, identifier) {}",
                with("identifier")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS merges (
                    workspace VARCHAR(64) NOT NULL, from_profile VARCHAR(128) NOT NULL,
                    into_profile VARCHAR(128) NOT NULL, via VARCHAR(512) NOT NULL,
                    ts BIGINT NOT NULL
                 ) PRIMARY KEY(workspace, from_profile) {}",
                with("from_profile")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS label_history (
                    id VARCHAR(512) NOT NULL, workspace VARCHAR(64) NOT NULL,
                    profile VARCHAR(128) NOT NULL, label VARCHAR(128) NOT NULL,
                    is_set BOOLEAN NOT NULL, ts BIGINT NOT NULL, reason STRING NOT NULL
                 ) PRIMARY KEY(id) {}",
                with("id")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS sessions (
                    workspace VARCHAR(64) NOT NULL, session VARCHAR(256) NOT NULL,
                    profile VARCHAR(128) NOT NULL, started_at BIGINT NOT NULL, ended_at BIGINT,
                    duration_ms BIGINT NOT NULL, events BIGINT NOT NULL, phase TINYINT NOT NULL
                 ) PRIMARY KEY(workspace, session) {}",
                with("session")
            ),
        ]
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

/// The loads that write a batch, in the order they must run (upserts before the deletes of
/// merged-away profiles).
pub fn stream_loads(b: &Batch) -> Vec<StreamLoad> {
    let mut out = Vec::new();
    if !b.events.is_empty() {
        let rows = b
            .events
            .iter()
            .map(|e| {
                json!({"workspace": e.workspace, "profile": e.profile, "ts": e.at,
                    "message_id": e.message_id, "name": e.name, "properties": e.properties})
            })
            .collect();
        out.push(StreamLoad::new("events", rows, Vec::new()));
    }
    if !b.profiles.is_empty() {
        let rows = b
            .profiles
            .iter()
            .map(|p| {
                json!({"workspace": p.workspace, "profile": p.profile, "revision": p.revision,
                    "display": p.display, "email": p.email, "crm_customer": p.crm_customer,
                    "identifiers": p.identifiers, "labels": p.labels, "traits": p.traits,
                    "first_seen": p.first_seen, "last_seen": p.last_seen,
                    "events_total": p.events_total, "sessions_total": p.sessions_total,
                    "events_today": p.events_today, "events_7d": p.events_7d,
                    "events_30d": p.events_30d, "orders_30d": p.orders_30d,
                    "revenue_30d": p.revenue_30d, "distinct_pages_7d": p.distinct_pages_7d,
                    "search": p.search})
            })
            .collect();
        out.push(StreamLoad::new(
            "profiles",
            rows,
            vec![("merge_condition", "revision".to_string())],
        ));
    }
    if !b.identities.is_empty() {
        let rows = b
            .identities
            .iter()
            .map(|(ws, id, p)| json!({"workspace": ws, "identifier": id, "profile": p}))
            .collect();
        out.push(StreamLoad::new("identities", rows, Vec::new()));
    }
    if !b.labels.is_empty() {
        let rows = b
            .labels
            .iter()
            .map(|l| {
                json!({"id": l.id, "workspace": l.workspace, "profile": l.profile,
                    "label": l.label, "is_set": l.set, "ts": l.at, "reason": l.reason})
            })
            .collect();
        out.push(StreamLoad::new("label_history", rows, Vec::new()));
    }
    if !b.sessions.is_empty() {
        let rows = b
            .sessions
            .iter()
            .map(|s| {
                json!({"workspace": s.workspace, "session": s.session, "profile": s.profile,
                    "started_at": s.started_at, "ended_at": s.ended_at,
                    "duration_ms": s.duration_ms, "events": s.events,
                    "phase": if s.ended_at.is_some() { 1 } else { 0 }})
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
        let rows = b
            .merges
            .iter()
            .map(|m| {
                json!({"workspace": m.workspace, "from_profile": m.from_profile,
                    "into_profile": m.into_profile, "via": m.via, "ts": m.at})
            })
            .collect();
        out.push(StreamLoad::new("merges", rows, Vec::new()));
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

    async fn rows(&self, sql: &str, params: Vec<MyValue>) -> Result<Vec<Row>, AnalyticsError> {
        let mut conn = self.pool.get_conn().await?;
        let params = if params.is_empty() {
            Params::Empty
        } else {
            Params::Positional(params)
        };
        Ok(conn.exec(sql, params).await?)
    }

    async fn survivor(&self, ws: &str, profile: &str) -> Result<String, AnalyticsError> {
        let mut current = profile.to_string();
        for _ in 0..32 {
            let rows = self
                .rows(
                    "SELECT into_profile FROM merges WHERE workspace = ? AND from_profile = ?",
                    vec![ws.into(), current.as_str().into()],
                )
                .await?;
            match rows.first().and_then(|r| r.get::<String, _>(0)) {
                Some(n) => current = n,
                None => break,
            }
        }
        Ok(current)
    }

    async fn merged_set(
        &self,
        ws: &str,
        profile: &str,
    ) -> Result<(Vec<String>, Vec<MergeRecord>), AnalyticsError> {
        let mut all = vec![profile.to_string()];
        let mut records = Vec::new();
        let mut frontier = vec![profile.to_string()];
        for _ in 0..32 {
            if frontier.is_empty() {
                break;
            }
            let mut params: Vec<MyValue> = vec![ws.into()];
            params.extend(frontier.iter().map(|p| p.as_str().into()));
            let rows = self
                .rows(
                    &format!(
                        "SELECT from_profile, via, ts FROM merges
                          WHERE workspace = ? AND into_profile IN ({})",
                        marks(frontier.len())
                    ),
                    params,
                )
                .await?;
            frontier.clear();
            for r in rows {
                let m = MergeRecord {
                    from_profile: r.get(0).unwrap_or_default(),
                    via: r.get(1).unwrap_or_default(),
                    at: r.get(2).unwrap_or_default(),
                };
                if !all.contains(&m.from_profile) {
                    all.push(m.from_profile.clone());
                    frontier.push(m.from_profile.clone());
                    records.push(m);
                }
            }
        }
        records.sort_by_key(|m| std::cmp::Reverse(m.at));
        Ok((all, records))
    }

    async fn timeline(
        &self,
        ws: &str,
        set: &[String],
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, AnalyticsError> {
        let mut params: Vec<MyValue> = vec![ws.into()];
        params.extend(set.iter().map(|p| p.as_str().into()));
        let (cond, order) = match after {
            Some(a) => {
                params.push(a.into());
                ("AND ts > ?", "ASC")
            }
            None => ("", "DESC"),
        };
        let rows = self
            .rows(
                &format!(
                    "SELECT message_id, name, ts, properties FROM events
                      WHERE workspace = ? AND profile IN ({}) {cond}
                      ORDER BY ts {order}, message_id LIMIT {}",
                    marks(set.len()),
                    limit.min(1_000)
                ),
                params,
            )
            .await?;
        let mut out: Vec<TimelineEvent> = rows
            .into_iter()
            .map(|r| TimelineEvent {
                message_id: r.get(0).unwrap_or_default(),
                name: r.get(1).unwrap_or_default(),
                at: r.get(2).unwrap_or_default(),
                properties: r
                    .get::<Option<String>, _>(3)
                    .flatten()
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or(Value::Null),
            })
            .collect();
        // A Duplicate Key table keeps a replayed event twice; the timeline shows it once.
        out.dedup_by(|a, b| a.message_id == b.message_id);
        Ok(out)
    }
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The search's WHERE clause and parameters (shared by the page and its count).
fn search_filter(ws: &str, q: &ProfileQuery) -> (String, Vec<MyValue>) {
    let mut sql = "workspace = ?".to_string();
    let mut params: Vec<MyValue> = vec![ws.into()];
    let text = q.text.trim().to_lowercase();
    if !text.is_empty() {
        sql.push_str(" AND instr(search, ?) > 0");
        params.push(text.into());
    }
    if let Some(l) = &q.label {
        sql.push_str(" AND instr(labels, ?) > 0");
        params.push(format!("\"{l}\"").into());
    }
    (sql, params)
}

#[async_trait]
impl AnalyticsStore for StarRocksStore {
    fn engine(&self) -> &'static str {
        "starrocks"
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
            "CREATE DATABASE IF NOT EXISTS `{}`",
            self.config.database
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

    async fn search(
        &self,
        workspace: &str,
        query: &ProfileQuery,
    ) -> Result<ProfilePage, AnalyticsError> {
        let (filter, params) = search_filter(workspace, query);
        let total = self
            .rows(
                &format!("SELECT count(*) FROM profiles WHERE {filter}"),
                params.clone(),
            )
            .await?
            .first()
            .and_then(|r| r.get::<i64, _>(0))
            .unwrap_or(0) as u64;
        let rows = self
            .rows(
                &format!(
                    "SELECT profile, display, email, crm_customer, labels, events_total, last_seen
                       FROM profiles WHERE {filter}
                      ORDER BY last_seen IS NULL, last_seen DESC, profile
                      LIMIT {} OFFSET {}",
                    query.limit.clamp(1, 200),
                    query.offset
                ),
                params,
            )
            .await?;
        Ok(ProfilePage {
            rows: rows
                .into_iter()
                .map(|r| ProfileSummary {
                    profile: r.get(0).unwrap_or_default(),
                    display: r.get(1).unwrap_or_default(),
                    email: r.get::<Option<String>, _>(2).flatten(),
                    crm_customer: r.get::<Option<String>, _>(3).flatten(),
                    labels: json_list(&r.get::<String, _>(4).unwrap_or_default()),
                    events_total: r.get::<i64, _>(5).unwrap_or(0) as u64,
                    last_seen: r.get::<Option<i64>, _>(6).flatten(),
                })
                .collect(),
            total,
        })
    }

    async fn profile(
        &self,
        workspace: &str,
        profile: &str,
        timeline: usize,
    ) -> Result<Option<ProfileDetail>, AnalyticsError> {
        let profile = self.survivor(workspace, profile).await?;
        let rows = self
            .rows(
                "SELECT display, identifiers, labels, traits, first_seen, last_seen, events_total,
                        sessions_total, events_today, events_7d, events_30d, orders_30d,
                        revenue_30d, distinct_pages_7d
                   FROM profiles WHERE workspace = ? AND profile = ?",
                vec![workspace.into(), profile.as_str().into()],
            )
            .await?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(None);
        };
        let n = |i: usize| r.get::<i64, _>(i).unwrap_or(0) as u64;
        let traits = ProfileTraits {
            first_seen: r.get::<Option<i64>, _>(4).flatten(),
            last_seen: r.get::<Option<i64>, _>(5).flatten(),
            events_total: n(6),
            sessions_total: n(7),
            events_today: n(8),
            events_7d: n(9),
            events_30d: n(10),
            orders_30d: n(11),
            revenue_30d: r.get::<f64, _>(12).unwrap_or(0.0),
            distinct_pages_7d: n(13),
            traits: serde_json::from_str(&r.get::<String, _>(3).unwrap_or_default())
                .unwrap_or_default(),
        };
        let (set, merges) = self.merged_set(workspace, &profile).await?;
        let mut params: Vec<MyValue> = vec![workspace.into()];
        params.extend(set.iter().map(|p| p.as_str().into()));
        let label_history = self
            .rows(
                &format!(
                    "SELECT label, is_set, ts, reason FROM label_history
                      WHERE workspace = ? AND profile IN ({}) ORDER BY ts DESC, id LIMIT 200",
                    marks(set.len())
                ),
                params.clone(),
            )
            .await?
            .into_iter()
            .map(|r| LabelEvent {
                label: r.get(0).unwrap_or_default(),
                set: r.get::<bool, _>(1).unwrap_or(false),
                at: r.get(2).unwrap_or_default(),
                reason: r.get(3).unwrap_or_default(),
            })
            .collect();
        let sessions = self
            .rows(
                &format!(
                    "SELECT session, started_at, ended_at, duration_ms, events FROM sessions
                      WHERE workspace = ? AND profile IN ({}) ORDER BY started_at DESC LIMIT 50",
                    marks(set.len())
                ),
                params,
            )
            .await?
            .into_iter()
            .map(|r| SessionRecord {
                session: r.get(0).unwrap_or_default(),
                started_at: r.get(1).unwrap_or_default(),
                ended_at: r.get::<Option<i64>, _>(2).flatten(),
                duration_ms: r.get(3).unwrap_or_default(),
                events: r.get::<i64, _>(4).unwrap_or(0) as u64,
            })
            .collect();
        Ok(Some(ProfileDetail {
            timeline: self.timeline(workspace, &set, None, timeline).await?,
            display: r.get(0).unwrap_or_default(),
            identifiers: json_list(&r.get::<String, _>(1).unwrap_or_default())
                .iter()
                .filter_map(|i| i.parse::<Identifier>().ok())
                .collect(),
            labels: json_list(&r.get::<String, _>(2).unwrap_or_default()),
            profile,
            merges,
            label_history,
            traits,
            sessions,
        }))
    }

    async fn events_after(
        &self,
        workspace: &str,
        profile: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, AnalyticsError> {
        let profile = self.survivor(workspace, profile).await?;
        let (set, _) = self.merged_set(workspace, &profile).await?;
        self.timeline(workspace, &set, Some(after), limit).await
    }

    async fn resolve(
        &self,
        workspace: &str,
        identifier: &str,
    ) -> Result<Option<String>, AnalyticsError> {
        let rows = self
            .rows(
                "SELECT profile FROM identities WHERE workspace = ? AND identifier = ?",
                vec![workspace.into(), identifier.into()],
            )
            .await?;
        match rows.first().and_then(|r| r.get::<String, _>(0)) {
            Some(p) => Ok(Some(self.survivor(workspace, &p).await?)),
            None => Ok(None),
        }
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
    fn search_filters_by_text_and_label_with_parameters_only() {
        let q = ProfileQuery {
            text: " Ada@X ".into(),
            label: Some("vip".into()),
            ..ProfileQuery::default()
        };
        let (sql, params) = search_filter("w", &q);
        assert_eq!(
            sql,
            "workspace = ? AND instr(search, ?) > 0 AND instr(labels, ?) > 0"
        );
        assert_eq!(params[1], MyValue::from("ada@x"));
        assert_eq!(params[2], MyValue::from("\"vip\""));
        let (sql, params) = search_filter("w", &ProfileQuery::default());
        assert_eq!((sql.as_str(), params.len()), ("workspace = ?", 1));
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
