//! The embedded analytics store: DuckDB in one file under the data dir, owned by the server
//! process. One writer connection applies batches (appended into staging tables, then merged
//! in one statement per table: DuckDB is fast in bulk and slow row by row); one reader
//! connection answers queries. Both run on blocking threads.

use crate::{AnalyticsError, AnalyticsStore, Batch, ProfileQuery};
use async_trait::async_trait;
use domain::profiles::{
    Identifier, LabelEvent, MergeRecord, ProfileDetail, ProfilePage, ProfileSummary, ProfileTraits,
    SessionRecord, TimelineEvent,
};
use duckdb::{params, params_from_iter, Connection};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The tables; `stage_*` twins receive a batch before it is merged in.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    workspace VARCHAR NOT NULL, profile VARCHAR NOT NULL, message_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL, ts BIGINT NOT NULL, properties VARCHAR);
CREATE TABLE IF NOT EXISTS profiles (
    workspace VARCHAR NOT NULL, profile VARCHAR NOT NULL, revision BIGINT NOT NULL,
    display VARCHAR NOT NULL, email VARCHAR, crm_customer VARCHAR, identifiers VARCHAR NOT NULL,
    labels VARCHAR NOT NULL, traits VARCHAR NOT NULL, first_seen BIGINT, last_seen BIGINT,
    events_total BIGINT NOT NULL, sessions_total BIGINT NOT NULL, events_today BIGINT NOT NULL,
    events_7d BIGINT NOT NULL, events_30d BIGINT NOT NULL, orders_30d BIGINT NOT NULL,
    revenue_30d DOUBLE NOT NULL, distinct_pages_7d BIGINT NOT NULL, search VARCHAR NOT NULL,
    PRIMARY KEY (workspace, profile));
CREATE TABLE IF NOT EXISTS identities (
    workspace VARCHAR NOT NULL, identifier VARCHAR NOT NULL, profile VARCHAR NOT NULL,
    PRIMARY KEY (workspace, identifier));
CREATE TABLE IF NOT EXISTS merges (
    workspace VARCHAR NOT NULL, from_profile VARCHAR NOT NULL, into_profile VARCHAR NOT NULL,
    via VARCHAR NOT NULL, ts BIGINT NOT NULL, PRIMARY KEY (workspace, from_profile));
CREATE TABLE IF NOT EXISTS label_history (
    id VARCHAR PRIMARY KEY, workspace VARCHAR NOT NULL, profile VARCHAR NOT NULL,
    label VARCHAR NOT NULL, is_set BOOLEAN NOT NULL, ts BIGINT NOT NULL, reason VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    workspace VARCHAR NOT NULL, session VARCHAR NOT NULL, profile VARCHAR NOT NULL,
    started_at BIGINT NOT NULL, ended_at BIGINT, duration_ms BIGINT NOT NULL,
    events BIGINT NOT NULL, PRIMARY KEY (workspace, session));
CREATE TABLE IF NOT EXISTS stage_events AS SELECT * FROM events LIMIT 0;
CREATE TABLE IF NOT EXISTS stage_profiles AS SELECT * FROM profiles LIMIT 0;
CREATE TABLE IF NOT EXISTS stage_identities AS SELECT * FROM identities LIMIT 0;
CREATE TABLE IF NOT EXISTS stage_merges AS SELECT * FROM merges LIMIT 0;
CREATE TABLE IF NOT EXISTS stage_label_history AS SELECT * FROM label_history LIMIT 0;
CREATE TABLE IF NOT EXISTS stage_sessions AS SELECT * FROM sessions LIMIT 0;
";

/// Profile columns after the key, in table order (for the upsert).
const PROFILE_COLUMNS: [&str; 18] = [
    "revision",
    "display",
    "email",
    "crm_customer",
    "identifiers",
    "labels",
    "traits",
    "first_seen",
    "last_seen",
    "events_total",
    "sessions_total",
    "events_today",
    "events_7d",
    "events_30d",
    "orders_30d",
    "revenue_30d",
    "distinct_pages_7d",
    "search",
];

