//! The alerts consumer: turns label triggers into in-app alerts for the owner of the CRM
//! customer the profile matches (by email, phone or CRM id); without a match the alert has no
//! owner and managers see it.

use super::{effects::TRIGGERS_TOPIC, Failure, ALERTS_GROUP};
use async_trait::async_trait;
use bus::{Commit, ConsumeSpec, Handler, Message};
use domain::events::Trigger;
use domain::IdKind;
use sqlx::PgPool;
use uuid::Uuid;

/// Consumes `triggers` until `cancel` fires.
pub(super) async fn run(
    pool: &PgPool,
    bus: &dyn bus::Bus,
    cancel: &cdc::CancellationToken,
) -> Result<(), Failure> {
    bus.ensure_topic(TRIGGERS_TOPIC, 3).await?;
    let spec = ConsumeSpec::new(ALERTS_GROUP, TRIGGERS_TOPIC);
    bus::consume(bus, &spec, cancel, &mut Alerts { pool }).await;
    Ok(())
}

struct Alerts<'a> {
    pool: &'a PgPool,
}

#[async_trait]
impl Handler for Alerts<'_> {
    type Error = Failure;

    async fn handle(&mut self, batch: &[Message], _: &[i32]) -> Result<Commit, Failure> {
        for m in batch {
            match serde_json::from_slice::<Trigger>(&m.value) {
                Ok(t) => store_alert(self.pool, &t).await?,
                // Triggers written before they were typed could lack a workspace: they never
                // alerted anyone, and retrying cannot change that.
                Err(e) => tracing::warn!(partition = m.partition, offset = m.offset, error = %e,
                    "a trigger that names no workspace alerts no one"),
            }
        }
        Ok(Commit::Handled)
    }
}

async fn store_alert(pool: &PgPool, t: &Trigger) -> Result<(), Failure> {
    let ws = t.workspace.0;
    let pick = |kind: IdKind| -> Vec<String> {
        t.identifiers
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.value.clone())
            .collect()
    };
    let (emails, phones) = (pick(IdKind::Email), pick(IdKind::Phone));
    let crm: Vec<Uuid> = pick(IdKind::Crm)
        .iter()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect();
    let mut conn = pool.acquire().await?;
    let mut customers = crm::customers::find_by_identifiers(&mut conn, ws, &emails, &phones, &[])
        .await
        .map_err(|e| e.to_string())?;
    customers.extend(crm);
    let customer = customers.first().copied();
    let owner: Option<Uuid> = match customer {
        Some(c) => {
            sqlx::query_scalar("SELECT owner_id FROM customers WHERE workspace_id = $1 AND id = $2")
                .bind(ws)
                .bind(c)
                .fetch_optional(&mut *conn)
                .await?
                .flatten()
        }
        None => None,
    };
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.at) * 1_000_000)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let inserted = sqlx::query(
        "INSERT INTO alerts (id, workspace_id, owner_id, customer_id, profile, label, reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&t.id)
    .bind(ws)
    .bind(owner)
    .bind(customer)
    .bind(&t.profile)
    .bind(&t.label)
    .bind(&t.reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        metrics::counter!("alerts_created_total").increment(1);
    }
    Ok(())
}
