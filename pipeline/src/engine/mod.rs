//! The engine: one state machine that takes records of `events.raw` in order and emits effects
//! — clean → dedupe → identity → sessions → labels, on event time with a watermark. It has no
//! I/O: the runner feeds it records, writes its effects to idempotent sinks and checkpoints it
//! (state and the offsets it has consumed, together), so after a crash the engine restored from
//! its checkpoint skips what it already applied and decides everything else as before.
//!
//! This file holds the state and its settings; `impl Engine` is split by job: `events` and
//! `crm_changes` apply the two inputs, `timers` moves event time on, `recovery` checkpoints and
//! positions, `profiles` reads the model out. `model` is one workspace's state and the steps
//! both inputs share; `effect` is what the engine emits.

mod crm_changes;
mod effect;
mod events;
mod model;
mod profiles;
mod recovery;
mod timers;

#[cfg(test)]
mod tests;

pub use effect::{Effect, Emitted};
pub use profiles::ProfileSnapshot;

use crate::operator::Dedupe;
use crate::time::{EventTimeMs, Watermark};
use domain::labels::LabelDefinition;
use model::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Event-time settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Disorder the watermark waits for.
    pub max_disorder_ms: i64,
    /// Events this far behind the watermark still apply; older ones are counted and dropped.
    pub allowed_lateness_ms: i64,
    /// How long message ids are remembered for dedupe.
    pub dedupe_horizon_ms: i64,
    /// Inactivity that ends a session.
    pub session_gap_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_disorder_ms: 5_000,
            allowed_lateness_ms: 60_000,
            dedupe_horizon_ms: crate::operator::dedupe::DEFAULT_HORIZON_MS,
            session_gap_ms: crate::operator::session::DEFAULT_GAP_MS,
        }
    }
}

/// Counters of what the engine applied, and of what it did not and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Applied in full.
    pub processed: u64,
    /// Dropped: the messageId was seen (or is older than the dedupe horizon).
    pub duplicates: u64,
    /// Beyond the allowed lateness: applied to the profile and timeline, not to sessions or
    /// event-pattern label rules.
    pub too_late: u64,
    /// Dropped: no identifier to attribute the event to.
    pub unidentified: u64,
    /// Dropped: not a parseable event.
    pub invalid: u64,
}

/// The whole pipeline state; serialised as the checkpoint (see [`crate::checkpoint`] for its
/// versions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// The checkpoint format this state is in ([`crate::checkpoint::VERSION`]).
    version: u32,
    config: EngineConfig,
    watermark: Watermark,
    dedupe: Dedupe,
    /// Per workspace (`_pulse.workspaceId` of the events).
    models: BTreeMap<String, Model>,
    /// Per partition, the next offset not yet applied.
    offsets: BTreeMap<i32, i64>,
    /// The same for `crm.changes` (CRM identifiers joining profiles).
    crm_offsets: BTreeMap<i32, i64>,
    /// Watermark at which sessions and dedupe were last swept.
    swept_at: Option<EventTimeMs>,
    /// Watermark at which every workspace's timers last fired.
    fired_at: Option<EventTimeMs>,
    /// The event-time day (days since the epoch) whose window refresh is done.
    rolled_day: Option<i64>,
    stats: Stats,
}

impl Engine {
    /// A fresh engine with these label definitions.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            version: crate::checkpoint::VERSION,
            config,
            watermark: Watermark::new(config.max_disorder_ms, config.allowed_lateness_ms),
            dedupe: Dedupe::new(config.dedupe_horizon_ms),
            models: BTreeMap::new(),
            offsets: BTreeMap::new(),
            crm_offsets: BTreeMap::new(),
            swept_at: None,
            fired_at: None,
            rolled_day: None,
            stats: Stats::default(),
        }
    }

    fn model(&mut self, workspace: &str) -> &mut Model {
        let gap = self.config.session_gap_ms;
        self.models
            .entry(workspace.to_string())
            .or_insert_with(|| Model::new(gap))
    }

    /// Replaces a workspace's label definitions (at start and after an edit).
    pub fn set_labels(&mut self, workspace: &str, labels: Vec<LabelDefinition>) {
        self.model(workspace).labels.set_definitions(labels);
    }

    /// The current watermark.
    pub fn watermark(&self) -> Option<EventTimeMs> {
        self.watermark.current()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}
