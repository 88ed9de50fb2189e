//! Threshold rules, checked against a profile's fields after it changed rather than on events.

use super::{LabelChange, Labels};
use crate::time::EventTimeMs;
use domain::labels::LabelRule;
use serde_json::Value;

impl Labels {
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
        let version = self.version;
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
            let reason = format!(
                "{name} is {shown} ({}{} {value})",
                if holds { "" } else { "no longer " },
                op.symbol()
            );
            out.push(LabelChange::of(def, version, profile, holds, at, reason));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_threshold_sets_and_clears_as_the_field_crosses_it() {
        let def = crate::fixtures::big_spender(true);
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
}
