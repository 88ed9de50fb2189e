//! Server side: turns CRM records into the workbench's view models.

use super::model::*;
use crm::{Actor, ListParams};
use domain::crm::*;
use domain::Role;
use sqlx::PgConnection;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Page size of workbench lists.
pub const PAGE: u32 = 50;

use crate::components::ui::rfc3339;

fn time_cell(t: OffsetDateTime) -> Cell {
    Cell::Time(rfc3339(t))
}

fn money(minor: i64, currency: &str) -> Cell {
    Cell::Money(format_money(minor, currency))
}

fn link(text: impl Into<String>, href: String) -> Cell {
    Cell::Link {
        text: text.into(),
        href,
    }
}

fn col(label: &str, sort: Option<&str>) -> Column {
    Column {
        label: label.into(),
        sort: sort.map(str::to_string),
        numeric: false,
    }
}

fn num(label: &str, sort: Option<&str>) -> Column {
    Column {
        label: label.into(),
        sort: sort.map(str::to_string),
        numeric: true,
    }
}

/// Names of the workspace's members, for owner columns and pickers.
pub async fn owners(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<Owner>, crm::CrmError> {
    Ok(crm::names::members(conn, workspace_id)
        .await?
        .into_iter()
        .map(|(id, name)| Owner { id, name })
        .collect())
}

struct Names {
    owners: HashMap<Uuid, String>,
    customers: HashMap<Uuid, String>,
    accounts: HashMap<Uuid, String>,
}

impl Names {
    /// The names a record page shows: every member, and these customers and accounts (any
    /// iterable of ids: an `Option`, an array, an iterator over a page).
    async fn load(
        conn: &mut PgConnection,
        workspace_id: Uuid,
        customer_ids: impl IntoIterator<Item = Uuid>,
        account_ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<Self, crm::CrmError> {
        let owners = owners(conn, workspace_id).await?;
        Self::load_with(conn, workspace_id, &owners, customer_ids, account_ids).await
    }

    /// Like [`Names::load`], with the workspace's members already at hand.
    async fn load_with(
        conn: &mut PgConnection,
        workspace_id: Uuid,
        owners: &[Owner],
        customer_ids: impl IntoIterator<Item = Uuid>,
        account_ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<Self, crm::CrmError> {
        let customer_ids: Vec<Uuid> = customer_ids.into_iter().collect();
        let account_ids: Vec<Uuid> = account_ids.into_iter().collect();
        Ok(Names {
            owners: owners.iter().map(|o| (o.id, o.name.clone())).collect(),
            customers: crm::names::customers(conn, workspace_id, &customer_ids).await?,
            accounts: crm::names::accounts(conn, workspace_id, &account_ids).await?,
        })
    }

    fn owner(&self, id: Option<Uuid>) -> Cell {
        match id {
            Some(id) => Cell::text(
                self.owners
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| "Former member".into()),
            ),
            None => Cell::Empty,
        }
    }

    fn customer(&self, id: Option<Uuid>) -> Cell {
        match id {
            Some(id) => link(
                self.customers
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| "(deleted customer)".into()),
                record_href(RecordKind::Customer, id),
            ),
            None => Cell::Empty,
        }
    }

    fn account(&self, id: Option<Uuid>) -> Cell {
        match id {
            Some(id) => link(
                self.accounts
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| "(deleted account)".into()),
                record_href(RecordKind::Account, id),
            ),
            None => Cell::Empty,
        }
    }
}

// The kind modules are children of this one so they share its private cell helpers and `Names`.
mod account;
mod activity;
mod contract;
mod customer;
mod lead;
mod membership;
mod order;
mod ticket;

/// The workbench's views of one record kind, its list and its record page. Adding a kind is a
/// module implementing this and a line in [`with_kind!`].
trait KindView {
    /// The kind these views show.
    const KIND: RecordKind;
    /// Title of the kind's list page.
    const TITLE: &'static str;
    /// Whether the list links to a form creating a record of this kind.
    const HAS_NEW_FORM: bool = false;

    /// Placeholder of the list's search box, shown when the kind's list can be searched.
    fn search_hint() -> String {
        format!("Search {}", Self::TITLE.to_lowercase())
    }

