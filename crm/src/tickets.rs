//! Tickets: the customer's service history.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::list::{FilterKind, FilterSpec, ListSpec, SortSpec, SqlType};
use crate::records;
use domain::crm::{Ticket, TicketInput, TicketStatus};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// How ticket lists sort, filter and search.
pub static LIST: ListSpec = ListSpec {
    table: "tickets",
    columns: "t.*",
    sorts: &[
        SortSpec { name: "opened_at", exprs: &[("t.opened_at", SqlType::Timestamptz)] },
        SortSpec { name: "updated_at", exprs: &[("t.updated_at", SqlType::Timestamptz)] },
        SortSpec {
            name: "priority",
            exprs: &[(
                "(CASE t.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END)::bigint",
                SqlType::BigInt,
            )],
        },
    ],
    default_sort: "-opened_at",
    filters: &[
        FilterSpec { name: "status", expr: "t.status", kind: FilterKind::OneOf(&["open", "pending", "solved", "closed"]) },
        FilterSpec { name: "priority", expr: "t.priority", kind: FilterKind::OneOf(&["low", "normal", "high", "urgent"]) },
        FilterSpec { name: "customer_id", expr: "t.customer_id", kind: FilterKind::Uuid },
        FilterSpec { name: "owner_id", expr: "t.owner_id", kind: FilterKind::Uuid },
    ],
    search: Some("t.search_text"),
};

fn search_text(t: &TicketInput) -> String {
    format!("{} {}", t.subject, t.external_ref.as_deref().unwrap_or(""))
        .trim()
        .to_lowercase()
}

/// Opens a ticket.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: TicketInput,
) -> Result<Ticket, CrmError> {
    actor.check_create()?;
    input.normalize()?;
    let owner = actor.owner_for_new(input.owner_id)?;
    let solved = matches!(input.status, TicketStatus::Solved | TicketStatus::Closed);
    let mut tx = conn.begin().await?;
    let id = Uuid::new_v4();
    let t: Ticket = sqlx::query_as(
        "INSERT INTO tickets AS t (id, workspace_id, customer_id, subject, description, status, priority, channel,
                satisfaction, external_ref, owner_id, opened_at, solved_at, search_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()),
                 CASE WHEN $13 THEN greatest(now(), coalesce($12, now())) END, $14) RETURNING t.*",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(input.customer_id)
    .bind(&input.subject)
    .bind(&input.description)
    .bind(input.status)
    .bind(input.priority)
    .bind(input.channel)
    .bind(input.satisfaction)
    .bind(&input.external_ref)
    .bind(owner)
    .bind(input.opened_at)
    .bind(solved)
    .bind(search_text(&input))
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "create", id, None, t).await
}

/// Updates a ticket; solving stamps `solved_at`, reopening clears it.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: TicketInput,
) -> Result<Ticket, CrmError> {
    input.normalize()?;
    let (mut tx, before) =
        records::begin_update::<Ticket>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    let solved = matches!(input.status, TicketStatus::Solved | TicketStatus::Closed);
    let after: Ticket = sqlx::query_as(
        "UPDATE tickets AS t SET customer_id = $2, subject = $3, description = $4, status = $5, priority = $6,
                channel = $7, satisfaction = $8, external_ref = $9, owner_id = $10,
                opened_at = coalesce($11, opened_at),
                solved_at = CASE WHEN $12 THEN coalesce(solved_at, greatest(now(), coalesce($11, opened_at))) END,
                search_text = $13, version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(input.customer_id)
    .bind(&input.subject)
    .bind(&input.description)
    .bind(input.status)
    .bind(input.priority)
    .bind(input.channel)
    .bind(input.satisfaction)
    .bind(&input.external_ref)
    .bind(input.owner_id)
    .bind(input.opened_at)
    .bind(solved)
    .bind(search_text(&input))
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

records::plain_reads!(domain::crm::Ticket, "tickets");
