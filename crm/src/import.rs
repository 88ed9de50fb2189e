//! CSV import of customers, leads and orders: upload (rows stored as they came), mapping and
//! a dry run that reports every bad row and every duplicate, then the import itself through
//! the same services as the UI (so audit, rules and CDC apply), with progress and an outcome
//! for every row.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::{customers, leads, orders, settings};
use domain::crm::{Consent, CustomerInput, ExternalId, LeadInput, OrderInput, OrderLineInput};
use domain::import::*;
use domain::money;
use domain::FieldErrors;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Largest file accepted, in bytes.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;
/// Most data rows accepted in one file.
pub const MAX_ROWS: usize = 100_000;
/// Problems listed in a report (all are stored; the rest are counted).
const REPORT_PROBLEMS: i64 = 1000;

/// Stores an uploaded CSV file and suggests a mapping from its headers.
pub async fn upload(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: ImportKind,
    filename: &str,
    text: &str,
) -> Result<ImportReport, CrmError> {
    actor.check_create()?;
    if text.len() > MAX_BYTES {
        return Err(CrmError::field(
            "file",
            format!(
                "The file is larger than {} MB; split it.",
                MAX_BYTES / 1024 / 1024
            ),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| CrmError::field("file", format!("The header row cannot be read as CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(CrmError::field(
            "file",
            "The file has no header row naming its columns.",
        ));
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec
            .map_err(|e| CrmError::field("file", format!("Row {} is not valid CSV: {e}", i + 1)))?;
        if rec.iter().all(|c| c.trim().is_empty()) {
            // Blank lines are not data; they are the only rows not kept.
            continue;
        }
        rows.push(rec.iter().map(str::to_string).collect());
        if rows.len() > MAX_ROWS {
            return Err(CrmError::field(
                "file",
                format!("The file has more than {MAX_ROWS} rows; split it."),
            ));
        }
    }
    if rows.is_empty() {
        return Err(CrmError::field(
            "file",
            "The file has a header but no data rows.",
        ));
    }
    let id = Uuid::new_v4();
    let mapping = suggest_mapping(kind, &headers);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO imports (id, workspace_id, kind, filename, headers, mapping, total_rows, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(kind)
    .bind(filename.chars().take(255).collect::<String>())
    .bind(json!(headers))
    .bind(json!(mapping))
    .bind(rows.len() as i32)
    .bind(actor.user_id())
    .execute(&mut *tx)
    .await?;
    for (chunk_no, chunk) in rows.chunks(2000).enumerate() {
        let nos: Vec<i32> = (0..chunk.len())
            .map(|i| (chunk_no * 2000 + i + 1) as i32)
            .collect();
        let cells: Vec<serde_json::Value> = chunk.iter().map(|r| json!(r)).collect();
        sqlx::query("INSERT INTO import_rows (import_id, row_no, cells) SELECT $1, * FROM unnest($2::int4[], $3::jsonb[])")
            .bind(id)
            .bind(&nos)
            .bind(&cells)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    report(conn, actor, id).await
}

/// The current state of an import.
pub async fn report(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<ImportReport, CrmError> {
    actor.check_read()?;
    #[derive(sqlx::FromRow)]
    struct Row {
        kind: ImportKind,
        filename: String,
        status: ImportStatus,
        headers: serde_json::Value,
        mapping: serde_json::Value,
        duplicate_mode: DuplicateMode,
        total_rows: i32,
        to_create: i32,
        duplicates: i32,
        invalid: i32,
        processed: i32,
        created: i32,
        updated: i32,
        skipped: i32,
        failed: i32,
        error: Option<String>,
    }
    let r: Row = sqlx::query_as("SELECT * FROM imports WHERE workspace_id = $1 AND id = $2")
        .bind(actor.workspace_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::BadQuery("no such import in this workspace".into()))?;
    let sample: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT cells FROM import_rows WHERE import_id = $1 ORDER BY row_no LIMIT 5",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let problem_rows: Vec<(i32, serde_json::Value)> = sqlx::query_as(
        "SELECT row_no, problems FROM import_rows WHERE import_id = $1 AND problems <> '[]'::jsonb ORDER BY row_no LIMIT $2",
    )
    .bind(id)
    .bind(REPORT_PROBLEMS)
    .fetch_all(&mut *conn)
    .await?;
    let mut problems = Vec::new();
    for (row, ps) in problem_rows {
        for p in ps.as_array().into_iter().flatten() {
            problems.push(RowProblem {
                row,
                column: p.get("column").and_then(|c| c.as_str()).map(str::to_string),
                message: p
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    Ok(ImportReport {
        id,
        kind: r.kind,
        filename: r.filename,
        status: r.status,
        headers: serde_json::from_value(r.headers).unwrap_or_default(),
        mapping: serde_json::from_value(r.mapping).unwrap_or_default(),
        duplicate_mode: r.duplicate_mode,
        sample: sample
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap_or_default())
            .collect(),
        total_rows: r.total_rows,
        to_create: r.to_create,
        duplicates: r.duplicates,
        invalid: r.invalid,
        processed: r.processed,
        created: r.created,
        updated: r.updated,
        skipped: r.skipped,
        failed: r.failed,
        problems,
        error: r.error,
    })
}

/// A row with the mapping applied: field name → (column name, value).
struct Mapped<'a> {
    values: HashMap<&'a str, (&'a str, String)>,
}

impl<'a> Mapped<'a> {
    fn new(headers: &'a [String], mapping: &'a [Option<String>], cells: &[String]) -> Self {
        let mut values = HashMap::new();
        for (i, m) in mapping.iter().enumerate() {
            if let (Some(field), Some(v)) = (m, cells.get(i)) {
                let v = v.trim().to_string();
                if !v.is_empty() {
                    values.insert(
                        field.as_str(),
                        (headers.get(i).map(String::as_str).unwrap_or(""), v),
                    );
                }
            }
        }
        Mapped { values }
    }

    fn get(&self, field: &str) -> Option<&str> {
        self.values.get(field).map(|(_, v)| v.as_str())
    }

    fn column(&self, field: &str) -> String {
        self.values
            .get(field)
            .map(|(c, _)| c.to_string())
            .unwrap_or_else(|| field.to_string())
    }
}

/// A problem on a column.
fn problem(column: Option<String>, message: impl Into<String>) -> serde_json::Value {
    json!({ "column": column, "message": message.into() })
}

/// Field errors of a domain input, named by the CSV column that fed the field.
fn field_problems(
    errors: &FieldErrors,
    mapped: &Mapped<'_>,
    field_to_source: &[(&str, &str)],
) -> Vec<serde_json::Value> {
    errors
        .0
        .iter()
        .map(|(field, msg)| {
            let base = field.split('[').next().unwrap_or(field);
            let source = field_to_source
                .iter()
                .find(|(f, _)| *f == base)
                .map(|(_, s)| *s)
                .unwrap_or(base);
            problem(Some(mapped.column(source)), msg.clone())
        })
        .collect()
}

fn parse_bool(v: Option<&str>) -> Result<bool, String> {
    match v.map(|s| s.trim().to_lowercase()) {
        None => Ok(false),
        Some(s) => match s.as_str() {
            "1" | "true" | "yes" | "y" | "subscribed" | "opted in" | "opt-in" => Ok(true),
            "0" | "false" | "no" | "n" | "unsubscribed" | "opted out" | "opt-out" | "" => Ok(false),
            _ => Err(format!("`{s}` is not yes/no")),
        },
    }
}

/// Parses a decimal amount as spreadsheets write it (`1,234.50`, `$12.9`) into minor units of
/// the currency: grouping and currency signs go, then the one money rule applies.
pub fn parse_minor(v: &str, currency: &str) -> Result<i64, String> {
    let plain: String = v
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '$' | '€' | '£'))
        .collect();
    money::parse_minor(&plain, currency).map_err(|e| format!("`{v}` {e}"))
}

fn customer_input(m: &Mapped<'_>, problems: &mut Vec<serde_json::Value>) -> CustomerInput {
    let (mut first, mut last) = (
        m.get("first_name").unwrap_or("").to_string(),
        m.get("last_name").unwrap_or("").to_string(),
    );
    if first.is_empty() && last.is_empty() {
        if let Some(full) = m.get("full_name") {
            match full.rsplit_once(' ') {
                Some((f, l)) => {
                    first = f.trim().to_string();
                    last = l.trim().to_string();
                }
                None => first = full.to_string(),
            }
        }
    }
    let mut consent = Consent::default();
    for (field, slot) in [
        ("consent_email", &mut consent.email),
        ("consent_sms", &mut consent.sms),
    ] {
        match parse_bool(m.get(field)) {
            Ok(b) => *slot = b,
            Err(e) => problems.push(problem(Some(m.column(field)), e)),
        }
    }
    let lifecycle_stage = match m.get("lifecycle_stage").map(|s| s.to_lowercase()) {
        None => Default::default(),
        Some(s) => s.parse().unwrap_or_else(|e: String| {
            problems.push(problem(
                Some(m.column("lifecycle_stage")),
                format!("`{s}`: {e}"),
            ));
            Default::default()
        }),
    };
    CustomerInput {
        account_id: None,
        first_name: first,
        last_name: last,
        emails: ["email", "email2"]
            .iter()
            .filter_map(|f| m.get(f))
            .map(str::to_string)
            .collect(),
        phones: m
            .get("phone")
            .map(|p| vec![p.to_string()])
            .unwrap_or_default(),
        external_ids: m
            .get("external_id")
            .map(|v| {
                vec![ExternalId {
                    namespace: m.get("external_system").unwrap_or("import").to_string(),
                    value: v.to_string(),
                }]
            })
            .unwrap_or_default(),
        time_zone: m.get("time_zone").map(str::to_string),
        locale: m.get("locale").map(str::to_string),
        lifecycle_stage,
        consent,
        owner_id: None,
    }
}

const CUSTOMER_SOURCES: &[(&str, &str)] = &[
    ("emails", "email"),
    ("phones", "phone"),
    ("external_ids", "external_id"),
    ("first_name", "first_name"),
];

fn lead_input(m: &Mapped<'_>, problems: &mut Vec<serde_json::Value>) -> LeadInput {
    let mut input = LeadInput {
        first_name: m.get("first_name").unwrap_or("").to_string(),
        last_name: m.get("last_name").unwrap_or("").to_string(),
        email: m.get("email").map(str::to_string),
        phone: m.get("phone").map(str::to_string),
        company_name: m.get("company_name").map(str::to_string),
        title: m.get("title").map(str::to_string),
        currency: m.get("currency").unwrap_or("USD").to_uppercase(),
        source: domain::crm::LeadSource::Import,
        ..Default::default()
    };
    if input.first_name.is_empty() && input.last_name.is_empty() {
        if let Some((f, l)) = m
            .get("full_name")
            .map(|f| f.rsplit_once(' ').unwrap_or((f, "")))
        {
            input.first_name = f.trim().to_string();
            input.last_name = l.trim().to_string();
        }
    }
    for (field, apply) in [("source", 0), ("status", 1)] {
        if let Some(v) = m.get(field) {
            let v = v.to_lowercase();
            let ok = if apply == 0 {
                v.parse().map(|s| input.source = s)
            } else {
                v.parse().map(|s| input.status = s)
            };
            if let Err(e) = ok {
                problems.push(problem(Some(m.column(field)), format!("`{v}`: {e}")));
            }
        }
    }
    if let Some(v) = m.get("estimated_value") {
        match parse_minor(v, &input.currency) {
            Ok(x) => input.estimated_value_minor = Some(x),
            Err(e) => problems.push(problem(Some(m.column("estimated_value")), e)),
        }
    }
    input
}

/// Checks the mapping, validates every row and finds duplicates; writes the dry-run report.
pub async fn validate(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    mapping: Vec<Option<String>>,
    duplicate_mode: DuplicateMode,
) -> Result<ImportReport, CrmError> {
    actor.check_create()?;
    let current = report(conn, actor, id).await?;
    if matches!(current.status, ImportStatus::Running | ImportStatus::Done) {
        return Err(CrmError::field("mapping", "This import has already run."));
    }
    let kind = current.kind;
    check_mapping(kind, &current.headers, &mapping)?;
    let rows: Vec<(i32, serde_json::Value)> = sqlx::query_as(
        "SELECT row_no, cells FROM import_rows WHERE import_id = $1 ORDER BY row_no",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let headers = current.headers.clone();
    let mut outcomes: Vec<(i32, Vec<serde_json::Value>, Option<Uuid>)> =
        Vec::with_capacity(rows.len());
    let (mut to_create, mut duplicates, mut invalid) = (0, 0, 0);
    match kind {
        ImportKind::Customers | ImportKind::Leads => {
            // Normalised identifiers of every row first, so duplicates are found in one query.
            let phone_country = settings::phone_country(conn, actor.workspace_id).await?;
            let mut prepared = Vec::with_capacity(rows.len());
            for (row_no, cells) in &rows {
                let cells: Vec<String> = serde_json::from_value(cells.clone()).unwrap_or_default();
                let m = Mapped::new(&headers, &mapping, &cells);
                let mut problems = Vec::new();
                let keys = if kind == ImportKind::Customers {
                    let mut input = customer_input(&m, &mut problems);
                    if let Err(e) = input.normalize(phone_country) {
                        problems.extend(field_problems(&e, &m, CUSTOMER_SOURCES));
                    }
                    (input.emails, input.phones, input.external_ids)
                } else {
                    let mut input = lead_input(&m, &mut problems);
                    if let Err(e) = input.normalize(phone_country) {
                        problems.extend(field_problems(&e, &m, &[]));
                    }
                    (input.email.into_iter().collect(), vec![], vec![])
                };
                prepared.push((*row_no, problems, keys));
            }
            let matches = match kind {
                ImportKind::Customers => {
                    customer_matches(conn, actor.workspace_id, &prepared).await?
                }
                _ => lead_matches(conn, actor.workspace_id, &prepared).await?,
            };
            // Two rows of one file with the same email are a problem the user must see.
            let mut seen: HashMap<String, i32> = HashMap::new();
            for (row_no, mut problems, (emails, _, _)) in prepared {
                for e in &emails {
                    if let Some(first) = seen.insert(e.clone(), row_no) {
                        problems.push(problem(
                            None,
                            format!("{e} also appears in row {first} of this file"),
                        ));
                    }
                }
                let matched = emails.iter().find_map(|e| matches.get(e).copied());
                if !problems.is_empty() {
                    invalid += 1;
                } else if matched.is_some() {
                    duplicates += 1;
                } else {
                    to_create += 1;
                }
                outcomes.push((row_no, problems, matched));
            }
        }
        ImportKind::Orders => {
            let (o, c, d, i) = validate_orders(conn, actor, &headers, &mapping, &rows).await?;
            outcomes = o;
            to_create = c;
            duplicates = d;
            invalid = i;
        }
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for chunk in outcomes.chunks(2000) {
        let nos: Vec<i32> = chunk.iter().map(|o| o.0).collect();
        let probs: Vec<serde_json::Value> = chunk.iter().map(|o| json!(o.1)).collect();
        let matches: Vec<Option<Uuid>> = chunk.iter().map(|o| o.2).collect();
        sqlx::query(
            "UPDATE import_rows r SET problems = u.p, match_id = u.m
               FROM unnest($2::int4[], $3::jsonb[], $4::uuid[]) AS u(n, p, m)
              WHERE r.import_id = $1 AND r.row_no = u.n",
        )
        .bind(id)
        .bind(&nos)
        .bind(&probs)
        .bind(&matches)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE imports SET mapping = $2, duplicate_mode = $3, status = 'validated', to_create = $4, duplicates = $5,
                invalid = $6, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(json!(mapping))
    .bind(duplicate_mode)
    .bind(to_create)
    .bind(duplicates)
    .bind(invalid)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    report(conn, actor, id).await
}

fn check_mapping(
    kind: ImportKind,
    headers: &[String],
    mapping: &[Option<String>],
) -> Result<(), CrmError> {
    let mut e = FieldErrors::default();
    if mapping.len() != headers.len() {
        e.add(
            "mapping",
            "Map each column of the file (or choose to ignore it).",
        );
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in mapping.iter().enumerate() {
        if let Some(f) = m {
            if !kind.fields().iter().any(|t| t.name == f) {
                e.add(
                    &format!("mapping[{i}]"),
                    format!("{f} is not a field of {}", kind.as_str()),
                );
            } else if let Some(prev) = seen.insert(f.as_str(), i) {
                e.add(
                    &format!("mapping[{i}]"),
                    format!(
                        "Column {} is already mapped to this field.",
                        headers.get(prev).cloned().unwrap_or_default()
                    ),
                );
            }
        }
    }
    for t in kind.fields().iter().filter(|t| t.required) {
        if !seen.contains_key(t.name) {
            e.add(
                &format!("mapping.{}", t.name),
                format!("Map a column to {}.", t.label),
            );
        }
    }
    let any = |names: &[&str]| names.iter().any(|n| seen.contains_key(n));
    match kind {
        ImportKind::Customers
            if !any(&["first_name", "last_name", "full_name", "email", "phone"]) =>
        {
            e.add(
                "mapping.customer",
                "Map at least a name, an email or a phone column.",
            );
        }
        ImportKind::Orders if !any(&["customer_email", "customer_external_id"]) => {
            e.add("mapping.customer", "Map the customer email or the customer external id, to find each order's customer.");
        }
        _ => {}
    }
    e.into_result().map_err(CrmError::Invalid)
}

type Prepared = (
    i32,
    Vec<serde_json::Value>,
    (Vec<String>, Vec<String>, Vec<ExternalId>),
);

async fn customer_matches(
    conn: &mut PgConnection,
    ws: Uuid,
    rows: &[Prepared],
) -> Result<HashMap<String, Uuid>, CrmError> {
    let emails: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.2 .0.iter().map(String::as_str))
        .collect();
    let found: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT i.value, i.customer_id FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id
          WHERE i.workspace_id = $1 AND i.kind = 'email' AND i.value = ANY($2) AND c.deleted_at IS NULL",
    )
    .bind(ws)
    .bind(&emails)
    .fetch_all(conn)
    .await?;
    Ok(found.into_iter().collect())
}

async fn lead_matches(
    conn: &mut PgConnection,
    ws: Uuid,
    rows: &[Prepared],
) -> Result<HashMap<String, Uuid>, CrmError> {
    let emails: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.2 .0.iter().map(String::as_str))
        .collect();
    let found: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (email) email, id FROM leads
          WHERE workspace_id = $1 AND email = ANY($2) AND deleted_at IS NULL AND status <> 'converted'
          ORDER BY email, created_at DESC",
    )
    .bind(ws)
    .bind(&emails)
    .fetch_all(conn)
    .await?;
    Ok(found.into_iter().collect())
}

struct OrderGroup {
    rows: Vec<i32>,
    input: OrderInput,
}

type Outcome = (i32, Vec<serde_json::Value>, Option<Uuid>);

/// Groups order-line rows into orders; every row of an order with a problem carries it.
async fn build_orders(
    conn: &mut PgConnection,
    ws: Uuid,
    headers: &[String],
    mapping: &[Option<String>],
    rows: &[(i32, serde_json::Value)],
) -> Result<(Vec<OrderGroup>, HashMap<i32, Vec<serde_json::Value>>), CrmError> {
    let mut problems: HashMap<i32, Vec<serde_json::Value>> = HashMap::new();
    let mut groups: Vec<OrderGroup> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // (order group, customer email, customer external id, first row, column to blame)
    type CustomerKey = (usize, Option<String>, Option<String>, i32, String);
    let mut customer_keys: Vec<CustomerKey> = Vec::new();
    for (row_no, cells) in rows {
        let cells: Vec<String> = serde_json::from_value(cells.clone()).unwrap_or_default();
        let m = Mapped::new(headers, mapping, &cells);
        let mut p = Vec::new();
        let Some(number) = m.get("number").map(str::to_string) else {
            problems.entry(*row_no).or_default().push(problem(
                Some(m.column("number")),
                "The order number is empty.",
            ));
            continue;
        };
        let currency = m.get("currency").unwrap_or("USD").to_uppercase();
        let qty = m.get("quantity").and_then(|q| q.parse::<i32>().ok());
        if qty.is_none() {
            p.push(problem(
                Some(m.column("quantity")),
                format!(
                    "`{}` is not a whole number",
                    m.get("quantity").unwrap_or("")
                ),
            ));
        }
        let price = match m.get("unit_price").map(|v| parse_minor(v, &currency)) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                p.push(problem(Some(m.column("unit_price")), e));
                0
            }
            None => {
                p.push(problem(
                    Some(m.column("unit_price")),
                    "The unit price is empty.",
                ));
                0
            }
        };
        let discount = match m.get("discount").map(|v| parse_minor(v, &currency)) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                p.push(problem(Some(m.column("discount")), e));
                0
            }
            None => 0,
        };
        let line = OrderLineInput {
            sku: m.get("sku").map(str::to_string),
            description: m.get("description").unwrap_or("").to_string(),
            quantity: qty.unwrap_or(0),
            unit_price_minor: price,
            discount_minor: discount,
        };
        let gi = match index.get(&number) {
            Some(&gi) => gi,
            None => {
                let mut input = OrderInput {
                    number: number.clone(),
                    customer_id: Uuid::nil(),
                    account_id: None,
                    status: domain::crm::OrderStatus::Paid,
                    channel: domain::crm::SalesChannel::Web,
                    currency: currency.clone(),
                    ordered_at: None,
                    owner_id: None,
                    lines: vec![],
                };
                if let Some(s) = m.get("status") {
                    match s.to_lowercase().parse() {
                        Ok(s) => input.status = s,
                        Err(e) => p.push(problem(Some(m.column("status")), format!("`{s}`: {e}"))),
                    }
                }
                if let Some(c) = m.get("channel") {
                    match c.to_lowercase().parse() {
                        Ok(c) => input.channel = c,
                        Err(e) => p.push(problem(Some(m.column("channel")), format!("`{c}`: {e}"))),
                    }
                }
                if let Some(t) = m.get("ordered_at") {
                    match crate::list::parse_instant_pub(t) {
                        Some(t) => input.ordered_at = Some(t),
                        None => p.push(problem(
                            Some(m.column("ordered_at")),
                            format!("`{t}` is not a date or RFC 3339 time"),
                        )),
                    }
                }
                groups.push(OrderGroup {
                    rows: vec![],
                    input,
                });
                index.insert(number.clone(), groups.len() - 1);
                customer_keys.push((
                    groups.len() - 1,
                    m.get("customer_email")
                        .map(domain::validation::normalize_email),
                    m.get("customer_external_id").map(str::to_string),
                    *row_no,
                    m.column(if m.get("customer_email").is_some() {
                        "customer_email"
                    } else {
                        "customer_external_id"
                    }),
                ));
                groups.len() - 1
            }
        };
        groups[gi].rows.push(*row_no);
        groups[gi].input.lines.push(line);
        if !p.is_empty() {
            problems.entry(*row_no).or_default().extend(p);
        }
    }
    // Customers of all orders in two queries.
    let emails: Vec<String> = customer_keys.iter().filter_map(|k| k.1.clone()).collect();
    let ext: Vec<String> = customer_keys.iter().filter_map(|k| k.2.clone()).collect();
    let found: Vec<(String, String, Uuid)> = sqlx::query_as(
        "SELECT i.kind, i.value, i.customer_id FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id
          WHERE i.workspace_id = $1 AND c.deleted_at IS NULL
            AND ((i.kind = 'email' AND i.value = ANY($2)) OR (i.kind = 'external_id' AND i.value = ANY($3)))",
    )
    .bind(ws)
    .bind(&emails)
    .bind(&ext)
    .fetch_all(conn)
    .await?;
    let by: HashMap<(String, String), Uuid> =
        found.into_iter().map(|(k, v, id)| ((k, v), id)).collect();
    for (gi, email, ext, row_no, column) in customer_keys {
        let id = email
            .as_ref()
            .and_then(|e| by.get(&("email".to_string(), e.clone())))
            .or_else(|| {
                ext.as_ref()
                    .and_then(|x| by.get(&("external_id".to_string(), x.clone())))
            });
        match id {
            Some(id) => groups[gi].input.customer_id = *id,
            None => problems.entry(row_no).or_default().push(problem(
                Some(column),
                format!(
                    "No customer with {} in this workspace; import customers first.",
                    email.or(ext).unwrap_or_else(|| "an email or id".into())
                ),
            )),
        }
    }
    for g in &mut groups {
        if let Err(e) = g.input.clone().normalize() {
            let first = g.rows[0];
            for (field, msg) in e.0 {
                let row = field
                    .strip_prefix("lines[")
                    .and_then(|r| r.split(']').next())
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| g.rows.get(i).copied())
                    .unwrap_or(first);
                problems
                    .entry(row)
                    .or_default()
                    .push(problem(Some(field), msg));
            }
        }
    }
    Ok((groups, problems))
}

