//! Workspace settings that the CRM's rules depend on and the pipeline must apply the same way:
//! the calling code of phone numbers written without one (see [`domain::phone`]).

use crate::{Actor, CrmError};
use domain::phone::{CallingCode, PhoneCountries};
use domain::WorkspaceId;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

fn calling_code(stored: i16) -> Result<CallingCode, sqlx::Error> {
    u16::try_from(stored)
        .ok()
        .and_then(|c| CallingCode::new(c).ok())
        .ok_or_else(|| {
            sqlx::Error::Decode(format!("phone_country {stored} is no calling code").into())
        })
}

/// The calling code a workspace's phones take when written without one.
pub async fn phone_country(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<CallingCode, sqlx::Error> {
    let stored: Option<i16> =
        sqlx::query_scalar("SELECT phone_country FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(conn)
            .await?;
    stored.map_or(Ok(CallingCode::default()), calling_code)
}

/// Every workspace's phone calling code, as the pipeline decodes events with them.
pub async fn phone_countries(pool: &PgPool) -> Result<PhoneCountries, sqlx::Error> {
    let rows: Vec<(Uuid, i16)> = sqlx::query_as("SELECT id, phone_country FROM workspaces")
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|(ws, code)| Ok((WorkspaceId(ws), calling_code(code)?)))
        .collect()
}

/// Sets the calling code a workspace's phones take when written without one; admins only.
/// Phones already stored keep the form they were given.
pub async fn set_phone_country(
    conn: &mut PgConnection,
    actor: &Actor,
    code: CallingCode,
) -> Result<(), CrmError> {
    actor.require_admin("only admins change the default phone country")?;
    sqlx::query("UPDATE workspaces SET phone_country = $2, updated_at = now() WHERE id = $1")
        .bind(actor.workspace_id)
        .bind(code.get() as i16)
        .execute(conn)
        .await?;
    Ok(())
}
