//! Labels evaluated incrementally on event time: counts in a sliding window, "A, then not B
//! within T", and recency. Per profile and label a small state; event-time timers fire when the
//! watermark passes them, so a restart or a replay decides exactly as the first run did.
//!
//! This file holds the state and what every rule shares (definitions, read-outs, identity
//! merges); `events` updates event-pattern rules on an event, `timers` fires their deadlines
//! and `thresholds` checks rules on a profile's fields.

mod events;
mod thresholds;
mod timers;

#[cfg(test)]
mod tests;

use crate::time::EventTimeMs;
use domain::labels::{LabelDefinition, LabelRule};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// A label set or cleared on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelChange {
    pub profile: String,
    pub label: String,
    pub set: bool,
    /// Event time of the change.
    pub at: EventTimeMs,
    pub reason: String,
    /// The definition asks for a trigger and the label was set.
    pub trigger: bool,
    /// The version of the workspace's label definitions that decided it (0: unversioned, as
    /// in backtests).
    #[serde(default)]
    pub version: u64,
}

impl LabelChange {
    /// A change of `def`'s label on `profile`; it triggers when it sets a trigger label.
    fn of(
        def: &LabelDefinition,
        version: u64,
        profile: &str,
        set: bool,
        at: EventTimeMs,
        reason: String,
    ) -> Self {
        LabelChange {
            profile: profile.to_string(),
            label: def.name.clone(),
            set,
            at,
            reason,
            trigger: set && def.trigger,
            version,
        }
    }
}

/// One label's state on one profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    set: bool,
    /// Count rule: matching event times inside the window, oldest first.
    times: VecDeque<EventTimeMs>,
    /// Absence rule: time of the `first` event waiting for its deadline.
    pending: Option<EventTimeMs>,
    /// Recency rule: newest matching event.
    last: Option<EventTimeMs>,
}

/// Every profile's label states and the pending timers, checkpointed with the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// The version of `defs` (see [`domain::control::Control::Labels`]).
    version: u64,
    /// Definitions in force (replaced on change; states of removed labels are dropped).
    defs: Vec<LabelDefinition>,
    states: HashMap<String, HashMap<String, State>>,
    /// (fire at, profile, label).
    timers: BTreeSet<(EventTimeMs, String, String)>,
}

/// When `rule` has a profile's `state` due next (its one pending timer), if at all.
fn due(rule: &LabelRule, state: &State) -> Option<EventTimeMs> {
    match rule {
        LabelRule::Count { window_ms, .. } => state.times.front().map(|t| t + window_ms),
        LabelRule::Absence { within_ms, .. } | LabelRule::Sequence { within_ms, .. } => {
            state.pending.map(|t| t + within_ms)
        }
        LabelRule::Recency { within_ms, .. } => state.last.map(|t| t + within_ms),
        LabelRule::Threshold { .. } => None,
    }
}

fn fmt_time(ms: EventTimeMs) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

impl Labels {
    /// An evaluator for these definitions.
    pub fn new(defs: Vec<LabelDefinition>) -> Self {
        Labels {
            defs,
            ..Labels::default()
        }
    }

    /// The version of the definitions in force.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Replaces the definitions with version `version` of them, unless the ones in force are
    /// that version or newer; returns whether they were replaced.
    pub fn set_version(&mut self, version: u64, defs: Vec<LabelDefinition>) -> bool {
        if version <= self.version {
            return false;
        }
        self.set_definitions(defs);
        self.version = version;
        true
    }

    /// Replaces the definitions (after an edit), migrating each label's states explicitly: a
    /// label that is gone loses its states and timers; a rule of the same kind with other
    /// parameters (a window, a count) keeps its states and moves each pending timer to when
    /// the new rule is due, so no wait is stuck on the old schedule; a rule of another kind
    /// starts from no state, as a new label does.
    pub fn set_definitions(&mut self, defs: Vec<LabelDefinition>) {
        let old = std::mem::take(&mut self.defs);
        for before in &old {
            let after = defs.iter().find(|d| d.name == before.name);
            match after {
                Some(after) if after.rule == before.rule => {}
                Some(after)
                    if std::mem::discriminant(&after.rule)
                        == std::mem::discriminant(&before.rule) =>
                {
                    self.reschedule(&before.name, &before.rule, &after.rule);
                }
                _ => self.forget(&before.name),
            }
        }
        self.defs = defs;
    }

    /// Moves every timer of `label` from when `old` had it due to when `new` has.
    fn reschedule(&mut self, label: &str, old: &LabelRule, new: &LabelRule) {
        for (profile, states) in &self.states {
            let Some(state) = states.get(label) else {
                continue;
            };
            let (was, now) = (due(old, state), due(new, state));
            if was == now {
                continue;
            }
            if let Some(at) = was {
                self.timers
                    .remove(&(at, profile.clone(), label.to_string()));
            }
            if let Some(at) = now {
                self.timers.insert((at, profile.clone(), label.to_string()));
            }
        }
    }

    /// Drops every state and timer of `label`.
    fn forget(&mut self, label: &str) {
        for s in self.states.values_mut() {
            s.remove(label);
        }
        self.states.retain(|_, s| !s.is_empty());
        self.timers.retain(|(_, _, l)| l != label);
    }

    /// The labels a profile carries now.
    pub fn current(&self, profile: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .states
            .get(profile)
            .map(|m| {
                m.iter()
                    .filter(|(_, s)| s.set)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// How many profiles carry each label now.
    pub fn counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out: std::collections::BTreeMap<String, usize> =
            self.defs.iter().map(|d| (d.name.clone(), 0)).collect();
        for labels in self.states.values() {
            for (name, s) in labels {
                if s.set {
                    *out.entry(name.clone()).or_default() += 1;
                }
            }
        }
        out
    }

    /// Forgets the label states and timers of these profiles.
    pub fn remove(&mut self, profiles: &std::collections::BTreeSet<String>) {
        if profiles.is_empty() {
            return;
        }
        for p in profiles {
            self.states.remove(p);
        }
        self.timers.retain(|(_, p, _)| !profiles.contains(p));
    }

    /// Profiles with any state (memory accounting).
    pub fn profiles(&self) -> usize {
        self.states.len()
    }

    /// Pending timers.
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// When the earliest pending timer is due.
    pub fn next_timer(&self) -> Option<EventTimeMs> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Moves `from`'s states into `into` after an identity merge (labels set on either stay
    /// set; the earlier pending deadline wins; window contents combine).
    pub fn merge(&mut self, from: &str, into: &str) {
        let Some(gone) = self.states.remove(from) else {
            return;
        };
        // The timers `from` can have follow from its states; looking them up this way keeps a
        // merge independent of how many timers other profiles hold.
        for (label, s) in &gone {
            let Some(def) = self.defs.iter().find(|d| &d.name == label) else {
                continue;
            };
            if let Some(at) = due(&def.rule, s) {
                if self.timers.remove(&(at, from.to_string(), label.clone())) {
                    self.timers.insert((at, into.to_string(), label.clone()));
                }
            }
        }
        let target = self.states.entry(into.to_string()).or_default();
        for (label, s) in gone {
            let t = target.entry(label).or_default();
            t.set |= s.set;
            t.pending = match (t.pending, s.pending) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            t.last = t.last.max(s.last);
            let mut all: Vec<EventTimeMs> = t.times.drain(..).chain(s.times).collect();
            all.sort_unstable();
            t.times = all.into();
        }
    }
}