    /// One page of the kind's list.
    fn list(
        conn: &mut PgConnection,
        cx: &ListCx<'_>,
    ) -> impl std::future::Future<Output = Result<ListParts, crm::CrmError>> + Send;

    /// The page of one record.
    fn record(
        conn: &mut PgConnection,
        cx: RecordCx<'_>,
    ) -> impl std::future::Future<Output = Result<RecordView, crm::CrmError>> + Send;
}

/// What every record page is built from.
struct RecordCx<'a> {
    actor: &'a Actor,
    id: Uuid,
    /// The record's audit history, newest first.
    history: Vec<HistoryEntry>,
}

/// What every list is built from.
struct ListCx<'a> {
    actor: &'a Actor,
    /// The page's query, validated against the kind's list spec.
    params: ListParams,
    /// The workspace's members, for owner names and the owner filter.
    owners: Vec<Owner>,
    /// The day saved views such as "New this week" count from.
    today: time::Date,
}

impl ListCx<'_> {
    /// The names a list page shows: the members it already has, and these customers and
    /// accounts.
    async fn names(
        &self,
        conn: &mut PgConnection,
        customer_ids: impl IntoIterator<Item = Uuid>,
        account_ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<Names, crm::CrmError> {
        let ws = self.actor.workspace_id;
        Names::load_with(conn, ws, &self.owners, customer_ids, account_ids).await
    }
}

/// The parts of a [`ListView`] that differ by kind.
struct ListParts {
    columns: Vec<Column>,
    rows: Vec<Row>,
    next_cursor: Option<String>,
    filters: Vec<FilterView>,
    saved_views: Vec<SavedView>,
}

/// Evaluates `$body` with `$K` naming the [`KindView`] of `$kind`: the one table from record
/// kinds to their modules.
macro_rules! with_kind {
    ($kind:expr, $K:ident => $body:expr) => {
        match $kind {
            RecordKind::Customer => {
                type $K = customer::Customers;
                $body
            }
            RecordKind::Lead => {
                type $K = lead::Leads;
                $body
            }
            RecordKind::Account => {
                type $K = account::Accounts;
                $body
            }
            RecordKind::Order => {
                type $K = order::Orders;
                $body
            }
            RecordKind::Contract => {
                type $K = contract::Contracts;
                $body
            }
            RecordKind::Ticket => {
                type $K = ticket::Tickets;
                $body
            }
            RecordKind::Activity => {
                type $K = activity::Activities;
                $body
            }
            RecordKind::LoyaltyMembership => {
                type $K = membership::Memberships;
                $body
            }
        }
    };
}

fn badge(text: &str, tone: Tone) -> Cell {
    Cell::Badge {
        text: text.into(),
        tone,
    }
}

fn options<T: Copy>(
    all: &[T],
    label: impl Fn(T) -> (&'static str, &'static str),
) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), "Any".to_string())];
    v.extend(all.iter().map(|x| {
        let (value, text) = label(*x);
        (value.to_string(), text.to_string())
    }));
    v
}

fn owner_filter(owners: &[Owner]) -> FilterView {
    let mut options = vec![
        (String::new(), "Anyone".to_string()),
        ("me".into(), "Me".into()),
        ("none".into(), "Nobody".into()),
    ];
    options.extend(owners.iter().map(|o| (o.id.to_string(), o.name.clone())));
    FilterView {
        name: "owner_id".into(),
        label: "Owner".into(),
        options,
    }
}

/// A filter offering every value of a CRM enum, and "Any".
fn choice<T: TextEnum>(name: &str, label: &str) -> FilterView {
    filter(name, label, options(T::ALL, |s| (s.as_str(), s.label())))
}

fn filter(name: &str, label: &str, options: Vec<(String, String)>) -> FilterView {
    FilterView {
        name: name.into(),
        label: label.into(),
        options,
    }
}

fn yes_no(name: &str, label: &str) -> FilterView {
    filter(
        name,
        label,
        vec![
            (String::new(), "Any".into()),
            ("true".into(), "Yes".into()),
            ("false".into(), "No".into()),
        ],
    )
}

fn today() -> time::Date {
    OffsetDateTime::now_utc().date()
}

