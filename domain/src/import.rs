//! CSV import vocabulary shared by the import wizard and the import service: what can be
//! imported, which fields a column can map to, and the reports the wizard shows.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a CSV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "snake_case")
)]
pub enum ImportKind {
    Customers,
    Leads,
    /// One row per order line; rows with the same order number form one order.
    Orders,
}

impl ImportKind {
    /// Every kind, in menu order.
    pub const ALL: [ImportKind; 3] = [ImportKind::Customers, ImportKind::Leads, ImportKind::Orders];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Leads => "leads",
            ImportKind::Orders => "orders",
        }
    }

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            ImportKind::Customers => "Customers",
            ImportKind::Leads => "Leads",
            ImportKind::Orders => "Orders (one row per line)",
        }
    }

    /// The fields a column can map to.
    pub fn fields(self) -> &'static [TargetField] {
        match self {
            ImportKind::Customers => CUSTOMER_FIELDS,
            ImportKind::Leads => LEAD_FIELDS,
            ImportKind::Orders => ORDER_FIELDS,
        }
    }
}

impl std::str::FromStr for ImportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ImportKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| "must be customers, leads or orders".into())
    }
}

/// A field a CSV column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TargetField {
    /// Stable name used in mappings.
    pub name: &'static str,
    pub label: &'static str,
    /// Header spellings that map to this field automatically (lower-case, no punctuation).
    pub aliases: &'static [&'static str],
    /// A value is needed in every row.
    pub required: bool,
}

const fn f(
    name: &'static str,
    label: &'static str,
    aliases: &'static [&'static str],
    required: bool,
) -> TargetField {
    TargetField {
        name,
        label,
        aliases,
        required,
    }
}

const CUSTOMER_FIELDS: &[TargetField] = &[
    f(
        "first_name",
        "First name",
        &["first name", "firstname", "given name", "forename"],
        false,
    ),
    f(
        "last_name",
        "Last name",
        &["last name", "lastname", "surname", "family name"],
        false,
    ),
    f(
        "full_name",
        "Full name (split at the last space)",
        &["name", "full name", "customer name", "contact name"],
        false,
    ),
    f(
        "email",
        "Email",
        &["email", "email address", "e-mail", "mail"],
        false,
    ),
    f(
        "email2",
        "Second email",
        &["email 2", "secondary email", "other email"],
        false,
    ),
    f(
        "phone",
        "Phone",
        &["phone", "phone number", "mobile", "telephone", "tel"],
        false,
    ),
    f(
        "external_id",
        "External id",
        &["external id", "customer id", "id"],
        false,
    ),
    f(
        "external_system",
        "External id system",
        &["source", "system"],
        false,
    ),
    f(
        "time_zone",
        "Time zone",
        &["time zone", "timezone", "tz"],
        false,
    ),
    f("locale", "Locale", &["locale", "language"], false),
    f(
        "lifecycle_stage",
        "Stage",
        &["stage", "lifecycle stage", "status"],
        false,
    ),
    f(
        "consent_email",
        "Email consent",
        &[
            "email consent",
            "accepts marketing",
            "newsletter",
            "email opt in",
        ],
        false,
    ),
    f(
        "consent_sms",
        "SMS consent",
        &["sms consent", "sms opt in"],
        false,
    ),
];

const LEAD_FIELDS: &[TargetField] = &[
    f(
        "first_name",
        "First name",
        &["first name", "firstname", "given name"],
        false,
    ),
    f(
        "last_name",
        "Last name",
        &["last name", "lastname", "surname"],
        false,
    ),
    f(
        "full_name",
        "Full name (split at the last space)",
        &["name", "full name", "contact"],
        false,
    ),
    f(
        "email",
        "Email",
        &["email", "email address", "e-mail"],
        false,
    ),
    f(
        "phone",
        "Phone",
        &["phone", "phone number", "mobile"],
        false,
    ),
    f(
        "company_name",
        "Company",
        &[
            "company",
            "company name",
            "organisation",
            "organization",
            "account",
        ],
        false,
    ),
    f(
        "title",
        "Job title",
        &["title", "job title", "position", "role"],
        false,
    ),
    f(
        "source",
        "Source",
        &["source", "lead source", "channel"],
        false,
    ),
    f(
        "status",
        "Status",
        &["status", "lead status", "stage"],
        false,
    ),
    f(
        "estimated_value",
        "Estimated value (decimal)",
        &["value", "estimated value", "amount", "deal value"],
        false,
    ),
    f("currency", "Currency", &["currency"], false),
];

