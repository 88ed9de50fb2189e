//! The embedded analytics store: DuckDB in one file under the data dir, owned by the server
//! process. One writer connection applies batches (appended into staging tables, then merged
//! in one statement per table: DuckDB is fast in bulk and slow row by row); one reader
//! connection answers queries. Both run on blocking threads.

use crate::query::{column_defs, Datum, Dialect, DuckDb, Sql};
use crate::reader::{Executor, Row};
use crate::tables::{
    Record, Table, EVENTS, IDENTITIES, LABEL_HISTORY, MERGES, PROFILES, SESSIONS, TABLES,
};
use crate::{AnalyticsError, AnalyticsStore, Batch};
use async_trait::async_trait;
use duckdb::types::Value;
use duckdb::{appender_params_from_iter, params, params_from_iter, Connection, Transaction};
use std::path::Path;
use std::sync::{Arc, Mutex};

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

fn value(d: Datum) -> Value {
    match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Boolean(b),
        Datum::Int(n) => Value::BigInt(n),
        Datum::Float(f) => Value::Double(f),
        Datum::Text(t) => Value::Text(t),
    }
}

fn datum(v: Value) -> Datum {
    match v {
        Value::Null => Datum::Null,
        Value::Boolean(b) => Datum::Bool(b),
        Value::TinyInt(n) => Datum::Int(n.into()),
        Value::SmallInt(n) => Datum::Int(n.into()),
        Value::Int(n) => Datum::Int(n.into()),
        Value::BigInt(n) => Datum::Int(n),
        Value::HugeInt(n) => Datum::Int(n as i64),
        Value::UTinyInt(n) => Datum::Int(n.into()),
        Value::USmallInt(n) => Datum::Int(n.into()),
        Value::UInt(n) => Datum::Int(n.into()),
        Value::UBigInt(n) => Datum::Int(n as i64),
        Value::Float(f) => Datum::Float(f.into()),
        Value::Double(f) => Datum::Float(f),
        Value::Text(t) => Datum::Text(t),
        other => Datum::Text(format!("{other:?}")),
    }
}

/// The tables and their `stage_*` twins, which receive a batch before it is merged in. The
/// twins are remade from the descriptors at every start: they hold nothing between writes.
fn schema() -> String {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(DuckDb.create_table(t));
        out.push(format!(
            "CREATE OR REPLACE TABLE stage_{} ({})",
            t.name,
            column_defs(&DuckDb, t.columns).join(", ")
        ));
    }
    out.join(";\n")
}

/// Appends rows into the table's stage twin; false when there were none.
fn stage<R: Record>(tx: &Transaction, rows: &[R]) -> Result<bool, AnalyticsError> {
    let t = R::TABLE;
    tx.execute_batch(&format!("DELETE FROM stage_{}", t.name))?;
    if rows.is_empty() {
        return Ok(false);
    }
    let mut a = tx.appender(&format!("stage_{}", t.name))?;
    for r in rows {
        a.append_row(appender_params_from_iter(r.cells().into_iter().map(value)))?;
    }
    a.flush()?;
    Ok(true)
}

/// Moves the stage twin's rows into the table; `update` replaces the value columns of an
/// existing key (when `only_if` holds), otherwise an existing key is kept.
fn merge_stage(t: &Table, update: bool, only_if: &str) -> String {
    let cols = t.column_list();
    let key = t.keys.columns().join(", ");
    let conflict = if update {
        let set = t
            .values()
            .map(|c| format!("{0} = excluded.{0}", c.name))
            .collect::<Vec<_>>()
            .join(", ");
        format!("ON CONFLICT ({key}) DO UPDATE SET {set}{only_if}")
    } else {
        "ON CONFLICT DO NOTHING".to_string()
    };
    format!(
        "INSERT INTO {0} ({cols}) SELECT {cols} FROM stage_{0} {conflict}",
        t.name
    )
}

fn write_batch(c: &mut Connection, b: &Batch) -> Result<(), AnalyticsError> {
    let tx = c.transaction()?;
    if stage(&tx, &b.events)? {
        let lo = b.events.iter().map(|e| e.at).min().unwrap_or(0);
        let hi = b.events.iter().map(|e| e.at).max().unwrap_or(0);
        // A replay after a crash resends events already stored; the time range lets DuckDB's
        // zone maps skip every row group outside the batch.
        let cols = EVENTS.column_list();
        tx.execute(
            &format!(
                "INSERT INTO events ({cols}) SELECT {cols} FROM stage_events s WHERE NOT EXISTS (
                     SELECT 1 FROM events e WHERE e.ts BETWEEN ? AND ?
                        AND e.workspace = s.workspace AND e.message_id = s.message_id)"
            ),
            params![lo, hi],
        )?;
    }
    if stage(&tx, &b.profiles)? {
        tx.execute_batch(&merge_stage(
            &PROFILES,
            true,
            " WHERE excluded.revision >= profiles.revision",
        ))?;
    }
    if stage(&tx, &b.identities)? {
        tx.execute_batch(&merge_stage(&IDENTITIES, true, ""))?;
    }
    if stage(&tx, &b.merges)? {
        // The merged-away profile's row goes; its events, labels and sessions stay under its
        // id and are read through the merge history.
        tx.execute_batch(&merge_stage(&MERGES, false, ""))?;
        tx.execute_batch(
            "DELETE FROM profiles WHERE (workspace, profile) IN
                 (SELECT workspace, from_profile FROM stage_merges)",
        )?;
    }
    if stage(&tx, &b.labels)? {
        tx.execute_batch(&merge_stage(&LABEL_HISTORY, false, ""))?;
    }
    if stage(&tx, &b.sessions)? {
        // An ended session is final; a (replayed) start never reopens it.
        tx.execute_batch(&merge_stage(
            &SESSIONS,
            true,
            " WHERE excluded.ended_at IS NOT NULL OR sessions.ended_at IS NULL",
        ))?;
    }
    tx.commit()?;
    Ok(())
}

#[async_trait]
impl Executor for DuckDbStore {
    fn dialect(&self) -> &dyn Dialect {
        &DuckDb
    }

    async fn rows(&self, sql: Sql) -> Result<Vec<Row>, AnalyticsError> {
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare_cached(&sql.text)?;
            let mut rows = st.query(params_from_iter(sql.params.into_iter().map(value)))?;
            let n = rows.as_ref().map(|s| s.column_count()).unwrap_or(0);
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let cells = (0..n)
                    .map(|i| r.get::<_, Value>(i).map(datum))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Row(cells));
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl AnalyticsStore for DuckDbStore {
    fn engine(&self) -> &'static str {
        "duckdb"
    }

    fn executor(&self) -> &dyn Executor {
        self
    }

    async fn migrate(&self) -> Result<(), AnalyticsError> {
        Self::with(&self.writer, |c| Ok(c.execute_batch(&schema())?)).await
    }

    async fn write(&self, batch: Batch) -> Result<(), AnalyticsError> {
        Self::with(&self.writer, move |c| write_batch(c, &batch)).await
    }
}
