//! pgoutput's text columns as typed JSON: the captured tables' column types from the catalog,
//! and each row turned into a JSON object whose values carry their Postgres type.

use crate::config::{CdcError, TABLES};
use pg_walstream::{ColumnValue, RowData};
use serde_json::{Map, Value};
use sqlx::PgPool;
use std::collections::HashMap;

/// Column type OIDs per table, so values leave as JSON numbers, booleans and objects rather
/// than the text pgoutput sends.
pub(crate) type ColumnTypes = HashMap<String, HashMap<String, u32>>;

/// The captured tables' column types from the catalog (the snapshot carries none; the stream's
/// relation messages update them after schema changes).
pub(crate) async fn column_types(pool: &PgPool) -> Result<ColumnTypes, CdcError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, a.atttypid::int8
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(TABLES)
    .fetch_all(pool)
    .await?;
    let mut types = ColumnTypes::new();
    for (table, column, oid) in rows {
        types.entry(table).or_default().insert(column, oid as u32);
    }
    Ok(types)
}

/// A column's text value as JSON of its type: integers, floats and booleans as JSON scalars,
/// json/jsonb parsed, timestamps in RFC 3339; numeric stays a string (no precision is lost),
/// everything else is its text.
fn typed(oid: Option<u32>, text: &str) -> Value {
    const BOOL: u32 = 16;
    const INT8: u32 = 20;
    const INT2: u32 = 21;
    const INT4: u32 = 23;
    const JSON: u32 = 114;
    const FLOAT4: u32 = 700;
    const FLOAT8: u32 = 701;
    const TIMESTAMPTZ: u32 = 1184;
    const JSONB: u32 = 3802;
    let parsed = match oid {
        Some(BOOL) => match text {
            "t" => Some(Value::Bool(true)),
            "f" => Some(Value::Bool(false)),
            _ => None,
        },
        Some(INT2 | INT4 | INT8) => text.parse::<i64>().ok().map(Value::from),
        Some(FLOAT4 | FLOAT8) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Some(JSON | JSONB) => serde_json::from_str(text).ok(),
        Some(TIMESTAMPTZ) => Some(Value::String(rfc3339_from_pg(text))),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

/// `2026-11-25 10:00:00.123+00` → `2026-11-25T10:00:00.123+00:00`.
fn rfc3339_from_pg(text: &str) -> String {
    let t = text.replacen(' ', "T", 1);
    let offset_at = t.rfind(['+', '-']).filter(|&i| i > 10);
    match offset_at {
        Some(i) if t.len() - i == 3 => format!("{t}:00"),
        _ => t,
    }
}

pub(crate) fn row_json(row: &RowData, types: Option<&HashMap<String, u32>>) -> Map<String, Value> {
    let mut m = Map::new();
    for (name, v) in row.iter() {
        let value = match v {
            ColumnValue::Null => Value::Null,
            ColumnValue::Text(b) => {
                let text = String::from_utf8_lossy(b);
                typed(types.and_then(|t| t.get(name.as_ref()).copied()), &text)
            }
            ColumnValue::Binary(b) => {
                Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            }
        };
        m.insert(name.to_string(), value);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pgoutput_text_becomes_typed_json() {
        assert_eq!(typed(Some(16), "t"), json!(true));
        assert_eq!(typed(Some(23), "42"), json!(42));
        assert_eq!(typed(Some(20), "-9000000000"), json!(-9_000_000_000i64));
        assert_eq!(typed(Some(701), "1.5"), json!(1.5));
        assert_eq!(typed(Some(3802), r#"{"a": [1]}"#), json!({"a": [1]}));
        assert_eq!(
            typed(Some(1700), "12.30"),
            json!("12.30"),
            "numeric keeps its digits"
        );
        assert_eq!(typed(None, "x"), json!("x"));
        assert_eq!(
            typed(Some(23), "oops"),
            json!("oops"),
            "unparsable text stays text"
        );
    }

    #[test]
    fn postgres_timestamps_become_rfc3339() {
        assert_eq!(
            typed(Some(1184), "2026-11-25 10:00:00.123+00"),
            json!("2026-11-25T10:00:00.123+00:00")
        );
        assert_eq!(
            typed(Some(1184), "2026-11-25 10:00:00+05:30"),
            json!("2026-11-25T10:00:00+05:30")
        );
        assert_eq!(
            typed(Some(1184), "2026-11-25 10:00:00-08"),
            json!("2026-11-25T10:00:00-08:00")
        );
    }
}
