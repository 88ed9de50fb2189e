//! Loyalty memberships: tier, points and status, with every tier change recorded.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::list::{FilterKind, FilterSpec, ListSpec, SortSpec, SqlType};
use crate::records;
use domain::crm::{Customer, LoyaltyMembership, LoyaltyMembershipInput, TierChange};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// How membership lists sort and filter.
pub static LIST: ListSpec = ListSpec {
    table: "loyalty_memberships",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "created_at",
            exprs: &[("t.created_at", SqlType::Timestamptz)],
        },
        SortSpec {
            name: "points",
            exprs: &[("t.points::bigint", SqlType::BigInt)],
        },
        SortSpec {
            name: "joined_on",
            exprs: &[("t.joined_on", SqlType::Date)],
        },
    ],
    default_sort: "-created_at",
    filters: &[
        FilterSpec {
            name: "customer_id",
            expr: "t.customer_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "tier",
            expr: "t.tier",
            kind: FilterKind::OneOf(&["bronze", "silver", "gold", "platinum"]),
        },
        FilterSpec {
            name: "status",
            expr: "t.status",
            kind: FilterKind::OneOf(&["active", "paused", "cancelled", "expired"]),
        },
    ],
    search: Some("lower(t.program)"),
};

/// Enrols a customer; the first tier is recorded as a tier change from nothing.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: LoyaltyMembershipInput,
) -> Result<LoyaltyMembership, CrmError> {
    actor.check_create()?;
    input.normalize()?;
    let mut tx = conn.begin().await?;
    let customer: Customer = records::get(&mut tx, actor, input.customer_id)
        .await
        .map_err(|_| CrmError::field("customer_id", "No such customer in this workspace."))?;
    actor.check_edit(&mut tx, customer.owner_id).await?;
    let id = Uuid::new_v4();
    let m: LoyaltyMembership = sqlx::query_as(
        "INSERT INTO loyalty_memberships AS t (id, workspace_id, customer_id, program, tier, points, status, joined_on, expires_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, current_date), $9) RETURNING t.*",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(input.customer_id)
    .bind(&input.program)
    .bind(input.tier)
    .bind(input.points)
    .bind(input.status)
    .bind(input.joined_on)
    .bind(input.expires_on)
    .fetch_one(&mut *tx)
    .await?;
    record_tier_change(&mut tx, actor, id, None, &input).await?;
    records::commit(tx, actor, "create", id, None, m).await
}

/// Updates a membership; a tier change is recorded with its reason.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: LoyaltyMembershipInput,
) -> Result<LoyaltyMembership, CrmError> {
    input.normalize()?;
    let (mut tx, before) =
        records::begin_update::<LoyaltyMembership>(conn, actor, id, expected_version).await?;
    if input.customer_id != before.record.customer_id {
        return Err(CrmError::field(
            "customer_id",
            "A membership cannot move to another customer.",
        ));
    }
    let after: LoyaltyMembership = sqlx::query_as(
        "UPDATE loyalty_memberships AS t SET program = $2, tier = $3, points = $4, status = $5,
                joined_on = coalesce($6, joined_on), expires_on = $7, version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(&input.program)
    .bind(input.tier)
    .bind(input.points)
    .bind(input.status)
    .bind(input.joined_on)
    .bind(input.expires_on)
    .fetch_one(&mut *tx)
    .await?;
    if before.record.tier != input.tier {
        record_tier_change(&mut tx, actor, id, Some(before.record.tier), &input).await?;
    }
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

async fn record_tier_change(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    from: Option<domain::crm::Tier>,
    input: &LoyaltyMembershipInput,
) -> Result<(), CrmError> {
    sqlx::query(
        "INSERT INTO loyalty_tier_changes (workspace_id, membership_id, from_tier, to_tier, reason, changed_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(actor.workspace_id)
    .bind(id)
    .bind(from)
    .bind(input.tier)
    .bind(&input.tier_reason)
    .bind(actor.user_id())
    .execute(conn)
    .await?;
    Ok(())
}

/// The tier history of a membership, oldest first.
pub async fn tier_history(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Vec<TierChange>, CrmError> {
    let _: LoyaltyMembership = records::get(conn, actor, id).await?;
    Ok(sqlx::query_as(
        "SELECT from_tier, to_tier, reason, changed_by, changed_at FROM loyalty_tier_changes
          WHERE workspace_id = $1 AND membership_id = $2 ORDER BY changed_at, id",
    )
    .bind(actor.workspace_id)
    .bind(id)
    .fetch_all(conn)
    .await?)
}

records::plain_reads!(domain::crm::LoyaltyMembership, "loyalty memberships");
