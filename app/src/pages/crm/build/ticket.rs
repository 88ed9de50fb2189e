//! Service tickets: the list and the ticket page.

use super::{
    badge, can_edit, col, filter, link, options, owner_filter, saved, time_cell, KindView, ListCx,
    ListParts, Names,
};
use crate::pages::crm::model::{record_href, Cell, HistoryEntry, RecordView, Row, Tone};
use crm::{Actor, CrmError};
use domain::crm::{Priority, RecordKind, Ticket, TicketStatus};
use sqlx::PgConnection;
use uuid::Uuid;

/// The workbench views of tickets.
pub(super) struct Tickets;

impl KindView for Tickets {
    const KIND: RecordKind = RecordKind::Ticket;
    const TITLE: &'static str = "Tickets";

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::tickets::list(conn, cx.actor, &cx.params).await?;
        let names = Names::load_with(
            conn,
            cx.actor.workspace_id,
            &cx.owners,
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
                    link(tk.subject.clone(), record_href(Self::KIND, tk.id)),
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
        Ok(ListParts {
            columns: vec![
                col("Subject", None),
                col("Customer", None),
                col("Status", None),
                col("Priority", Some("priority")),
                col("Channel", None),
                col("Opened", Some("opened_at")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                owner_filter(&cx.owners),
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
            saved_views: vec![
                saved(
                    "Open and urgent",
                    "status=open,pending&priority=urgent,high&sort=-priority".into(),
                ),
                saved("Assigned to me", "owner_id=me&status=open,pending".into()),
            ],
        })
    }

    async fn record(
        conn: &mut PgConnection,
        actor: &Actor,
        id: Uuid,
        history: Vec<HistoryEntry>,
    ) -> Result<RecordView, CrmError> {
        let t: Ticket = crm::tickets::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, vec![t.customer_id], vec![]).await?;
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}

/// Badge tone of a ticket status (also on customer pages).
pub(super) fn ticket_tone(s: TicketStatus) -> Tone {
    match s {
        TicketStatus::Open => Tone::Warn,
        TicketStatus::Pending => Tone::Info,
        TicketStatus::Solved | TicketStatus::Closed => Tone::Good,
    }
}
