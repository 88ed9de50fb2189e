//! Runs CDC inside the server: the replication task (restarted after failures; it resumes from
//! the slot's confirmed position) and a monitor that publishes the slot's lag on `/metrics` and
//! warns when the slot is lost or falls behind.

use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Starts the replication task and its monitor; both stop when `cancel` fires.
pub fn spawn(
    pool: sqlx::PgPool,
    config: cdc::CdcConfig,
    bus: Arc<dyn bus::Bus>,
    cancel: cdc::CancellationToken,
) -> Vec<JoinHandle<()>> {
    let replication = {
        let (pool, config, cancel) = (pool.clone(), config.clone(), cancel.clone());
        tokio::spawn(async move {
            let (p, cfg, c) = (&pool, &config, &cancel);
            crate::supervise::restart_on_failure("CDC", Duration::from_secs(5), c, move || {
                let bus = bus.clone();
                async move {
                    let result = cdc::run(p, cfg, "pulse", bus, c.clone()).await;
                    if result.is_err() {
                        metrics::counter!("cdc_restarts_total").increment(1);
                    }
                    result
                }
            })
            .await;
        })
    };
    let monitor = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = cancel.cancelled() => break,
            }
            match cdc::lag(&pool, &config).await {
                Ok(Some(lag)) => {
                    metrics::gauge!("cdc_lag_bytes").set(lag.bytes as f64);
                    metrics::gauge!("cdc_slot_active").set(f64::from(u8::from(lag.active)));
                    if let Some(s) = lag.seconds {
                        metrics::gauge!("cdc_flush_lag_seconds").set(s);
                    }
                    let alert = lag.alert(cdc::LAG_ALERT_BYTES);
                    metrics::gauge!("cdc_lag_alert").set(f64::from(u8::from(alert.is_some())));
                    if let Some(message) = alert {
                        tracing::warn!(slot = %config.slot, bytes = lag.bytes, "{message}");
                    }
                }
                Ok(None) => metrics::gauge!("cdc_slot_active").set(0.0),
                Err(e) => tracing::warn!(error = %e, "reading CDC lag failed"),
            }
        }
    });
    vec![replication, monitor]
}
