//! View models of the CRM workbench: tables, cells, filters and record pages, built on the
//! server from CRM records so one generic list and detail component renders every kind.

use domain::crm::RecordKind;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Colour of a badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tone {
    Neutral,
    Info,
    Good,
    Warn,
    Bad,
}

impl Tone {
    /// The CSS modifier class.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Neutral => "badge",
            Tone::Info => "badge badge--info",
            Tone::Good => "badge badge--good",
            Tone::Warn => "badge badge--warn",
            Tone::Bad => "badge badge--bad",
        }
    }
}

/// One table cell or field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    Text(String),
    Link {
        text: String,
        href: String,
    },
    Badge {
        text: String,
        tone: Tone,
    },
    /// Right-aligned formatted amount.
    Money(String),
    /// An RFC 3339 instant, shown in the viewer's time zone.
    Time(String),
    Empty,
}

impl Cell {
    /// Text, or empty for blank strings.
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        if s.trim().is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s)
        }
    }

    /// Text for optional values.
    pub fn opt(s: Option<impl Into<String>>) -> Cell {
        s.map(Cell::text).unwrap_or(Cell::Empty)
    }
}

/// A column of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub label: String,
    /// The `sort` name when the column is sortable.
    pub sort: Option<String>,
    pub numeric: bool,
}

/// A row of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: Uuid,
    pub cells: Vec<Cell>,
}

/// A filter control above a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterView {
    pub name: String,
    pub label: String,
    /// `(value, label)`; the first option is "any" with an empty value.
    pub options: Vec<(String, String)>,
}

/// A named, linkable list query such as "My open leads".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    pub label: String,
    /// Query string without `?`.
    pub query: String,
}

/// Everything a list page renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListView {
    pub kind: RecordKind,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub next_cursor: Option<String>,
    pub filters: Vec<FilterView>,
    pub saved_views: Vec<SavedView>,
    /// Placeholder of the search box; `None` when the list has no search.
    pub search_hint: Option<String>,
    /// Where "New" goes, when the viewer may create this kind here.
    pub new_href: Option<String>,
}

/// One change of one field in an audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// An audit entry as the history tab shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub changes: Vec<FieldChange>,
}

/// A titled table of related records on a record page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedList {
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// A link to the full, filtered list.
    pub more_href: Option<String>,
    pub empty: String,
}

/// One entry of a record's activity timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineItem {
    pub at: String,
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub href: Option<String>,
}

/// Everything a record page renders (the editable parts have their own forms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    pub kind: RecordKind,
    pub id: Uuid,
    pub title: String,
    pub subtitle: String,
    pub badges: Vec<(String, Tone)>,
    pub fields: Vec<(String, Cell)>,
    pub related: Vec<RelatedList>,
    pub timeline: Vec<TimelineItem>,
    pub history: Vec<HistoryEntry>,
    pub version: i32,
    /// Whether the viewer may change this record.
    pub can_edit: bool,
}

/// Members of the workspace for owner pickers and names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    pub id: Uuid,
    pub name: String,
}

/// Path of a record's page.
pub fn record_href(kind: RecordKind, id: Uuid) -> String {
    format!("/crm/{}/{id}", kind.collection())
}

/// Path of a kind's list.
pub fn list_href(kind: RecordKind) -> String {
    format!("/crm/{}", kind.collection())
}
