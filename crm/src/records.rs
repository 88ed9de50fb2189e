//! What every CRM record type shares: locking for update, version checks, soft delete and
//! restore with audit entries.

use crate::actor::Actor;
use crate::audit;
use crate::error::CrmError;
use domain::crm::{self, RecordKind};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{Connection, FromRow, PgConnection, Postgres, Row, Transaction};
use uuid::Uuid;

/// A CRM table whose rows map to a domain record.
pub trait Record: for<'r> FromRow<'r, PgRow> + Serialize + Send + Unpin {
    /// The record kind (for audit entries, errors and URLs).
    const KIND: RecordKind;
    /// The table name.
    const TABLE: &'static str;
    /// SQL expression (over alias `t`) of the user who owns the row, for edit permission.
    const OWNER: &'static str = "t.owner_id";
    /// The row's optimistic-concurrency version.
    fn version(&self) -> i32;
}

macro_rules! record {
    ($ty:ty, $kind:ident, $table:literal $(, owner = $owner:literal)?) => {
        impl Record for $ty {
            const KIND: RecordKind = RecordKind::$kind;
            const TABLE: &'static str = $table;
            $(const OWNER: &'static str = $owner;)?
            fn version(&self) -> i32 {
                self.version
            }
        }
    };
}

record!(crm::Account, Account, "accounts");
record!(crm::Customer, Customer, "customers");
record!(crm::Lead, Lead, "leads");
record!(crm::Order, Order, "orders");
record!(crm::Contract, Contract, "contracts");
record!(
    crm::LoyaltyMembership,
    LoyaltyMembership,
    "loyalty_memberships",
    owner = "(SELECT c.owner_id FROM customers c WHERE c.id = t.customer_id)"
);
record!(crm::Ticket, Ticket, "tickets");
record!(crm::Activity, Activity, "activities");

/// `list` and `get` of a kind whose rows need nothing beyond their own table (customers and
/// orders attach identifiers and lines, so they write their own).
macro_rules! plain_reads {
    ($ty:ty, $plural:literal) => {
        #[doc = concat!("Lists ", $plural, " with filters, search, sort and cursor.")]
        pub async fn list(
            conn: &mut sqlx::PgConnection,
            actor: &crate::Actor,
            params: &crate::ListParams,
        ) -> Result<domain::crm::Page<$ty>, crate::CrmError> {
            crate::list::list(conn, actor, &LIST, params).await
        }

        /// Reads one live record.
        pub async fn get(
            conn: &mut sqlx::PgConnection,
            actor: &crate::Actor,
            id: uuid::Uuid,
        ) -> Result<$ty, crate::CrmError> {
            crate::records::get(conn, actor, id).await
        }
    };
}
pub(crate) use plain_reads;

/// A row locked for update with the owner that decides who may change it.
pub struct Locked<R> {
    pub record: R,
    pub owner: Option<Uuid>,
}

/// Locks a live (not deleted) row of the actor's workspace for update.
pub async fn lock<R: Record>(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Locked<R>, CrmError> {
    fetch(conn, workspace_id, id, false, true).await
}

async fn fetch<R: Record>(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    deleted: bool,
    for_update: bool,
) -> Result<Locked<R>, CrmError> {
    let sql = format!(
        "SELECT t.*, {owner} AS owner_of_record FROM {table} t
          WHERE t.workspace_id = $1 AND t.id = $2 AND t.deleted_at IS {null}{lock}",
        owner = R::OWNER,
        table = R::TABLE,
        null = if deleted { "NOT NULL" } else { "NULL" },
        lock = if for_update { " FOR UPDATE OF t" } else { "" },
    );
    let row = sqlx::query(&sql)
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(CrmError::NotFound(R::KIND))?;
    Ok(Locked {
        record: R::from_row(&row)?,
        owner: row.try_get("owner_of_record")?,
    })
}

/// Reads a live row of the actor's workspace.
pub async fn get<R: Record>(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<R, CrmError> {
    actor.check_read()?;
    Ok(fetch::<R>(conn, actor.workspace_id, id, false, false)
        .await?
        .record)
}

/// Opens the transaction of an update: the row locked, the actor allowed to edit it, and the
/// caller's `expected_version` still current.
pub async fn begin_update<'c, R: Record>(
    conn: &'c mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
) -> Result<(Transaction<'c, Postgres>, Locked<R>), CrmError> {
    let mut tx = conn.begin().await?;
    let before = lock::<R>(&mut tx, actor.workspace_id, id).await?;
    actor.check_edit(&mut tx, before.owner).await?;
    check_version(&before.record, expected_version)?;
    Ok((tx, before))
}

/// The last step of every write: the audit entry (before and after images) in the same
/// transaction as the change, then the commit.
pub async fn commit<R: Record>(
    mut tx: Transaction<'_, Postgres>,
    actor: &Actor,
    action: &str,
    id: Uuid,
    before: Option<&R>,
    after: R,
) -> Result<R, CrmError> {
    audit::record(&mut tx, actor, action, R::KIND, id, before, Some(&after)).await?;
    tx.commit().await?;
    Ok(after)
}

/// Fails with a conflict unless the caller saw the current version.
pub fn check_version<R: Record>(record: &R, expected: i32) -> Result<(), CrmError> {
    if record.version() != expected {
        return Err(CrmError::Conflict {
            kind: R::KIND,
            current_version: record.version(),
        });
    }
    Ok(())
}

/// Moves a record to the trash (soft delete); `expected_version` guards against deleting a
/// record someone just changed.
pub async fn delete<R: Record>(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: Option<i32>,
) -> Result<(), CrmError> {
    let mut tx = conn.begin().await?;
    let before = lock::<R>(&mut tx, actor.workspace_id, id).await?;
    actor.check_edit(&mut tx, before.owner).await?;
    if let Some(v) = expected_version {
        check_version(&before.record, v)?;
    }
    let sql = format!(
        "UPDATE {} t SET deleted_at = now(), updated_at = now(), version = version + 1 WHERE t.id = $1 RETURNING t.*",
        R::TABLE
    );
    let after: R = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        "delete",
        R::KIND,
        id,
        Some(&before.record),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Brings a record back from the trash.
pub async fn restore<R: Record>(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<R, CrmError> {
    let mut tx = conn.begin().await?;
    let before = fetch::<R>(&mut tx, actor.workspace_id, id, true, true).await?;
    actor.check_edit(&mut tx, before.owner).await?;
    let sql = format!(
        "UPDATE {} t SET deleted_at = NULL, updated_at = now(), version = version + 1 WHERE t.id = $1 RETURNING t.*",
        R::TABLE
    );
    let after: R = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
    commit(tx, actor, "restore", id, Some(&before.record), after).await
}
