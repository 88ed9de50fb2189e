//! Sales activities: calls, meetings, emails, notes and tasks with due dates.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::list::{FilterKind, FilterSpec, ListSpec, SortSpec, SqlType};
use crate::records;
use domain::crm::{Activity, ActivityInput};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// How activity lists sort and filter.
pub static LIST: ListSpec = ListSpec {
    table: "activities",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "occurred_at",
            exprs: &[("t.occurred_at", SqlType::Timestamptz)],
        },
        SortSpec {
            name: "due_at",
            exprs: &[(
                "coalesce(t.due_at, 'infinity'::timestamptz)",
                SqlType::Timestamptz,
            )],
        },
        SortSpec {
            name: "created_at",
            exprs: &[("t.created_at", SqlType::Timestamptz)],
        },
    ],
    default_sort: "-occurred_at",
    filters: &[
        FilterSpec {
            name: "kind",
            expr: "t.kind",
            kind: FilterKind::OneOf(&["call", "meeting", "email", "note", "task"]),
        },
        FilterSpec {
            name: "customer_id",
            expr: "t.customer_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "lead_id",
            expr: "t.lead_id",
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
            name: "done",
            expr: "(t.done_at IS NOT NULL)",
            kind: FilterKind::Bool,
        },
        FilterSpec {
            name: "due_before",
            expr: "t.due_at",
            kind: FilterKind::Before,
        },
    ],
    search: Some("lower(t.subject)"),
};

/// Logs an activity or creates a task.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: ActivityInput,
) -> Result<Activity, CrmError> {
    actor.check_create()?;
    input.normalize()?;
    let owner = actor.owner_for_new(input.owner_id)?;
    let mut tx = conn.begin().await?;
    let id = Uuid::new_v4();
    let a: Activity = sqlx::query_as(
        "INSERT INTO activities AS t (id, workspace_id, kind, subject, body, customer_id, lead_id, account_id,
                occurred_at, duration_minutes, due_at, done_at, owner_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), $10, $11, CASE WHEN $12 THEN now() END, $13)
         RETURNING t.*",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(input.kind)
    .bind(&input.subject)
    .bind(&input.body)
    .bind(input.customer_id)
    .bind(input.lead_id)
    .bind(input.account_id)
    .bind(input.occurred_at)
    .bind(input.duration_minutes)
    .bind(input.due_at)
    .bind(input.done)
    .bind(owner)
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "create", id, None, a).await
}

/// Updates an activity; marking a task done stamps `done_at` once.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: ActivityInput,
) -> Result<Activity, CrmError> {
    input.normalize()?;
    let (mut tx, before) =
        records::begin_update::<Activity>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    let after: Activity = sqlx::query_as(
        "UPDATE activities AS t SET kind = $2, subject = $3, body = $4, customer_id = $5, lead_id = $6, account_id = $7,
                occurred_at = coalesce($8, occurred_at), duration_minutes = $9, due_at = $10,
                done_at = CASE WHEN $11 THEN coalesce(done_at, now()) END, owner_id = $12,
                version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(input.kind)
    .bind(&input.subject)
    .bind(&input.body)
    .bind(input.customer_id)
    .bind(input.lead_id)
    .bind(input.account_id)
    .bind(input.occurred_at)
    .bind(input.duration_minutes)
    .bind(input.due_at)
    .bind(input.done)
    .bind(input.owner_id)
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

records::plain_reads!(domain::crm::Activity, "activities");
