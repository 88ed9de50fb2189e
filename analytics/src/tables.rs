//! One descriptor per table — columns, types, keys — from which both engines' DDL, DuckDB's
//! staging and upserts, StarRocks' Stream Load rows and the reads' column lists are made, so a
//! column is named here and nowhere else. Each descriptor is written next to the batch row it
//! stores, field by column, so the row's cells cannot drift from the table.

use crate::batch::{EventRow, LabelRow, MergeRow, ProfileRow, SessionRow};
use crate::query::Datum;

/// A column's type, as both engines understand it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A short string with a length bound (StarRocks needs one for key and sort columns).
    Id(u32),
    /// Unbounded text (JSON documents, reasons, the search text).
    Text,
    BigInt,
    Double,
    Bool,
    TinyInt,
}

/// A column: name, type, whether it may be NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

/// A column type under construction in a descriptor (`id(64)`, `big().null()`).
#[derive(Debug, Clone, Copy)]
pub struct Ty(Kind, bool);

impl Ty {
    const fn null(self) -> Ty {
        Ty(self.0, true)
    }
}

const fn id(n: u32) -> Ty {
    Ty(Kind::Id(n), false)
}
const fn text() -> Ty {
    Ty(Kind::Text, false)
}
const fn big() -> Ty {
    Ty(Kind::BigInt, false)
}
const fn double() -> Ty {
    Ty(Kind::Double, false)
}
const fn boolean() -> Ty {
    Ty(Kind::Bool, false)
}

/// How rows are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// One row per key; a write of an existing key replaces (or keeps) it.
    Primary(&'static [&'static str]),
    /// Rows are appended; the key only sorts them (StarRocks' Duplicate Key tables).
    Duplicate(&'static [&'static str]),
}

impl Keys {
    /// The key's columns.
    pub fn columns(&self) -> &'static [&'static str] {
        match *self {
            Keys::Primary(k) | Keys::Duplicate(k) => k,
        }
    }
}

/// A table of the analytics store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// In table order; key columns come first (StarRocks requires it).
    pub columns: &'static [Col],
    pub keys: Keys,
    /// StarRocks' hash distribution column.
    pub distribute: &'static str,
    /// Columns only StarRocks stores, computed when a row is loaded (its merge conditions);
    /// DuckDB says the same in the upsert's WHERE.
    pub load_only: &'static [Col],
}

impl Table {
    /// `a, b, c`: every column, in table order.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The columns outside the key.
    pub fn values(&self) -> impl Iterator<Item = &'static Col> {
        let key = self.keys.columns();
        self.columns.iter().filter(move |c| !key.contains(&c.name))
    }

    /// Whether the table has the column.
    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }
}

/// A row of one table, its cells in the table's column order.
pub trait Record {
    /// The table the row belongs to.
    const TABLE: &'static Table;
    /// The row's values, one per column of [`Record::TABLE`].
    fn cells(&self) -> Vec<Datum>;
}

/// Makes a row's cells storable by both engines, so no row can be refused for its values and
/// hold up every row behind it: NUL characters (which neither engine's text takes everywhere)
/// become U+FFFD, and a value longer than its column's bound — in bytes, as StarRocks counts
/// them, not characters — keeps its head up to a character boundary and ends in `~` and 16
/// hex digits of its SHA-256, so two long values that share a head stay two keys. Each repair
/// is counted in `analytics_values_repaired_total`.
fn storable(table: &Table, mut cells: Vec<Datum>) -> Vec<Datum> {
    for (cell, col) in cells.iter_mut().zip(table.columns) {
        let Datum::Text(text) = cell else {
            continue;
        };
        let mut repaired = false;
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
            repaired = true;
        }
        if let Kind::Id(bound) = col.kind {
            let bound = bound as usize;
            if text.len() > bound {
                *text = shortened(text, bound);
                repaired = true;
            }
        }
        if repaired {
            metrics::counter!("analytics_values_repaired_total", "table" => table.name, "column" => col.name)
                .increment(1);
        }
    }
    cells
}

