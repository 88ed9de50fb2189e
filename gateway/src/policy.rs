//! A source's policy applied to an accepted event: the tracking plan decides whether it is
//! delivered, flagged or blocked; the consent policy decides whether it may be activated. Both
//! outcomes are stamped into the event's `_pulse` envelope so every consumer sees them.

use domain::events::{PulseMeta, WorkspaceId};
use domain::tracking::{ConsentPolicy, PlanMode, TrackingPlan};
use serde_json::Value;
use uuid::Uuid;

/// What a source's settings say about its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub plan: TrackingPlan,
    pub consent: ConsentPolicy,
}

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// On to `events.raw`; `violations` is non-empty when the plan flagged it.
    Deliver { violations: Vec<String> },
    /// To the quarantine only, until a fixed plan or a mapping replays it.
    Block { violations: Vec<String> },
}

impl Policy {
    /// Decides an event's route and stamps `_pulse` (source, violations, consent) into it.
    pub fn apply(&self, workspace_id: Uuid, source_id: Uuid, payload: &mut Value) -> Verdict {
        let violations = self.plan.check(payload);
        let missing = self.consent.missing(payload);
        if let Value::Object(o) = payload {
            o.remove("writeKey");
        }
        // The parser may have started the envelope (a clamped future timestamp); what it
        // holds is Pulse's own, since the parser drops any `_pulse` a sender put there.
        let mut envelope = PulseMeta::of(payload);
        envelope.workspace_id = Some(WorkspaceId(workspace_id));
        envelope.source_id = Some(source_id);
        envelope.activatable = Some(missing.is_empty());
        envelope.missing_consent = missing;
        envelope.violations = violations.clone();
        envelope.stamp(payload);
        match (self.plan.mode, violations.is_empty()) {
            (_, true) | (PlanMode::Allow, _) => Verdict::Deliver { violations },
            (PlanMode::Flag, false) => Verdict::Deliver { violations },
            (PlanMode::Block, false) => Verdict::Block { violations },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(mode: &str) -> Policy {
        Policy {
            plan: serde_json::from_value(json!({"mode": mode, "events": [{"name": "Signed Up"}]}))
                .unwrap(),
            consent: ConsentPolicy {
                activation: vec!["marketing".into()],
            },
        }
    }

    #[test]
    fn blocked_events_stay_out_and_flagged_ones_carry_their_violations() {
        let (w, s) = (Uuid::nil(), Uuid::nil());
        let mut e = json!({"type": "track", "event": "Clicked", "writeKey": "wk_x"});
        assert_eq!(
            policy("block").apply(w, s, &mut e),
            Verdict::Block {
                violations: vec!["event `Clicked` is not in the tracking plan".into()]
            }
        );
        let mut e = json!({"type": "track", "event": "Clicked"});
        let v = policy("flag").apply(w, s, &mut e);
        assert!(matches!(v, Verdict::Deliver { violations } if violations.len() == 1));
        assert_eq!(
            e["_pulse"]["violations"][0],
            "event `Clicked` is not in the tracking plan"
        );
        let mut e = json!({"type": "track", "event": "Signed Up"});
        assert_eq!(
            policy("block").apply(w, s, &mut e),
            Verdict::Deliver { violations: vec![] }
        );
    }

    #[test]
    fn events_without_the_needed_consent_are_kept_but_not_activatable() {
        let mut e = json!({"type": "page", "writeKey": "wk_x",
            "context": {"consent": {"categoryPreferences": {"marketing": false}}}});
        let v = policy("block").apply(Uuid::nil(), Uuid::nil(), &mut e);
        assert_eq!(v, Verdict::Deliver { violations: vec![] });
        assert_eq!(e["_pulse"]["activatable"], false);
        assert_eq!(e["_pulse"]["missingConsent"], json!(["marketing"]));
        assert!(
            e.get("writeKey").is_none(),
            "the write key never reaches the bus"
        );
    }

    #[test]
    fn the_stamped_envelope_has_the_bytes_consumers_already_read() {
        // The parser started the envelope (a clamped time); the policy completes it in place.
        let mut e = json!({"type": "track", "event": "Clicked",
            "_pulse": {"futureTimestamp": "9999-12-31T00:00:00Z"}, "context": {}});
        policy("flag").apply(Uuid::nil(), Uuid::max(), &mut e);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            concat!(
                r#"{"type":"track","event":"Clicked","_pulse":{"futureTimestamp":"9999-12-31T00:00:00Z","#,
                r#""workspaceId":"00000000-0000-0000-0000-000000000000","#,
                r#""sourceId":"ffffffff-ffff-ffff-ffff-ffffffffffff","activatable":false,"#,
                r#""missingConsent":["marketing"],"#,
                r#""violations":["event `Clicked` is not in the tracking plan"]},"context":{}}"#
            )
        );
    }
}
