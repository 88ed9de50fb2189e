//! Synthetic behaviour for the demo workspace (demo mode only, `PULSE_DEMO_TRAFFIC`): every few
//! seconds one of the demo customers visits the shop — identifies by email, views pages and
//! products, sometimes the pricing page, sometimes contacts sales or orders — so labels, live
//! counts, profiles, their timelines and the sales inbox move while someone looks around. Events
//! go onto `events.raw` shaped as the gateway would accept them (with `_pulse.synthetic = true`).

use domain::events::{PulseMeta, WorkspaceId};
use rand::Rng;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// One visit every this often.
pub const VISIT_EVERY: Duration = Duration::from_secs(15);

/// Starts the visits; they stop when `cancel` fires.
pub fn spawn(
    pool: PgPool,
    bus: Arc<dyn bus::Bus>,
    cancel: cdc::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(VISIT_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = cancel.cancelled() => return,
            }
            if let Err(e) = visit(&pool, bus.as_ref()).await {
                tracing::debug!(error = %e, "demo visit not sent");
            }
        }
    })
}

async fn visit(
    pool: &PgPool,
    bus: &dyn bus::Bus,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let row: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT c.workspace_id, c.primary_email FROM customers c JOIN workspaces w ON w.id = c.workspace_id
          WHERE w.slug = 'acme-demo' AND c.primary_email IS NOT NULL AND c.deleted_at IS NULL
          OFFSET floor(random() * 5000) LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let Some((workspace, email)) = row else {
        return Ok(());
    };
    let (pricing, contact, product, order) = {
        let mut rng = rand::thread_rng();
        let pricing = rng.gen_bool(0.3);
        let order = rng
            .gen_bool(0.15)
            .then(|| (rng.gen_range(2_000..40_000) as f64) / 100.0);
        (
            pricing,
            pricing && rng.gen_bool(0.5),
            rng.gen_range(1..200),
            order,
        )
    };
    let anon = format!("demo-{}", Uuid::new_v4().simple());
    let mut calls = vec![
        json!({"type": "identify", "traits": {"email": email}}),
        json!({"type": "page", "properties": {"path": "/"}}),
        json!({"type": "page", "properties": {"path": format!("/p/{product}")}}),
        json!({"type": "track", "event": "Product Viewed", "properties": {"product_id": format!("sku-{product}")}}),
    ];
    if pricing {
        calls.push(json!({"type": "page", "properties": {"path": "/pricing"}}));
    }
    if contact {
        calls.push(json!({"type": "track", "event": "form_submit", "properties": {"form": "contact-sales"}}));
    }
    if let Some(revenue) = order {
        calls.push(json!({"type": "track", "event": "Order Completed",
            "properties": {"revenue": revenue, "currency": "EUR", "products": [format!("sku-{product}")]}}));
    }
    let now = OffsetDateTime::now_utc();
    let records = calls
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let t = now + time::Duration::milliseconds(i as i64);
            let stamp = t.format(&Rfc3339).unwrap_or_default();
            c["anonymousId"] = json!(anon);
            c["messageId"] = json!(format!("demo-{}", Uuid::new_v4()));
            c["timestamp"] = json!(stamp);
            c["receivedAt"] = json!(stamp);
            PulseMeta {
                workspace_id: Some(WorkspaceId(workspace)),
                activatable: Some(true),
                synthetic: true,
                ..PulseMeta::default()
            }
            .stamp(&mut c);
            bus::OutRecord {
                key: domain::events_key(workspace),
                value: serde_json::to_vec(&c).expect("JSON serialises"),
                timestamp_ms: (t.unix_timestamp_nanos() / 1_000_000) as i64,
            }
        })
        .collect();
    bus.produce(domain::events::EVENTS_TOPIC, records).await?;
    Ok(())
}
