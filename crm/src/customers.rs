//! Customers: people with any number of emails, phones and external ids, consent per channel,
//! a time zone and an owner.

use crate::actor::Actor;
use crate::error::CrmError;
use crate::list::{self, FilterKind, FilterSpec, ListParams, ListSpec, SortSpec, SqlType};
use crate::records;
use crate::settings;
use domain::crm::{Customer, CustomerInput, ExternalId, LifecycleStage, Page};
use domain::FieldErrors;
use sqlx::{Connection, PgConnection};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use uuid::Uuid;

/// How customer lists sort, filter and search.
pub static LIST: ListSpec = ListSpec {
    table: "customers",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "name",
            exprs: &[
                ("lower(t.last_name)", SqlType::Text),
                ("lower(t.first_name)", SqlType::Text),
            ],
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
    filters: &[
        FilterSpec {
            name: "owner_id",
            expr: "t.owner_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "account_id",
            expr: "t.account_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "lifecycle_stage",
            expr: "t.lifecycle_stage",
            kind: FilterKind::OneOf(&["prospect", "customer", "churned"]),
        },
        FilterSpec {
            name: "consent_email",
            expr: "t.consent_email",
            kind: FilterKind::Bool,
        },
        FilterSpec {
            name: "created_since",
            expr: "t.created_at",
            kind: FilterKind::Since,
        },
        FilterSpec {
            name: "created_before",
            expr: "t.created_at",
            kind: FilterKind::Before,
        },
    ],
    search: Some("t.search_text"),
};

/// Lists customers with their identifiers.
pub async fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    params: &ListParams,
) -> Result<Page<Customer>, CrmError> {
    let mut page: Page<Customer> = list::list(conn, actor, &LIST, params).await?;
    attach_identifiers(conn, &mut page.items).await?;
    Ok(page)
}

/// Reads one customer with identifiers.
pub async fn get(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<Customer, CrmError> {
    let mut c: Customer = records::get(conn, actor, id).await?;
    attach_identifiers(conn, std::slice::from_mut(&mut c)).await?;
    Ok(c)
}

/// Fills emails, phones and external ids of the given customers with one query.
pub async fn attach_identifiers(
    conn: &mut PgConnection,
    customers: &mut [Customer],
) -> Result<(), CrmError> {
    if customers.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT customer_id, kind, namespace, value FROM customer_identifiers
          WHERE customer_id = ANY($1) ORDER BY customer_id, kind, position",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    let mut by_id: HashMap<Uuid, &mut Customer> = customers.iter_mut().map(|c| (c.id, c)).collect();
    for c in by_id.values_mut() {
        c.emails.clear();
        c.phones.clear();
        c.external_ids.clear();
    }
    for (cid, kind, namespace, value) in rows {
        if let Some(c) = by_id.get_mut(&cid) {
            match kind.as_str() {
                "email" => c.emails.push(value),
                "phone" => c.phones.push(value),
                _ => c.external_ids.push(ExternalId { namespace, value }),
            }
        }
    }
    Ok(())
}

/// Creates a customer.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: CustomerInput,
) -> Result<Customer, CrmError> {
    actor.check_create()?;
    input.normalize(settings::phone_country(conn, actor.workspace_id).await?)?;
    let owner = actor.owner_for_new(input.owner_id)?;
    let mut tx = conn.begin().await?;
    check_references(&mut tx, actor.workspace_id, None, &input).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO customers (id, workspace_id, account_id, first_name, last_name, primary_email, primary_phone,
                time_zone, locale, lifecycle_stage, consent_email, consent_sms, consent_phone, consent_push,
                consent_updated_at, owner_id, search_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 CASE WHEN $11 OR $12 OR $13 OR $14 THEN now() END, $15, $16)",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(input.account_id)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(input.emails.first())
    .bind(input.phones.first())
    .bind(&input.time_zone)
    .bind(&input.locale)
    .bind(input.lifecycle_stage)
    .bind(input.consent.email)
    .bind(input.consent.sms)
    .bind(input.consent.phone)
    .bind(input.consent.push)
    .bind(owner)
    .bind(search_text(&input))
    .execute(&mut *tx)
    .await?;
    write_identifiers(&mut tx, actor.workspace_id, id, &input).await?;
    let created = load(&mut tx, actor.workspace_id, id).await?;
    records::commit(tx, actor, "create", id, None, created).await
}

