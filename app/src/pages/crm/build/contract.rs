//! Contracts: the list with renewals, and the contract page.

use super::{
    badge, can_edit, choice, col, link, money, num, owner_filter, saved, ymd, KindView, ListCx,
    ListParts, Names, RecordCx,
};
use crate::pages::crm::model::{record_href, Cell, RecordView, Row, Tone};
use crm::CrmError;
use domain::crm::{format_money, Contract, ContractStatus, RecordKind};
use sqlx::PgConnection;
use time::Duration;

/// The workbench views of contracts.
pub(super) struct Contracts;

impl KindView for Contracts {
    const KIND: RecordKind = RecordKind::Contract;
    const TITLE: &'static str = "Contracts";

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::contracts::list(conn, cx.actor, &cx.params).await?;
        let customers = page.items.iter().filter_map(|c| c.customer_id);
        let accounts = page.items.iter().filter_map(|c| c.account_id);
        let names = cx.names(conn, customers, accounts).await?;
        let rows = page
            .items
            .iter()
            .map(|c| Row {
                id: c.id,
                cells: vec![
                    link(c.title.clone(), record_href(Self::KIND, c.id)),
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
        Ok(ListParts {
            columns: vec![
                col("Title", None),
                col("With", None),
                col("Status", None),
                col("Renewal", Some("renewal_date")),
                num("Value", Some("value")),
                col("Owner", None),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                owner_filter(&cx.owners),
                choice::<ContractStatus>("status", "Status"),
            ],
            saved_views: vec![
                saved(
                    "Renewals in 30 days",
                    format!(
                        "status=active&renewal_since={}&renewal_before={}",
                        ymd(cx.today),
                        ymd(cx.today + Duration::days(31))
                    ),
                ),
                saved("My active contracts", "owner_id=me&status=active".into()),
            ],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let k: Contract = crm::contracts::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, k.customer_id, k.account_id).await?;
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}

/// Badge tone of a contract status (also on customer pages).
pub(super) fn contract_tone(s: ContractStatus) -> Tone {
    match s {
        ContractStatus::Active => Tone::Good,
        ContractStatus::Draft => Tone::Info,
        ContractStatus::Renewed => Tone::Neutral,
        ContractStatus::Expired | ContractStatus::Cancelled => Tone::Bad,
    }
}
