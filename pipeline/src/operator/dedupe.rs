//! Dropping repeated events by `messageId` within a horizon of event time (default 24 h).
//!
//! SDK retries and the gateway's at-least-once bus can deliver an event twice, always with the
//! same `messageId`. The operator remembers ids until the watermark has passed their event time
//! by the horizon, so memory is bounded by the ids of one horizon, not of all time.

use crate::time::EventTimeMs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The default horizon: a day of event time.
pub const DEFAULT_HORIZON_MS: i64 = 24 * 60 * 60 * 1000;

/// What the operator decided about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first time: process it.
    First,
    /// A repeat within the horizon: drop it.
    Duplicate,
    /// Older than the horizon behind the watermark: its id may have been forgotten, so it
    /// cannot be told apart from a repeat; reported as too late rather than guessed.
    BeyondHorizon,
}

/// Remembered message ids, checkpointed with the operator's other state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dedupe {
    horizon_ms: i64,
    ids: HashMap<String, EventTimeMs>,
    /// Ids by event time, to forget them in order.
    by_time: BTreeMap<EventTimeMs, Vec<String>>,
}

impl Dedupe {
    /// Remembers ids for `horizon_ms` of event time behind the watermark.
    pub fn new(horizon_ms: i64) -> Self {
        Dedupe {
            horizon_ms: horizon_ms.max(0),
            ..Dedupe::default()
        }
    }

    /// Checks an event and remembers its id. `watermark` is the input's current watermark.
    pub fn check(
        &mut self,
        message_id: &str,
        event_time: EventTimeMs,
        watermark: Option<EventTimeMs>,
    ) -> Seen {
        if self.ids.contains_key(message_id) {
            return Seen::Duplicate;
        }
        if let Some(wm) = watermark {
            if event_time < wm - self.horizon_ms {
                return Seen::BeyondHorizon;
            }
        }
        self.ids.insert(message_id.to_string(), event_time);
        self.by_time
            .entry(event_time)
            .or_default()
            .push(message_id.to_string());
        Seen::First
    }

    /// Forgets ids whose event time is more than the horizon behind the watermark.
    pub fn expire(&mut self, watermark: EventTimeMs) {
        let cutoff = watermark - self.horizon_ms;
        let keep = self.by_time.split_off(&cutoff);
        for (_, ids) in std::mem::replace(&mut self.by_time, keep) {
            for id in ids {
                self.ids.remove(&id);
            }
        }
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_message_id_is_dropped_within_the_horizon() {
        let mut d = Dedupe::new(1_000);
        assert_eq!(d.check("m1", 10_000, None), Seen::First);
        assert_eq!(d.check("m2", 10_100, Some(9_000)), Seen::First);
        assert_eq!(d.check("m1", 10_000, Some(9_500)), Seen::Duplicate);
        assert_eq!(
            d.check("m1", 12_000, Some(9_500)),
            Seen::Duplicate,
            "the id decides, not the time"
        );
    }

    #[test]
    fn ids_are_forgotten_once_the_watermark_passes_the_horizon_so_memory_stays_bounded() {
        let mut d = Dedupe::new(1_000);
        for i in 0..100 {
            d.check(&format!("m{i}"), i * 100, None);
        }
        assert_eq!(d.len(), 100);
        d.expire(6_000);
        // Ids at event time < 5,000 are gone; 5,000..9,900 remain.
        assert_eq!(d.len(), 50);
        assert_eq!(d.check("m60", 6_000, Some(6_000)), Seen::Duplicate);
        assert_eq!(
            d.check("m10", 1_000, Some(6_000)),
            Seen::BeyondHorizon,
            "forgotten ids are not mistaken for new events"
        );
    }

    #[test]
    fn state_survives_a_checkpoint_round_trip() {
        let mut d = Dedupe::new(DEFAULT_HORIZON_MS);
        d.check("m1", 1, None);
        let bytes = serde_json::to_vec(&d).unwrap();
        let mut restored: Dedupe = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(restored, d);
        assert_eq!(restored.check("m1", 1, None), Seen::Duplicate);
    }
}
