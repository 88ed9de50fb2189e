//! The sales inbox: alerts raised by trigger labels for the owner of the matching CRM customer.
//! Sales reps see and mark their own; managers and admins see every alert of the workspace,
//! including those with no owner.

use crate::{AudienceError, Member};
use domain::events::Trigger;
use domain::labels::Alert;
use domain::{Area, IdKind, Need, Role};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Alerts listed at most.
const LIMIT: i64 = 50;

/// Whether a role sees and handles every alert of its workspace, not only its own.
fn handles_every_alert(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Manager)
}

/// The member's alerts, newest first (reps: their own; managers and admins: the workspace's).
pub async fn list(pool: &PgPool, member: &Member) -> Result<Vec<Alert>, AudienceError> {
    member.role.authorize(Area::Inbox, Need::Read)?;
    type Row = (
        String,
        Option<Uuid>,
        Option<String>,
        Option<String>,
        String,
        String,
        OffsetDateTime,
        bool,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.id, a.customer_id, c.first_name, c.last_name, a.label, a.reason,
                a.at, a.read_at IS NOT NULL
           FROM alerts a LEFT JOIN customers c ON c.id = a.customer_id
          WHERE a.workspace_id = $1 AND ($2 OR a.owner_id = $3)
          ORDER BY a.created_at DESC LIMIT $4",
    )
    .bind(member.workspace_id)
    .bind(handles_every_alert(member.role))
    .bind(member.user_id)
    .bind(LIMIT)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, customer_id, first, last, label, reason, at, read)| Alert {
                id,
                customer_id,
                // The one rule for a person's name; an alert names no customer by email.
                customer_name: domain::names::display_name(
                    first.as_deref().unwrap_or_default(),
                    last.as_deref().unwrap_or_default(),
                    [],
                ),
                label,
                reason,
                at,
                read,
            },
        )
        .collect())
}

/// Marks an alert read; only its owner, a manager or an admin may. Marking it again changes
/// nothing.
pub async fn mark_read(pool: &PgPool, member: &Member, id: &str) -> Result<(), AudienceError> {
    member.role.authorize(Area::Inbox, Need::Change)?;
    let owner: Option<Option<Uuid>> =
        sqlx::query_scalar("SELECT owner_id FROM alerts WHERE workspace_id = $1 AND id = $2")
            .bind(member.workspace_id)
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some(owner) = owner else {
        return Err(AudienceError::NotFound(
            "That alert does not exist in this workspace.",
        ));
    };
    if !handles_every_alert(member.role) && owner != Some(member.user_id) {
        return Err(AudienceError::NotYours(
            "Only the alert's owner, managers and admins mark it read.",
        ));
    }
    sqlx::query(
        "UPDATE alerts SET read_at = now() WHERE workspace_id = $1 AND id = $2 AND read_at IS NULL",
    )
    .bind(member.workspace_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Raises the alert a trigger asks for, once: for the owner of the CRM customer the
/// profile matches (by email or phone first, then by CRM id), or without an owner (managers and
/// admins see it) when none matches. Returns whether the alert is new; a replayed trigger finds
/// its alert already there, keyed by the trigger's deterministic id.
pub async fn raise(pool: &PgPool, trigger: &Trigger) -> Result<bool, AudienceError> {
    let ws = trigger.workspace.0;
    let pick = |kind: IdKind| -> Vec<String> {
        trigger
            .identifiers
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.value.clone())
            .collect()
    };
    let (emails, phones) = (pick(IdKind::Email), pick(IdKind::Phone));
    let mut conn = pool.acquire().await?;
    let mut customers =
        crm::customers::find_by_identifiers(&mut conn, ws, &emails, &phones, &[]).await?;
    customers.extend(
        pick(IdKind::Crm)
            .iter()
            .filter_map(|s| Uuid::parse_str(s).ok()),
    );
    let customer = customers.first().copied();
    let owner = match customer {
        Some(c) => crm::customers::owner_of(&mut conn, ws, c).await?,
        None => None,
    };
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(trigger.at) * 1_000_000)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let inserted = sqlx::query(
        "INSERT INTO alerts (id, workspace_id, owner_id, customer_id, profile, label, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&trigger.id)
    .bind(ws)
    .bind(owner)
    .bind(customer)
    .bind(&trigger.profile)
    .bind(&trigger.label)
    .bind(&trigger.reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
