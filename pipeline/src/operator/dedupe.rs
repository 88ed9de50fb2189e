//! Dropping repeated events by `messageId` within a horizon of event time (default 24 h).
//!
//! SDK retries and the gateway's at-least-once bus can deliver an event twice, always with the
//! same `messageId`. The operator remembers ids until the watermark has passed their event time
//! by the horizon, so memory is bounded by the ids of one horizon, not of all time. An id is
//! remembered as its 64-bit XXH64 hash in a set per hour of event time (about 14 bytes each,
//! whatever the id's length; a false match needs two ids of one workspace and one day to
//! collide, about one chance in 10^7 at a million events a day), and a whole hour is
//! forgotten at once.

use crate::time::EventTimeMs;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// A set of id hashes. They are XXH64 values already, so the set's own hashing only has to be
/// cheap (Fx), not collision-resistant.
type Hashes = HashSet<u64, FxBuildHasher>;

/// Event time covered by one set of remembered ids.
pub const BUCKET_MS: i64 = 60 * 60 * 1000;

/// The hash an id is remembered by: XXH64 with seed 0, a fixed algorithm, so checkpoints
/// written by one release are read the same by the next.
pub fn id_hash(message_id: &str) -> u64 {
    xxhash_rust::const_xxh64::xxh64(message_id.as_bytes(), 0)
}

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
    /// Id hashes by the hour of event time (hours since the epoch) of their event.
    buckets: BTreeMap<i64, Hashes>,
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
        let hash = id_hash(message_id);
        // Newest hours first: a retry is usually recent.
        if self.buckets.values().rev().any(|ids| ids.contains(&hash)) {
            return Seen::Duplicate;
        }
        if let Some(wm) = watermark {
            if event_time < wm - self.horizon_ms {
                return Seen::BeyondHorizon;
            }
        }
        self.buckets
            .entry(event_time.div_euclid(BUCKET_MS))
            .or_default()
            .insert(hash);
        Seen::First
    }

    /// Forgets the hours of event time that lie wholly more than the horizon behind the
    /// watermark (an id is kept up to an hour longer than the horizon, never shorter).
    pub fn expire(&mut self, watermark: EventTimeMs) {
        let cutoff = watermark - self.horizon_ms;
        // Hour h covers [h, h + 1) hours; it may go once its end is at or before the cutoff.
        let keep_from = cutoff.div_euclid(BUCKET_MS);
        self.buckets = self.buckets.split_off(&keep_from);
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.buckets.values().map(Hashes::len).sum()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.buckets.values().all(Hashes::is_empty)
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
        const HOUR: i64 = BUCKET_MS;
        let mut d = Dedupe::new(HOUR);
        // One id every six minutes for ten hours.
        for i in 0..100 {
            d.check(&format!("m{i}"), i * HOUR / 10, None);
        }
        assert_eq!(d.len(), 100);
        d.expire(6 * HOUR);
        // The hours wholly before 5 h are gone; 5 h..10 h remain.
        assert_eq!(d.len(), 50);
        assert_eq!(d.check("m60", 6 * HOUR, Some(6 * HOUR)), Seen::Duplicate);
        assert_eq!(
            d.check("m10", HOUR, Some(6 * HOUR)),
            Seen::BeyondHorizon,
            "forgotten ids are not mistaken for new events"
        );
        d.expire(6 * HOUR + HOUR / 2);
        assert_eq!(
            d.len(),
            50,
            "an hour is kept until all of it is past the horizon"
        );
    }

    #[test]
    fn a_remembered_id_costs_the_same_whatever_its_length() {
        let mut d = Dedupe::new(DEFAULT_HORIZON_MS);
        let long = "x".repeat(500);
        assert_eq!(d.check(&long, 1, None), Seen::First);
        assert_eq!(d.check(&long, 1, None), Seen::Duplicate);
        assert_eq!(d.check(&format!("{long}y"), 1, None), Seen::First);
        let bytes = serde_json::to_vec(&d).unwrap();
        assert!(bytes.len() < 100, "{} bytes", bytes.len());
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
