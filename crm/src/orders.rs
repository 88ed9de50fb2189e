//! Orders with lines. The total is computed from the lines here and checked against them by a
//! deferred constraint trigger at commit, so the two can never disagree.

use crate::actor::Actor;
use crate::audit;
use crate::error::CrmError;
use crate::list::{self, FilterKind, FilterSpec, ListParams, ListSpec, SortSpec, SqlType};
use crate::records::{self, Record};
use domain::crm::{Customer, Order, OrderInput, OrderLine, Page};
use rand::Rng;
use sqlx::{Connection, PgConnection};
use std::collections::HashMap;
use uuid::Uuid;

/// How order lists sort, filter and search.
pub static LIST: ListSpec = ListSpec {
    table: "orders",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "ordered_at",
            exprs: &[("t.ordered_at", SqlType::Timestamptz)],
        },
        SortSpec {
            name: "total",
            exprs: &[("t.total_minor", SqlType::BigInt)],
        },
        SortSpec {
            name: "number",
            exprs: &[("t.number", SqlType::Text)],
        },
        SortSpec {
            name: "created_at",
            exprs: &[("t.created_at", SqlType::Timestamptz)],
        },
    ],
    default_sort: "-ordered_at",
    filters: &[
        FilterSpec {
            name: "status",
            expr: "t.status",
            kind: FilterKind::OneOf(&["pending", "paid", "fulfilled", "cancelled", "refunded"]),
        },
        FilterSpec {
            name: "channel",
            expr: "t.channel",
            kind: FilterKind::OneOf(&["web", "app", "store", "phone", "partner", "marketplace"]),
        },
        FilterSpec {
            name: "customer_id",
            expr: "t.customer_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "account_id",
            expr: "t.account_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "owner_id",
            expr: "t.owner_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "ordered_since",
            expr: "t.ordered_at",
            kind: FilterKind::Since,
        },
        FilterSpec {
            name: "ordered_before",
            expr: "t.ordered_at",
            kind: FilterKind::Before,
        },
    ],
    search: Some("lower(t.number)"),
};

/// Lists orders with their lines.
pub async fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    params: &ListParams,
) -> Result<Page<Order>, CrmError> {
    let mut page: Page<Order> = list::list(conn, actor, &LIST, params).await?;
    attach_lines(conn, &mut page.items).await?;
    Ok(page)
}

/// Reads one order with its lines.
pub async fn get(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<Order, CrmError> {
    let mut o: Order = records::get(conn, actor, id).await?;
    attach_lines(conn, std::slice::from_mut(&mut o)).await?;
    Ok(o)
}

async fn attach_lines(conn: &mut PgConnection, orders: &mut [Order]) -> Result<(), CrmError> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    #[derive(sqlx::FromRow)]
    struct Row {
        order_id: Uuid,
        #[sqlx(flatten)]
        line: OrderLine,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT order_id, line_no, sku, description, quantity, unit_price_minor, discount_minor, line_total_minor
           FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, line_no",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let mut by_id: HashMap<Uuid, &mut Order> = orders.iter_mut().map(|o| (o.id, o)).collect();
    for o in by_id.values_mut() {
        o.lines.clear();
    }
    for r in rows {
        if let Some(o) = by_id.get_mut(&r.order_id) {
            o.lines.push(r.line);
        }
    }
    Ok(())
}

/// A fresh order number such as `PO-7K3M9QX2` (unambiguous characters).
fn new_number() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    let tail: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("PO-{tail}")
}

