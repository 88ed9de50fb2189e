//! Delivering a payload: plan it, write state through the CRM services and events to
//! `events.raw`, and record the delivery — once per idempotency key.

use crate::plan::{self, CustomerData, OrderData, TicketData, Write, WriteBody};
use crate::store::{self, Integration};
use crate::IntegrationError;
use bus::{Bus, OutRecord};
use crm::{Actor, CrmError};
use domain::crm::{
    Customer, CustomerInput, LifecycleStage, Order, OrderInput, OrderStatus, SalesChannel, Ticket,
    TicketInput,
};
use domain::events::{PulseMeta, WorkspaceId};
use domain::integrations::{DeliveryError, Mapping, Preview};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use domain::events::EVENTS_TOPIC;

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Written; `replayed` when the idempotency key had already succeeded and nothing was
    /// written again.
    Done {
        delivery_id: i64,
        written: Vec<String>,
        replayed: bool,
    },
    /// Not written: the payload does not fit the mapping or the CRM refused it. Recorded for
    /// replay once the mapping is fixed.
    Failed {
        delivery_id: i64,
        error: DeliveryError,
    },
}

/// What a payload would write under a mapping, without writing anything.
pub fn preview(mapping: &Mapping, kind: &str, payload: &Value) -> Preview {
    match plan::plan(mapping, kind, payload, "preview") {
        Ok(writes) => Preview {
            writes: writes.iter().map(Write::preview).collect(),
            error: None,
        },
        Err(e) => Preview {
            writes: vec![],
            error: Some(e),
        },
    }
}

/// Delivers one webhook payload of `kind` for an authenticated integration.
pub async fn deliver(
    pool: &PgPool,
    bus: &dyn Bus,
    integration: &Integration,
    kind: &str,
    idempotency_key: &str,
    payload: &Value,
) -> Result<Outcome, IntegrationError> {
    let mut conn = pool.acquire().await?;
    run(&mut conn, bus, integration, kind, idempotency_key, payload).await
}

/// Runs a stored delivery again with the integration's current mapping.
pub async fn replay(
    pool: &PgPool,
    bus: &dyn Bus,
    workspace_id: Uuid,
    integration_id: Uuid,
    delivery_id: i64,
) -> Result<Outcome, IntegrationError> {
    let mut conn = pool.acquire().await?;
    let integration = store::load(&mut conn, workspace_id, integration_id).await?;
    let row: Option<(String, String, sqlx::types::Json<Value>)> = sqlx::query_as(
        "SELECT idempotency_key, kind, payload FROM integration_deliveries
          WHERE integration_id = $1 AND id = $2",
    )
    .bind(integration_id)
    .bind(delivery_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (key, kind, payload) = row.ok_or(IntegrationError::NotFound)?;
    run(&mut conn, bus, &integration, &kind, &key, &payload.0).await
}

/// Replays up to `limit` failed deliveries, oldest first; returns (now ok, still failed).
pub async fn replay_failed(
    pool: &PgPool,
    bus: &dyn Bus,
    workspace_id: Uuid,
    integration_id: Uuid,
    limit: i64,
) -> Result<(usize, usize), IntegrationError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT d.id FROM integration_deliveries d JOIN integrations i ON i.id = d.integration_id
          WHERE i.workspace_id = $1 AND d.integration_id = $2 AND d.status = 'failed'
          ORDER BY d.id LIMIT $3",
    )
    .bind(workspace_id)
    .bind(integration_id)
    .bind(limit.clamp(1, 1000))
    .fetch_all(pool)
    .await?;
    let (mut ok, mut failed) = (0, 0);
    for id in ids {
        match replay(pool, bus, workspace_id, integration_id, id).await? {
            Outcome::Done { .. } => ok += 1,
            Outcome::Failed { .. } => failed += 1,
        }
    }
    Ok((ok, failed))
}

