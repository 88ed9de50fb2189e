//! Server functions of the CRM workbench: thin wrappers that resolve the signed-in actor,
//! call the CRM services or view builders, and map errors.

use super::model::{ListView, Owner, RecordView};
use crate::UiError;
use domain::crm::{
    ConversionResult, Customer, CustomerInput, Lead, LeadConversion, LeadInput, RecordKind,
};
#[cfg(feature = "ssr")]
use domain::Need;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

/// The signed-in member allowed to `need` the CRM, as an actor with a pooled connection.
#[cfg(feature = "ssr")]
async fn conn(
    need: Need,
) -> Result<
    (
        crm::Actor,
        domain::Viewer,
        sqlx::pool::PoolConnection<sqlx::Postgres>,
    ),
    UiError,
> {
    let m = crate::session::require(domain::Area::Crm, need).await?;
    let conn = m.ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok((m.actor(), m.viewer, conn))
}

/// One page of a CRM list for the page's query string.
#[server(endpoint = "crm_list")]
pub async fn crm_list(kind: RecordKind, query: String) -> Result<ListView, UiError> {
    let (actor, viewer, mut c) = conn(Need::Read).await?;
    Ok(super::build::list_view(&mut c, &actor, viewer.role, kind, &query).await?)
}

/// A record's page.
#[server(endpoint = "crm_record")]
pub async fn crm_record(kind: RecordKind, id: Uuid) -> Result<RecordView, UiError> {
    let (actor, _, mut c) = conn(Need::Read).await?;
    Ok(super::build::record_view(&mut c, &actor, kind, id).await?)
}

/// Members of the workspace, for owner pickers.
#[server(endpoint = "crm_owners")]
pub async fn crm_owners() -> Result<Vec<Owner>, UiError> {
    let (actor, _, mut c) = conn(Need::Read).await?;
    super::build::owners(&mut c, actor.workspace_id)
        .await
        .map_err(UiError::from)
}

/// A customer as its edit form needs it.
#[server(endpoint = "crm_customer")]
pub async fn crm_customer(id: Uuid) -> Result<Customer, UiError> {
    let (actor, _, mut c) = conn(Need::Read).await?;
    Ok(crm::customers::get(&mut c, &actor, id).await?)
}

/// Creates (no `id`) or updates a customer.
#[server(endpoint = "crm_save_customer", input = Json)]
pub async fn crm_save_customer(
    id: Option<Uuid>,
    version: Option<i32>,
    input: CustomerInput,
) -> Result<Customer, UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    Ok(match id {
        None => crm::customers::create(&mut c, &actor, input).await?,
        Some(id) => crm::customers::update(&mut c, &actor, id, version.unwrap_or(0), input).await?,
    })
}

/// A lead as its edit form needs it.
#[server(endpoint = "crm_lead")]
pub async fn crm_lead(id: Uuid) -> Result<Lead, UiError> {
    let (actor, _, mut c) = conn(Need::Read).await?;
    Ok(crm::leads::get(&mut c, &actor, id).await?)
}

/// Creates (no `id`) or updates a lead.
#[server(endpoint = "crm_save_lead", input = Json)]
pub async fn crm_save_lead(
    id: Option<Uuid>,
    version: Option<i32>,
    input: LeadInput,
) -> Result<Lead, UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    Ok(match id {
        None => crm::leads::create(&mut c, &actor, input).await?,
        Some(id) => crm::leads::update(&mut c, &actor, id, version.unwrap_or(0), input).await?,
    })
}

/// What a lead's conversion could link to: customers with its email or phone, an account
/// named like its company.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConversionOptions {
    pub lead: Lead,
    pub matching_customers: Vec<(Uuid, String)>,
    pub matching_account: Option<(Uuid, String)>,
}

/// The choices of the conversion wizard.
#[server(endpoint = "crm_conversion_options")]
pub async fn crm_conversion_options(id: Uuid) -> Result<ConversionOptions, UiError> {
    let (actor, _, mut c) = conn(Need::Read).await?;
    let lead = crm::leads::get(&mut c, &actor, id).await?;
    let emails: Vec<String> = lead.email.iter().cloned().collect();
    let phones: Vec<String> = lead.phone.iter().cloned().collect();
    let ids =
        crm::customers::find_by_identifiers(&mut c, actor.workspace_id, &emails, &phones, &[])
            .await?;
    let mut matching_customers = Vec::new();
    for cid in ids.into_iter().take(5) {
        let cu = crm::customers::get(&mut c, &actor, cid).await?;
        matching_customers.push((
            cid,
            format!(
                "{} ({})",
                cu.display_name(),
                cu.emails.first().cloned().unwrap_or_default()
            ),
        ));
    }
    let matching_account = match &lead.company_name {
        Some(name) => crm::accounts::find_by_name(&mut c, actor.workspace_id, name)
            .await?
            .map(|a| (a.id, a.name)),
        None => None,
    };
    Ok(ConversionOptions {
        lead,
        matching_customers,
        matching_account,
    })
}

