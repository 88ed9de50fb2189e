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
}

impl LabelChange {
    /// A change of `def`'s label on `profile`; it triggers when it sets a trigger label.
    fn of(
        def: &LabelDefinition,
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
    /// Definitions in force (reloaded on change; states of removed labels are dropped).
    defs: Vec<LabelDefinition>,
    states: HashMap<String, HashMap<String, State>>,
    /// (fire at, profile, label).
    timers: BTreeSet<(EventTimeMs, String, String)>,
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

    /// Replaces the definitions (after an edit); state of labels that are gone is dropped.
    pub fn set_definitions(&mut self, defs: Vec<LabelDefinition>) {
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        for s in self.states.values_mut() {
            s.retain(|k, _| names.contains(&k.as_str()));
        }
        self.timers.retain(|(_, _, l)| names.contains(&l.as_str()));
        self.defs = defs;
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
            let due: Vec<EventTimeMs> = match &def.rule {
                LabelRule::Count { window_ms, .. } => {
                    s.times.front().map(|t| t + window_ms).into_iter().collect()
                }
                LabelRule::Absence { within_ms, .. } | LabelRule::Sequence { within_ms, .. } => {
                    s.pending.map(|t| t + within_ms).into_iter().collect()
                }
                LabelRule::Recency { within_ms, .. } => {
                    s.last.map(|t| t + within_ms).into_iter().collect()
                }
                LabelRule::Threshold { .. } => Vec::new(),
            };
            for at in due {
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
