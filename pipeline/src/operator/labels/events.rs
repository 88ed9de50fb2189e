//! Event-pattern rules (count in a window, "A then not B", recency, sequence) updated by one
//! event of a profile; the deadlines they set are fired in `timers`.

use super::{fmt_time, LabelChange, Labels};
use crate::time::EventTimeMs;
use domain::labels::LabelRule;
use serde_json::Value;

impl Labels {
    /// Applies one event of `profile`.
    pub fn on_event(
        &mut self,
        profile: &str,
        name: &str,
        properties: &Value,
        t: EventTimeMs,
    ) -> Vec<LabelChange> {
        let version = self.version;
        let mut out = Vec::new();
        for def in &self.defs {
            let state = self
                .states
                .entry(profile.to_string())
                .or_default()
                .entry(def.name.clone())
                .or_default();
            let change = |set: bool, at: EventTimeMs, reason: String| {
                LabelChange::of(def, version, profile, set, at, reason)
            };
            match &def.rule {
                LabelRule::Count {
                    matching,
                    count,
                    window_ms,
                } => {
                    if !matching.matches(name, properties) {
                        continue;
                    }
                    let pos = state.times.partition_point(|x| *x <= t);
                    state.times.insert(pos, t);
                    let newest = *state.times.back().expect("just inserted");
                    while state
                        .times
                        .front()
                        .is_some_and(|x| *x <= newest - window_ms)
                    {
                        state.times.pop_front();
                    }
                    if !state.set && state.times.len() >= *count as usize {
                        state.set = true;
                        out.push(change(
                            true,
                            t,
                            format!(
                                "{} {}× within {} (latest at {})",
                                matching.describe(),
                                state.times.len(),
                                domain::labels::duration(*window_ms),
                                fmt_time(t)
                            ),
                        ));
                    }
                    if let Some(oldest) = state.times.front() {
                        self.timers.insert((
                            oldest + window_ms,
                            profile.to_string(),
                            def.name.clone(),
                        ));
                    }
                }
                LabelRule::Absence {
                    first,
                    then_not,
                    within_ms,
                } => {
                    if then_not.matches(name, properties) {
                        if let Some(p) = state.pending {
                            if t >= p && t <= p + within_ms {
                                state.pending = None;
                            }
                        }
                        if state.set {
                            state.set = false;
                            out.push(change(
                                false,
                                t,
                                format!("{} at {}", then_not.describe(), fmt_time(t)),
                            ));
                        }
                    } else if first.matches(name, properties)
                        && state.pending.is_none()
                        && !state.set
                    {
                        state.pending = Some(t);
                        self.timers
                            .insert((t + within_ms, profile.to_string(), def.name.clone()));
                    }
                }
                LabelRule::Recency {
                    matching,
                    within_ms,
                } => {
                    if !matching.matches(name, properties) {
                        continue;
                    }
                    // One pending timer per profile and label: the newest event's.
                    if let Some(old) = state.last.filter(|l| *l < t) {
                        self.timers.remove(&(
                            old + within_ms,
                            profile.to_string(),
                            def.name.clone(),
                        ));
                    }
                    state.last = Some(state.last.map_or(t, |l| l.max(t)));
                    if !state.set {
                        state.set = true;
                        out.push(change(
                            true,
                            t,
                            format!("{} at {}", matching.describe(), fmt_time(t)),
                        ));
                    }
                    self.timers
                        .insert((t + within_ms, profile.to_string(), def.name.clone()));
                }
                LabelRule::Sequence {
                    first,
                    then,
                    within_ms,
                } => {
                    if state.set {
                        continue;
                    }
                    match state.pending {
                        Some(p)
                            if then.matches(name, properties) && t >= p && t <= p + within_ms =>
                        {
                            state.pending = None;
                            state.set = true;
                            self.timers.remove(&(
                                p + within_ms,
                                profile.to_string(),
                                def.name.clone(),
                            ));
                            out.push(change(
                                true,
                                t,
                                format!(
                                    "{} at {}, then {} at {}",
                                    first.describe(),
                                    fmt_time(p),
                                    then.describe(),
                                    fmt_time(t)
                                ),
                            ));
                        }
                        None if first.matches(name, properties) => {
                            state.pending = Some(t);
                            self.timers.insert((
                                t + within_ms,
                                profile.to_string(),
                                def.name.clone(),
                            ));
                        }
                        _ => {}
                    }
                }
                // Evaluated on the profile's fields (`on_profile`), not on events.
                LabelRule::Threshold { .. } => {}
            }
        }
        out
    }
}
