//! Server side: turns CRM records into the workbench's view models.

use super::model::*;
use crm::{Actor, ListParams};
use domain::crm::*;
use domain::Role;
use sqlx::PgConnection;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
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
    async fn load(
        conn: &mut PgConnection,
        workspace_id: Uuid,
        customer_ids: Vec<Uuid>,
        account_ids: Vec<Uuid>,
    ) -> Result<Self, crm::CrmError> {
        let owners = owners(conn, workspace_id).await?;
        Self::load_with(conn, workspace_id, &owners, customer_ids, account_ids).await
    }

    /// Like [`Names::load`], with the workspace's members already at hand.
    async fn load_with(
        conn: &mut PgConnection,
        workspace_id: Uuid,
        owners: &[Owner],
        customer_ids: Vec<Uuid>,
        account_ids: Vec<Uuid>,
    ) -> Result<Self, crm::CrmError> {
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

fn lead_tone(s: LeadStatus) -> Tone {
    match s {
        LeadStatus::New => Tone::Info,
        LeadStatus::Contacted => Tone::Neutral,
        LeadStatus::Qualified => Tone::Warn,
        LeadStatus::Converted => Tone::Good,
        LeadStatus::Lost => Tone::Bad,
    }
}

fn order_tone(s: OrderStatus) -> Tone {
    match s {
        OrderStatus::Pending => Tone::Warn,
        OrderStatus::Paid => Tone::Info,
        OrderStatus::Fulfilled => Tone::Good,
        OrderStatus::Cancelled | OrderStatus::Refunded => Tone::Bad,
    }
}

fn ticket_tone(s: TicketStatus) -> Tone {
    match s {
        TicketStatus::Open => Tone::Warn,
        TicketStatus::Pending => Tone::Info,
        TicketStatus::Solved | TicketStatus::Closed => Tone::Good,
    }
}

fn contract_tone(s: ContractStatus) -> Tone {
    match s {
        ContractStatus::Active => Tone::Good,
        ContractStatus::Draft => Tone::Info,
        ContractStatus::Renewed => Tone::Neutral,
        ContractStatus::Expired | ContractStatus::Cancelled => Tone::Bad,
    }
}

fn stage_tone(s: LifecycleStage) -> Tone {
    match s {
        LifecycleStage::Prospect => Tone::Info,
        LifecycleStage::Customer => Tone::Good,
        LifecycleStage::Churned => Tone::Bad,
    }
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
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| crm::CrmError::BadQuery("the address has a malformed query string".into()))?;
    pairs.retain(|(_, v)| !v.is_empty());
    let spec = crm::list_spec(kind);
    let mut params =
        ListParams::from_pairs(spec, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    params.limit = Some(PAGE);
    let owners = owners(conn, actor.workspace_id).await?;
    let can_create = role != Role::Marketer;
    let t = today();
    let tomorrow = ymd(t + Duration::days(1));

    let (columns, rows, next_cursor, filters, saved_views, title) = match kind {
        RecordKind::Customer => {
            let page = crm::customers::list(conn, actor, &params).await?;
            let names = Names::load_with(
                conn,
                actor.workspace_id,
                &owners,
                vec![],
                page.items.iter().filter_map(|c| c.account_id).collect(),
            )
            .await?;
            let rows = page
                .items
                .iter()
                .map(|c| Row {
                    id: c.id,
                    cells: vec![
                        link(c.display_name(), record_href(kind, c.id)),
                        Cell::opt(c.emails.first().cloned()),
                        Cell::opt(c.phones.first().cloned()),
                        names.account(c.account_id),
                        badge(c.lifecycle_stage.label(), stage_tone(c.lifecycle_stage)),
                        names.owner(c.owner_id),
                        time_cell(c.created_at),
                    ],
                })
                .collect();
            (
                vec![
                    col("Name", Some("name")),
                    col("Email", None),
                    col("Phone", None),
                    col("Account", None),
                    col("Stage", None),
                    col("Owner", None),
                    col("Created", Some("created_at")),
                ],
                rows,
                page.next_cursor,
                vec![
                    owner_filter(&owners),
                    filter(
                        "lifecycle_stage",
                        "Stage",
                        options(LifecycleStage::ALL, |s| (s.as_str(), s.label())),
                    ),
                    yes_no("consent_email", "Email consent"),
                ],
                vec![
                    saved("My customers", "owner_id=me".into()),
                    saved("Emailable", "consent_email=true".into()),
                    saved(
                        "New this week",
                        format!(
                            "created_since={}&sort=-created_at",
                            ymd(t - Duration::days(7))
                        ),
                    ),
                    saved("Churned", "lifecycle_stage=churned".into()),
                ],
                "Customers",
            )
        }
        RecordKind::Lead => {
            let page = crm::leads::list(conn, actor, &params).await?;
            let names = Names::load_with(conn, actor.workspace_id, &owners, vec![], vec![]).await?;
            let rows = page
                .items
                .iter()
                .map(|l| Row {
                    id: l.id,
                    cells: vec![
                        link(l.display_name(), record_href(kind, l.id)),
                        Cell::opt(l.company_name.clone()),
                        badge(l.status.label(), lead_tone(l.status)),
                        Cell::text(l.source.label()),
                        l.estimated_value_minor
                            .map(|v| money(v, &l.currency))
                            .unwrap_or(Cell::Empty),
                        names.owner(l.owner_id),
                        time_cell(l.created_at),
                    ],
                })
                .collect();
            (
                vec![
                    col("Name", Some("name")),
                    col("Company", None),
                    col("Status", None),
                    col("Source", None),
                    num("Value", Some("value")),
                    col("Owner", None),
                    col("Created", Some("created_at")),
                ],
                rows,
                page.next_cursor,
                vec![
                    owner_filter(&owners),
                    filter(
                        "status",
                        "Status",
                        options(LeadStatus::ALL, |s| (s.as_str(), s.label())),
                    ),
                    filter(
                        "source",
                        "Source",
                        options(LeadSource::ALL, |s| (s.as_str(), s.label())),
                    ),
                ],
                vec![
                    saved(
                        "My open leads",
                        "owner_id=me&status=new,contacted,qualified".into(),
                    ),
                    saved("Qualified", "status=qualified&sort=-value".into()),
                    saved("Converted", "status=converted".into()),
                ],
                "Leads",
            )
        }
        RecordKind::Account => {
            let page = crm::accounts::list(conn, actor, &params).await?;
            let names = Names::load_with(conn, actor.workspace_id, &owners, vec![], vec![]).await?;
            let rows = page
                .items
                .iter()
                .map(|a| Row {
                    id: a.id,
                    cells: vec![
                        link(a.name.clone(), record_href(kind, a.id)),
                        Cell::opt(a.domain.clone()),
                        Cell::opt(a.industry.clone()),
                        a.employees
                            .map(|e| Cell::Money(e.to_string()))
                            .unwrap_or(Cell::Empty),
                        names.owner(a.owner_id),
                        time_cell(a.created_at),
                    ],
                })
                .collect();
            (
                vec![
                    col("Name", Some("name")),
                    col("Domain", None),
                    col("Industry", None),
                    num("Employees", None),
                    col("Owner", None),
                    col("Created", Some("created_at")),
                ],
                rows,
                page.next_cursor,
                vec![owner_filter(&owners)],
                vec![saved("My accounts", "owner_id=me".into())],
                "Accounts",
            )
        }
        RecordKind::Order => {
            let page = crm::orders::list(conn, actor, &params).await?;
            let names = Names::load_with(
                conn,
                actor.workspace_id,
                &owners,
                page.items.iter().map(|o| o.customer_id).collect(),
                vec![],
            )
            .await?;
            let rows = page
                .items
                .iter()
                .map(|o| Row {
                    id: o.id,
                    cells: vec![
                        link(o.number.clone(), record_href(kind, o.id)),
                        names.customer(Some(o.customer_id)),
                        badge(o.status.label(), order_tone(o.status)),
                        Cell::text(o.channel.label()),
                        money(o.total_minor, &o.currency),
                        time_cell(o.ordered_at),
                    ],
                })
                .collect();
            (
                vec![
                    col("Number", Some("number")),
                    col("Customer", None),
                    col("Status", None),
                    col("Channel", None),
                    num("Total", Some("total")),
                    col("Ordered", Some("ordered_at")),
                ],
                rows,
                page.next_cursor,
                vec![
                    filter(
                        "status",
                        "Status",
                        options(OrderStatus::ALL, |s| (s.as_str(), s.label())),
                    ),
                    filter(
                        "channel",
                        "Channel",
                        options(SalesChannel::ALL, |s| (s.as_str(), s.label())),
                    ),
                ],
                vec![
                    saved("Pending", "status=pending".into()),
                    saved("Today", format!("ordered_since={}", ymd(t))),
                    saved("Biggest", "sort=-total".into()),
                ],
                "Orders",
            )
        }
        RecordKind::Contract => {
            let page = crm::contracts::list(conn, actor, &params).await?;
            let names = Names::load_with(
                conn,
                actor.workspace_id,
                &owners,
                page.items.iter().filter_map(|c| c.customer_id).collect(),
                page.items.iter().filter_map(|c| c.account_id).collect(),
            )
            .await?;
            let rows = page
                .items
                .iter()
                .map(|c| Row {
                    id: c.id,
                    cells: vec![
                        link(c.title.clone(), record_href(kind, c.id)),
                        if c.account_id.is_some() {
                            names.account(c.account_id)
                        } else {
                            names.customer(c.customer_id)
                        },
                        badge(c.status.label(), contract_tone(c.status)),
                        Cell::text(ymd(c.renewal_date.unwrap_or(c.end_date))),
                        money(c.value_minor, &c.currency),
                        names.owner(c.owner_id),
                    ],
                })
                .collect();
            (
                vec![
                    col("Title", None),
                    col("With", None),
                    col("Status", None),
                    col("Renewal", Some("renewal_date")),
                    num("Value", Some("value")),
                    col("Owner", None),
                ],
                rows,
                page.next_cursor,
                vec![
                    owner_filter(&owners),
                    filter(
                        "status",
                        "Status",
                        options(ContractStatus::ALL, |s| (s.as_str(), s.label())),
                    ),
                ],
                vec![
                    saved(
                        "Renewals in 30 days",
                        format!(
                            "status=active&renewal_since={}&renewal_before={}",
                            ymd(t),
                            ymd(t + Duration::days(31))
                        ),
                    ),
                    saved("My active contracts", "owner_id=me&status=active".into()),
                ],
                "Contracts",
            )
        }
        RecordKind::Ticket => {
            let page = crm::tickets::list(conn, actor, &params).await?;
            let names = Names::load_with(
                conn,
                actor.workspace_id,
                &owners,
                page.items.iter().map(|t| t.customer_id).collect(),
                vec![],
            )
            .await?;
            let rows = page
                .items
                .iter()
                .map(|tk| Row {
                    id: tk.id,
                    cells: vec![
                        link(tk.subject.clone(), record_href(kind, tk.id)),
                        names.customer(Some(tk.customer_id)),
                        badge(tk.status.label(), ticket_tone(tk.status)),
                        badge(
                            tk.priority.label(),
                            if matches!(tk.priority, Priority::Urgent | Priority::High) {
                                Tone::Bad
                            } else {
                                Tone::Neutral
                            },
                        ),
                        Cell::text(tk.channel.label()),
                        time_cell(tk.opened_at),
                    ],
                })
                .collect();
            (
                vec![
                    col("Subject", None),
                    col("Customer", None),
                    col("Status", None),
                    col("Priority", Some("priority")),
                    col("Channel", None),
                    col("Opened", Some("opened_at")),
                ],
                rows,
                page.next_cursor,
                vec![
                    owner_filter(&owners),
                    filter(
                        "status",
                        "Status",
                        options(TicketStatus::ALL, |s| (s.as_str(), s.label())),
                    ),
                    filter(
                        "priority",
                        "Priority",
                        options(Priority::ALL, |s| (s.as_str(), s.label())),
                    ),
                ],
                vec![
                    saved(
                        "Open and urgent",
                        "status=open,pending&priority=urgent,high&sort=-priority".into(),
                    ),
                    saved("Assigned to me", "owner_id=me&status=open,pending".into()),
                ],
                "Tickets",
            )
        }
        RecordKind::Activity => {
            let page = crm::activities::list(conn, actor, &params).await?;
            let names = Names::load_with(
                conn,
                actor.workspace_id,
                &owners,
                page.items.iter().filter_map(|a| a.customer_id).collect(),
                vec![],
            )
            .await?;
            let rows = page
                .items
                .iter()
                .map(|a| Row {
                    id: a.id,
                    cells: vec![
                        Cell::text(a.subject.clone()),
                        badge(
                            a.kind.label(),
                            if a.kind == ActivityKind::Task {
                                Tone::Warn
                            } else {
                                Tone::Neutral
                            },
                        ),
                        names.customer(a.customer_id),
                        a.due_at.map(time_cell).unwrap_or(Cell::Empty),
                        match (a.kind, a.done_at) {
                            (ActivityKind::Task, Some(_)) => badge("Done", Tone::Good),
                            (ActivityKind::Task, None) => badge("Open", Tone::Warn),
                            _ => Cell::Empty,
                        },
                        names.owner(a.owner_id),
                        time_cell(a.occurred_at),
                    ],
                })
                .collect();
            (
                vec![
                    col("Subject", None),
                    col("Kind", None),
                    col("Customer", None),
                    col("Due", Some("due_at")),
                    col("State", None),
                    col("Owner", None),
                    col("When", Some("occurred_at")),
                ],
                rows,
                page.next_cursor,
                vec![
                    owner_filter(&owners),
                    filter(
                        "kind",
                        "Kind",
                        options(ActivityKind::ALL, |s| (s.as_str(), s.label())),
                    ),
                    yes_no("done", "Done"),
                ],
                vec![
                    saved(
                        "My tasks due today",
                        format!(
                            "kind=task&done=false&owner_id=me&due_before={tomorrow}&sort=due_at"
                        ),
                    ),
                    saved(
                        "My open tasks",
                        "kind=task&done=false&owner_id=me&sort=due_at".into(),
                    ),
                    saved("Calls and meetings", "kind=call,meeting".into()),
                ],
                "Activities",
            )
        }
        RecordKind::LoyaltyMembership => {
            let page = crm::loyalty::list(conn, actor, &params).await?;
            let names = Names::load_with(
                conn,
                actor.workspace_id,
                &owners,
                page.items.iter().map(|m| m.customer_id).collect(),
                vec![],
            )
            .await?;
            let rows = page
                .items
                .iter()
                .map(|m| Row {
                    id: m.id,
                    cells: vec![
                        names.customer(Some(m.customer_id)),
                        Cell::text(m.program.clone()),
                        badge(
                            m.tier.label(),
                            if matches!(m.tier, Tier::Gold | Tier::Platinum) {
                                Tone::Warn
                            } else {
                                Tone::Neutral
                            },
                        ),
                        Cell::Money(m.points.to_string()),
                        badge(
                            m.status.label(),
                            if m.status == LoyaltyStatus::Active {
                                Tone::Good
                            } else {
                                Tone::Neutral
                            },
                        ),
                        Cell::text(ymd(m.joined_on)),
                    ],
                })
                .collect();
            (
                vec![
                    col("Customer", None),
                    col("Programme", None),
                    col("Tier", None),
                    num("Points", Some("points")),
                    col("Status", None),
                    col("Joined", Some("joined_on")),
                ],
                rows,
                page.next_cursor,
                vec![
                    filter(
                        "tier",
                        "Tier",
                        options(Tier::ALL, |s| (s.as_str(), s.label())),
                    ),
                    filter(
                        "status",
                        "Status",
                        options(LoyaltyStatus::ALL, |s| (s.as_str(), s.label())),
                    ),
                ],
                vec![saved(
                    "Gold and platinum",
                    "tier=gold,platinum&sort=-points".into(),
                )],
                "Memberships",
            )
        }
    };
    let new_href = (can_create && matches!(kind, RecordKind::Customer | RecordKind::Lead))
        .then(|| format!("{}/new", list_href(kind)));
    Ok(ListView {
        kind,
        title: title.into(),
        columns,
        rows,
        next_cursor,
        filters,
        saved_views,
        search_hint: spec.search.map(|_| match kind {
            RecordKind::Customer => "Search name, email, phone or external id".to_string(),
            RecordKind::Order => "Search order number".to_string(),
            _ => format!("Search {}", title.to_lowercase()),
        }),
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

async fn related_of_customer(
    conn: &mut PgConnection,
    actor: &Actor,
    c: &Customer,
    names: &Names,
) -> Result<(Vec<RelatedList>, Vec<TimelineItem>), crm::CrmError> {
    let by =
        |k: &str| ListParams::from_pairs(crm::list_spec(RecordKind::Order), [("customer_id", k)]);
    let cid = c.id.to_string();
    let mut p = by(&cid)?;
    p.limit = Some(10);
    let orders = crm::orders::list(conn, actor, &p).await?;
    let q = |kind: RecordKind, sort: &'static str| -> Result<ListParams, crm::CrmError> {
        let mut p = ListParams::from_pairs(
            crm::list_spec(kind),
            [("customer_id", cid.as_str()), ("sort", sort)],
        )?;
        p.limit = Some(20);
        Ok(p)
    };
    let contracts =
        crm::contracts::list(conn, actor, &q(RecordKind::Contract, "-created_at")?).await?;
    let memberships = crm::loyalty::list(
        conn,
        actor,
        &q(RecordKind::LoyaltyMembership, "-created_at")?,
    )
    .await?;
    let tickets = crm::tickets::list(conn, actor, &q(RecordKind::Ticket, "-opened_at")?).await?;
    let activities =
        crm::activities::list(conn, actor, &q(RecordKind::Activity, "-occurred_at")?).await?;
    let filtered = |kind: RecordKind| Some(format!("{}?customer_id={}", list_href(kind), c.id));

    let mut timeline: Vec<TimelineItem> = Vec::new();
    for o in &orders.items {
        timeline.push(TimelineItem {
            at: rfc3339(o.ordered_at),
            kind: "order".into(),
            title: format!(
                "Order {} · {}",
                o.number,
                format_money(o.total_minor, &o.currency)
            ),
            detail: format!(
                "{} via {}",
                o.status.label(),
                o.channel.label().to_lowercase()
            ),
            href: Some(record_href(RecordKind::Order, o.id)),
        });
    }
    for t in &tickets.items {
        timeline.push(TimelineItem {
            at: rfc3339(t.opened_at),
            kind: "ticket".into(),
            title: format!("Ticket: {}", t.subject),
            detail: format!(
                "{} · {} priority",
                t.status.label(),
                t.priority.label().to_lowercase()
            ),
            href: Some(record_href(RecordKind::Ticket, t.id)),
        });
    }
    for a in &activities.items {
        timeline.push(TimelineItem {
            at: rfc3339(a.occurred_at),
            kind: a.kind.as_str().into(),
            title: format!("{}: {}", a.kind.label(), a.subject),
            detail: if a.body.is_empty() {
                names.owner_name(a.owner_id)
            } else {
                a.body.clone()
            },
            href: None,
        });
    }
    timeline.sort_by(|a, b| b.at.cmp(&a.at));
    timeline.truncate(40);

    let lists = vec![
        related(
            "Orders",
            vec![
                col("Number", None),
                col("Status", None),
                num("Total", None),
                col("Ordered", None),
            ],
            orders
                .items
                .iter()
                .map(|o| Row {
                    id: o.id,
                    cells: vec![
                        link(o.number.clone(), record_href(RecordKind::Order, o.id)),
                        badge(o.status.label(), order_tone(o.status)),
                        money(o.total_minor, &o.currency),
                        time_cell(o.ordered_at),
                    ],
                })
                .collect(),
            filtered(RecordKind::Order),
            "No orders yet.",
        ),
        related(
            "Contracts",
            vec![
                col("Title", None),
                col("Status", None),
                col("Ends", None),
                num("Value", None),
            ],
            contracts
                .items
                .iter()
                .map(|k| Row {
                    id: k.id,
                    cells: vec![
                        link(k.title.clone(), record_href(RecordKind::Contract, k.id)),
                        badge(k.status.label(), contract_tone(k.status)),
                        Cell::text(ymd(k.end_date)),
                        money(k.value_minor, &k.currency),
                    ],
                })
                .collect(),
            filtered(RecordKind::Contract),
            "No contracts.",
        ),
        related(
            "Membership",
            vec![
                col("Programme", None),
                col("Tier", None),
                num("Points", None),
                col("Status", None),
                col("Joined", None),
            ],
            memberships
                .items
                .iter()
                .map(|m| Row {
                    id: m.id,
                    cells: vec![
                        link(
                            m.program.clone(),
                            record_href(RecordKind::LoyaltyMembership, m.id),
                        ),
                        badge(m.tier.label(), Tone::Warn),
                        Cell::Money(m.points.to_string()),
                        Cell::text(m.status.label()),
                        Cell::text(ymd(m.joined_on)),
                    ],
                })
                .collect(),
            None,
            "Not a loyalty member.",
        ),
        related(
            "Tickets",
            vec![
                col("Subject", None),
                col("Status", None),
                col("Priority", None),
                col("Opened", None),
            ],
            tickets
                .items
                .iter()
                .map(|t| Row {
                    id: t.id,
                    cells: vec![
                        link(t.subject.clone(), record_href(RecordKind::Ticket, t.id)),
                        badge(t.status.label(), ticket_tone(t.status)),
                        Cell::text(t.priority.label()),
                        time_cell(t.opened_at),
                    ],
                })
                .collect(),
            filtered(RecordKind::Ticket),
            "No service history.",
        ),
        related(
            "Activities",
            vec![
                col("Subject", None),
                col("Kind", None),
                col("Owner", None),
                col("When", None),
            ],
            activities
                .items
                .iter()
                .map(|a| Row {
                    id: a.id,
                    cells: vec![
                        Cell::text(a.subject.clone()),
                        Cell::text(a.kind.label()),
                        names.owner(a.owner_id),
                        time_cell(a.occurred_at),
                    ],
                })
                .collect(),
            filtered(RecordKind::Activity),
            "No activities logged.",
        ),
    ];
    Ok((lists, timeline))
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
    let view = match kind {
        RecordKind::Customer => {
            let c = crm::customers::get(conn, actor, id).await?;
            let names = Names::load(
                conn,
                actor.workspace_id,
                vec![],
                c.account_id.into_iter().collect(),
            )
            .await?;
            let (related, timeline) = related_of_customer(conn, actor, &c, &names).await?;
            let consent: Vec<&str> = [
                ("Email", c.consent.email),
                ("SMS", c.consent.sms),
                ("Phone", c.consent.phone),
                ("Push", c.consent.push),
            ]
            .into_iter()
            .filter(|x| x.1)
            .map(|x| x.0)
            .collect();
            RecordView {
                kind,
                id,
                title: c.display_name(),
                subtitle: c.emails.first().cloned().unwrap_or_default(),
                badges: vec![(
                    c.lifecycle_stage.label().into(),
                    stage_tone(c.lifecycle_stage),
                )],
                fields: vec![
                    ("Emails".into(), Cell::text(c.emails.join(", "))),
                    ("Phones".into(), Cell::text(c.phones.join(", "))),
                    (
                        "External ids".into(),
                        Cell::text(
                            c.external_ids
                                .iter()
                                .map(|x| format!("{}: {}", x.namespace, x.value))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                    ),
                    ("Account".into(), names.account(c.account_id)),
                    ("Owner".into(), names.owner(c.owner_id)),
                    ("Time zone".into(), Cell::opt(c.time_zone.clone())),
                    (
                        "Consent".into(),
                        Cell::text(if consent.is_empty() {
                            "None".to_string()
                        } else {
                            consent.join(", ")
                        }),
                    ),
                    ("Created".into(), time_cell(c.created_at)),
                ],
                related,
                timeline,
                history,
                version: c.version,
                can_edit: can_edit(conn, actor, c.owner_id).await,
            }
        }
        RecordKind::Lead => {
            let l: Lead = crm::leads::get(conn, actor, id).await?;
            let names = Names::load(
                conn,
                actor.workspace_id,
                l.converted_customer_id.into_iter().collect(),
                l.converted_account_id.into_iter().collect(),
            )
            .await?;
            RecordView {
                kind,
                id,
                title: l.display_name(),
                subtitle: l.company_name.clone().unwrap_or_default(),
                badges: vec![(l.status.label().into(), lead_tone(l.status))],
                fields: vec![
                    ("Email".into(), Cell::opt(l.email.clone())),
                    ("Phone".into(), Cell::opt(l.phone.clone())),
                    ("Title".into(), Cell::opt(l.title.clone())),
                    ("Source".into(), Cell::text(l.source.label())),
                    (
                        "Estimated value".into(),
                        l.estimated_value_minor
                            .map(|v| money(v, &l.currency))
                            .unwrap_or(Cell::Empty),
                    ),
                    ("Owner".into(), names.owner(l.owner_id)),
                    ("Lost reason".into(), Cell::opt(l.lost_reason.clone())),
                    (
                        "Converted to".into(),
                        names.customer(l.converted_customer_id),
                    ),
                    ("Account".into(), names.account(l.converted_account_id)),
                    ("Created".into(), time_cell(l.created_at)),
                ],
                related: vec![],
                timeline: vec![],
                history,
                version: l.version,
                can_edit: can_edit(conn, actor, l.owner_id).await,
            }
        }
        RecordKind::Account => {
            let a: Account = crm::accounts::get(conn, actor, id).await?;
            let names = Names::load(conn, actor.workspace_id, vec![], vec![]).await?;
            let mut p = ListParams::from_pairs(
                crm::list_spec(RecordKind::Customer),
                [("account_id", id.to_string().as_str())],
            )?;
            p.limit = Some(20);
            let people = crm::customers::list(conn, actor, &p).await?;
            RecordView {
                kind,
                id,
                title: a.name.clone(),
                subtitle: a.domain.clone().unwrap_or_default(),
                badges: vec![],
                fields: vec![
                    ("Industry".into(), Cell::opt(a.industry.clone())),
                    (
                        "Employees".into(),
                        Cell::opt(a.employees.map(|e| e.to_string())),
                    ),
                    (
                        "Annual revenue".into(),
                        a.annual_revenue_minor
                            .map(|v| money(v, &a.currency))
                            .unwrap_or(Cell::Empty),
                    ),
                    ("Owner".into(), names.owner(a.owner_id)),
                    ("Created".into(), time_cell(a.created_at)),
                ],
                related: vec![related(
                    "People",
                    vec![col("Name", None), col("Email", None), col("Stage", None)],
                    people
                        .items
                        .iter()
                        .map(|c| Row {
                            id: c.id,
                            cells: vec![
                                link(c.display_name(), record_href(RecordKind::Customer, c.id)),
                                Cell::opt(c.emails.first().cloned()),
                                badge(c.lifecycle_stage.label(), stage_tone(c.lifecycle_stage)),
                            ],
                        })
                        .collect(),
                    Some(format!("/crm/customers?account_id={id}")),
                    "Nobody from this account yet.",
                )],
                timeline: vec![],
                history,
                version: a.version,
                can_edit: can_edit(conn, actor, a.owner_id).await,
            }
        }
        RecordKind::Order => {
            let o = crm::orders::get(conn, actor, id).await?;
            let names = Names::load(
                conn,
                actor.workspace_id,
                vec![o.customer_id],
                o.account_id.into_iter().collect(),
            )
            .await?;
            RecordView {
                kind,
                id,
                title: format!("Order {}", o.number),
                subtitle: format_money(o.total_minor, &o.currency),
                badges: vec![(o.status.label().into(), order_tone(o.status))],
                fields: vec![
                    ("Customer".into(), names.customer(Some(o.customer_id))),
                    ("Account".into(), names.account(o.account_id)),
                    ("Channel".into(), Cell::text(o.channel.label())),
                    ("Ordered".into(), time_cell(o.ordered_at)),
                    ("Total".into(), money(o.total_minor, &o.currency)),
                    ("Owner".into(), names.owner(o.owner_id)),
                ],
                related: vec![related(
                    "Lines",
                    vec![
                        col("#", None),
                        col("SKU", None),
                        col("Description", None),
                        num("Qty", None),
                        num("Unit price", None),
                        num("Discount", None),
                        num("Line total", None),
                    ],
                    o.lines
                        .iter()
                        .map(|l| Row {
                            id: Uuid::from_u128(l.line_no as u128),
                            cells: vec![
                                Cell::text(l.line_no.to_string()),
                                Cell::opt(l.sku.clone()),
                                Cell::text(l.description.clone()),
                                Cell::Money(l.quantity.to_string()),
                                money(l.unit_price_minor, &o.currency),
                                money(l.discount_minor, &o.currency),
                                money(l.line_total_minor, &o.currency),
                            ],
                        })
                        .collect(),
                    None,
                    "No lines.",
                )],
                timeline: vec![],
                history,
                version: o.version,
                can_edit: can_edit(conn, actor, o.owner_id).await,
            }
        }
        RecordKind::Contract => {
            let k: Contract = crm::contracts::get(conn, actor, id).await?;
            let names = Names::load(
                conn,
                actor.workspace_id,
                k.customer_id.into_iter().collect(),
                k.account_id.into_iter().collect(),
            )
            .await?;
            RecordView {
                kind,
                id,
                title: k.title.clone(),
                subtitle: format_money(k.value_minor, &k.currency),
                badges: vec![(k.status.label().into(), contract_tone(k.status))],
                fields: vec![
                    ("Customer".into(), names.customer(k.customer_id)),
                    ("Account".into(), names.account(k.account_id)),
                    (
                        "Term".into(),
                        Cell::text(format!("{} – {}", ymd(k.start_date), ymd(k.end_date))),
                    ),
                    ("Renewal date".into(), Cell::opt(k.renewal_date.map(ymd))),
                    (
                        "Auto-renew".into(),
                        Cell::text(if k.auto_renew { "Yes" } else { "No" }),
                    ),
                    ("Owner".into(), names.owner(k.owner_id)),
                ],
                related: vec![],
                timeline: vec![],
                history,
                version: k.version,
                can_edit: can_edit(conn, actor, k.owner_id).await,
            }
        }
        RecordKind::LoyaltyMembership => {
            let m: LoyaltyMembership = crm::loyalty::get(conn, actor, id).await?;
            let names = Names::load(conn, actor.workspace_id, vec![m.customer_id], vec![]).await?;
            let tiers = crm::loyalty::tier_history(conn, actor, id).await?;
            RecordView {
                kind,
                id,
                title: format!("{} membership", m.tier.label()),
                subtitle: format!("{} points", m.points),
                badges: vec![(
                    m.status.label().into(),
                    if m.status == LoyaltyStatus::Active {
                        Tone::Good
                    } else {
                        Tone::Neutral
                    },
                )],
                fields: vec![
                    ("Customer".into(), names.customer(Some(m.customer_id))),
                    ("Programme".into(), Cell::text(m.program.clone())),
                    ("Joined".into(), Cell::text(ymd(m.joined_on))),
                    ("Expires".into(), Cell::opt(m.expires_on.map(ymd))),
                ],
                related: vec![related(
                    "Tier history",
                    vec![
                        col("From", None),
                        col("To", None),
                        col("Why", None),
                        col("When", None),
                    ],
                    tiers
                        .iter()
                        .enumerate()
                        .map(|(i, t)| Row {
                            id: Uuid::from_u128(i as u128),
                            cells: vec![
                                Cell::opt(t.from_tier.map(|x| x.label())),
                                Cell::text(t.to_tier.label()),
                                Cell::opt(t.reason.clone()),
                                time_cell(t.changed_at),
                            ],
                        })
                        .collect(),
                    None,
                    "No tier changes.",
                )],
                timeline: vec![],
                history,
                version: m.version,
                can_edit: false,
            }
        }
        RecordKind::Ticket => {
            let t: Ticket = crm::tickets::get(conn, actor, id).await?;
            let names = Names::load(conn, actor.workspace_id, vec![t.customer_id], vec![]).await?;
            RecordView {
                kind,
                id,
                title: t.subject.clone(),
                subtitle: t.description.chars().take(160).collect(),
                badges: vec![
                    (t.status.label().into(), ticket_tone(t.status)),
                    (format!("{} priority", t.priority.label()), Tone::Neutral),
                ],
                fields: vec![
                    ("Customer".into(), names.customer(Some(t.customer_id))),
                    ("Channel".into(), Cell::text(t.channel.label())),
                    ("Opened".into(), time_cell(t.opened_at)),
                    (
                        "Solved".into(),
                        t.solved_at.map(time_cell).unwrap_or(Cell::Empty),
                    ),
                    (
                        "Satisfaction".into(),
                        Cell::opt(t.satisfaction.map(|s| format!("{s} / 5"))),
                    ),
                    ("Reference".into(), Cell::opt(t.external_ref.clone())),
                    ("Assignee".into(), names.owner(t.owner_id)),
                ],
                related: vec![],
                timeline: vec![],
                history,
                version: t.version,
                can_edit: can_edit(conn, actor, t.owner_id).await,
            }
        }
        RecordKind::Activity => {
            let a: Activity = crm::activities::get(conn, actor, id).await?;
            let names = Names::load(
                conn,
                actor.workspace_id,
                a.customer_id.into_iter().collect(),
                a.account_id.into_iter().collect(),
            )
            .await?;
            RecordView {
                kind,
                id,
                title: a.subject.clone(),
                subtitle: a.body.clone(),
                badges: vec![(a.kind.label().into(), Tone::Neutral)],
                fields: vec![
                    ("Customer".into(), names.customer(a.customer_id)),
                    ("Account".into(), names.account(a.account_id)),
                    ("When".into(), time_cell(a.occurred_at)),
                    ("Due".into(), a.due_at.map(time_cell).unwrap_or(Cell::Empty)),
                    (
                        "Done".into(),
                        a.done_at.map(time_cell).unwrap_or(Cell::Empty),
                    ),
                    ("Owner".into(), names.owner(a.owner_id)),
                ],
                related: vec![],
                timeline: vec![],
                history,
                version: a.version,
                can_edit: can_edit(conn, actor, a.owner_id).await,
            }
        }
    };
    Ok(view)
}