/// Updates a customer the caller last saw at `expected_version`; identifiers are replaced.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: CustomerInput,
) -> Result<Customer, CrmError> {
    input.normalize(settings::phone_country(conn, actor.workspace_id).await?)?;
    let (mut tx, mut before) =
        records::begin_update::<Customer>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    attach_identifiers(&mut tx, std::slice::from_mut(&mut before.record)).await?;
    check_references(&mut tx, actor.workspace_id, Some(id), &input).await?;
    sqlx::query(
        "UPDATE customers SET account_id = $2, first_name = $3, last_name = $4, primary_email = $5, primary_phone = $6,
                time_zone = $7, locale = $8, lifecycle_stage = $9,
                consent_updated_at = CASE WHEN (consent_email, consent_sms, consent_phone, consent_push)
                                              IS DISTINCT FROM ($10, $11, $12, $13) THEN now() ELSE consent_updated_at END,
                consent_email = $10, consent_sms = $11, consent_phone = $12, consent_push = $13,
                owner_id = $14, search_text = $15, version = version + 1, updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(input.account_id)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(input.emails.first())
    .bind(input.phones.first())
    .bind(&input.time_zone)
    .bind(&input.locale)
    .bind(input.lifecycle_stage)
    .bind(input.consent.email)
    .bind(input.consent.sms)
    .bind(input.consent.phone)
    .bind(input.consent.push)
    .bind(input.owner_id)
    .bind(search_text(&input))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM customer_identifiers WHERE customer_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    write_identifiers(&mut tx, actor.workspace_id, id, &input).await?;
    let after = load(&mut tx, actor.workspace_id, id).await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

/// The input that reproduces a stored customer, for edits that change a few fields.
pub fn to_input(c: &Customer) -> CustomerInput {
    CustomerInput {
        account_id: c.account_id,
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        emails: c.emails.clone(),
        phones: c.phones.clone(),
        external_ids: c.external_ids.clone(),
        time_zone: c.time_zone.clone(),
        locale: c.locale.clone(),
        lifecycle_stage: c.lifecycle_stage,
        consent: c.consent,
        owner_id: c.owner_id,
    }
}

/// Finds live customers by any email, phone or external id, for imports and conversion.
pub async fn find_by_identifiers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    emails: &[String],
    phones: &[String],
    external_ids: &[ExternalId],
) -> Result<Vec<Uuid>, CrmError> {
    let ns: Vec<&str> = external_ids.iter().map(|x| x.namespace.as_str()).collect();
    let vals: Vec<&str> = external_ids.iter().map(|x| x.value.as_str()).collect();
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT i.customer_id FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id
          WHERE i.workspace_id = $1 AND c.deleted_at IS NULL AND (
                (i.kind = 'email' AND i.value = ANY($2))
             OR (i.kind = 'phone' AND i.value = ANY($3))
             OR (i.kind = 'external_id' AND (i.namespace, i.value) IN (SELECT * FROM unnest($4::text[], $5::text[]))))",
    )
    .bind(workspace_id)
    .bind(emails)
    .bind(phones)
    .bind(&ns)
    .bind(&vals)
    .fetch_all(conn)
    .await?)
}