async fn validate_orders(
    conn: &mut PgConnection,
    actor: &Actor,
    headers: &[String],
    mapping: &[Option<String>],
    rows: &[(i32, serde_json::Value)],
) -> Result<(Vec<Outcome>, i32, i32, i32), CrmError> {
    let (groups, problems) = build_orders(conn, actor.workspace_id, headers, mapping, rows).await?;
    let numbers: Vec<String> = groups.iter().map(|g| g.input.number.clone()).collect();
    let existing: HashMap<String, Uuid> = sqlx::query_as::<_, (String, Uuid)>(
        "SELECT number, id FROM orders WHERE workspace_id = $1 AND number = ANY($2)",
    )
    .bind(actor.workspace_id)
    .bind(&numbers)
    .fetch_all(conn)
    .await?
    .into_iter()
    .collect();
    let mut outcomes = Vec::new();
    let (mut create, mut dup, mut bad) = (0, 0, 0);
    for g in &groups {
        let group_bad = g.rows.iter().any(|r| problems.contains_key(r));
        let matched = existing.get(&g.input.number).copied();
        if group_bad {
            bad += 1;
        } else if matched.is_some() {
            dup += 1;
        } else {
            create += 1;
        }
        for r in &g.rows {
            let mut p = problems.get(r).cloned().unwrap_or_default();
            if group_bad && p.is_empty() {
                p.push(problem(
                    None,
                    format!(
                        "Another row of order {} has a problem, so the order is not imported.",
                        g.input.number
                    ),
                ));
            }
            outcomes.push((*r, p, matched));
        }
    }
    // Rows without an order number never formed a group.
    for (r, p) in &problems {
        if !outcomes.iter().any(|o| o.0 == *r) {
            bad += 1;
            outcomes.push((*r, p.clone(), None));
        }
    }
    outcomes.sort_by_key(|o| o.0);
    Ok((outcomes, create, dup, bad))
}

