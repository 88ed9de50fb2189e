//! Accounts: the list, and the account page with its people.

use super::customer::stage_tone;
use super::{
    badge, can_edit, col, link, money, num, owner_filter, related, saved, time_cell, KindView,
    ListCx, ListParts, Names, RecordCx,
};
use crate::pages::crm::model::{record_href, Cell, RecordView, Row};
use crm::{CrmError, ListParams};
use domain::crm::{Account, RecordKind};
use sqlx::PgConnection;

/// The workbench views of accounts.
pub(super) struct Accounts;

impl KindView for Accounts {
    const KIND: RecordKind = RecordKind::Account;
    const TITLE: &'static str = "Accounts";

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::accounts::list(conn, cx.actor, &cx.params).await?;
        let names = cx.names(conn, None, None).await?;
        let rows = page
            .items
            .iter()
            .map(|a| Row {
                id: a.id,
                cells: vec![
                    link(a.name.clone(), record_href(Self::KIND, a.id)),
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
        Ok(ListParts {
            columns: vec![
                col("Name", Some("name")),
                col("Domain", None),
                col("Industry", None),
                num("Employees", None),
                col("Owner", None),
                col("Created", Some("created_at")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![owner_filter(&cx.owners)],
            saved_views: vec![saved("My accounts", "owner_id=me".into())],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let a: Account = crm::accounts::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, None, None).await?;
        let mut p = ListParams::from_pairs(
            crm::list_spec(RecordKind::Customer),
            [("account_id", id.to_string().as_str())],
        )?;
        p.limit = Some(20);
        let people = crm::customers::list(conn, actor, &p).await?;
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}