/// `text` in at most `bound` bytes: its head, `~`, and 16 hex digits of its SHA-256.
fn shortened(text: &str, bound: usize) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let suffix: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut head = bound.saturating_sub(suffix.len() + 1);
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    format!("{}~{suffix}", &text[..head])
}

/// Declares a table's descriptor and its row's cells from one list of `column <- field: type`.
macro_rules! table {
    (
        $(#[$doc:meta])*
        $konst:ident = $name:literal for $row:ty, $keys:expr, by $dist:literal,
        load_only $load_only:expr,
        { $($col:ident <- $field:tt : $ty:expr),* $(,)? }
    ) => {
        $(#[$doc])*
        pub const $konst: Table = Table {
            name: $name,
            columns: &[$(Col {
                name: stringify!($col),
                kind: $ty.0,
                nullable: $ty.1,
            }),*],
            keys: $keys,
            distribute: $dist,
            load_only: $load_only,
        };

        impl Record for $row {
            const TABLE: &'static Table = &$konst;
            fn cells(&self) -> Vec<Datum> {
                storable(&$konst, vec![$(Datum::from(self.$field.clone())),*])
            }
        }
    };
}

table! {
    /// Event detail, sorted by (workspace, profile, time); a replay may append an event twice
    /// in StarRocks, so reads collapse by `message_id`.
    EVENTS = "events" for EventRow, Keys::Duplicate(&["workspace", "profile", "ts"]),
    by "profile", load_only &[],
    {
        workspace <- workspace: id(64),
        profile <- profile: id(128),
        ts <- at: big(),
        message_id <- message_id: id(256),
        name <- name: id(256),
        properties <- properties: text().null(),
    }
}

table! {
    /// The profile wide table: one row per live profile, the newest revision kept.
    PROFILES = "profiles" for ProfileRow, Keys::Primary(&["workspace", "profile"]),
    by "profile", load_only &[],
    {
        workspace <- workspace: id(64),
        profile <- profile: id(128),
        revision <- revision: big(),
        display <- display: id(512),
        email <- email: id(320).null(),
        crm_customer <- crm_customer: id(64).null(),
        identifiers <- identifiers: text(),
        labels <- labels: text(),
        traits <- traits: text(),
        first_seen <- first_seen: big().null(),
        last_seen <- last_seen: big().null(),
        events_total <- events_total: big(),
        sessions_total <- sessions_total: big(),
        events_today <- events_today: big(),
        events_7d <- events_7d: big(),
        events_30d <- events_30d: big(),
        orders_30d <- orders_30d: big(),
        revenue_30d <- revenue_30d: double(),
        distinct_pages_7d <- distinct_pages_7d: big(),
        search <- search: text(),
    }
}

table! {
    /// The identity map: which profile holds each `kind:value` identifier.
    IDENTITIES = "identities" for (String, String, String),
    Keys::Primary(&["workspace", "identifier"]), by "identifier", load_only &[],
    {
        workspace <- 0: id(64),
        identifier <- 1: id(512),
        profile <- 2: id(128),
    }
}

table! {
    /// Merge history: a profile that merged into another, through which identifier.
    MERGES = "merges" for MergeRow, Keys::Primary(&["workspace", "from_profile"]),
    by "from_profile", load_only &[],
    {
        workspace <- workspace: id(64),
        from_profile <- from_profile: id(128),
        into_profile <- into_profile: id(128),
        via <- via: id(512),
        ts <- at: big(),
    }
}

table! {
    /// Label history: every set and clear, with its reason.
    LABEL_HISTORY = "label_history" for LabelRow, Keys::Primary(&["id"]), by "id",
    load_only &[],
    {
        id <- id: id(512),
        workspace <- workspace: id(64),
        profile <- profile: id(128),
        label <- label: id(128),
        is_set <- set: boolean(),
        ts <- at: big(),
        reason <- reason: text(),
    }
}

table! {
    /// Sessions; an ended session is final.
    SESSIONS = "sessions" for SessionRow, Keys::Primary(&["workspace", "session"]),
    by "session",
    // 1 once ended: StarRocks' merge condition keeps the higher phase, so a replayed start
    // never reopens an ended session.
    load_only &[Col { name: "phase", kind: Kind::TinyInt, nullable: false }],
    {
        workspace <- workspace: id(64),
        session <- session: id(256),
        profile <- profile: id(128),
        started_at <- started_at: big(),
        ended_at <- ended_at: big().null(),
        duration_ms <- duration_ms: big(),
        events <- events: big(),
    }
}

/// Every table, in creation order.
pub const TABLES: [&Table; 6] = [
    &EVENTS,
    &PROFILES,
    &IDENTITIES,
    &MERGES,
    &LABEL_HISTORY,
    &SESSIONS,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Column;

    #[test]
    fn key_columns_lead_every_table_in_key_order() {
        for t in TABLES {
            let key = t.keys.columns();
            let lead: Vec<_> = t.columns[..key.len()].iter().map(|c| c.name).collect();
            assert_eq!(lead, key, "{}", t.name);
            assert!(t.has(t.distribute), "{} distributes by a column", t.name);
        }
    }

    #[test]
    fn every_queryable_profile_column_is_in_the_profile_table() {
        for c in Column::ALL {
            assert!(PROFILES.has(c.name()), "{c:?}");
        }
    }

    #[test]
    fn a_row_has_one_cell_per_column() {
        let p = ProfileRow {
            workspace: "w".into(),
            profile: "p".into(),
            revision: 1,
            display: "Ada".into(),
            email: None,
            crm_customer: Some("c".into()),
            identifiers: "[]".into(),
            labels: "[]".into(),
            traits: "{}".into(),
            first_seen: None,
            last_seen: Some(2),
            events_total: 1,
            sessions_total: 1,
            events_today: 1,
            events_7d: 1,
            events_30d: 1,
            orders_30d: 0,
            revenue_30d: 0.5,
            distinct_pages_7d: 1,
            search: "ada".into(),
        };
        let cells = p.cells();
        assert_eq!(cells.len(), PROFILES.columns.len());
        assert_eq!(cells[4], Datum::Null, "email");
        assert_eq!(cells[17], Datum::Float(0.5), "revenue_30d");
        let id = ("w".to_string(), "email:a@x".to_string(), "p".to_string());
        assert_eq!(id.cells().len(), IDENTITIES.columns.len());
    }

    fn profile(display: &str, email: &str) -> ProfileRow {
        ProfileRow {
            workspace: "ws".into(),
            profile: "p_1".into(),
            display: display.into(),
            email: Some(email.into()),
            ..ProfileRow::default()
        }
    }

    fn text(cells: &[Datum], table: &Table, column: &str) -> String {
        let i = table.columns.iter().position(|c| c.name == column).unwrap();
        match &cells[i] {
            Datum::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_over_long_or_nul_bearing_value_is_repaired_to_fit_its_column() {
        // 300 characters of three bytes each: within 500 characters, over 512 bytes.
        let name = "鈴".repeat(300);
        let cells = profile(&format!("{name}\0"), "a@b.example").cells();
        let display = text(&cells, &PROFILES, "display");
        assert!(display.len() <= 512, "{} bytes", display.len());
        assert!(display.starts_with("鈴鈴"));
        assert!(!display.contains('\0'));
        let other = text(
            &profile(&format!("{name}x"), "a@b.example").cells(),
            &PROFILES,
            "display",
        );
        assert_ne!(display, other, "values sharing a head stay apart");
        assert_eq!(
            text(&cells, &PROFILES, "email"),
            "a@b.example",
            "fitting values are kept"
        );
    }
}
