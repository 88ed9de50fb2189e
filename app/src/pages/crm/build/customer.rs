//! Customers: the list, and the customer page with their orders, contracts, membership,
//! tickets, activities and timeline.

use super::contract::contract_tone;
use super::order::order_tone;
use super::ticket::ticket_tone;
use super::{
    badge, can_edit, choice, col, link, money, num, owner_filter, related, saved, time_cell,
    yes_no, ymd, KindView, ListCx, ListParts, Names, RecordCx,
};
use crate::components::ui::rfc3339;
use crate::pages::crm::model::{
    list_href, record_href, Cell, RecordView, RelatedList, Row, TimelineItem, Tone,
};
use crm::{Actor, CrmError, ListParams};
use domain::crm::{format_money, Customer, LifecycleStage, RecordKind};
use sqlx::PgConnection;
use time::Duration;

/// The workbench views of customers.
pub(super) struct Customers;

impl KindView for Customers {
    const KIND: RecordKind = RecordKind::Customer;
    const TITLE: &'static str = "Customers";
    const HAS_NEW_FORM: bool = true;

    fn search_hint() -> String {
        "Search name, email, phone or external id".to_string()
    }

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::customers::list(conn, cx.actor, &cx.params).await?;
        let accounts = page.items.iter().filter_map(|c| c.account_id);
        let names = cx.names(conn, None, accounts).await?;
        let rows = page
            .items
            .iter()
            .map(|c| Row {
                id: c.id,
                cells: vec![
                    link(c.display_name(), record_href(Self::KIND, c.id)),
                    Cell::opt(c.emails.first().cloned()),
                    Cell::opt(c.phones.first().cloned()),
                    names.account(c.account_id),
                    badge(c.lifecycle_stage.label(), stage_tone(c.lifecycle_stage)),
                    names.owner(c.owner_id),
                    time_cell(c.created_at),
                ],
            })
            .collect();
        Ok(ListParts {
            columns: vec![
                col("Name", Some("name")),
                col("Email", None),
                col("Phone", None),
                col("Account", None),
                col("Stage", None),
                col("Owner", None),
                col("Created", Some("created_at")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                owner_filter(&cx.owners),
                choice::<LifecycleStage>("lifecycle_stage", "Stage"),
                yes_no("consent_email", "Email consent"),
            ],
            saved_views: vec![
                saved("My customers", "owner_id=me".into()),
                saved("Emailable", "consent_email=true".into()),
                saved(
                    "New this week",
                    format!(
                        "created_since={}&sort=-created_at",
                        ymd(cx.today - Duration::days(7))
                    ),
                ),
                saved("Churned", "lifecycle_stage=churned".into()),
            ],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let c = crm::customers::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, None, c.account_id).await?;
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
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}

/// Badge tone of a lifecycle stage (also on account pages).
pub(super) fn stage_tone(s: LifecycleStage) -> Tone {
    match s {
        LifecycleStage::Prospect => Tone::Info,
        LifecycleStage::Customer => Tone::Good,
        LifecycleStage::Churned => Tone::Bad,
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
