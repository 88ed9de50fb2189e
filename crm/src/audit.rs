//! Audit entries for CRM writes, in the writing transaction, naming the user or token.

use crate::actor::Actor;
use crate::error::CrmError;
use domain::crm::{AuditRecord, RecordKind};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Records `action` on a record with JSON images before and after.
pub async fn record<B: Serialize, A: Serialize>(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    kind: RecordKind,
    id: Uuid,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<(), CrmError> {
    let before = before
        .map(serde_json::to_value)
        .transpose()
        .map_err(json_err)?;
    let after = after
        .map(serde_json::to_value)
        .transpose()
        .map_err(json_err)?;
    sqlx::query(
        "INSERT INTO audit_log (workspace_id, actor_user_id, actor_token_id, action, subject_type, subject_id, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.workspace_id)
    .bind(actor.user_id())
    .bind(actor.token_id())
    .bind(action)
    .bind(kind.as_str())
    .bind(id.to_string())
    .bind(before)
    .bind(after)
    .execute(conn)
    .await?;
    Ok(())
}

fn json_err(e: serde_json::Error) -> CrmError {
    CrmError::Database(sqlx::Error::Decode(Box::new(e)))
}

/// The audit history of one record, newest first.
pub async fn history(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RecordKind,
    id: Uuid,
    limit: i64,
) -> Result<Vec<AuditRecord>, CrmError> {
    actor.check_read()?;
    Ok(sqlx::query_as(
        "SELECT a.id, a.action, a.subject_type, a.subject_id, a.actor_user_id, u.name AS actor_name,
                a.actor_token_id, a.before, a.after, a.at
           FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id
          WHERE a.workspace_id = $1 AND a.subject_type = $2 AND a.subject_id = $3
          ORDER BY a.at DESC, a.id DESC
          LIMIT $4",
    )
    .bind(actor.workspace_id)
    .bind(kind.as_str())
    .bind(id.to_string())
    .bind(limit.clamp(1, 500))
    .fetch_all(conn)
    .await?)
}