async fn run(
    conn: &mut PgConnection,
    bus: &dyn Bus,
    integration: &Integration,
    kind: &str,
    key: &str,
    payload: &Value,
) -> Result<Outcome, IntegrationError> {
    let mut tx = conn.begin().await?;
    // One delivery per key at a time: a concurrent retry waits, then sees the outcome.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("{}:{key}", integration.id))
        .execute(&mut *tx)
        .await?;
    let previous: Option<(i64, String, sqlx::types::Json<Vec<String>>)> = sqlx::query_as(
        "SELECT id, status, written FROM integration_deliveries WHERE integration_id = $1 AND idempotency_key = $2",
    )
    .bind(integration.id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, status, written)) = &previous {
        if status == "ok" {
            return Ok(Outcome::Done {
                delivery_id: *id,
                written: written.0.clone(),
                replayed: true,
            });
        }
    }
    let id_base = format!("{}:{key}", integration.id);
    let result = match plan::plan(&integration.mapping, kind, payload, &id_base) {
        Ok(writes) => write_all(&mut tx, bus, integration, writes).await?,
        Err(e) => Err(e),
    };
    let (status, error, written) = match &result {
        Ok(written) => ("ok", None, written.clone()),
        Err(e) => ("failed", Some(sqlx::types::Json(e.clone())), vec![]),
    };
    let delivery_id: i64 = sqlx::query_scalar(
        "INSERT INTO integration_deliveries (integration_id, idempotency_key, kind, payload, status, error, written)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (integration_id, idempotency_key) DO UPDATE
            SET kind = EXCLUDED.kind, payload = EXCLUDED.payload, status = EXCLUDED.status,
                error = EXCLUDED.error, written = EXCLUDED.written,
                attempts = integration_deliveries.attempts + 1, updated_at = now()
         RETURNING id",
    )
    .bind(integration.id)
    .bind(key)
    .bind(kind)
    .bind(sqlx::types::Json(payload))
    .bind(status)
    .bind(error)
    .bind(sqlx::types::Json(&written))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::counter!("integration_deliveries_total", "status" => status).increment(1);
    Ok(match result {
        Ok(written) => Outcome::Done {
            delivery_id,
            written,
            replayed: false,
        },
        Err(error) => Outcome::Failed { delivery_id, error },
    })
}

/// Writes state in a savepoint (all or nothing), then events; a CRM refusal becomes a delivery
/// error naming the payload's fields. Events are produced last: when the bus fails the whole
/// transaction is abandoned and the sender retries.
async fn write_all(
    tx: &mut PgConnection,
    bus: &dyn Bus,
    integration: &Integration,
    writes: Vec<Write>,
) -> Result<Result<Vec<String>, DeliveryError>, IntegrationError> {
    let actor = integration.actor();
    let mut written = Vec::new();
    let mut events = Vec::new();
    let mut sp = tx.begin().await?;
    for w in writes {
        let done = match &w.body {
            WriteBody::Customer(c) => upsert_customer(&mut sp, &actor, c, LifecycleStage::Prospect)
                .await
                .map(|(_, line)| line),
            WriteBody::Order(c, o) => upsert_order(&mut sp, &actor, c, o).await,
            WriteBody::Ticket(c, t) => upsert_ticket(&mut sp, &actor, c, t).await,
            WriteBody::Event {
                event,
                timestamp_ms,
                ..
            } => {
                let mut event = event.clone();
                event["receivedAt"] = Value::String(
                    time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                );
                // The plan notes a clamped future time; the rest of the envelope is the
                // integration's.
                let claimed = PulseMeta::of(&event).future_timestamp;
                let clamped = claimed.is_some();
                PulseMeta {
                    future_timestamp: claimed,
                    workspace_id: Some(WorkspaceId(integration.workspace_id)),
                    integration_id: Some(integration.id),
                    integration: Some(integration.slug.clone()),
                    activatable: Some(true),
                    ..PulseMeta::default()
                }
                .stamp(&mut event);
                if clamped {
                    metrics::counter!("router_events_future_clamped_total", "integration" => integration.slug.clone())
                        .increment(1);
                }
                written.push(format!(
                    "event “{}” → {EVENTS_TOPIC}",
                    event["event"].as_str().unwrap_or("?")
                ));
                events.push(OutRecord {
                    key: domain::events_key(integration.workspace_id),
                    value: serde_json::to_vec(&event).expect("JSON values serialise"),
                    timestamp_ms: *timestamp_ms,
                });
                continue;
            }
        };
        match done {
            Ok(line) => written.push(line),
            Err(CrmError::Database(e)) => return Err(e.into()),
            Err(e) => {
                sp.rollback().await?;
                return Ok(Err(crm_error(&w, e)));
            }
        }
    }
    sp.commit().await?;
    if !events.is_empty() {
        bus.produce(EVENTS_TOPIC, events).await?;
    }
    Ok(Ok(written))
}

