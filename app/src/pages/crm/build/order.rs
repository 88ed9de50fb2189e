//! Orders: the list, and the order page with its lines.

use super::{
    badge, can_edit, choice, col, link, money, num, related, saved, time_cell, ymd, KindView,
    ListCx, ListParts, Names, RecordCx,
};
use crate::pages::crm::model::{record_href, Cell, RecordView, Row, Tone};
use crm::CrmError;
use domain::crm::{format_money, OrderStatus, RecordKind, SalesChannel};
use sqlx::PgConnection;
use uuid::Uuid;

/// The workbench views of orders.
pub(super) struct Orders;

impl KindView for Orders {
    const KIND: RecordKind = RecordKind::Order;
    const TITLE: &'static str = "Orders";

    fn search_hint() -> String {
        "Search order number".to_string()
    }

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::orders::list(conn, cx.actor, &cx.params).await?;
        let customers = page.items.iter().map(|o| o.customer_id);
        let names = cx.names(conn, customers, None).await?;
        let rows = page
            .items
            .iter()
            .map(|o| Row {
                id: o.id,
                cells: vec![
                    link(o.number.clone(), record_href(Self::KIND, o.id)),
                    names.customer(Some(o.customer_id)),
                    badge(o.status.label(), order_tone(o.status)),
                    Cell::text(o.channel.label()),
                    money(o.total_minor, &o.currency),
                    time_cell(o.ordered_at),
                ],
            })
            .collect();
        Ok(ListParts {
            columns: vec![
                col("Number", Some("number")),
                col("Customer", None),
                col("Status", None),
                col("Channel", None),
                num("Total", Some("total")),
                col("Ordered", Some("ordered_at")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                choice::<OrderStatus>("status", "Status"),
                choice::<SalesChannel>("channel", "Channel"),
            ],
            saved_views: vec![
                saved("Pending", "status=pending".into()),
                saved("Today", format!("ordered_since={}", ymd(cx.today))),
                saved("Biggest", "sort=-total".into()),
            ],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let o = crm::orders::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, [o.customer_id], o.account_id).await?;
        Ok(RecordView {
            kind: Self::KIND,
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
        })
    }
}

/// Badge tone of an order status (also on customer pages).
pub(super) fn order_tone(s: OrderStatus) -> Tone {
    match s {
        OrderStatus::Pending => Tone::Warn,
        OrderStatus::Paid => Tone::Info,
        OrderStatus::Fulfilled => Tone::Good,
        OrderStatus::Cancelled | OrderStatus::Refunded => Tone::Bad,
    }
}
