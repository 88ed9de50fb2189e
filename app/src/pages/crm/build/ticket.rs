//! Service tickets: the list and the ticket page.

use super::{
    badge, can_edit, choice, col, link, owner_filter, saved, time_cell, KindView, ListCx,
    ListParts, Names, RecordCx,
};
use crate::pages::crm::model::{record_href, Cell, RecordView, Row, Tone};
use crm::CrmError;
use domain::crm::{Priority, RecordKind, Ticket, TicketStatus};
use sqlx::PgConnection;

/// The workbench views of tickets.
pub(super) struct Tickets;

impl KindView for Tickets {
    const KIND: RecordKind = RecordKind::Ticket;
    const TITLE: &'static str = "Tickets";

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::tickets::list(conn, cx.actor, &cx.params).await?;
        let customers = page.items.iter().map(|t| t.customer_id);
        let names = cx.names(conn, customers, None).await?;
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
                choice::<TicketStatus>("status", "Status"),
                choice::<Priority>("priority", "Priority"),
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

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let t: Ticket = crm::tickets::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, [t.customer_id], None).await?;
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
