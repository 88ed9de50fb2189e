//! Lists with filters, sort, trigram search and keyset (cursor) pagination, shared by every
//! record type. A cursor carries the sort key of the last row, so page N costs the same as
//! page 1 even with millions of rows.

use crate::actor::Actor;
use crate::error::CrmError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::crm::Page;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// SQL type of a sort expression, for casting cursor values back.
#[derive(Debug, Clone, Copy)]
pub enum SqlType {
    Text,
    Timestamptz,
    BigInt,
    Date,
}

impl SqlType {
    /// The expression with a no-op the planner cannot see through. Used while searching: the
    /// sort indexes would otherwise be walked in order while filtering by the search, which is
    /// fast only when matches are spread evenly through the sort order (they are not: every
    /// "smith" sorts under S). Hiding the index makes Postgres take the trigram index and sort
    /// the matches instead.
    fn opaque(self, expr: &str) -> String {
        match self {
            SqlType::Text => format!("({expr} || '')"),
            SqlType::Timestamptz => format!("({expr} + interval '0 s')"),
            SqlType::BigInt | SqlType::Date => format!("({expr} + 0)"),
        }
    }

    fn cast(self) -> &'static str {
        match self {
            SqlType::Text => "text",
            SqlType::Timestamptz => "timestamptz",
            SqlType::BigInt => "bigint",
            SqlType::Date => "date",
        }
    }
}

/// A sortable column: its API name and the SQL expressions (over alias `t`) it orders by.
/// Expressions must be non-null so keyset comparison is total.
#[derive(Debug)]
pub struct SortSpec {
    pub name: &'static str,
    pub exprs: &'static [(&'static str, SqlType)],
}

/// How a filter parameter's value is read.
#[derive(Debug, Clone, Copy)]
pub enum FilterKind {
    /// Equality with one of the listed values (comma-separated values mean any of them).
    OneOf(&'static [&'static str]),
    /// Equality with a UUID; `me` means the acting user; `none` means NULL.
    Uuid,
    /// `true` or `false`.
    Bool,
    /// The expression is on or after the given date or RFC 3339 time.
    Since,
    /// The expression is before the given date or RFC 3339 time.
    Before,
}

/// A filter parameter: its API name, the SQL expression it constrains, and its kind.
#[derive(Debug)]
pub struct FilterSpec {
    pub name: &'static str,
    pub expr: &'static str,
    pub kind: FilterKind,
}

/// Everything a list endpoint needs to know about one table.
#[derive(Debug)]
pub struct ListSpec {
    pub table: &'static str,
    /// Columns selected (over alias `t`).
    pub columns: &'static str,
    pub sorts: &'static [SortSpec],
    /// Default sort, e.g. `-created_at`.
    pub default_sort: &'static str,
    pub filters: &'static [FilterSpec],
    /// Lower-case text expression matched by `q` (trigram-indexed where lists are big).
    pub search: Option<&'static str>,
}

/// A list request as the API receives it.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// Free-text search.
    pub q: Option<String>,
    /// Sort name, `-` prefix for descending.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// `true` lists only deleted records (the trash), for undo.
    pub deleted: bool,
    /// Filter name → value.
    pub filters: BTreeMap<String, String>,
}