/// Converts a lead.
#[server(endpoint = "crm_convert_lead", input = Json)]
pub async fn crm_convert_lead(
    id: Uuid,
    conversion: LeadConversion,
) -> Result<ConversionResult, UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    Ok(crm::leads::convert(&mut c, &actor, id, conversion).await?)
}

/// Logs a call, meeting, email or note on a customer, or adds a task.
#[server(endpoint = "crm_log_activity")]
pub async fn crm_log_activity(
    customer_id: Uuid,
    kind: domain::crm::ActivityKind,
    subject: String,
    body: String,
) -> Result<(), UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    let due_at = (kind == domain::crm::ActivityKind::Task).then(|| {
        // A new task is due at the end of today (UTC) unless edited.
        let now = time::OffsetDateTime::now_utc();
        now.replace_time(time::Time::from_hms(23, 59, 0).expect("valid time"))
    });
    crm::activities::create(
        &mut c,
        &actor,
        domain::crm::ActivityInput {
            kind,
            subject,
            body,
            customer_id: Some(customer_id),
            lead_id: None,
            account_id: None,
            occurred_at: None,
            duration_minutes: None,
            due_at,
            done: false,
            owner_id: None,
        },
    )
    .await?;
    Ok(())
}

/// Marks a task done.
#[server(endpoint = "crm_complete_task")]
pub async fn crm_complete_task(id: Uuid) -> Result<(), UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    let a = crm::activities::get(&mut c, &actor, id).await?;
    let input = domain::crm::ActivityInput {
        kind: a.kind,
        subject: a.subject,
        body: a.body,
        customer_id: a.customer_id,
        lead_id: a.lead_id,
        account_id: a.account_id,
        occurred_at: Some(a.occurred_at),
        duration_minutes: a.duration_minutes,
        due_at: a.due_at,
        done: true,
        owner_id: a.owner_id,
    };
    crm::activities::update(&mut c, &actor, id, a.version, input).await?;
    Ok(())
}

/// The signed-in user's open tasks due by the end of today.
#[server(endpoint = "crm_my_tasks")]
pub async fn crm_my_tasks() -> Result<ListView, UiError> {
    let (actor, viewer, mut c) = conn(Need::Read).await?;
    let tomorrow = time::OffsetDateTime::now_utc().date() + time::Duration::days(1);
    let q = format!(
        "kind=task&done=false&owner_id=me&due_before={:04}-{:02}-{:02}&sort=due_at",
        tomorrow.year(),
        u8::from(tomorrow.month()),
        tomorrow.day()
    );
    Ok(super::build::list_view(&mut c, &actor, viewer.role, RecordKind::Activity, &q).await?)
}

/// Moves a record to the trash.
#[server(endpoint = "crm_delete")]
pub async fn crm_delete(kind: RecordKind, id: Uuid) -> Result<(), UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    use domain::crm as d;
    let r = match kind {
        RecordKind::Account => crm::records::delete::<d::Account>(&mut c, &actor, id, None).await,
        RecordKind::Customer => crm::records::delete::<d::Customer>(&mut c, &actor, id, None).await,
        RecordKind::Lead => crm::records::delete::<d::Lead>(&mut c, &actor, id, None).await,
        RecordKind::Order => crm::records::delete::<d::Order>(&mut c, &actor, id, None).await,
        RecordKind::Contract => crm::records::delete::<d::Contract>(&mut c, &actor, id, None).await,
        RecordKind::LoyaltyMembership => {
            crm::records::delete::<d::LoyaltyMembership>(&mut c, &actor, id, None).await
        }
        RecordKind::Ticket => crm::records::delete::<d::Ticket>(&mut c, &actor, id, None).await,
        RecordKind::Activity => crm::records::delete::<d::Activity>(&mut c, &actor, id, None).await,
    };
    Ok(r?)
}

/// Brings a record back from the trash.
#[server(endpoint = "crm_restore")]
pub async fn crm_restore(kind: RecordKind, id: Uuid) -> Result<(), UiError> {
    let (actor, _, mut c) = conn(Need::Change).await?;
    use domain::crm as d;
    match kind {
        RecordKind::Account => crm::records::restore::<d::Account>(&mut c, &actor, id)
            .await
            .map(|_| ()),
        RecordKind::Customer => crm::records::restore::<d::Customer>(&mut c, &actor, id)
            .await
            .map(|_| ()),
        RecordKind::Lead => crm::records::restore::<d::Lead>(&mut c, &actor, id)
            .await
            .map(|_| ()),
        RecordKind::Order => crm::records::restore::<d::Order>(&mut c, &actor, id)
            .await
            .map(|_| ()),
        RecordKind::Contract => crm::records::restore::<d::Contract>(&mut c, &actor, id)
            .await
            .map(|_| ()),
        RecordKind::LoyaltyMembership => {
            crm::records::restore::<d::LoyaltyMembership>(&mut c, &actor, id)
                .await
                .map(|_| ())
        }
        RecordKind::Ticket => crm::records::restore::<d::Ticket>(&mut c, &actor, id)
            .await
            .map(|_| ()),
        RecordKind::Activity => crm::records::restore::<d::Activity>(&mut c, &actor, id)
            .await
            .map(|_| ()),
    }?;
    Ok(())
}