/// A CRM refusal in the sending system's terms.
fn crm_error(w: &Write, e: CrmError) -> DeliveryError {
    match e {
        CrmError::Invalid(fields) => DeliveryError {
            message: format!(
                "The CRM refused the {} write of rule “{}”.",
                kind_of(w),
                w.rule
            ),
            fields: fields
                .0
                .into_iter()
                .map(|(k, v)| (w.origins.get(&k).cloned().unwrap_or(k), v))
                .collect::<BTreeMap<_, _>>(),
        },
        other => DeliveryError {
            message: format!(
                "The CRM refused the {} write of rule “{}”: {other}",
                kind_of(w),
                w.rule
            ),
            fields: BTreeMap::new(),
        },
    }
}

fn kind_of(w: &Write) -> &'static str {
    match w.body {
        WriteBody::Customer(_) => "customer",
        WriteBody::Order(..) => "order",
        WriteBody::Ticket(..) => "ticket",
        WriteBody::Event { .. } => "event",
    }
}

/// Finds the customer by any identifier and adds what the payload knows (new identifiers, blank
/// names); creates one when none matches. Names set in the CRM are not overwritten.
async fn upsert_customer(
    conn: &mut PgConnection,
    actor: &Actor,
    c: &CustomerData,
    stage: LifecycleStage,
) -> Result<(Uuid, String), CrmError> {
    let emails: Vec<String> = c
        .emails
        .iter()
        .map(|e| domain::validation::normalize_email(e))
        .collect();
    let phone_country = crm::settings::phone_country(conn, actor.workspace_id).await?;
    let phones: Vec<String> = c
        .phones
        .iter()
        .filter_map(|p| domain::phone::normalize(p, phone_country).ok())
        .collect();
    let external: Vec<_> = c.external_id.iter().cloned().collect();
    let found =
        crm::customers::find_by_identifiers(conn, actor.workspace_id, &emails, &phones, &external)
            .await?;
    let label = emails
        .first()
        .or(phones.first())
        .cloned()
        .or_else(|| {
            c.external_id
                .as_ref()
                .map(|x| format!("{}:{}", x.namespace, x.value))
        })
        .unwrap_or_default();
    match found.as_slice() {
        [] => {
            let input = CustomerInput {
                first_name: c.first_name.clone().unwrap_or_default(),
                last_name: c.last_name.clone().unwrap_or_default(),
                emails: c.emails.clone(),
                phones: c.phones.clone(),
                external_ids: external,
                locale: c.locale.clone(),
                lifecycle_stage: stage,
                ..CustomerInput::default()
            };
            let created = crm::customers::create(conn, actor, input).await?;
            Ok((created.id, format!("created customer {label}")))
        }
        [id] => {
            let existing: Customer = crm::customers::get(conn, actor, *id).await?;
            let mut input = crm::customers::to_input(&existing);
            let before = input.clone();
            for (i, e) in emails.iter().enumerate() {
                if !input.emails.contains(e) {
                    input.emails.push(c.emails[i].clone());
                }
            }
            for p in &phones {
                if !input.phones.contains(p) {
                    input.phones.push(p.clone());
                }
            }
            for x in &external {
                if !input.external_ids.contains(x) {
                    input.external_ids.push(x.clone());
                }
            }
            if input.first_name.is_empty() {
                input.first_name = c.first_name.clone().unwrap_or_default();
            }
            if input.last_name.is_empty() {
                input.last_name = c.last_name.clone().unwrap_or_default();
            }
            if input.locale.is_none() {
                input.locale = c.locale.clone();
            }
            if input == before {
                return Ok((existing.id, format!("matched customer {label}")));
            }
            crm::customers::update(conn, actor, existing.id, existing.version, input).await?;
            Ok((existing.id, format!("updated customer {label}")))
        }
        many => Err(CrmError::field(
            if emails.is_empty() { "phones[0]" } else { "emails[0]" },
            format!(
                "The payload's identifiers match {} different customers; merge them in the CRM first.",
                many.len()
            ),
        )),
    }
}