impl ListParams {
    /// Builds params from query pairs, rejecting unknown parameters with a message naming them.
    pub fn from_pairs<'a>(
        spec: &ListSpec,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CrmError> {
        let mut p = ListParams::default();
        for (k, v) in pairs {
            match k {
                "q" => p.q = Some(v.to_string()).filter(|s| !s.trim().is_empty()),
                "sort" => p.sort = Some(v.to_string()).filter(|s| !s.is_empty()),
                "cursor" => p.cursor = Some(v.to_string()).filter(|s| !s.is_empty()),
                "limit" => {
                    p.limit = Some(v.parse().map_err(|_| {
                        CrmError::BadQuery(format!("limit must be a number from 1 to {MAX_LIMIT}"))
                    })?)
                }
                "deleted" => p.deleted = parse_bool("deleted", v)?,
                _ if spec.filters.iter().any(|f| f.name == k) => {
                    if !v.is_empty() {
                        p.filters.insert(k.to_string(), v.to_string());
                    }
                }
                _ => {
                    let known: Vec<&str> = ["q", "sort", "cursor", "limit", "deleted"]
                        .into_iter()
                        .chain(spec.filters.iter().map(|f| f.name))
                        .collect();
                    return Err(CrmError::BadQuery(format!(
                        "unknown parameter `{k}`; this list accepts {}",
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(p)
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, CrmError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(CrmError::BadQuery(format!("{name} must be true or false"))),
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside `LIKE`.
pub fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

fn encode_cursor(values: &[String], id: Uuid) -> String {
    let v = serde_json::json!({ "k": values, "id": id });
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_cursor(cursor: &str, n: usize) -> Result<(Vec<String>, Uuid), CrmError> {
    let bad = || {
        CrmError::BadQuery(
            "the cursor is not valid for this list; start from the first page".into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    #[derive(serde::Deserialize)]
    struct C {
        k: Vec<String>,
        id: Uuid,
    }
    let c: C = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if c.k.len() != n {
        return Err(bad());
    }
    Ok((c.k, c.id))
}

/// Lists rows of `spec.table` in the actor's workspace as `T`.
pub async fn list<T>(
    conn: &mut PgConnection,
    actor: &Actor,
    spec: &ListSpec,
    params: &ListParams,
) -> Result<Page<T>, CrmError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    actor.check_read()?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(CrmError::BadQuery(format!(
            "limit must be a number from 1 to {MAX_LIMIT}"
        )));
    }
    let sort_param = params.sort.as_deref().unwrap_or(spec.default_sort);
    let (desc, sort_name) = match sort_param.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, sort_param),
    };
    let sort = spec
        .sorts
        .iter()
        .find(|s| s.name == sort_name)
        .ok_or_else(|| {
            let names: Vec<&str> = spec.sorts.iter().map(|s| s.name).collect();
            CrmError::BadQuery(format!(
                "cannot sort by `{sort_name}`; sort by one of {} (prefix - for descending)",
                names.join(", ")
            ))
        })?;

    // Few matches: hide the sort index so Postgres sorts the trigram matches. Many matches:
    // walking the sort index finds a page of them quickly (unless they cluster late in the
    // order, a case we accept). The planner's row estimate decides, at the cost of one plan.
    let searching = match (&params.q, spec.search) {
        (Some(q), Some(search)) => {
            estimated_matches(conn, actor, spec.table, search, q).await? < SORT_MATCHES_LIMIT
        }
        _ => false,
    };
    let exprs: Vec<(String, SqlType)> = sort
        .exprs
        .iter()
        .map(|(e, ty)| {
            (
                if searching {
                    ty.opaque(e)
                } else {
                    e.to_string()
                },
                *ty,
            )
        })
        .collect();
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
    qb.push(spec.columns);
    for (i, (expr, _)) in exprs.iter().enumerate() {
        qb.push(format_args!(", ({expr})::text AS sort_{i}"));
    }
    qb.push(format_args!(
        " FROM {} t WHERE t.workspace_id = ",
        spec.table
    ));
    qb.push_bind(actor.workspace_id);
    qb.push(if params.deleted {
        " AND t.deleted_at IS NOT NULL"
    } else {
        " AND t.deleted_at IS NULL"
    });

    if let Some(q) = &params.q {
        let Some(search) = spec.search else {
            return Err(CrmError::BadQuery("this list has no search".into()));
        };
        let n = q.trim().chars().count();
        if n > 200 {
            return Err(CrmError::BadQuery(
                "search text is at most 200 characters".into(),
            ));
        }
        if n < 3 {
            return Err(CrmError::BadQuery(
                "type at least 3 characters to search".into(),
            ));
        }
        qb.push(format_args!(" AND {search} LIKE "));
        qb.push_bind(like_pattern(q));
    }

    for (name, value) in &params.filters {
        let f = spec
            .filters
            .iter()
            .find(|f| f.name == name)
            .expect("checked in from_pairs");
        push_filter(&mut qb, actor, f, value)?;
    }

    if let Some(cursor) = &params.cursor {
        let (values, id) = decode_cursor(cursor, exprs.len())?;
        qb.push(" AND (");
        for (expr, _) in &exprs {
            qb.push(format_args!("{expr}, "));
        }
        qb.push(if desc { "t.id) < (" } else { "t.id) > (" });
        for ((_, ty), v) in exprs.iter().zip(values) {
            qb.push_bind(v);
            qb.push(format_args!("::{}, ", ty.cast()));
        }
        qb.push_bind(id);
        qb.push(")");
    }

    let dir = if desc { "DESC" } else { "ASC" };
    qb.push(" ORDER BY ");
    for (expr, _) in &exprs {
        qb.push(format_args!("{expr} {dir}, "));
    }
    qb.push(format_args!("t.id {dir} LIMIT "));
    qb.push_bind(i64::from(limit) + 1);

    let rows = qb.build().fetch_all(&mut *conn).await?;
    let has_more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut next_cursor = None;
    for (i, row) in rows.iter().take(limit as usize).enumerate() {
        items.push(T::from_row(row)?);
        if has_more && i + 1 == limit as usize {
            let values = (0..exprs.len())
                .map(|j| row.try_get::<String, _>(format!("sort_{j}").as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            next_cursor = Some(encode_cursor(&values, row.try_get("id")?));
        }
    }
    Ok(Page { items, next_cursor })
}

/// Up to this many estimated search matches are fetched and sorted rather than filtered while
/// walking a sort index (sorting 30k rows costs ~40 ms here; see docs/PERFORMANCE.md).
const SORT_MATCHES_LIMIT: f64 = 30_000.0;

async fn estimated_matches(
    conn: &mut PgConnection,
    actor: &Actor,
    table: &str,
    search: &str,
    q: &str,
) -> Result<f64, CrmError> {
    let sql = format!(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} t WHERE t.workspace_id = $1 AND t.deleted_at IS NULL AND {search} LIKE $2"
    );
    let plan: serde_json::Value = sqlx::query_scalar(&sql)
        .bind(actor.workspace_id)
        .bind(like_pattern(q))
        .fetch_one(conn)
        .await?;
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0))
}

fn push_filter(
    qb: &mut QueryBuilder<'_, Postgres>,
    actor: &Actor,
    f: &FilterSpec,
    value: &str,
) -> Result<(), CrmError> {
    let bad = |msg: String| CrmError::BadQuery(format!("filter `{}`: {msg}", f.name));
    match f.kind {
        FilterKind::OneOf(allowed) => {
            let values: Vec<String> = value.split(',').map(|v| v.trim().to_string()).collect();
            if let Some(v) = values.iter().find(|v| !allowed.contains(&v.as_str())) {
                return Err(bad(format!("`{v}` is not one of {}", allowed.join(", "))));
            }
            qb.push(format_args!(" AND {} = ANY(", f.expr));
            qb.push_bind(values);
            qb.push(")");
        }
        FilterKind::Uuid => match value {
            "none" => {
                qb.push(format_args!(" AND {} IS NULL", f.expr));
            }
            _ => {
                let id = if value == "me" {
                    actor
                        .user_id()
                        .ok_or_else(|| bad("`me` needs a signed-in user".into()))?
                } else {
                    value
                        .parse::<Uuid>()
                        .map_err(|_| bad(format!("`{value}` is not an id")))?
                };
                qb.push(format_args!(" AND {} = ", f.expr));
                qb.push_bind(id);
            }
        },
        FilterKind::Bool => {
            let b = parse_bool(f.name, value)?;
            qb.push(format_args!(" AND {} = ", f.expr));
            qb.push_bind(b);
        }
        FilterKind::Since | FilterKind::Before => {
            let at = parse_instant(value)
                .ok_or_else(|| bad("use a date (2026-01-31) or an RFC 3339 time".into()))?;
            let op = if matches!(f.kind, FilterKind::Since) {
                ">="
            } else {
                "<"
            };
            qb.push(format_args!(" AND {} {op} ", f.expr));
            qb.push_bind(at);
        }
    }
    Ok(())
}

/// Parses a date (`2026-01-31`, midnight UTC) or an RFC 3339 time.
pub fn parse_instant_pub(v: &str) -> Option<time::OffsetDateTime> {
    parse_instant(v)
}

fn parse_instant(v: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t);
    }
    let d = time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_user_text_literally() {
        assert_eq!(like_pattern(" 50%_Off\\ "), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let id = Uuid::from_u128(7);
        let c = encode_cursor(&["smith".into(), "ada".into()], id);
        assert_eq!(
            decode_cursor(&c, 2).unwrap(),
            (vec!["smith".to_string(), "ada".to_string()], id)
        );
        assert!(decode_cursor(&c, 1).is_err());
        assert!(decode_cursor("not-a-cursor!", 2).is_err());
    }

    #[test]
    fn instants_accept_dates_and_rfc3339() {
        assert!(parse_instant("2026-01-31").is_some());
        assert!(parse_instant("2026-01-31T10:00:00Z").is_some());
        assert!(parse_instant("31/01/2026").is_none());
    }
}
