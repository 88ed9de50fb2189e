//! Labels evaluated incrementally on event time: counts in a sliding window, "A, then not B
//! within T", and recency. Per profile and label a small state; event-time timers fire when the
//! watermark passes them, so a restart or a replay decides exactly as the first run did.

use crate::time::EventTimeMs;
use domain::labels::{LabelDefinition, LabelRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

    /// Profiles with any state (memory accounting).
    pub fn profiles(&self) -> usize {
        self.states.len()
    }

    /// Pending timers.
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// Applies one event of `profile`.
    pub fn on_event(
        &mut self,
        profile: &str,
        name: &str,
        properties: &Value,
        t: EventTimeMs,
    ) -> Vec<LabelChange> {
        let mut out = Vec::new();
        for def in &self.defs {
            let state = self
                .states
                .entry(profile.to_string())
                .or_default()
                .entry(def.name.clone())
                .or_default();
            let change = |set: bool, at: EventTimeMs, reason: String| LabelChange {
                profile: profile.to_string(),
                label: def.name.clone(),
                set,
                at,
                reason,
                trigger: set && def.trigger,
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

    /// Whether any definition is a threshold (the engine then looks the profile up after
    /// each change).
    pub fn has_thresholds(&self) -> bool {
        self.defs
            .iter()
            .any(|d| matches!(d.rule, LabelRule::Threshold { .. }))
    }

    /// Re-checks threshold labels of `profile` against its fields (`field` looks one up by the
    /// name the definition uses) after a change at `at`.
    pub fn on_profile(
        &mut self,
        profile: &str,
        field: impl Fn(&str) -> Option<Value>,
        at: EventTimeMs,
    ) -> Vec<LabelChange> {
        let mut out = Vec::new();
        for def in &self.defs {
            let LabelRule::Threshold {
                field: name,
                op,
                value,
            } = &def.rule
            else {
                continue;
            };
            let actual = field(name);
            let holds = op.holds(actual.as_ref(), value);
            let set = self
                .states
                .get(profile)
                .and_then(|m| m.get(&def.name))
                .is_some_and(|s| s.set);
            if holds == set {
                continue;
            }
            let shown = match &actual {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "missing".into(),
            };
            if holds {
                self.states
                    .entry(profile.to_string())
                    .or_default()
                    .entry(def.name.clone())
                    .or_default()
                    .set = true;
            } else if let Some(m) = self.states.get_mut(profile) {
                m.remove(&def.name);
                if m.is_empty() {
                    self.states.remove(profile);
                }
            }
            out.push(LabelChange {
                profile: profile.to_string(),
                label: def.name.clone(),
                set: holds,
                at,
                reason: format!(
                    "{name} is {shown} ({}{} {value})",
                    if holds { "" } else { "no longer " },
                    op.symbol()
                ),
                trigger: holds && def.trigger,
            });
        }
        out
    }

    /// Fires every timer at or before the watermark.
    pub fn advance(&mut self, watermark: EventTimeMs) -> Vec<LabelChange> {
        let mut out = Vec::new();
        while let Some((at, profile, label)) = self.timers.first().cloned() {
            if at > watermark {
                break;
            }
            self.timers.pop_first();
            let Some(def) = self.defs.iter().find(|d| d.name == label) else {
                continue;
            };
            let Some(state) = self
                .states
                .get_mut(&profile)
                .and_then(|m| m.get_mut(&label))
            else {
                continue;
            };
            let change = |set: bool, reason: String| LabelChange {
                profile: profile.clone(),
                label: label.clone(),
                set,
                at,
                reason,
                trigger: set && def.trigger,
            };
            match &def.rule {
                LabelRule::Count {
                    matching,
                    count,
                    window_ms,
                } => {
                    while state.times.front().is_some_and(|x| *x <= at - window_ms) {
                        state.times.pop_front();
                    }
                    if let Some(oldest) = state.times.front() {
                        self.timers
                            .insert((oldest + window_ms, profile.clone(), label.clone()));
                    }
                    if state.set && state.times.len() < *count as usize {
                        state.set = false;
                        out.push(change(
                            false,
                            format!(
                                "fewer than {count} {} within {}",
                                matching.describe(),
                                domain::labels::duration(*window_ms)
                            ),
                        ));
                    }
                }
                LabelRule::Absence {
                    first,
                    then_not,
                    within_ms,
                } => {
                    if state.pending == Some(at - within_ms) {
                        state.pending = None;
                        state.set = true;
                        out.push(change(
                            true,
                            format!(
                                "{} at {}; no {} by {}",
                                first.describe(),
                                fmt_time(at - within_ms),
                                then_not.describe(),
                                fmt_time(at)
                            ),
                        ));
                    }
                }
                LabelRule::Sequence { within_ms, .. } => {
                    // The first event's window passed without the second: start over.
                    if state.pending == Some(at - within_ms) {
                        state.pending = None;
                    }
                }
                LabelRule::Threshold { .. } => {}
                LabelRule::Recency {
                    matching,
                    within_ms,
                } => {
                    if state.set && state.last.is_some_and(|l| l + within_ms <= at) {
                        state.set = false;
                        out.push(change(
                            false,
                            format!(
                                "no {} for {}",
                                matching.describe(),
                                domain::labels::duration(*within_ms)
                            ),
                        ));
                    }
                }
            }
            let idle = !state.set && state.pending.is_none() && state.times.is_empty();
            if idle {
                if let Some(m) = self.states.get_mut(&profile) {
                    m.remove(&label);
                    if m.is_empty() {
                        self.states.remove(&profile);
                    }
                }
            }
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use domain::labels::EventMatch;
    use serde_json::json;

    const MIN: i64 = 60_000;

    fn flagship() -> LabelDefinition {
        let mut first = EventMatch::named("Page Viewed");
        first.properties.insert("path".into(), "/pricing".into());
        LabelDefinition {
            name: "high_intent_unresolved".into(),
            description: String::new(),
            rule: LabelRule::Absence {
                first,
                then_not: EventMatch::named("form_submit"),
                within_ms: 10 * MIN,
            },
            trigger: true,
        }
    }

    #[test]
    fn pricing_visit_without_a_form_within_ten_minutes_sets_the_label_once() {
        let mut l = Labels::new(vec![flagship()]);
        let t0 = 1_000_000;
        assert!(l
            .on_event("p", "Page Viewed", &json!({"path": "/pricing"}), t0)
            .is_empty());
        assert!(l.advance(t0 + 9 * MIN).is_empty());
        // A second pricing visit while waiting does not start a second wait.
        l.on_event(
            "p",
            "Page Viewed",
            &json!({"path": "/pricing"}),
            t0 + 5 * MIN,
        );
        let fired = l.advance(t0 + 10 * MIN);
        assert_eq!(fired.len(), 1);
        assert!(fired[0].set && fired[0].trigger);
        assert_eq!(fired[0].at, t0 + 10 * MIN);
        assert!(
            fired[0].reason.contains("no form_submit"),
            "{}",
            fired[0].reason
        );
        assert!(l.advance(t0 + 60 * MIN).is_empty(), "fires once");
        assert_eq!(l.current("p"), ["high_intent_unresolved"]);
        // The form, later, clears it.
        let cleared = l.on_event("p", "form_submit", &json!({}), t0 + 70 * MIN);
        assert_eq!(cleared.len(), 1);
        assert!(!cleared[0].set && !cleared[0].trigger);
    }

    #[test]
    fn a_form_in_time_means_no_label() {
        let mut l = Labels::new(vec![flagship()]);
        l.on_event("p", "Page Viewed", &json!({"path": "/pricing"}), 0);
        l.on_event("p", "form_submit", &json!({}), 9 * MIN);
        assert!(l.advance(30 * MIN).is_empty());
        assert!(l.current("p").is_empty());
        assert_eq!(l.profiles(), 0, "idle state is dropped");
    }

    #[test]
    fn count_in_window_sets_and_clears_as_the_window_slides() {
        let def = LabelDefinition {
            name: "engaged".into(),
            description: String::new(),
            rule: LabelRule::Count {
                matching: EventMatch::named("Product Viewed"),
                count: 3,
                window_ms: 60 * MIN,
            },
            trigger: false,
        };
        let mut l = Labels::new(vec![def]);
        assert!(l.on_event("p", "Product Viewed", &json!({}), 0).is_empty());
        assert!(l
            .on_event("p", "Product Viewed", &json!({}), 10 * MIN)
            .is_empty());
        // Out of order: an earlier view arrives last and still counts.
        let set = l.on_event("p", "Product Viewed", &json!({}), 5 * MIN);
        assert_eq!(set.len(), 1);
        assert!(set[0].set);
        let cleared = l.advance(61 * MIN);
        assert_eq!(cleared.len(), 1, "the view at 0 left the window");
        assert!(!cleared[0].set);
    }

    #[test]
    fn recency_clears_after_the_quiet_time() {
        let def = LabelDefinition {
            name: "active".into(),
            description: String::new(),
            rule: LabelRule::Recency {
                matching: EventMatch::named("Order Completed"),
                within_ms: 30 * MIN,
            },
            trigger: false,
        };
        let mut l = Labels::new(vec![def]);
        assert_eq!(l.on_event("p", "Order Completed", &json!({}), 0).len(), 1);
        l.on_event("p", "Order Completed", &json!({}), 20 * MIN);
        assert!(l.advance(45 * MIN).is_empty(), "the newer order keeps it");
        assert_eq!(l.advance(50 * MIN).len(), 1);
    }

    #[test]
    fn a_sequence_sets_when_the_second_event_follows_in_time_and_not_later() {
        let def = LabelDefinition {
            name: "cart_then_checkout".into(),
            description: String::new(),
            rule: LabelRule::Sequence {
                first: EventMatch::named("Added To Cart"),
                then: EventMatch::named("Checkout Started"),
                within_ms: 10 * MIN,
            },
            trigger: false,
        };
        let mut l = Labels::new(vec![def]);
        l.on_event("a", "Added To Cart", &json!({}), 0);
        let set = l.on_event("a", "Checkout Started", &json!({}), 5 * MIN);
        assert_eq!(set.len(), 1);
        assert!(
            set[0].reason.contains("then Checkout Started"),
            "{}",
            set[0].reason
        );
        // Too late for b: the window passed, so the second event alone does nothing.
        l.on_event("b", "Added To Cart", &json!({}), 0);
        assert!(l.advance(11 * MIN).is_empty());
        assert!(l
            .on_event("b", "Checkout Started", &json!({}), 12 * MIN)
            .is_empty());
        assert_eq!(l.current("a"), vec!["cart_then_checkout".to_string()]);
        assert!(l.current("b").is_empty());
    }

    #[test]
    fn a_threshold_sets_and_clears_as_the_field_crosses_it() {
        let def = LabelDefinition {
            name: "big_spender".into(),
            description: String::new(),
            rule: LabelRule::Threshold {
                field: "revenue_30d".into(),
                op: domain::labels::Comparison::Gte,
                value: "100".into(),
            },
            trigger: true,
        };
        let mut l = Labels::new(vec![def]);
        assert!(l.has_thresholds());
        let at = |v: f64| move |f: &str| (f == "revenue_30d").then(|| json!(v));
        assert!(l.on_profile("p", at(50.0), 1).is_empty());
        assert!(
            l.current("p").is_empty(),
            "no state for a profile below the threshold"
        );
        let set = l.on_profile("p", at(120.5), 2);
        assert!(set[0].set && set[0].trigger);
        assert_eq!(set[0].reason, "revenue_30d is 120.5 (≥ 100)");
        assert!(l.on_profile("p", at(130.0), 3).is_empty(), "already set");
        let cleared = l.on_profile("p", at(10.0), 4);
        assert!(!cleared[0].set);
        assert_eq!(l.counts()["big_spender"], 0);
    }

    #[test]
    fn merged_profiles_keep_their_pending_wait() {
        let mut l = Labels::new(vec![flagship()]);
        l.on_event("anon", "Page Viewed", &json!({"path": "/pricing"}), 0);
        l.merge("anon", "user");
        let fired = l.advance(10 * MIN);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].profile, "user");
    }
}
