//! Display names of members, customers and accounts, for owner columns, pickers and links.
//! Names are looked up within the caller's workspace; an id from another workspace has none.

use crate::CrmError;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// The workspace's members as `(user id, name)`, in name order.
pub async fn members(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<(Uuid, String)>, CrmError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.name FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.workspace_id = $1 ORDER BY u.name",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await?)
}

/// The name of one member (say, a customer's owner), if they are still in the workspace.
pub async fn member(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<String>, CrmError> {
    Ok(sqlx::query_scalar(
        "SELECT u.name FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.workspace_id = $1 AND u.id = $2",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

/// Customers' display names by the one rule ([`domain::names`]): the full name, else the
/// primary email or phone.
pub async fn customers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, CrmError> {
    type Row = (Uuid, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, first_name, last_name, primary_email, primary_phone
           FROM customers WHERE workspace_id = $1 AND id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, first, last, email, phone)| {
            let fallbacks = [email.as_deref(), phone.as_deref()].into_iter().flatten();
            let name = domain::names::display_name(&first, &last, fallbacks)
                .unwrap_or_else(|| domain::crm::NO_NAME.into());
            (id, name)
        })
        .collect())
}

/// Accounts' names.
pub async fn accounts(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, CrmError> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM accounts WHERE workspace_id = $1 AND id = ANY($2)")
            .bind(workspace_id)
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}
