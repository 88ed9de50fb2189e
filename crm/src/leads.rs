//! Leads: the sales pipeline new → contacted → qualified → converted (or lost), and conversion
//! into a customer and account in one transaction.

use crate::accounts;
use crate::actor::Actor;
use crate::audit;
use crate::customers;
use crate::error::CrmError;
use crate::list::{FilterKind, FilterSpec, ListSpec, SortSpec, SqlType};
use crate::records::{self, Record};
use crate::settings;
use domain::crm::{AccountInput, ConversionResult, Lead, LeadConversion, LeadInput, LeadStatus};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

const STATUSES: &[&str] = &["new", "contacted", "qualified", "converted", "lost"];

/// How lead lists sort, filter and search.
pub static LIST: ListSpec = ListSpec {
    table: "leads",
    columns: "t.*",
    sorts: &[
        SortSpec {
            name: "created_at",
            exprs: &[("t.created_at", SqlType::Timestamptz)],
        },
        SortSpec {
            name: "updated_at",
            exprs: &[("t.updated_at", SqlType::Timestamptz)],
        },
        SortSpec {
            name: "name",
            exprs: &[
                ("lower(t.last_name)", SqlType::Text),
                ("lower(t.first_name)", SqlType::Text),
            ],
        },
        SortSpec {
            name: "value",
            exprs: &[("coalesce(t.estimated_value_minor, 0)", SqlType::BigInt)],
        },
    ],
    default_sort: "-created_at",
    filters: &[
        FilterSpec {
            name: "status",
            expr: "t.status",
            kind: FilterKind::OneOf(STATUSES),
        },
        FilterSpec {
            name: "owner_id",
            expr: "t.owner_id",
            kind: FilterKind::Uuid,
        },
        FilterSpec {
            name: "source",
            expr: "t.source",
            kind: FilterKind::OneOf(&[
                "web", "referral", "event", "outbound", "partner", "ads", "import", "other",
            ]),
        },
        FilterSpec {
            name: "created_since",
            expr: "t.created_at",
            kind: FilterKind::Since,
        },
    ],
    search: Some("t.search_text"),
};

fn search_text(l: &LeadInput) -> String {
    [
        l.first_name.as_str(),
        l.last_name.as_str(),
        l.email.as_deref().unwrap_or(""),
        l.phone.as_deref().unwrap_or(""),
        l.company_name.as_deref().unwrap_or(""),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase()
}

/// Creates a lead.
pub async fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    mut input: LeadInput,
) -> Result<Lead, CrmError> {
    actor.check_create()?;
    input.normalize(settings::phone_country(conn, actor.workspace_id).await?)?;
    let owner = actor.owner_for_new(input.owner_id)?;
    let mut tx = conn.begin().await?;
    let id = Uuid::new_v4();
    let lead: Lead = sqlx::query_as(
        "INSERT INTO leads AS t (id, workspace_id, first_name, last_name, email, phone, company_name, title, source,
                status, lost_reason, estimated_value_minor, currency, owner_id, search_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING t.*",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(&input.company_name)
    .bind(&input.title)
    .bind(input.source)
    .bind(input.status)
    .bind(&input.lost_reason)
    .bind(input.estimated_value_minor)
    .bind(&input.currency)
    .bind(owner)
    .bind(search_text(&input))
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "create", id, None, lead).await
}

