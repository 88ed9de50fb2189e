//! The live customer model inside the server. A member of the `pipeline` group on `events.raw`
//! feeds the pipeline engine ([`runner`]); its label changes, merges and sessions go to
//! `profiles.changes` and label triggers to `triggers` as soon as they exist ([`effects`]);
//! every second the engine's state is stored with the offsets it covers ([`checkpoints`]), and
//! only then are the offsets committed. The same effects and every changed profile go, batched,
//! to the analytics store (flushed before each checkpoint). A second consumer turns triggers
//! into in-app alerts for the customer's owner ([`alerts`]).
//!
//! Exactly-once effects: effects are produced before the checkpoint that covers them, with
//! deterministic ids. After a crash the engine restored from the checkpoint skips the records
//! it already applied and re-emits, with the same ids, only what came after; the alerts table
//! keys rows by that id.
//!
//! Scale-out: `events.raw` is keyed by workspace ([`domain::events_key`]), so one partition
//! holds whole workspaces and their identity graphs. Every partition has its own engine and
//! its own checkpoint row; server processes in the `pipeline` group share the partitions, and a
//! rebalance hands a partition over through its checkpoint (the old owner stores it when the
//! partition is taken away, the new one loads it; a store never replaces a checkpoint further
//! ahead). `crm.changes` is read whole by each process, outside any group ([`crm_feed`]), and
//! each change is applied by the engine that owns its workspace at the next tick of that
//! partition, which records how far into `crm.changes` it reaches.
//!
//! Replays decide the same: an engine changes only by records of its partition — events,
//! ticks (time passing, CRM changes) and label-definition versions — so the effects and their
//! ids depend on the log, not on when a runner read it.

mod alerts;
mod checkpoints;
mod crm_feed;
mod effects;
mod runner;

pub use effects::{CHANGES_TOPIC, TRIGGERS_TOPIC};

use crate::supervise::restart_on_failure;
use analytics::AnalyticsStore;
use pipeline::EngineConfig;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// The pipeline's consumer group on `events.raw`.
pub const PIPELINE_GROUP: &str = "pipeline";
/// The consumer group that turns triggers into alerts.
pub const ALERTS_GROUP: &str = "alerts";

/// How the model runs.
#[derive(Debug, Clone, Copy)]
pub struct ModelConfig {
    pub engine: EngineConfig,
    /// The state is checkpointed this often (at least ten times the last checkpoint's
    /// duration); effects are produced as soon as they exist.
    pub checkpoint_every: Duration,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            engine: EngineConfig::default(),
            checkpoint_every: Duration::from_secs(1),
        }
    }
}

/// Starts the pipeline and the alerts consumer; both stop when `cancel` fires (the pipeline
/// flushes and checkpoints first) and start again after failures.
pub fn spawn(
    pool: PgPool,
    bus: Arc<dyn bus::Bus>,
    store: Arc<dyn AnalyticsStore>,
    config: ModelConfig,
    cancel: cdc::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let pipeline = {
        let (pool, bus, cancel) = (pool.clone(), bus.clone(), cancel.clone());
        tokio::spawn(async move {
            let (p, b, c, s) = (&pool, bus.as_ref(), &cancel, &store);
            restart_on_failure("customer model", RESTART_DELAY, c, move || {
                runner::run(p, b, s.clone(), config, c)
            })
            .await;
        })
    };
    let alerts = tokio::spawn(async move {
        let (p, b, c) = (&pool, bus.as_ref(), &cancel);
        restart_on_failure("alerts consumer", RESTART_DELAY, c, move || {
            alerts::run(p, b, c)
        })
        .await;
    });
    vec![pipeline, alerts]
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Wait before a model task whose setup failed starts again (failures while consuming back
/// off inside [`bus::consume`]).
const RESTART_DELAY: Duration = Duration::from_secs(2);