const ORDER_FIELDS: &[TargetField] = &[
    f(
        "number",
        "Order number",
        &["order number", "order", "order id", "number", "name"],
        true,
    ),
    f(
        "customer_email",
        "Customer email",
        &["email", "customer email", "buyer email"],
        false,
    ),
    f(
        "customer_external_id",
        "Customer external id",
        &["customer id", "customer external id"],
        false,
    ),
    f(
        "ordered_at",
        "Ordered at (date or RFC 3339)",
        &["date", "ordered at", "created at", "order date"],
        false,
    ),
    f(
        "status",
        "Status",
        &["status", "financial status", "order status"],
        false,
    ),
    f(
        "channel",
        "Channel",
        &["channel", "sales channel", "source"],
        false,
    ),
    f("currency", "Currency", &["currency"], false),
    f(
        "sku",
        "SKU",
        &["sku", "lineitem sku", "product code"],
        false,
    ),
    f(
        "description",
        "Line description",
        &["description", "lineitem name", "product", "item"],
        true,
    ),
    f(
        "quantity",
        "Quantity",
        &["quantity", "qty", "lineitem quantity"],
        true,
    ),
    f(
        "unit_price",
        "Unit price (decimal)",
        &["unit price", "price", "lineitem price"],
        true,
    ),
    f(
        "discount",
        "Line discount (decimal)",
        &["discount", "lineitem discount"],
        false,
    ),
];

/// Normalises a header for alias matching: lower-case, `_`/`-` as spaces, trimmed.
pub fn normalize_header(h: &str) -> String {
    h.trim()
        .to_lowercase()
        .replace(['_', '-', '.'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The field each header maps to by name, `None` for unknown headers; each field once.
pub fn suggest_mapping(kind: ImportKind, headers: &[String]) -> Vec<Option<String>> {
    let mut used = Vec::new();
    headers
        .iter()
        .map(|h| {
            let n = normalize_header(h);
            let hit = kind.fields().iter().find(|f| {
                !used.contains(&f.name)
                    && (f.name.replace('_', " ") == n
                        || f.aliases.iter().any(|a| normalize_header(a) == n))
            });
            hit.map(|f| {
                used.push(f.name);
                f.name.to_string()
            })
        })
        .collect()
}

/// What to do with a row that matches an existing record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "snake_case")
)]
pub enum DuplicateMode {
    /// Update the matched record with the row's values.
    Update,
    /// Leave the matched record alone and report the row as a duplicate.
    Skip,
}

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "snake_case")
)]
pub enum ImportStatus {
    Uploaded,
    Validated,
    Running,
    Done,
    Failed,
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowProblem {
    /// 1-based data row number (the header is row 0).
    pub row: i32,
    /// The CSV column, when one column is at fault.
    pub column: Option<String>,
    pub message: String,
}

/// The state of an import as the wizard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub id: Uuid,
    pub kind: ImportKind,
    pub filename: String,
    pub status: ImportStatus,
    pub headers: Vec<String>,
    pub mapping: Vec<Option<String>>,
    pub duplicate_mode: DuplicateMode,
    /// First rows of the file, for the mapping preview.
    pub sample: Vec<Vec<String>>,
    pub total_rows: i32,
    /// Rows (or orders) that would be / were created.
    pub to_create: i32,
    /// Rows that match an existing record.
    pub duplicates: i32,
    pub invalid: i32,
    /// Rows processed so far while running.
    pub processed: i32,
    pub created: i32,
    pub updated: i32,
    pub skipped: i32,
    pub failed: i32,
    /// Every problem found, in row order (capped at the first 1000 for display).
    pub problems: Vec<RowProblem>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_map_to_fields_by_alias_once_each() {
        let headers: Vec<String> = ["First Name", "E-mail", "Phone_Number", "Email", "Colour"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = suggest_mapping(ImportKind::Customers, &headers);
        assert_eq!(m[0].as_deref(), Some("first_name"));
        assert_eq!(m[1].as_deref(), Some("email"));
        assert_eq!(m[2].as_deref(), Some("phone"));
        assert_eq!(m[3], None, "email is already taken by E-mail");
        assert_eq!(m[4], None);
    }
}