fn saved(label: &str, query: String) -> SavedView {
    SavedView {
        label: label.into(),
        query,
    }
}

/// Builds the list page of one record kind from the page's query string.
pub async fn list_view(
    conn: &mut PgConnection,
    actor: &Actor,
    role: Role,
    kind: RecordKind,
    query: &str,
) -> Result<ListView, crm::CrmError> {
    with_kind!(kind, K => list_of::<K>(conn, actor, role, query).await)
}

async fn list_of<K: KindView>(
    conn: &mut PgConnection,
    actor: &Actor,
    role: Role,
    query: &str,
) -> Result<ListView, crm::CrmError> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| crm::CrmError::BadQuery("the address has a malformed query string".into()))?;
    pairs.retain(|(_, v)| !v.is_empty());
    let spec = crm::list_spec(K::KIND);
    let mut params =
        ListParams::from_pairs(spec, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    params.limit = Some(PAGE);
    let owners = owners(conn, actor.workspace_id).await?;
    let can_create = role != Role::Marketer;
    let cx = ListCx {
        actor,
        params,
        owners,
        today: today(),
    };
    let parts = K::list(conn, &cx).await?;
    let new_href = (can_create && K::HAS_NEW_FORM).then(|| format!("{}/new", list_href(K::KIND)));
    Ok(ListView {
        kind: K::KIND,
        title: K::TITLE.into(),
        columns: parts.columns,
        rows: parts.rows,
        next_cursor: parts.next_cursor,
        filters: parts.filters,
        saved_views: parts.saved_views,
        search_hint: spec.search.map(|_| K::search_hint()),
        new_href,
    })
}

/// Field-by-field changes between two audit images, skipping bookkeeping fields.
pub fn diff(
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> Vec<FieldChange> {
    const SKIP: &[&str] = &["version", "updated_at", "created_at", "id"];
    let empty = serde_json::Map::new();
    let b = before.and_then(|v| v.as_object()).unwrap_or(&empty);
    let a = after.and_then(|v| v.as_object()).unwrap_or(&empty);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "—".to_string(),
        Some(serde_json::Value::String(s)) if s.is_empty() => "—".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    keys.into_iter()
        .filter(|k| !SKIP.contains(&k.as_str()) && show(b.get(*k)) != show(a.get(*k)))
        .map(|k| FieldChange {
            field: k.replace('_', " "),
            before: show(b.get(k)),
            after: show(a.get(k)),
        })
        .collect()
}

/// The audit history of a record for its page.
pub async fn history(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RecordKind,
    id: Uuid,
) -> Result<Vec<HistoryEntry>, crm::CrmError> {
    let entries = crm::audit::history(conn, actor, kind, id, 100).await?;
    Ok(entries
        .into_iter()
        .map(|e| HistoryEntry {
            at: rfc3339(e.at),
            actor: e.actor_name.unwrap_or_else(|| {
                if e.actor_token_id.is_some() {
                    "API token".into()
                } else {
                    "System".into()
                }
            }),
            action: e.action,
            changes: diff(e.before.as_ref(), e.after.as_ref()),
        })
        .collect())
}

async fn can_edit(conn: &mut PgConnection, actor: &Actor, owner: Option<Uuid>) -> bool {
    actor.check_edit(conn, owner).await.is_ok()
}

fn ymd(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn related(
    title: &str,
    columns: Vec<Column>,
    rows: Vec<Row>,
    more_href: Option<String>,
    empty: &str,
) -> RelatedList {
    RelatedList {
        title: title.into(),
        columns,
        rows,
        more_href,
        empty: empty.into(),
    }
}

impl Names {
    fn owner_name(&self, id: Option<Uuid>) -> String {
        id.and_then(|i| self.owners.get(&i).cloned())
            .map(|n| format!("by {n}"))
            .unwrap_or_default()
    }
}

/// Builds the page of one record.
pub async fn record_view(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RecordKind,
    id: Uuid,
) -> Result<RecordView, crm::CrmError> {
    let history = history(conn, actor, kind, id).await?;
    let cx = RecordCx { actor, id, history };
    with_kind!(kind, K => K::record(conn, cx).await)
}
