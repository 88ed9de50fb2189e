//! Accounts: the companies customers belong to.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::list::{FilterKind, FilterSpec, ListSpec, SortSpec, SqlType};
use crate::records;
use domain::crm::{Account, AccountInput};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// How account lists sort, filter and search.
pub static LIST: ListSpec = ListSpec {
    table: "accounts",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "name",
            exprs: &[("lower(t.name)", SqlType::Text)],
        },
        SortSpec {
            name: "created_at",
            exprs: &[("t.created_at", SqlType::Timestamptz)],
        },
        SortSpec {
            name: "updated_at",
            exprs: &[("t.updated_at", SqlType::Timestamptz)],
        },
    ],
    default_sort: "name",
    filters: &[FilterSpec {
        name: "owner_id",
        expr: "t.owner_id",
        kind: FilterKind::Uuid,
    }],
    search: Some("lower(t.name || ' ' || coalesce(t.domain, ''))"),
};

/// Creates an account.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: AccountInput,
) -> Result<Account, CrmError> {
    actor.check_create()?;
    input.normalize()?;
    let owner = actor.owner_for_new(input.owner_id)?;
    let mut tx = conn.begin().await?;
    let id = Uuid::new_v4();
    let account: Account = sqlx::query_as(
        "INSERT INTO accounts AS t (id, workspace_id, name, domain, industry, employees, annual_revenue_minor, currency, owner_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING t.*",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(&input.name)
    .bind(&input.domain)
    .bind(&input.industry)
    .bind(input.employees)
    .bind(input.annual_revenue_minor)
    .bind(&input.currency)
    .bind(owner)
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "create", id, None, account).await
}

/// Updates an account the caller last saw at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: AccountInput,
) -> Result<Account, CrmError> {
    input.normalize()?;
    let (mut tx, before) =
        records::begin_update::<Account>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    let after: Account = sqlx::query_as(
        "UPDATE accounts AS t SET name = $2, domain = $3, industry = $4, employees = $5, annual_revenue_minor = $6,
                currency = $7, owner_id = $8, version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(&input.name)
    .bind(&input.domain)
    .bind(&input.industry)
    .bind(input.employees)
    .bind(input.annual_revenue_minor)
    .bind(&input.currency)
    .bind(input.owner_id)
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

/// Finds a live account by name (case-insensitive), for conversion and imports.
pub async fn find_by_name(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    name: &str,
) -> Result<Option<Account>, CrmError> {
    Ok(sqlx::query_as(
        "SELECT t.* FROM accounts t WHERE t.workspace_id = $1 AND lower(t.name) = lower($2) AND t.deleted_at IS NULL
          ORDER BY t.created_at LIMIT 1",
    )
    .bind(workspace_id)
    .bind(name.trim())
    .fetch_optional(conn)
    .await?)
}

records::plain_reads!(domain::crm::Account, "accounts");
