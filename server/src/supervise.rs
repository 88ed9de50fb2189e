//! Keeping background tasks alive: the CDC stream, the customer model and its alerts consumer
//! all restart after a failure until the server shuts down.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// Runs `task` until it returns `Ok` or `cancel` fires; after an error it logs it and starts
/// the task again `delay` later (each run resumes from its own committed position).
pub async fn restart_on_failure<F, Fut, E>(
    what: &str,
    delay: Duration,
    cancel: &cdc::CancellationToken,
    mut task: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    while !cancel.is_cancelled() {
        match task().await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "{what} stopped; restarting in {} s", delay.as_secs());
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => break,
                }
            }
        }
    }
}
