//! The renderer: SQL text plus bound parameters, built through a [`Dialect`] whose provided
//! methods are the base (standard SQL, which DuckDB speaks) and whose overrides are what an
//! engine spells differently — the shape of sea-query's `QueryBuilder` backends.

use super::{Column, Cond, Datum, ProfileFilter, TextOp, MAX_PAGE};
use crate::tables::{Col, Keys, Kind, Table, PROFILES};
use crate::AnalyticsError;

/// A statement: text with placeholders, and the values bound to them in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Datum>,
}

/// Builds one statement for one dialect.
pub struct Renderer<'d> {
    dialect: &'d dyn Dialect,
    sql: Sql,
}

impl<'d> Renderer<'d> {
    /// An empty statement.
    pub fn new(dialect: &'d dyn Dialect) -> Self {
        Renderer {
            dialect,
            sql: Sql {
                text: String::new(),
                params: Vec::new(),
            },
        }
    }

    /// Appends SQL text the program wrote (never user input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Datum>) -> &mut Self {
        self.sql.params.push(value.into());
        let mark = self.dialect.placeholder(self.sql.params.len());
        self.sql.text.push_str(&mark);
        self
    }

    /// Appends `a, b, c` placeholders bound to the values (at least one).
    pub fn bind_list<V: Into<Datum> + Clone>(&mut self, values: &[V]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v.clone());
        }
        self
    }

    /// The dialect in use.
    pub fn dialect(&self) -> &'d dyn Dialect {
        self.dialect
    }

    /// The finished statement.
    pub fn finish(self) -> Sql {
        self.sql
    }
}

/// What an engine spells its own way. Provided methods render standard SQL.
pub trait Dialect: Send + Sync {
    /// The engine's name (`duckdb`, `starrocks`).
    fn name(&self) -> &'static str;

    /// The placeholder of the `n`th parameter (1-based).
    fn placeholder(&self, _n: usize) -> String {
        "?".to_string()
    }

    /// An identifier, quoted. Only for names already validated as letters, digits and `_`.
    fn quote(&self, ident: &str) -> String {
        format!("\"{ident}\"")
    }

    /// The text `haystack` renders contains `needle` (case-sensitive substring).
    fn contains(&self, r: &mut Renderer, haystack: &dyn Fn(&mut Renderer), needle: String) {
        r.push("contains(");
        haystack(r);
        r.push(", ").bind(needle).push(")");
    }

    /// The text of the top-level key `key` of the JSON object in `column`.
    fn json_text(&self, r: &mut Renderer, column: &str, key: &str);

    /// A text in the form [`Dialect::json_text`] yields it, to compare against.
    fn json_text_value(&self, value: &str) -> String {
        value.to_string()
    }

    /// One ordering key; NULLs sort last in either direction.
    fn order_key(&self, r: &mut Renderer, expr: &str, descending: bool) {
        r.push(expr)
            .push(if descending { " DESC" } else { " ASC" })
            .push(" NULLS LAST");
    }

    /// `LIMIT n OFFSET m` (numbers, never user text).
    fn limit(&self, r: &mut Renderer, limit: u64, offset: u64) {
        r.push(&format!(" LIMIT {limit} OFFSET {offset}"));
    }

    /// A column type.
    fn column_type(&self, kind: Kind) -> String {
        match kind {
            Kind::Id(_) | Kind::Text => "VARCHAR".into(),
            Kind::BigInt => "BIGINT".into(),
            Kind::Double => "DOUBLE".into(),
            Kind::Bool => "BOOLEAN".into(),
            Kind::TinyInt => "TINYINT".into(),
        }
    }

    /// The columns the engine stores for the table.
    fn stored_columns(&self, t: &Table) -> Vec<Col> {
        t.columns.to_vec()
    }

    /// `CREATE TABLE IF NOT EXISTS` for the table.
    fn create_table(&self, t: &Table) -> String {
        let mut cols = column_defs(self, &self.stored_columns(t));
        if let Keys::Primary(k) = t.keys {
            cols.push(format!("PRIMARY KEY ({})", k.join(", ")));
        }
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            t.name,
            cols.join(", ")
        )
    }
}

/// `name TYPE [NOT NULL]` per column.
pub(crate) fn column_defs<D: Dialect + ?Sized>(d: &D, cols: &[Col]) -> Vec<String> {
    cols.iter()
        .map(|c| {
            let null = if c.nullable { "" } else { " NOT NULL" };
            format!("{} {}{null}", c.name, d.column_type(c.kind))
        })
        .collect()
}

/// Trait keys are named in SQL (a JSON path), so they are held to a safe alphabet.
fn valid_key(key: &str) -> Result<&str, AnalyticsError> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(key)
    } else {
        Err(AnalyticsError::Query(format!(
            "trait key {key:?}: use letters, digits and _ (at most 64)"
        )))
    }
}

