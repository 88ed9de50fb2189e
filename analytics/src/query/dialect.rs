//! The two engines' dialects: each overrides only what it spells differently from the base.

use super::render::{column_defs, Dialect, Renderer};
use crate::tables::{Col, Keys, Kind, Table};

/// DuckDB: the base SQL, except JSON access — the store's DuckDB is built without the JSON
/// extension, so a trait is read from the (compact, serde-written) JSON text by pattern.
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDb;

impl Dialect for DuckDb {
    fn name(&self) -> &'static str {
        "duckdb"
    }

    fn json_text(&self, r: &mut Renderer, column: &str, key: &str) {
        // `"key":"…"` at any depth: a nested object's key of the same name also matches. NULL
        // when absent, as StarRocks' get_json_string answers.
        let pattern = format!(r#""{key}":"((?:[^"\\]|\\.)*)""#);
        r.push("CASE WHEN regexp_matches(")
            .push(column)
            .push(", ")
            .bind(pattern.clone())
            .push(") THEN regexp_extract(")
            .push(column)
            .push(", ")
            .bind(pattern)
            .push(", 1) END");
    }

    fn json_text_value(&self, value: &str) -> String {
        // The pattern yields the text still JSON-escaped.
        let quoted = serde_json::to_string(value).expect("a string serialises");
        quoted[1..quoted.len() - 1].to_string()
    }
}

/// StarRocks (MySQL protocol): backquotes, `instr`, `get_json_string`, no `NULLS LAST`, and
/// its own DDL (key model, hash distribution, replication).
#[derive(Debug, Clone, Copy)]
pub struct StarRocks {
    pub buckets: u32,
    pub replication: u32,
}

impl Default for StarRocks {
    fn default() -> Self {
        StarRocks {
            buckets: 8,
            replication: 1,
        }
    }
}

impl Dialect for StarRocks {
    fn name(&self) -> &'static str {
        "starrocks"
    }

    fn quote(&self, ident: &str) -> String {
        format!("`{ident}`")
    }

    fn contains(&self, r: &mut Renderer, haystack: &dyn Fn(&mut Renderer), needle: String) {
        r.push("instr(");
        haystack(r);
        r.push(", ").bind(needle).push(") > 0");
    }

    fn json_text(&self, r: &mut Renderer, column: &str, key: &str) {
        r.push("get_json_string(")
            .push(column)
            .push(", ")
            .bind(format!("$.{key}"))
            .push(")");
    }

    fn order_key(&self, r: &mut Renderer, expr: &str, descending: bool) {
        r.push(expr)
            .push(" IS NULL, ")
            .push(expr)
            .push(if descending { " DESC" } else { " ASC" });
    }

    fn column_type(&self, kind: Kind) -> String {
        match kind {
            Kind::Id(n) => format!("VARCHAR({n})"),
            Kind::Text => "STRING".into(),
            Kind::BigInt => "BIGINT".into(),
            Kind::Double => "DOUBLE".into(),
            Kind::Bool => "BOOLEAN".into(),
            Kind::TinyInt => "TINYINT".into(),
        }
    }

    fn stored_columns(&self, t: &Table) -> Vec<Col> {
        t.columns.iter().chain(t.load_only).copied().collect()
    }

    fn create_table(&self, t: &Table) -> String {
        let (model, key) = match t.keys {
            Keys::Primary(k) => ("PRIMARY", k),
            Keys::Duplicate(k) => ("DUPLICATE", k),
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}) {model} KEY({}) DISTRIBUTED BY HASH({}) \
             BUCKETS {} PROPERTIES (\"replication_num\" = \"{}\")",
            t.name,
            column_defs(self, &self.stored_columns(t)).join(", "),
            key.join(", "),
            t.distribute,
            self.buckets,
            self.replication
        )
    }
}
