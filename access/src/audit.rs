//! The audit log: who changed what, when, before and after, in the caller's transaction.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One audited change; `before`/`after` are JSON images of the subject.
pub struct AuditEntry<'a> {
    pub workspace_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes an audit entry on the given connection, normally inside the changing transaction.
pub async fn record(conn: &mut PgConnection, entry: AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (workspace_id, actor_user_id, action, subject_type, subject_id, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.workspace_id)
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.subject_type)
    .bind(&entry.subject_id)
    .bind(entry.before)
    .bind(entry.after)
    .execute(conn)
    .await?;
    Ok(())
}