/// Merges can chain (a into b, b into c); following more than this many hops means a cycle.
const MAX_HOPS: usize = 32;

/// DuckDB as the analytics store.
#[derive(Clone)]
pub struct DuckDbStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

impl DuckDbStore {
    /// Opens (or creates) the database file; the process must be its only user.
    pub fn open(path: &Path) -> Result<Self, AnalyticsError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                AnalyticsError::Config(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Self::from_connection(Connection::open(path)?)
    }

    /// A store in memory (tests and benchmarks).
    pub fn in_memory() -> Result<Self, AnalyticsError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(writer: Connection) -> Result<Self, AnalyticsError> {
        let reader = writer.try_clone()?;
        Ok(DuckDbStore {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    async fn with<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> Result<T, AnalyticsError> + Send + 'static,
    ) -> Result<T, AnalyticsError> {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|_| AnalyticsError::Stopped)?
    }

    /// Runs a read-only SQL query and returns its first column as text (benchmarks, checks).
    pub async fn query_strings(&self, sql: String) -> Result<Vec<String>, AnalyticsError> {
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Runs SQL on the writer (bulk loads in benchmarks).
    pub async fn execute_batch(&self, sql: String) -> Result<(), AnalyticsError> {
        Self::with(&self.writer, move |c| Ok(c.execute_batch(&sql)?)).await
    }
}

fn write_batch(c: &mut Connection, b: &Batch) -> Result<(), AnalyticsError> {
    let tx = c.transaction()?;
    tx.execute_batch(
        "DELETE FROM stage_events; DELETE FROM stage_profiles; DELETE FROM stage_identities;
         DELETE FROM stage_merges; DELETE FROM stage_label_history; DELETE FROM stage_sessions;",
    )?;
    if !b.events.is_empty() {
        let mut a = tx.appender("stage_events")?;
        for e in &b.events {
            a.append_row(params![
                e.workspace,
                e.profile,
                e.message_id,
                e.name,
                e.at,
                e.properties
            ])?;
        }
        a.flush()?;
        drop(a);
        let lo = b.events.iter().map(|e| e.at).min().unwrap_or(0);
        let hi = b.events.iter().map(|e| e.at).max().unwrap_or(0);
        // A replay after a crash resends events already stored; the time range lets DuckDB's
        // zone maps skip every row group outside the batch.
        tx.execute(
            "INSERT INTO events SELECT s.* FROM stage_events s WHERE NOT EXISTS (
                 SELECT 1 FROM events e WHERE e.ts BETWEEN ? AND ?
                    AND e.workspace = s.workspace AND e.message_id = s.message_id)",
            params![lo, hi],
        )?;
    }
    if !b.profiles.is_empty() {
        let mut a = tx.appender("stage_profiles")?;
        for p in &b.profiles {
            a.append_row(params![
                p.workspace,
                p.profile,
                p.revision,
                p.display,
                p.email,
                p.crm_customer,
                p.identifiers,
                p.labels,
                p.traits,
                p.first_seen,
                p.last_seen,
                p.events_total,
                p.sessions_total,
                p.events_today,
                p.events_7d,
                p.events_30d,
                p.orders_30d,
                p.revenue_30d,
                p.distinct_pages_7d,
                p.search
            ])?;
        }
        a.flush()?;
        drop(a);
        let set = PROFILE_COLUMNS
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        tx.execute_batch(&format!(
            "INSERT INTO profiles SELECT * FROM stage_profiles
             ON CONFLICT (workspace, profile) DO UPDATE SET {set}
             WHERE excluded.revision >= profiles.revision"
        ))?;
    }
    if !b.identities.is_empty() {
        let mut a = tx.appender("stage_identities")?;
        for (ws, id, profile) in &b.identities {
            a.append_row(params![ws, id, profile])?;
        }
        a.flush()?;
        drop(a);
        tx.execute_batch(
            "INSERT INTO identities SELECT * FROM stage_identities
             ON CONFLICT (workspace, identifier) DO UPDATE SET profile = excluded.profile",
        )?;
    }
    if !b.merges.is_empty() {
        let mut a = tx.appender("stage_merges")?;
        for m in &b.merges {
            a.append_row(params![
                m.workspace,
                m.from_profile,
                m.into_profile,
                m.via,
                m.at
            ])?;
        }
        a.flush()?;
        drop(a);
        // The merged-away profile's row goes; its events, labels and sessions stay under its
        // id and are read through the merge history.
        tx.execute_batch(
            "INSERT INTO merges SELECT * FROM stage_merges ON CONFLICT DO NOTHING;
             DELETE FROM profiles WHERE (workspace, profile) IN
                 (SELECT workspace, from_profile FROM stage_merges);",
        )?;
    }
    if !b.labels.is_empty() {
        let mut a = tx.appender("stage_label_history")?;
        for l in &b.labels {
            a.append_row(params![
                l.id,
                l.workspace,
                l.profile,
                l.label,
                l.set,
                l.at,
                l.reason
            ])?;
        }
        a.flush()?;
        drop(a);
        tx.execute_batch(
            "INSERT INTO label_history SELECT * FROM stage_label_history ON CONFLICT DO NOTHING",
        )?;
    }
    if !b.sessions.is_empty() {
        let mut a = tx.appender("stage_sessions")?;
        for s in &b.sessions {
            a.append_row(params![
                s.workspace,
                s.session,
                s.profile,
                s.started_at,
                s.ended_at,
                s.duration_ms,
                s.events
            ])?;
        }
        a.flush()?;
        drop(a);
        // An ended session is final; a (replayed) start never reopens it.
        tx.execute_batch(
            "INSERT INTO sessions SELECT * FROM stage_sessions
             ON CONFLICT (workspace, session) DO UPDATE SET
                 profile = excluded.profile, started_at = excluded.started_at,
                 ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,
                 events = excluded.events
             WHERE excluded.ended_at IS NOT NULL OR sessions.ended_at IS NULL",
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The surviving profile of `profile` (following merges), if it was merged away.
fn survivor(c: &Connection, ws: &str, profile: &str) -> Result<String, AnalyticsError> {
    let mut current = profile.to_string();
    let mut st = c.prepare_cached(
        "SELECT into_profile FROM merges WHERE workspace = ? AND from_profile = ?",
    )?;
    for _ in 0..MAX_HOPS {
        let next: Option<String> = st
            .query_map(params![ws, current], |r| r.get(0))?
            .next()
            .transpose()?;
        match next {
            Some(n) => current = n,
            None => break,
        }
    }
    Ok(current)
}

/// The profile and every profile merged into it (transitively), with the merge records.
fn merged_set(
    c: &Connection,
    ws: &str,
    profile: &str,
) -> Result<(Vec<String>, Vec<MergeRecord>), AnalyticsError> {
    let mut all = vec![profile.to_string()];
    let mut records = Vec::new();
    let mut frontier = vec![profile.to_string()];
    let mut st = c.prepare_cached(
        "SELECT from_profile, via, ts FROM merges WHERE workspace = ? AND into_profile = ?",
    )?;
    for _ in 0..MAX_HOPS {
        let mut next = Vec::new();
        for p in &frontier {
            let rows = st.query_map(params![ws, p], |r| {
                Ok(MergeRecord {
                    from_profile: r.get(0)?,
                    via: r.get(1)?,
                    at: r.get(2)?,
                })
            })?;
            for m in rows {
                let m = m?;
                if !all.contains(&m.from_profile) {
                    all.push(m.from_profile.clone());
                    next.push(m.from_profile.clone());
                    records.push(m);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    records.sort_by_key(|m| std::cmp::Reverse(m.at));
    Ok((all, records))
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn timeline(
    c: &Connection,
    ws: &str,
    set: &[String],
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<TimelineEvent>, AnalyticsError> {
    let (cond, order) = match after {
        Some(_) => ("AND ts > ?", "ASC"),
        None => ("", "DESC"),
    };
    let sql = format!(
        "SELECT message_id, name, ts, properties FROM events
          WHERE workspace = ? AND profile IN ({}) {cond} ORDER BY ts {order}, message_id LIMIT {}",
        placeholders(set.len()),
        limit.min(1_000)
    );
    let mut args: Vec<duckdb::types::Value> = vec![ws.to_string().into()];
    args.extend(set.iter().map(|p| p.clone().into()));
    if let Some(a) = after {
        args.push(a.into());
    }
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args), |r| {
        let props: Option<String> = r.get(3)?;
        Ok(TimelineEvent {
            message_id: r.get(0)?,
            name: r.get(1)?,
            at: r.get(2)?,
            properties: props
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(serde_json::Value::Null),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn profile_detail(
    c: &Connection,
    ws: &str,
    profile: &str,
    limit: usize,
) -> Result<Option<ProfileDetail>, AnalyticsError> {
    let profile = survivor(c, ws, profile)?;
    let mut st = c.prepare(
        "SELECT display, identifiers, labels, traits, first_seen, last_seen, events_total,
                sessions_total, events_today, events_7d, events_30d, orders_30d, revenue_30d,
                distinct_pages_7d
           FROM profiles WHERE workspace = ? AND profile = ?",
    )?;
    let row = st
        .query_map(params![ws, profile], |r| {
            let traits: String = r.get(3)?;
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                ProfileTraits {
                    first_seen: r.get(4)?,
                    last_seen: r.get(5)?,
                    events_total: r.get::<_, i64>(6)? as u64,
                    sessions_total: r.get::<_, i64>(7)? as u64,
                    events_today: r.get::<_, i64>(8)? as u64,
                    events_7d: r.get::<_, i64>(9)? as u64,
                    events_30d: r.get::<_, i64>(10)? as u64,
                    orders_30d: r.get::<_, i64>(11)? as u64,
                    revenue_30d: r.get(12)?,
                    distinct_pages_7d: r.get::<_, i64>(13)? as u64,
                    traits: serde_json::from_str(&traits).unwrap_or_default(),
                },
            ))
        })?
        .next()
        .transpose()?;
    let Some((display, identifiers, labels, traits)) = row else {
        return Ok(None);
    };
    let (set, merges) = merged_set(c, ws, &profile)?;
    let mut args: Vec<duckdb::types::Value> = vec![ws.to_string().into()];
    args.extend(set.iter().map(|p| p.clone().into()));
    let mut st = c.prepare(&format!(
        "SELECT label, is_set, ts, reason FROM label_history
          WHERE workspace = ? AND profile IN ({}) ORDER BY ts DESC, id LIMIT 200",
        placeholders(set.len())
    ))?;
    let label_history = st
        .query_map(params_from_iter(args.clone()), |r| {
            Ok(LabelEvent {
                label: r.get(0)?,
                set: r.get(1)?,
                at: r.get(2)?,
                reason: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut st = c.prepare(&format!(
        "SELECT session, started_at, ended_at, duration_ms, events FROM sessions
          WHERE workspace = ? AND profile IN ({}) ORDER BY started_at DESC LIMIT 50",
        placeholders(set.len())
    ))?;
    let sessions = st
        .query_map(params_from_iter(args), |r| {
            Ok(SessionRecord {
                session: r.get(0)?,
                started_at: r.get(1)?,
                ended_at: r.get(2)?,
                duration_ms: r.get(3)?,
                events: r.get::<_, i64>(4)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ProfileDetail {
        timeline: timeline(c, ws, &set, None, limit)?,
        profile,
        display,
        identifiers: json_list(&identifiers)
            .iter()
            .filter_map(|i| i.parse::<Identifier>().ok())
            .collect(),
        merges,
        labels: json_list(&labels),
        label_history,
        traits,
        sessions,
    }))
}

#[async_trait]
impl AnalyticsStore for DuckDbStore {
    fn engine(&self) -> &'static str {
        "duckdb"
    }

    async fn migrate(&self) -> Result<(), AnalyticsError> {
        Self::with(&self.writer, |c| Ok(c.execute_batch(SCHEMA)?)).await
    }

    async fn write(&self, batch: Batch) -> Result<(), AnalyticsError> {
        Self::with(&self.writer, move |c| write_batch(c, &batch)).await
    }

    async fn search(
        &self,
        workspace: &str,
        query: &ProfileQuery,
    ) -> Result<ProfilePage, AnalyticsError> {
        let (ws, q) = (workspace.to_string(), query.clone());
        Self::with(&self.reader, move |c| {
            let text = q.text.trim().to_lowercase();
            let label = q.label.clone().map(|l| format!("\"{l}\""));
            let mut st = c.prepare(
                "SELECT profile, display, email, crm_customer, labels, events_total, last_seen,
                        count(*) OVER () AS total
                   FROM profiles
                  WHERE workspace = ? AND (? = '' OR contains(search, ?))
                    AND (? IS NULL OR contains(labels, ?))
                  ORDER BY last_seen DESC NULLS LAST, profile
                  LIMIT ? OFFSET ?",
            )?;
            let mut total = 0u64;
            let rows = st
                .query_map(
                    params![
                        ws,
                        text,
                        text,
                        label,
                        label,
                        q.limit.clamp(1, 200) as i64,
                        q.offset as i64
                    ],
                    |r| {
                        let labels: String = r.get(4)?;
                        Ok((
                            ProfileSummary {
                                profile: r.get(0)?,
                                display: r.get(1)?,
                                email: r.get(2)?,
                                crm_customer: r.get(3)?,
                                labels: json_list(&labels),
                                events_total: r.get::<_, i64>(5)? as u64,
                                last_seen: r.get(6)?,
                            },
                            r.get::<_, i64>(7)? as u64,
                        ))
                    },
                )?
                .map(|r| {
                    r.map(|(row, n)| {
                        total = n;
                        row
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if rows.is_empty() && q.offset > 0 {
                // Past the end: still report how many there are.
                let mut st = c.prepare(
                    "SELECT count(*) FROM profiles WHERE workspace = ?
                        AND (? = '' OR contains(search, ?)) AND (? IS NULL OR contains(labels, ?))",
                )?;
                total = st.query_row(params![ws, text, text, label, label], |r| {
                    r.get::<_, i64>(0)
                })? as u64;
            }
            Ok(ProfilePage { rows, total })
        })
        .await
    }

    async fn profile(
        &self,
        workspace: &str,
        profile: &str,
        timeline: usize,
    ) -> Result<Option<ProfileDetail>, AnalyticsError> {
        let (ws, p) = (workspace.to_string(), profile.to_string());
        Self::with(&self.reader, move |c| profile_detail(c, &ws, &p, timeline)).await
    }

    async fn events_after(
        &self,
        workspace: &str,
        profile: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, AnalyticsError> {
        let (ws, p) = (workspace.to_string(), profile.to_string());
        Self::with(&self.reader, move |c| {
            let p = survivor(c, &ws, &p)?;
            let (set, _) = merged_set(c, &ws, &p)?;
            timeline(c, &ws, &set, Some(after), limit)
        })
        .await
    }

    async fn resolve(
        &self,
        workspace: &str,
        identifier: &str,
    ) -> Result<Option<String>, AnalyticsError> {
        let (ws, id) = (workspace.to_string(), identifier.to_string());
        Self::with(&self.reader, move |c| {
            let mut st =
                c.prepare("SELECT profile FROM identities WHERE workspace = ? AND identifier = ?")?;
            let found: Option<String> = st
                .query_map(params![ws, id], |r| r.get(0))?
                .next()
                .transpose()?;
            match found {
                Some(p) => Ok(Some(survivor(c, &ws, &p)?)),
                None => Ok(None),
            }
        })
        .await
    }
}
