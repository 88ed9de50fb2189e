//! The sales inbox: alerts raised by trigger labels for the owner of the matching CRM customer.
//! Sales reps see and mark their own; managers and admins see every alert of the workspace,
//! including those with no owner.

use crate::{AudienceError, Member};
use domain::labels::Alert;
use domain::{Area, Need, Role};
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