/// Runs a validated import in the background; progress is visible through [`report`].
pub async fn start(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<ImportReport, CrmError> {
    actor.check_create()?;
    let mut conn = pool.acquire().await?;
    let n = sqlx::query("UPDATE imports SET status = 'running', updated_at = now() WHERE id = $1 AND workspace_id = $2 AND status = 'validated'")
        .bind(id)
        .bind(actor.workspace_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(CrmError::field(
            "import",
            "Validate the file (dry run) before importing; an import runs once.",
        ));
    }
    let bg_pool = pool.clone();
    let bg_actor = actor.clone();
    tokio::spawn(async move {
        let pool = bg_pool;
        if let Err(e) = run(&pool, &bg_actor, id).await {
            tracing::error!(import = %id, error = %e, "import failed");
            let _ = sqlx::query("UPDATE imports SET status = 'failed', error = $2, updated_at = now() WHERE id = $1")
                .bind(id)
                .bind(e.to_string())
                .execute(&pool)
                .await;
        }
    });
    report(&mut conn, actor, id).await
}

/// Imports every valid row; each row ends created, updated, skipped or failed with a reason.
pub async fn run(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<(), CrmError> {
    let mut conn = pool.acquire().await?;
    let rep = report(&mut conn, actor, id).await?;
    let rows: Vec<(i32, serde_json::Value, serde_json::Value, Option<Uuid>)> = sqlx::query_as(
        "SELECT row_no, cells, problems, match_id FROM import_rows WHERE import_id = $1 AND outcome IS NULL ORDER BY row_no",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    match rep.kind {
        ImportKind::Customers | ImportKind::Leads => {
            for (row_no, cells, problems, matched) in rows {
                if problems.as_array().is_some_and(|a| !a.is_empty()) {
                    mark(&mut conn, id, vec![row_no], "failed", None, None).await?;
                    continue;
                }
                if matched.is_some() && rep.duplicate_mode == DuplicateMode::Skip {
                    mark(
                        &mut conn,
                        id,
                        vec![row_no],
                        "skipped",
                        matched,
                        Some(json!([problem(
                            None,
                            "Matches an existing record; skipped as chosen."
                        )])),
                    )
                    .await?;
                    continue;
                }
                let cells: Vec<String> = serde_json::from_value(cells).unwrap_or_default();
                let m = Mapped::new(&rep.headers, &rep.mapping, &cells);
                let result = if rep.kind == ImportKind::Customers {
                    import_customer(&mut conn, actor, &m, matched).await
                } else {
                    import_lead(&mut conn, actor, &m, matched).await
                };
                match result {
                    Ok((rid, created)) => {
                        mark(
                            &mut conn,
                            id,
                            vec![row_no],
                            if created { "created" } else { "updated" },
                            Some(rid),
                            None,
                        )
                        .await?
                    }
                    Err(e) => {
                        mark(
                            &mut conn,
                            id,
                            vec![row_no],
                            "failed",
                            None,
                            Some(json!([problem(None, e.to_string())])),
                        )
                        .await?
                    }
                }
            }
        }
        ImportKind::Orders => {
            let all: Vec<(i32, serde_json::Value)> =
                rows.iter().map(|r| (r.0, r.1.clone())).collect();
            let bad: HashMap<i32, bool> = rows
                .iter()
                .map(|r| (r.0, r.2.as_array().is_some_and(|a| !a.is_empty())))
                .collect();
            let (groups, _) = build_orders(
                &mut conn,
                actor.workspace_id,
                &rep.headers,
                &rep.mapping,
                &all,
            )
            .await?;
            let matched: HashMap<i32, Option<Uuid>> = rows.iter().map(|r| (r.0, r.3)).collect();
            let grouped: Vec<i32> = groups.iter().flat_map(|g| g.rows.clone()).collect();
            let orphans: Vec<i32> = rows
                .iter()
                .map(|r| r.0)
                .filter(|r| !grouped.contains(r))
                .collect();
            if !orphans.is_empty() {
                mark(&mut conn, id, orphans, "failed", None, None).await?;
            }
            for g in groups {
                if g.rows.iter().any(|r| bad.get(r).copied().unwrap_or(false)) {
                    mark(&mut conn, id, g.rows, "failed", None, None).await?;
                    continue;
                }
                let existing = matched.get(&g.rows[0]).copied().flatten();
                let result = match existing {
                    Some(oid) if rep.duplicate_mode == DuplicateMode::Skip => {
                        mark(
                            &mut conn,
                            id,
                            g.rows,
                            "skipped",
                            Some(oid),
                            Some(json!([problem(
                                None,
                                "An order with this number exists; skipped as chosen."
                            )])),
                        )
                        .await?;
                        continue;
                    }
                    Some(oid) => match orders::get(&mut conn, actor, oid).await {
                        Ok(o) => orders::update(&mut conn, actor, oid, o.version, g.input)
                            .await
                            .map(|o| (o.id, false)),
                        Err(e) => Err(e),
                    },
                    None => orders::create(&mut conn, actor, g.input)
                        .await
                        .map(|o| (o.id, true)),
                };
                match result {
                    Ok((rid, created)) => {
                        mark(
                            &mut conn,
                            id,
                            g.rows,
                            if created { "created" } else { "updated" },
                            Some(rid),
                            None,
                        )
                        .await?
                    }
                    Err(e) => {
                        mark(
                            &mut conn,
                            id,
                            g.rows,
                            "failed",
                            None,
                            Some(json!([problem(None, e.to_string())])),
                        )
                        .await?
                    }
                }
            }
        }
    }
    sqlx::query("UPDATE imports SET status = 'done', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records the outcome of rows (one customer or lead, or the lines of one order) and counts it.
async fn mark(
    conn: &mut PgConnection,
    id: Uuid,
    rows: Vec<i32>,
    outcome: &'static str,
    record_id: Option<Uuid>,
    problems: Option<serde_json::Value>,
) -> Result<(), CrmError> {
    sqlx::query(
        "WITH u AS (UPDATE import_rows SET outcome = $3, record_id = $4, problems = coalesce($5, problems)
                     WHERE import_id = $1 AND row_no = ANY($2) RETURNING 1)
         UPDATE imports SET processed = processed + (SELECT count(*) FROM u),
                created = created + CASE WHEN $3 = 'created' THEN 1 ELSE 0 END,
                updated = updated + CASE WHEN $3 = 'updated' THEN 1 ELSE 0 END,
                skipped = skipped + CASE WHEN $3 = 'skipped' THEN 1 ELSE 0 END,
                failed = failed + CASE WHEN $3 = 'failed' THEN 1 ELSE 0 END,
                updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(rows)
    .bind(outcome)
    .bind(record_id)
    .bind(problems)
    .execute(conn)
    .await?;
    Ok(())
}

async fn import_customer(
    conn: &mut PgConnection,
    actor: &Actor,
    m: &Mapped<'_>,
    matched: Option<Uuid>,
) -> Result<(Uuid, bool), CrmError> {
    let mut ignored = Vec::new();
    let row = customer_input(m, &mut ignored);
    match matched {
        None => customers::create(conn, actor, row)
            .await
            .map(|c| (c.id, true)),
        Some(id) => {
            let existing = customers::get(conn, actor, id).await?;
            let mut input = customers::to_input(&existing);
            // Values in the file win; identifiers are added, never removed.
            if !row.first_name.is_empty() {
                input.first_name = row.first_name;
            }
            if !row.last_name.is_empty() {
                input.last_name = row.last_name;
            }
            for e in row.emails {
                if !input.emails.contains(&e.to_lowercase()) {
                    input.emails.push(e);
                }
            }
            for p in row.phones {
                input.phones.push(p);
            }
            for x in row.external_ids {
                if !input.external_ids.contains(&x) {
                    input.external_ids.push(x);
                }
            }
            input.time_zone = row.time_zone.or(input.time_zone);
            input.locale = row.locale.or(input.locale);
            if m.get("lifecycle_stage").is_some() {
                input.lifecycle_stage = row.lifecycle_stage;
            }
            if m.get("consent_email").is_some() {
                input.consent.email = row.consent.email;
            }
            if m.get("consent_sms").is_some() {
                input.consent.sms = row.consent.sms;
            }
            customers::update(conn, actor, id, existing.version, input)
                .await
                .map(|c| (c.id, false))
        }
    }
}

async fn import_lead(
    conn: &mut PgConnection,
    actor: &Actor,
    m: &Mapped<'_>,
    matched: Option<Uuid>,
) -> Result<(Uuid, bool), CrmError> {
    let mut ignored = Vec::new();
    let row = lead_input(m, &mut ignored);
    match matched {
        None => leads::create(conn, actor, row).await.map(|l| (l.id, true)),
        Some(id) => {
            let existing = leads::get(conn, actor, id).await?;
            let mut input = leads::to_input(&existing);
            input.first_name = if row.first_name.is_empty() {
                input.first_name
            } else {
                row.first_name
            };
            input.last_name = if row.last_name.is_empty() {
                input.last_name
            } else {
                row.last_name
            };
            input.phone = row.phone.or(input.phone);
            input.company_name = row.company_name.or(input.company_name);
            input.title = row.title.or(input.title);
            if m.get("status").is_some() {
                input.status = row.status;
            }
            input.estimated_value_minor = row.estimated_value_minor.or(input.estimated_value_minor);
            leads::update(conn, actor, id, existing.version, input)
                .await
                .map(|l| (l.id, false))
        }
    }
}

/// Every row with its outcome and problems, as CSV (the original columns plus two).
pub async fn outcomes_csv(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<String, CrmError> {
    let rep = report(conn, actor, id).await?;
    type OutcomeRow = (
        i32,
        serde_json::Value,
        serde_json::Value,
        Option<String>,
        Option<Uuid>,
    );
    let rows: Vec<OutcomeRow> = sqlx::query_as(
        "SELECT row_no, cells, problems, outcome, record_id FROM import_rows WHERE import_id = $1 ORDER BY row_no",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "row".to_string(),
        "outcome".into(),
        "problems".into(),
        "record_id".into(),
    ];
    header.extend(rep.headers);
    let to_err = |e: csv::Error| CrmError::BadQuery(e.to_string());
    w.write_record(&header).map_err(to_err)?;
    for (row, cells, problems, outcome, record_id) in rows {
        let cells: Vec<String> = serde_json::from_value(cells).unwrap_or_default();
        let problems: Vec<String> = problems
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p.get("column").and_then(|c| c.as_str()) {
                Some(c) => format!("{c}: {}", p["message"].as_str().unwrap_or("")),
                None => p["message"].as_str().unwrap_or("").to_string(),
            })
            .collect();
        let mut rec = vec![
            row.to_string(),
            outcome.unwrap_or_else(|| "not imported".into()),
            problems.join("; "),
            record_id.map(|r| r.to_string()).unwrap_or_default(),
        ];
        rec.extend(cells);
        w.write_record(&rec).map_err(to_err)?;
    }
    String::from_utf8(
        w.into_inner()
            .map_err(|e| CrmError::BadQuery(e.to_string()))?,
    )
    .map_err(|e| CrmError::BadQuery(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse_minor;

    #[test]
    fn amounts_parse_into_minor_units_of_their_currency() {
        assert_eq!(parse_minor("1,234.5", "USD"), Ok(123450));
        assert_eq!(parse_minor("12", "EUR"), Ok(1200));
        assert_eq!(parse_minor("1500", "JPY"), Ok(1500));
        assert_eq!(
            parse_minor("12.345", "USD"),
            Err("`12.345` has more than 2 decimals for USD".into())
        );
        assert!(parse_minor("abc", "USD").is_err());
        assert_eq!(parse_minor("-3.10", "GBP"), Ok(-310));
    }
}
