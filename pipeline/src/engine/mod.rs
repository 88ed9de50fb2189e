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

mod control;
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

use crate::time::EventTimeMs;
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
    /// An event time further ahead of the event's `receivedAt` than this is taken as
    /// `receivedAt` (the gateway's rule, `domain::event_time`, applied again here so that no
    /// producer can move a workspace's clock into the future).
    pub future_tolerance_ms: i64,
    /// A profile known only by anonymous ids with no event for this long is forgotten, with its
    /// identity nodes (default 90 days): random anonymous ids cannot grow the state forever.
    pub anonymous_ttl_ms: i64,
    /// Profiles a workspace may hold in the model (default 2,000,000, about 2 GB); an event
    /// that would start one more is counted in `Stats::capped` and not applied.
    pub max_profiles_per_workspace: u64,
    /// When an identifier counts as shared and stops joining profiles (default: more than
    /// 10 distinct profiles within 24 hours of event time, per workspace).
    pub shared_identifiers: crate::operator::identity::SharedLimit,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_disorder_ms: 5_000,
            allowed_lateness_ms: 60_000,
            dedupe_horizon_ms: crate::operator::dedupe::DEFAULT_HORIZON_MS,
            session_gap_ms: crate::operator::session::DEFAULT_GAP_MS,
            future_tolerance_ms: domain::event_time::DEFAULT_FUTURE_TOLERANCE.whole_milliseconds()
                as i64,
            anonymous_ttl_ms: 90 * crate::operator::traits::DAY_MS,
            max_profiles_per_workspace: 2_000_000,
            shared_identifiers: Default::default(),
        }
    }
}

/// Counters of what the engine applied, and of what it did not and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Applied in full.
    pub processed: u64,
    /// Dropped: the messageId was seen within the dedupe horizon.
    pub duplicates: u64,
    /// Beyond the allowed lateness (or older than the dedupe horizon): applied to the profile
    /// and timeline, not to sessions or event-pattern label rules.
    pub too_late: u64,
    /// Dropped: no identifier to attribute the event to.
    pub unidentified: u64,
    /// Dropped: not a parseable event.
    pub invalid: u64,
    /// Anonymous-only profiles forgotten after `anonymous_ttl_ms` without an event.
    pub evicted: u64,
    /// Not applied: the event would have started a profile past its workspace's cap.
    pub capped: u64,
}

/// The whole pipeline state; serialised as the checkpoint (see [`crate::checkpoint`] for its
/// versions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// The checkpoint format this state is in ([`crate::checkpoint::VERSION`]).
    version: u32,
    config: EngineConfig,
    /// Per workspace (`_pulse.workspaceId` of the events), each on its own event time.
    models: BTreeMap<String, Model>,
    /// Per partition, the next offset not yet applied.
    offsets: BTreeMap<i32, i64>,
    /// The same for `crm.changes` (CRM identifiers joining profiles).
    crm_offsets: BTreeMap<i32, i64>,
    stats: Stats,
}

impl Engine {
    /// A fresh engine with these label definitions.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            version: crate::checkpoint::VERSION,
            config,
            models: BTreeMap::new(),
            offsets: BTreeMap::new(),
            crm_offsets: BTreeMap::new(),
            stats: Stats::default(),
        }
    }

    fn model(&mut self, workspace: &str) -> &mut Model {
        let config = &self.config;
        self.models
            .entry(workspace.to_string())
            .or_insert_with(|| Model::new(config))
    }

    /// Sets how far ahead of its arrival an event's time is believed (the server's
    /// `future_tolerance`; a restored checkpoint keeps the value it was written with until
    /// this is called).
    pub fn set_future_tolerance(&mut self, ms: i64) {
        self.config.future_tolerance_ms = ms.max(0);
    }

    /// Replaces a workspace's label definitions, unversioned (tests and backtests).
    pub fn set_labels(&mut self, workspace: &str, labels: Vec<LabelDefinition>) {
        self.model(workspace).labels.set_definitions(labels);
    }

    /// Replaces a workspace's label definitions with version `version` of them unless the
    /// engine has that version or a newer one; returns whether they were replaced.
    pub fn set_labels_version(
        &mut self,
        workspace: &str,
        version: u64,
        labels: Vec<LabelDefinition>,
    ) -> bool {
        self.model(workspace).labels.set_version(version, labels)
    }

    /// The version of a workspace's label definitions the engine applies (0 when none).
    pub fn labels_version(&self, workspace: &str) -> u64 {
        self.models.get(workspace).map_or(0, |m| m.labels.version())
    }

    /// The most advanced workspace's watermark (the event-time lag metric reads it).
    pub fn watermark(&self) -> Option<EventTimeMs> {
        self.models
            .values()
            .filter_map(|m| m.watermark.current())
            .max()
    }

    /// A workspace's watermark.
    pub fn watermark_of(&self, workspace: &str) -> Option<EventTimeMs> {
        self.models.get(workspace)?.watermark.current()
    }

    /// Identifiers flagged as shared, per workspace.
    pub fn flagged(
        &self,
    ) -> impl Iterator<Item = (&str, &BTreeMap<String, crate::operator::identity::Flagged>)> {
        self.models
            .iter()
            .map(|(ws, m)| (ws.as_str(), m.identity.flagged()))
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}
