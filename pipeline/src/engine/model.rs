//! One workspace's customer model and the steps every input shares on it: a merge fanned out
//! to each operator that keeps per-profile state, and threshold labels re-checked after a
//! profile changed. Event time is a workspace's own: its watermark moves only with its own
//! events, so no workspace's clock (or a bad event in it) fires another's timers.

use super::effect::{session_effect, Effect};
use super::EngineConfig;
use crate::operator::identity::{IdentityGraph, Merge};
use crate::operator::labels::Labels;
use crate::operator::traits::Traits;
use crate::operator::Dedupe;
use crate::operator::Sessionizer;
use crate::time::{EventTimeMs, Watermark};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// One workspace's customer model: its own event time, dedupe memory, identity graph,
/// sessions and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Model {
    pub(super) watermark: Watermark,
    /// Message ids seen within the horizon (a workspace's ids never hide another's).
    pub(super) dedupe: Dedupe,
    /// Watermark at which sessions and dedupe were last swept.
    pub(super) swept_at: Option<EventTimeMs>,
    /// The event-time day (days since the epoch) whose window refresh is done.
    pub(super) rolled_day: Option<i64>,
    pub(super) identity: IdentityGraph,
    pub(super) sessions: Sessionizer,
    pub(super) labels: Labels,
    pub(super) traits: Traits,
    /// Profiles changed since the last `take_profiles`.
    pub(super) dirty: BTreeSet<String>,
}

impl Model {
    /// An empty model with the engine's event-time settings.
    pub(super) fn new(config: &EngineConfig) -> Self {
        Model {
            watermark: Watermark::new(config.max_disorder_ms, config.allowed_lateness_ms),
            dedupe: Dedupe::new(config.dedupe_horizon_ms),
            swept_at: None,
            rolled_day: None,
            identity: IdentityGraph::with_limit(config.shared_identifiers),
            sessions: Sessionizer::new(config.session_gap_ms),
            labels: Labels::new(Vec::new()),
            traits: Traits::new(),
            dirty: BTreeSet::new(),
        }
    }
}

impl Model {
    /// The earliest event time at which this workspace's state would change without an
    /// event: a label timer, a session's end, the next day's window refresh.
    pub(super) fn next_due(&self) -> Option<EventTimeMs> {
        let next_day = self
            .rolled_day
            .map(|d| (d + 1) * crate::operator::traits::DAY_MS);
        [self.labels.next_timer(), self.sessions.next_end(), next_day]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Applies merges to every operator that keeps per-profile state — the one place a merge
/// fans out — and returns the merge effects and the sessions they ended.
pub(super) fn fan_out_merges(model: &mut Model, merges: Vec<Merge>) -> Vec<Effect> {
    let mut out = Vec::new();
    for m in merges {
        model.labels.merge(&m.from, &m.into);
        model.traits.merge(&m.from, &m.into);
        let ended = model.sessions.merge(&m.from, &m.into);
        out.push(Effect::Merged(m));
        out.extend(ended.into_iter().map(session_effect));
    }
    out
}

/// Re-checks the threshold labels of a profile after it changed at `at`.
pub(super) fn thresholds(model: &mut Model, profile: &str, at: EventTimeMs) -> Vec<Effect> {
    if !model.labels.has_thresholds() {
        return Vec::new();
    }
    let Some(view) = model.traits.view(profile, at) else {
        return Vec::new();
    };
    let field = |name: &str| -> Option<Value> {
        Some(match name {
            "events_total" => view.events_total.into(),
            "sessions_total" => view.sessions_total.into(),
            "events_today" => view.events_today.into(),
            "events_7d" => view.events_7d.into(),
            "events_30d" => view.events_30d.into(),
            "orders_30d" => view.orders_30d.into(),
            "revenue_30d" => view.revenue_30d.into(),
            "distinct_pages_7d" => view.distinct_pages_7d.into(),
            "first_seen" => view.first_seen.into(),
            "last_seen" => view.last_seen.into(),
            other => match other.strip_prefix("traits.") {
                Some(t) => view.traits.get(t)?.clone(),
                None => view.traits.get(other)?.clone(),
            },
        })
    };
    model
        .labels
        .on_profile(profile, field, at)
        .into_iter()
        .map(Effect::Label)
        .collect()
}