async fn upsert_order(
    conn: &mut PgConnection,
    actor: &Actor,
    c: &CustomerData,
    o: &OrderData,
) -> Result<String, CrmError> {
    let (customer_id, customer_line) =
        upsert_customer(conn, actor, c, LifecycleStage::Customer).await?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE workspace_id = $1 AND number = $2 AND deleted_at IS NULL",
    )
    .bind(actor.workspace_id)
    .bind(o.number.trim())
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        None => {
            let input = OrderInput {
                number: o.number.clone(),
                customer_id,
                account_id: None,
                status: o.status.unwrap_or(OrderStatus::Pending),
                channel: o.channel.unwrap_or(SalesChannel::Web),
                currency: o.currency.clone(),
                ordered_at: o.ordered_at,
                owner_id: None,
                lines: o.lines.clone(),
            };
            crm::orders::create(conn, actor, input).await?;
            Ok(format!("{customer_line}; created order {}", o.number))
        }
        Some(id) => {
            let current: Order = crm::orders::get(conn, actor, id).await?;
            let before = crm::orders::to_input(&current);
            let mut input = before.clone();
            input.customer_id = customer_id;
            input.status = o.status.unwrap_or(input.status);
            input.channel = o.channel.unwrap_or(input.channel);
            input.currency = o.currency.clone();
            input.ordered_at = o.ordered_at.or(input.ordered_at);
            input.lines = o.lines.clone();
            if input == before {
                return Ok(format!("{customer_line}; order {} unchanged", o.number));
            }
            crm::orders::update(conn, actor, id, current.version, input).await?;
            Ok(format!("{customer_line}; updated order {}", o.number))
        }
    }
}

async fn upsert_ticket(
    conn: &mut PgConnection,
    actor: &Actor,
    c: &CustomerData,
    t: &TicketData,
) -> Result<String, CrmError> {
    let (customer_id, customer_line) =
        upsert_customer(conn, actor, c, LifecycleStage::Customer).await?;
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE workspace_id = $1 AND external_ref = $2 AND deleted_at IS NULL",
    )
    .bind(actor.workspace_id)
    .bind(t.external_ref.trim())
    .fetch_optional(&mut *conn)
    .await?;
    match existing {
        None => {
            let input = TicketInput {
                customer_id,
                subject: t.subject.clone(),
                description: t.description.clone().unwrap_or_default(),
                status: t.status.unwrap_or(domain::crm::TicketStatus::Open),
                priority: t.priority.unwrap_or(domain::crm::Priority::Normal),
                channel: t.channel.unwrap_or(domain::crm::TicketChannel::Email),
                satisfaction: t.satisfaction,
                external_ref: Some(t.external_ref.clone()),
                opened_at: t.opened_at,
                owner_id: None,
            };
            crm::tickets::create(conn, actor, input).await?;
            Ok(format!(
                "{customer_line}; created ticket {}",
                t.external_ref
            ))
        }
        Some(id) => {
            let current: Ticket = crm::tickets::get(conn, actor, id).await?;
            let before = ticket_input(&current);
            let mut input = before.clone();
            input.customer_id = customer_id;
            input.subject = t.subject.clone();
            if let Some(d) = &t.description {
                input.description = d.clone();
            }
            input.status = t.status.unwrap_or(input.status);
            input.priority = t.priority.unwrap_or(input.priority);
            input.channel = t.channel.unwrap_or(input.channel);
            input.satisfaction = t.satisfaction.or(input.satisfaction);
            if input == before {
                return Ok(format!(
                    "{customer_line}; ticket {} unchanged",
                    t.external_ref
                ));
            }
            crm::tickets::update(conn, actor, id, current.version, input).await?;
            Ok(format!(
                "{customer_line}; updated ticket {}",
                t.external_ref
            ))
        }
    }
}

fn ticket_input(t: &Ticket) -> TicketInput {
    TicketInput {
        customer_id: t.customer_id,
        subject: t.subject.clone(),
        description: t.description.clone(),
        status: t.status,
        priority: t.priority,
        channel: t.channel,
        satisfaction: t.satisfaction,
        external_ref: t.external_ref.clone(),
        opened_at: Some(t.opened_at),
        owner_id: t.owner_id,
    }
}
