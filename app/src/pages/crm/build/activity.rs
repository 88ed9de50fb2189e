//! Activities (calls, meetings, notes, tasks): the list and the activity page.

use super::{
    badge, can_edit, choice, col, owner_filter, saved, time_cell, yes_no, ymd, KindView, ListCx,
    ListParts, Names, RecordCx,
};
use crate::pages::crm::model::{Cell, RecordView, Row, Tone};
use crm::CrmError;
use domain::crm::{Activity, ActivityKind, RecordKind};
use sqlx::PgConnection;
use time::Duration;

/// The workbench views of activities.
pub(super) struct Activities;

impl KindView for Activities {
    const KIND: RecordKind = RecordKind::Activity;
    const TITLE: &'static str = "Activities";

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let tomorrow = ymd(cx.today + Duration::days(1));
        let page = crm::activities::list(conn, cx.actor, &cx.params).await?;
        let customers = page.items.iter().filter_map(|a| a.customer_id);
        let names = cx.names(conn, customers, None).await?;
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
        Ok(ListParts {
            columns: vec![
                col("Subject", None),
                col("Kind", None),
                col("Customer", None),
                col("Due", Some("due_at")),
                col("State", None),
                col("Owner", None),
                col("When", Some("occurred_at")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                owner_filter(&cx.owners),
                choice::<ActivityKind>("kind", "Kind"),
                yes_no("done", "Done"),
            ],
            saved_views: vec![
                saved(
                    "My tasks due today",
                    format!("kind=task&done=false&owner_id=me&due_before={tomorrow}&sort=due_at"),
                ),
                saved(
                    "My open tasks",
                    "kind=task&done=false&owner_id=me&sort=due_at".into(),
                ),
                saved("Calls and meetings", "kind=call,meeting".into()),
            ],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let a: Activity = crm::activities::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, a.customer_id, a.account_id).await?;
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}
