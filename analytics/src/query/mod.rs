//! The analytics query layer: a typed model of "which profiles" (conditions over profile
//! columns, traits, labels, the CRM join and event counts in a time window, in AND/OR/NOT
//! groups, with ordering and paging), rendered to SQL by one renderer whose [`Dialect`] says
//! what DuckDB and StarRocks spell differently. Searches, segments and dashboards all ask
//! through this model; user input reaches SQL only as bound parameters or validated names.

mod dialect;
pub mod reads;
mod render;

pub use dialect::{DuckDb, StarRocks};
pub(crate) use render::column_defs;
pub use render::{profile_count, profile_page, Dialect, Renderer, Sql, SUMMARY_COLUMNS};

use serde::{Deserialize, Serialize};

/// A value bound to a statement or read from a result row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Datum {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl From<&str> for Datum {
    fn from(v: &str) -> Self {
        Datum::Text(v.to_string())
    }
}

impl From<String> for Datum {
    fn from(v: String) -> Self {
        Datum::Text(v)
    }
}

impl From<i64> for Datum {
    fn from(v: i64) -> Self {
        Datum::Int(v)
    }
}

impl From<f64> for Datum {
    fn from(v: f64) -> Self {
        Datum::Float(v)
    }
}

impl From<bool> for Datum {
    fn from(v: bool) -> Self {
        Datum::Bool(v)
    }
}

impl<T: Into<Datum>> From<Option<T>> for Datum {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Datum::Null)
    }
}

/// A column of the profile table that a condition or an ordering may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    Profile,
    Display,
    Email,
    CrmCustomer,
    FirstSeen,
    LastSeen,
    EventsTotal,
    SessionsTotal,
    EventsToday,
    Events7d,
    Events30d,
    Orders30d,
    Revenue30d,
    DistinctPages7d,
}

impl Column {
    /// Every column, for pickers and the test that each exists in the profile table.
    pub const ALL: [Column; 14] = [
        Column::Profile,
        Column::Display,
        Column::Email,
        Column::CrmCustomer,
        Column::FirstSeen,
        Column::LastSeen,
        Column::EventsTotal,
        Column::SessionsTotal,
        Column::EventsToday,
        Column::Events7d,
        Column::Events30d,
        Column::Orders30d,
        Column::Revenue30d,
        Column::DistinctPages7d,
    ];

    /// The column's name in the profile table.
    pub fn name(self) -> &'static str {
        match self {
            Column::Profile => "profile",
            Column::Display => "display",
            Column::Email => "email",
            Column::CrmCustomer => "crm_customer",
            Column::FirstSeen => "first_seen",
            Column::LastSeen => "last_seen",
            Column::EventsTotal => "events_total",
            Column::SessionsTotal => "sessions_total",
            Column::EventsToday => "events_today",
            Column::Events7d => "events_7d",
            Column::Events30d => "events_30d",
            Column::Orders30d => "orders_30d",
            Column::Revenue30d => "revenue_30d",
            Column::DistinctPages7d => "distinct_pages_7d",
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// How a trait's text is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOp {
    Equals,
    /// Case-sensitive substring.
    Contains,
}

/// A half-open range of event time, `[from, to)` in ms. Relative windows ("last 7 days") are
/// turned into one by the caller's clock, so a query renders the same at any wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

/// Which profiles: a boolean tree of conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cond {
    /// Every condition holds (an empty list always holds).
    All(Vec<Cond>),
    /// Some condition holds (an empty list never holds).
    Any(Vec<Cond>),
    Not(Box<Cond>),
    /// A profile column compared with a value.
    Column {
        column: Column,
        cmp: Cmp,
        value: Datum,
    },
    /// The column has no value (never seen, no email, not joined to the CRM).
    Missing(Column),
    /// A top-level identify trait's text, by key (letters, digits and `_`).
    Trait {
        key: String,
        op: TextOp,
        value: String,
    },
    /// The profile currently carries the label.
    Label(String),
    /// Case-insensitive substring of any identifier, the display name or a trait value.
    Search(String),
    /// How many distinct events of one name the profile had in the window.
    Events {
        name: String,
        window: Window,
        cmp: Cmp,
        count: i64,
    },
}

impl Cond {
    /// The condition that always holds.
    pub fn always() -> Cond {
        Cond::All(Vec::new())
    }

    /// Both conditions.
    pub fn and(self, other: Cond) -> Cond {
        match self {
            Cond::All(mut v) => {
                v.push(other);
                Cond::All(v)
            }
            c => Cond::All(vec![c, other]),
        }
    }
}

/// One ordering key; missing values sort last either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub column: Column,
    pub descending: bool,
}

/// A page of profiles matching a condition: what searches and segment previews ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileFilter {
    pub cond: Cond,
    /// Ties (and an empty list) are broken by the profile id, so pages are stable.
    pub order: Vec<Order>,
    pub offset: u64,
    /// At most [`MAX_PAGE`]; at least 1.
    pub limit: u64,
}

/// The largest page a query returns.
pub const MAX_PAGE: u64 = 200;

impl ProfileFilter {
    /// Most recently active first: the profile list's order.
    pub fn recent_first(cond: Cond, offset: u64, limit: u64) -> Self {
        ProfileFilter {
            cond,
            order: vec![Order {
                column: Column::LastSeen,
                descending: true,
            }],
            offset,
            limit,
        }
    }
}

impl From<&crate::ProfileQuery> for ProfileFilter {
    fn from(q: &crate::ProfileQuery) -> Self {
        let mut cond = Cond::always();
        if !q.text.trim().is_empty() {
            cond = cond.and(Cond::Search(q.text.clone()));
        }
        if let Some(l) = &q.label {
            cond = cond.and(Cond::Label(l.clone()));
        }
        ProfileFilter::recent_first(cond, q.offset, q.limit)
    }
}
