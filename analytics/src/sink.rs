//! The pipeline's sink into the analytics store: effects and profile snapshots are collected
//! into batches (written when `max_rows` rows wait or `max_delay` passed), the queue in front
//! of it is bounded (a slow store slows the pipeline instead of filling memory), and `flush`
//! returns once everything sent before it is written — the pipeline calls it before each
//! checkpoint, so a checkpoint never covers effects the store has not got.

use crate::batch::BatchBuilder;
use crate::{AnalyticsError, AnalyticsStore};
use pipeline::{Emitted, ProfileSnapshot};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Batching and back-pressure settings.
#[derive(Debug, Clone, Copy)]
pub struct SinkConfig {
    /// Write once this many rows wait.
    pub max_rows: usize,
    /// Write once the oldest waiting row is this old.
    pub max_delay: Duration,
    /// Sends queued before `send` waits.
    pub queue: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            max_rows: 20_000,
            max_delay: Duration::from_millis(250),
            queue: 64,
        }
    }
}

enum Msg {
    Rows(Vec<Emitted>, Vec<ProfileSnapshot>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the sink's writer task.
#[derive(Clone)]
pub struct AnalyticsSink {
    tx: mpsc::Sender<Msg>,
}

impl AnalyticsSink {
    /// Starts the writer task.
    pub fn start(store: Arc<dyn AnalyticsStore>, config: SinkConfig) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let task = tokio::spawn(run(store, config, rx));
        (AnalyticsSink { tx }, task)
    }

    /// Queues rows; waits while the queue is full.
    pub async fn send(
        &self,
        effects: Vec<Emitted>,
        profiles: Vec<ProfileSnapshot>,
    ) -> Result<(), AnalyticsError> {
        if effects.is_empty() && profiles.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Msg::Rows(effects, profiles))
            .await
            .map_err(|_| AnalyticsError::Stopped)
    }

    /// Returns once everything sent before is written.
    pub async fn flush(&self) -> Result<(), AnalyticsError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(done))
            .await
            .map_err(|_| AnalyticsError::Stopped)?;
        wait.await.map_err(|_| AnalyticsError::Stopped)
    }
}

async fn run(store: Arc<dyn AnalyticsStore>, config: SinkConfig, mut rx: mpsc::Receiver<Msg>) {
    let mut builder = BatchBuilder::new();
    let mut oldest: Option<Instant> = None;
    loop {
        let msg = match oldest {
            Some(t) => {
                let deadline = t + config.max_delay;
                match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                    Ok(m) => m,
                    Err(_) => {
                        write(&*store, &mut builder).await;
                        oldest = None;
                        continue;
                    }
                }
            }
            None => rx.recv().await,
        };
        match msg {
            None => {
                write(&*store, &mut builder).await;
                return;
            }
            Some(Msg::Rows(effects, profiles)) => {
                for e in &effects {
                    builder.effect(e);
                }
                for p in &profiles {
                    builder.profile(p);
                }
                oldest.get_or_insert_with(Instant::now);
                if builder.len() >= config.max_rows {
                    write(&*store, &mut builder).await;
                    oldest = None;
                }
            }
            Some(Msg::Flush(done)) => {
                write(&*store, &mut builder).await;
                oldest = None;
                let _ = done.send(());
            }
        }
    }
}

/// Writes what is waiting, retrying until the store takes it: the pipeline must not move its
/// checkpoint past rows the store has not got, so it waits (back-pressure) instead.
async fn write(store: &dyn AnalyticsStore, builder: &mut BatchBuilder) {
    if builder.is_empty() {
        return;
    }
    let batch = builder.take();
    let rows = batch.events.len() + batch.profiles.len();
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        match store.write(batch.clone()).await {
            Ok(()) => {
                metrics::histogram!("analytics_write_seconds", "engine" => store.engine())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("analytics_rows_total", "engine" => store.engine())
                    .increment(rows as u64);
                return;
            }
            Err(e) => {
                metrics::counter!("analytics_write_errors_total", "engine" => store.engine())
                    .increment(1);
                tracing::warn!(error = %e, retry_in = ?backoff, "analytics store write failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
