//! The alerts consumer: hands every label trigger on `triggers` to the sales inbox
//! (`audiences::inbox::raise`), which alerts the owner of the matching CRM customer once.

use super::{effects::TRIGGERS_TOPIC, Failure, ALERTS_GROUP};
use async_trait::async_trait;
use bus::{Commit, ConsumeSpec, Handler, Message};
use domain::events::Trigger;
use sqlx::PgPool;

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
                Ok(t) => {
                    if audiences::inbox::raise(self.pool, &t).await? {
                        metrics::counter!("alerts_created_total").increment(1);
                    }
                }
                // Triggers written before they were typed could lack a workspace: they never
                // alerted anyone, and retrying cannot change that.
                Err(e) => tracing::warn!(partition = m.partition, offset = m.offset, error = %e,
                    "a trigger that names no workspace alerts no one"),
            }
        }
        Ok(Commit::Handled)
    }
}
