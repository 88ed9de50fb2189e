//! Leads: the pipeline list and the lead page.

use super::{
    badge, can_edit, choice, col, link, money, num, owner_filter, saved, time_cell, KindView,
    ListCx, ListParts, Names, RecordCx,
};
use crate::pages::crm::model::{record_href, Cell, RecordView, Row, Tone};
use crm::CrmError;
use domain::crm::{Lead, LeadSource, LeadStatus, RecordKind};
use sqlx::PgConnection;

/// The workbench views of leads.
pub(super) struct Leads;

impl KindView for Leads {
    const KIND: RecordKind = RecordKind::Lead;
    const TITLE: &'static str = "Leads";
    const HAS_NEW_FORM: bool = true;

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::leads::list(conn, cx.actor, &cx.params).await?;
        let names = cx.names(conn, None, None).await?;
        let rows = page
            .items
            .iter()
            .map(|l| Row {
                id: l.id,
                cells: vec![
                    link(l.display_name(), record_href(Self::KIND, l.id)),
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
        Ok(ListParts {
            columns: vec![
                col("Name", Some("name")),
                col("Company", None),
                col("Status", None),
                col("Source", None),
                num("Value", Some("value")),
                col("Owner", None),
                col("Created", Some("created_at")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                owner_filter(&cx.owners),
                choice::<LeadStatus>("status", "Status"),
                choice::<LeadSource>("source", "Source"),
            ],
            saved_views: vec![
                saved(
                    "My open leads",
                    "owner_id=me&status=new,contacted,qualified".into(),
                ),
                saved("Qualified", "status=qualified&sort=-value".into()),
                saved("Converted", "status=converted".into()),
            ],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let l: Lead = crm::leads::get(conn, actor, id).await?;
        let names = Names::load(
            conn,
            actor.workspace_id,
            l.converted_customer_id,
            l.converted_account_id,
        )
        .await?;
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}

/// Badge tone of a lead status.
fn lead_tone(s: LeadStatus) -> Tone {
    match s {
        LeadStatus::New => Tone::Info,
        LeadStatus::Contacted => Tone::Neutral,
        LeadStatus::Qualified => Tone::Warn,
        LeadStatus::Converted => Tone::Good,
        LeadStatus::Lost => Tone::Bad,
    }
}
