//! `GET /api/v1/<records>/export.csv`: every record of a list view (same search, filters and
//! sort), streamed page by page so exporting a million rows does not hold them in memory.

use super::auth::ApiActor;
use super::error::ApiError;
use crate::http::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::Response;
use crm::{Actor, CrmError, ListParams};
use domain::crm::RecordKind;
use serde_json::Value;
use sqlx::PgConnection;

/// Rows fetched per page while exporting.
const EXPORT_PAGE: u32 = crm::list::MAX_LIMIT;

async fn page(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RecordKind,
    p: &ListParams,
) -> Result<(Vec<Value>, Option<String>), CrmError> {
    macro_rules! go {
        ($m:ident) => {{
            let page = crm::$m::list(conn, actor, p).await?;
            let items = page
                .items
                .iter()
                .map(|x| serde_json::to_value(x).unwrap_or(Value::Null))
                .collect();
            (items, page.next_cursor)
        }};
    }
    Ok(match kind {
        RecordKind::Account => go!(accounts),
        RecordKind::Customer => go!(customers),
        RecordKind::Lead => go!(leads),
        RecordKind::Order => go!(orders),
        RecordKind::Contract => go!(contracts),
        RecordKind::LoyaltyMembership => go!(loyalty),
        RecordKind::Ticket => go!(tickets),
        RecordKind::Activity => go!(activities),
    })
}

/// Flattens a record into columns: nested objects become `parent_child`, lists of plain
/// values are joined with `; `, anything deeper stays JSON.
pub fn flatten(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(m) = v {
        for (k, v) in m {
            match v {
                Value::Object(inner) => {
                    for (ik, iv) in inner {
                        out.push((format!("{k}_{ik}"), cell(iv)));
                    }
                }
                other => out.push((k.clone(), cell(other))),
            }
        }
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join("; ")
        }
        Value::Array(items)
            if items.iter().all(|i| i.is_object())
                && items.iter().all(|i| i.get("namespace").is_some()) =>
        {
            items
                .iter()
                .map(|i| format!("{}:{}", cell(&i["namespace"]), cell(&i["value"])))
                .collect::<Vec<_>>()
                .join("; ")
        }
        other => other.to_string(),
    }
}

fn csv_line(fields: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Streams the export of one record kind.
pub async fn export(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    kind: RecordKind,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| k != "cursor" && k != "limit")
        .collect();
    let mut params = ListParams::from_pairs(
        crm::list_spec(kind),
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    params.limit = Some(EXPORT_PAGE);
    let mut conn = state.pool.acquire().await?;
    // The first page is fetched before answering, so permission and parameter errors are a
    // proper error status rather than a broken download.
    let (first, mut cursor) = page(&mut conn, &actor, kind, &params).await?;
    let header: Vec<String> = first
        .first()
        .map(|r| flatten(r).into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let send_rows = |rows: &[Value], header: &[String]| -> Result<Vec<u8>, csv::Error> {
            let mut buf = Vec::new();
            for r in rows {
                let flat: std::collections::HashMap<String, String> =
                    flatten(r).into_iter().collect();
                let line: Vec<String> = header
                    .iter()
                    .map(|h| flat.get(h).cloned().unwrap_or_default())
                    .collect();
                buf.extend(csv_line(&line)?);
            }
            Ok(buf)
        };
        let mut chunk = match csv_line(&header) {
            Ok(h) => h,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e))).await;
                return;
            }
        };
        match send_rows(&first, &header) {
            Ok(b) => chunk.extend(b),
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e))).await;
                return;
            }
        }
        if tx.send(Ok(chunk)).await.is_err() {
            return;
        }
        while let Some(c) = cursor.take() {
            params.cursor = Some(c);
            match page(&mut conn, &actor, kind, &params).await {
                Ok((rows, next)) => {
                    cursor = next;
                    let bytes = send_rows(&rows, &header).map_err(std::io::Error::other);
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "CSV export failed mid-stream");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let filename = format!(
        "{}-{}.csv",
        kind.collection(),
        time::OffsetDateTime::now_utc().date()
    );
    Ok(Response::builder()
        .header(CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        )
        .body(Body::from_stream(stream))
        .expect("static headers are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_flatten_into_csv_columns() {
        let v = json!({ "id": "x", "emails": ["a@x", "b@x"], "consent": { "email": true }, "external_ids": [{ "namespace": "shopify", "value": "9" }], "owner_id": null });
        let f: std::collections::HashMap<_, _> = flatten(&v).into_iter().collect();
        assert_eq!(f["emails"], "a@x; b@x");
        assert_eq!(f["consent_email"], "true");
        assert_eq!(f["external_ids"], "shopify:9");
        assert_eq!(f["owner_id"], "");
    }
}