/// Who owns a customer of the workspace, in the trash or not (`None` when nobody does or there is no such
/// customer). For system callers with no actor, such as the alerts consumer.
pub async fn owner_of(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Uuid>, CrmError> {
    Ok(
        sqlx::query_scalar("SELECT owner_id FROM customers WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

async fn load(conn: &mut PgConnection, workspace_id: Uuid, id: Uuid) -> Result<Customer, CrmError> {
    let mut c: Customer =
        sqlx::query_as("SELECT t.* FROM customers t WHERE t.workspace_id = $1 AND t.id = $2")
            .bind(workspace_id)
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    attach_identifiers(conn, std::slice::from_mut(&mut c)).await?;
    Ok(c)
}

/// Checks what the schema cannot say clearly: identifiers owned by other customers (with the
/// offending value named) and the time zone.
async fn check_references(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    self_id: Option<Uuid>,
    input: &CustomerInput,
) -> Result<(), CrmError> {
    let mut errors = FieldErrors::default();
    if let Some(tz) = &input.time_zone {
        if !time_zones(conn).await?.contains(tz) {
            errors.add(
                "time_zone",
                "Unknown time zone; use an IANA name like Europe/Berlin.",
            );
        }
    }
    let ns: Vec<&str> = input
        .external_ids
        .iter()
        .map(|x| x.namespace.as_str())
        .collect();
    let vals: Vec<&str> = input
        .external_ids
        .iter()
        .map(|x| x.value.as_str())
        .collect();
    let taken: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT i.kind, i.namespace, i.value, c.deleted_at IS NOT NULL
           FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id
          WHERE i.workspace_id = $1 AND i.customer_id IS DISTINCT FROM $2 AND (
                (i.kind = 'email' AND i.value = ANY($3))
             OR (i.kind = 'external_id' AND (i.namespace, i.value) IN (SELECT * FROM unnest($4::text[], $5::text[]))))",
    )
    .bind(workspace_id)
    .bind(self_id)
    .bind(&input.emails)
    .bind(&ns)
    .bind(&vals)
    .fetch_all(conn)
    .await?;
    for (kind, namespace, value, deleted) in taken {
        let whose = if deleted {
            "a deleted customer (restore that one instead)"
        } else {
            "another customer"
        };
        if kind == "email" {
            let i = input.emails.iter().position(|e| *e == value).unwrap_or(0);
            errors.add(
                &format!("emails[{i}]"),
                format!("{value} already belongs to {whose}."),
            );
        } else {
            let i = input
                .external_ids
                .iter()
                .position(|x| x.namespace == namespace && x.value == value)
                .unwrap_or(0);
            errors.add(
                &format!("external_ids[{i}].value"),
                format!("{namespace} id {value} already belongs to {whose}."),
            );
        }
    }
    errors.into_result().map_err(CrmError::Invalid)
}

/// IANA zone names Postgres knows, read once (the view scans the zone files).
async fn time_zones(conn: &mut PgConnection) -> Result<&'static HashSet<String>, CrmError> {
    static ZONES: OnceLock<HashSet<String>> = OnceLock::new();
    if let Some(z) = ZONES.get() {
        return Ok(z);
    }
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pg_timezone_names")
        .fetch_all(conn)
        .await?;
    Ok(ZONES.get_or_init(|| names.into_iter().collect()))
}

async fn write_identifiers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    input: &CustomerInput,
) -> Result<(), CrmError> {
    let mut kinds = Vec::new();
    let mut namespaces = Vec::new();
    let mut values = Vec::new();
    let mut positions = Vec::new();
    for (i, e) in input.emails.iter().enumerate() {
        kinds.push("email");
        namespaces.push("");
        values.push(e.as_str());
        positions.push(i as i16);
    }
    for (i, p) in input.phones.iter().enumerate() {
        kinds.push("phone");
        namespaces.push("");
        values.push(p.as_str());
        positions.push(i as i16);
    }
    for (i, x) in input.external_ids.iter().enumerate() {
        kinds.push("external_id");
        namespaces.push(x.namespace.as_str());
        values.push(x.value.as_str());
        positions.push(i as i16);
    }
    if kinds.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO customer_identifiers (workspace_id, customer_id, kind, namespace, value, position)
         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::int2[])",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(&kinds)
    .bind(&namespaces)
    .bind(&values)
    .bind(&positions)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lower-case text that search matches: names, emails, phones and external ids.
fn search_text(input: &CustomerInput) -> String {
    let mut parts: Vec<&str> = vec![&input.first_name, &input.last_name];
    parts.extend(input.emails.iter().map(String::as_str));
    parts.extend(input.phones.iter().map(String::as_str));
    parts.extend(input.external_ids.iter().map(|x| x.value.as_str()));
    parts.retain(|p| !p.is_empty());
    parts.join(" ").to_lowercase()
}

/// A minimal input for a new customer from a name and contact points (lead conversion).
pub fn input_from_contact(
    first_name: &str,
    last_name: &str,
    email: Option<&str>,
    phone: Option<&str>,
    account_id: Option<Uuid>,
    owner_id: Option<Uuid>,
) -> CustomerInput {
    CustomerInput {
        account_id,
        first_name: first_name.to_string(),
        last_name: last_name.to_string(),
        emails: email.map(|e| vec![e.to_string()]).unwrap_or_default(),
        phones: phone.map(|p| vec![p.to_string()]).unwrap_or_default(),
        lifecycle_stage: LifecycleStage::Customer,
        owner_id,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_holds_names_and_every_identifier_in_lower_case() {
        let input = CustomerInput {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            emails: vec!["ada@example.com".into()],
            phones: vec!["+4420".into()],
            external_ids: vec![ExternalId {
                namespace: "shopify".into(),
                value: "SH-9".into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            search_text(&input),
            "ada lovelace ada@example.com +4420 sh-9"
        );
    }
}
