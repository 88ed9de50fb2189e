//! Contracts: term agreements with a customer or an account, with renewal dates.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::list::{FilterKind, FilterSpec, ListSpec, SortSpec, SqlType};
use crate::records;
use domain::crm::{Contract, ContractInput};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// How contract lists sort, filter and search.
pub static LIST: ListSpec = ListSpec {
    table: "contracts",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "renewal_date",
            exprs: &[("coalesce(t.renewal_date, t.end_date)", SqlType::Date)],
        },
        SortSpec {
            name: "end_date",
            exprs: &[("t.end_date", SqlType::Date)],
        },
        SortSpec {
            name: "value",
            exprs: &[("t.value_minor", SqlType::BigInt)],
        },
        SortSpec {
            name: "created_at",
            exprs: &[("t.created_at", SqlType::Timestamptz)],
        },
    ],
    default_sort: "renewal_date",
    filters: &[
        FilterSpec {
            name: "status",
            expr: "t.status",
            kind: FilterKind::OneOf(&["draft", "active", "expired", "cancelled", "renewed"]),
        },
        FilterSpec {
            name: "customer_id",
            expr: "t.customer_id",
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
            name: "renewal_since",
            expr: "coalesce(t.renewal_date, t.end_date)",
            kind: FilterKind::Since,
        },
        FilterSpec {
            name: "renewal_before",
            expr: "coalesce(t.renewal_date, t.end_date)",
            kind: FilterKind::Before,
        },
    ],
    search: Some("lower(t.title)"),
};

/// Creates a contract.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: ContractInput,
) -> Result<Contract, CrmError> {
    actor.check_create()?;
    input.normalize()?;
    let owner = actor.owner_for_new(input.owner_id)?;
    let mut tx = conn.begin().await?;
    let id = Uuid::new_v4();
    let c: Contract = sqlx::query_as(
        "INSERT INTO contracts AS t (id, workspace_id, title, customer_id, account_id, status, start_date, end_date,
                renewal_date, auto_renew, value_minor, currency, owner_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING t.*",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(&input.title)
    .bind(input.customer_id)
    .bind(input.account_id)
    .bind(input.status)
    .bind(input.start_date)
    .bind(input.end_date)
    .bind(input.renewal_date)
    .bind(input.auto_renew)
    .bind(input.value_minor)
    .bind(&input.currency)
    .bind(owner)
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "create", id, None, c).await
}

/// Updates a contract.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: ContractInput,
) -> Result<Contract, CrmError> {
    input.normalize()?;
    let (mut tx, before) =
        records::begin_update::<Contract>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    let after: Contract = sqlx::query_as(
        "UPDATE contracts AS t SET title = $2, customer_id = $3, account_id = $4, status = $5, start_date = $6,
                end_date = $7, renewal_date = $8, auto_renew = $9, value_minor = $10, currency = $11, owner_id = $12,
                version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(&input.title)
    .bind(input.customer_id)
    .bind(input.account_id)
    .bind(input.status)
    .bind(input.start_date)
    .bind(input.end_date)
    .bind(input.renewal_date)
    .bind(input.auto_renew)
    .bind(input.value_minor)
    .bind(&input.currency)
    .bind(input.owner_id)
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

records::plain_reads!(domain::crm::Contract, "contracts");