/// A JSON list (as text) holds `item`: its JSON string form, quotes included, is a substring.
pub(crate) fn json_item(item: &str) -> String {
    serde_json::to_string(item).expect("a string serialises")
}

impl Renderer<'_> {
    /// The condition over the profile table (named `profiles`).
    pub fn cond(&mut self, c: &Cond) -> Result<&mut Self, AnalyticsError> {
        match c {
            Cond::All(v) | Cond::Any(v) if v.is_empty() => {
                self.push(if matches!(c, Cond::All(_)) {
                    "1 = 1"
                } else {
                    "1 = 0"
                });
            }
            Cond::All(v) | Cond::Any(v) if v.len() == 1 => {
                self.cond(&v[0])?;
            }
            Cond::All(v) | Cond::Any(v) => {
                let op = if matches!(c, Cond::All(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, c) in v.iter().enumerate() {
                    if i > 0 {
                        self.push(op);
                    }
                    self.cond(c)?;
                }
                self.push(")");
            }
            Cond::Not(c) => {
                self.push("NOT (");
                self.cond(c)?;
                self.push(")");
            }
            Cond::Column { column, cmp, value } => {
                self.push(column.name())
                    .push(" ")
                    .push(cmp.sql())
                    .push(" ")
                    .bind(value.clone());
            }
            Cond::Missing(column) => {
                self.push(column.name()).push(" IS NULL");
            }
            Cond::Trait { key, op, value } => {
                let key = valid_key(key)?;
                let d = self.dialect;
                let value = d.json_text_value(value);
                match op {
                    TextOp::Equals => {
                        d.json_text(self, "traits", key);
                        self.push(" = ").bind(value);
                    }
                    TextOp::Contains => {
                        d.contains(
                            self,
                            &|r: &mut Renderer| d.json_text(r, "traits", key),
                            value,
                        );
                    }
                }
            }
            Cond::Label(label) => {
                let d = self.dialect;
                d.contains(
                    self,
                    &|r: &mut Renderer| {
                        r.push("labels");
                    },
                    json_item(label),
                );
            }
            Cond::Search(text) => {
                let d = self.dialect;
                d.contains(
                    self,
                    &|r: &mut Renderer| {
                        r.push("search");
                    },
                    text.trim().to_lowercase(),
                );
            }
            Cond::Events {
                name,
                window,
                cmp,
                count,
            } => {
                self.push(
                    "(SELECT count(DISTINCT e.message_id) FROM events e \
                     WHERE e.workspace = profiles.workspace AND e.profile = profiles.profile \
                     AND e.name = ",
                )
                .bind(name.as_str())
                .push(" AND e.ts >= ")
                .bind(window.from)
                .push(" AND e.ts < ")
                .bind(window.to)
                .push(") ")
                .push(cmp.sql())
                .push(" ")
                .bind(*count);
            }
        }
        Ok(self)
    }

    /// `WHERE workspace = ? AND …` over the profile table.
    fn profile_where(&mut self, workspace: &str, c: &Cond) -> Result<(), AnalyticsError> {
        self.push(" FROM profiles WHERE workspace = ")
            .bind(workspace);
        // A top-level AND joins the workspace test flat, without parentheses.
        let parts: &[Cond] = match c {
            Cond::All(v) => v,
            c => std::slice::from_ref(c),
        };
        for part in parts {
            self.push(" AND ");
            self.cond(part)?;
        }
        Ok(())
    }
}

/// The columns of a search result row ([`domain::profiles::ProfileSummary`]), in order.
pub const SUMMARY_COLUMNS: [&str; 7] = [
    "profile",
    "display",
    "email",
    "crm_customer",
    "labels",
    "events_total",
    "last_seen",
];

/// One page of the filter's matches, each row with the summary columns and the total count
/// of matches (a window count, so the page and its total take one scan).
pub fn profile_page(
    d: &dyn Dialect,
    workspace: &str,
    f: &ProfileFilter,
) -> Result<Sql, AnalyticsError> {
    debug_assert!(SUMMARY_COLUMNS.iter().all(|c| PROFILES.has(c)));
    let mut r = Renderer::new(d);
    r.push("SELECT ")
        .push(&SUMMARY_COLUMNS.join(", "))
        .push(", count(*) OVER () AS total");
    r.profile_where(workspace, &f.cond)?;
    r.push(" ORDER BY ");
    for o in &f.order {
        d.order_key(&mut r, o.column.name(), o.descending);
        r.push(", ");
    }
    r.push(Column::Profile.name());
    d.limit(&mut r, f.limit.clamp(1, MAX_PAGE), f.offset);
    Ok(r.finish())
}

/// How many profiles match the filter (a page past the end still reports it).
pub fn profile_count(
    d: &dyn Dialect,
    workspace: &str,
    f: &ProfileFilter,
) -> Result<Sql, AnalyticsError> {
    let mut r = Renderer::new(d);
    r.push("SELECT count(*)");
    r.profile_where(workspace, &f.cond)?;
    Ok(r.finish())
}