/// Updates a lead; converted leads are closed for edits.
pub async fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mut input: LeadInput,
) -> Result<Lead, CrmError> {
    input.normalize(settings::phone_country(conn, actor.workspace_id).await?)?;
    let (mut tx, before) = records::begin_update::<Lead>(conn, actor, id, expected_version).await?;
    actor.check_owner_change(before.record.owner_id, input.owner_id)?;
    if before.record.status == LeadStatus::Converted {
        return Err(CrmError::field(
            "status",
            "This lead is converted; edit its customer instead.",
        ));
    }
    let after: Lead = sqlx::query_as(
        "UPDATE leads AS t SET first_name = $2, last_name = $3, email = $4, phone = $5, company_name = $6, title = $7,
                source = $8, status = $9, lost_reason = $10, estimated_value_minor = $11, currency = $12,
                owner_id = $13, search_text = $14, version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(&input.first_name)
    .bind(&input.last_name)
    .bind(&input.email)
    .bind(&input.phone)
    .bind(&input.company_name)
    .bind(&input.title)
    .bind(input.source)
    .bind(input.status)
    .bind(&input.lost_reason)
    .bind(input.estimated_value_minor)
    .bind(&input.currency)
    .bind(input.owner_id)
    .bind(search_text(&input))
    .fetch_one(&mut *tx)
    .await?;
    records::commit(tx, actor, "update", id, Some(&before.record), after).await
}

/// The input that reproduces a stored lead.
pub fn to_input(l: &Lead) -> LeadInput {
    LeadInput {
        first_name: l.first_name.clone(),
        last_name: l.last_name.clone(),
        email: l.email.clone(),
        phone: l.phone.clone(),
        company_name: l.company_name.clone(),
        title: l.title.clone(),
        source: l.source,
        status: l.status,
        lost_reason: l.lost_reason.clone(),
        estimated_value_minor: l.estimated_value_minor,
        currency: l.currency.clone(),
        owner_id: l.owner_id,
    }
}

/// Converts a lead: links or creates the customer (matching an existing customer by the lead's
/// email or phone before creating one), links or creates the account, and marks the lead
/// converted — all in one transaction, all audited.
pub async fn convert(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    req: LeadConversion,
) -> Result<ConversionResult, CrmError> {
    let mut tx = conn.begin().await?;
    let before = records::lock::<Lead>(&mut tx, actor.workspace_id, id).await?;
    actor.check_edit(&mut tx, before.owner).await?;
    records::check_version(&before.record, req.version)?;
    let lead = before.record;
    match lead.status {
        LeadStatus::Converted => {
            return Err(CrmError::field("status", "This lead is already converted."))
        }
        LeadStatus::Lost => {
            return Err(CrmError::field(
                "status",
                "This lead is lost; reopen it before converting.",
            ))
        }
        _ => {}
    }

    // Account first, so a new customer can belong to it.
    let (account_id, account_created) = match (req.account_id, req.create_account) {
        (Some(aid), _) => {
            records::get::<domain::crm::Account>(&mut tx, actor, aid)
                .await
                .map_err(|_| CrmError::field("account_id", "No such account in this workspace."))?;
            (Some(aid), false)
        }
        (None, true) => {
            let Some(company) = lead.company_name.clone() else {
                return Err(CrmError::field(
                    "create_account",
                    "The lead has no company to create an account from.",
                ));
            };
            match accounts::find_by_name(&mut tx, actor.workspace_id, &company).await? {
                Some(a) => (Some(a.id), false),
                None => {
                    let a = accounts::create(
                        &mut tx,
                        actor,
                        AccountInput {
                            name: company,
                            currency: lead.currency.clone(),
                            owner_id: lead.owner_id,
                            ..Default::default()
                        },
                    )
                    .await?;
                    (Some(a.id), true)
                }
            }
        }
        (None, false) => (None, false),
    };

    let (customer_id, customer_created) = match req.customer_id {
        Some(cid) => {
            customers::get(&mut tx, actor, cid).await.map_err(|_| {
                CrmError::field("customer_id", "No such customer in this workspace.")
            })?;
            (cid, false)
        }
        None => {
            let emails: Vec<String> = lead.email.iter().cloned().collect();
            let phones: Vec<String> = lead.phone.iter().cloned().collect();
            let existing =
                customers::find_by_identifiers(&mut tx, actor.workspace_id, &emails, &phones, &[])
                    .await?;
            match existing.first() {
                Some(one) => (*one, false),
                None => {
                    let input = customers::input_from_contact(
                        &lead.first_name,
                        &lead.last_name,
                        lead.email.as_deref(),
                        lead.phone.as_deref(),
                        account_id,
                        lead.owner_id,
                    );
                    // The customer is created on the actor's authority; a rep converting their own
                    // lead owns the customer, as the lead's owner.
                    let c = customers::create(&mut tx, actor, input).await?;
                    (c.id, true)
                }
            }
        }
    };

    let after: Lead = sqlx::query_as(
        "UPDATE leads AS t SET status = 'converted', converted_customer_id = $2, converted_account_id = $3,
                converted_at = now(), version = version + 1, updated_at = now()
          WHERE t.id = $1 RETURNING t.*",
    )
    .bind(id)
    .bind(customer_id)
    .bind(account_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "convert",
        Lead::KIND,
        id,
        Some(&lead),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(ConversionResult {
        lead: after,
        customer_id,
        customer_created,
        account_id,
        account_created,
    })
}

records::plain_reads!(domain::crm::Lead, "leads");