/// Creates an order; the account defaults to the customer's account.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: OrderInput,
) -> Result<Order, CrmError> {
    actor.check_create()?;
    let total = input.normalize()?;
    let owner = actor.owner_for_new(input.owner_id)?;
    if input.number.is_empty() {
        input.number = new_number();
    }
    let mut tx = conn.begin().await?;
    let customer: Customer = records::get(&mut tx, actor, input.customer_id)
        .await
        .map_err(|_| CrmError::field("customer_id", "No such customer in this workspace."))?;
    let account_id = input.account_id.or(customer.account_id);
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO orders (id, workspace_id, number, customer_id, account_id, status, channel, currency, total_minor,
                ordered_at, owner_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()), $11)",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(&input.number)
    .bind(input.customer_id)
    .bind(account_id)
    .bind(input.status)
    .bind(input.channel)
    .bind(&input.currency)
    .bind(total)
    .bind(input.ordered_at)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    write_lines(&mut tx, actor.workspace_id, id, &input).await?;
    let created = load(&mut tx, id).await?;
    audit::record(
        &mut tx,
        actor,
        "create",
        Order::KIND,
        id,
        None::<&()>,
        Some(&created),
    )
    .await?;
    tx.commit().await.map_err(CrmError::from)?;
    Ok(created)
}

/// Updates an order and replaces its lines.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: OrderInput,
) -> Result<Order, CrmError> {
    let total = input.normalize()?;
    let (mut tx, mut before) =
        records::begin_update::<Order>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    attach_lines(&mut tx, std::slice::from_mut(&mut before.record)).await?;
    if input.number.is_empty() {
        input.number = before.record.number.clone();
    }
    sqlx::query(
        "UPDATE orders SET number = $2, customer_id = $3, account_id = $4, status = $5, channel = $6, currency = $7,
                total_minor = $8, ordered_at = coalesce($9, ordered_at), owner_id = $10,
                version = version + 1, updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(&input.number)
    .bind(input.customer_id)
    .bind(input.account_id)
    .bind(input.status)
    .bind(input.channel)
    .bind(&input.currency)
    .bind(total)
    .bind(input.ordered_at)
    .bind(input.owner_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM order_lines WHERE order_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    write_lines(&mut tx, actor.workspace_id, id, &input).await?;
    let after = load(&mut tx, id).await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

/// The input that reproduces a stored order.
pub fn to_input(o: &Order) -> OrderInput {
    OrderInput {
        number: o.number.clone(),
        customer_id: o.customer_id,
        account_id: o.account_id,
        status: o.status,
        channel: o.channel,
        currency: o.currency.clone(),
        ordered_at: Some(o.ordered_at),
        owner_id: o.owner_id,
        lines: o
            .lines
            .iter()
            .map(|l| domain::crm::OrderLineInput {
                sku: l.sku.clone(),
                description: l.description.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                discount_minor: l.discount_minor,
            })
            .collect(),
    }
}

async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Order, CrmError> {
    let mut o: Order = sqlx::query_as("SELECT t.* FROM orders t WHERE t.id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    attach_lines(conn, std::slice::from_mut(&mut o)).await?;
    Ok(o)
}

async fn write_lines(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    input: &OrderInput,
) -> Result<(), CrmError> {
    let n = input.lines.len();
    let line_no: Vec<i16> = (1..=n as i16).collect();
    let sku: Vec<Option<&str>> = input.lines.iter().map(|l| l.sku.as_deref()).collect();
    let desc: Vec<&str> = input.lines.iter().map(|l| l.description.as_str()).collect();
    let qty: Vec<i32> = input.lines.iter().map(|l| l.quantity).collect();
    let price: Vec<i64> = input.lines.iter().map(|l| l.unit_price_minor).collect();
    let disc: Vec<i64> = input.lines.iter().map(|l| l.discount_minor).collect();
    sqlx::query(
        "INSERT INTO order_lines (workspace_id, order_id, line_no, sku, description, quantity, unit_price_minor, discount_minor)
         SELECT $1, $2, * FROM unnest($3::int2[], $4::text[], $5::text[], $6::int4[], $7::int8[], $8::int8[])",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(&line_no)
    .bind(&sku)
    .bind(&desc)
    .bind(&qty)
    .bind(&price)
    .bind(&disc)
    .execute(conn)
    .await?;
    Ok(())
}
