//! Sessionization: a customer's events belong to one session until a gap of inactivity in
//! event time (default 30 minutes). Sessions end when the watermark passes their last event by
//! the gap, so out-of-order events within the allowed disorder still land in the right session.

use crate::time::EventTimeMs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The default inactivity gap: 30 minutes.
pub const DEFAULT_GAP_MS: i64 = 30 * 60 * 1000;

/// An open session of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Deterministic: the key and the session's first event time, so a replay after a crash
    /// names the same session the same way.
    pub id: String,
    pub start: EventTimeMs,
    pub last: EventTimeMs,
    pub events: u64,
}

/// What the sessionizer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// A new session began with this event.
    Started { key: String, session: Session },
    /// A session is complete: the watermark passed its last event by the gap.
    Ended {
        key: String,
        session: Session,
        duration_ms: i64,
    },
}

/// Per-key open sessions, checkpointed with the operator's other state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessionizer {
    gap_ms: i64,
    open: HashMap<String, Session>,
    /// Open sessions by their last event, so ending them costs only the ones that end.
    by_last: BTreeSet<(EventTimeMs, String)>,
}

impl Sessionizer {
    /// Sessions split by `gap_ms` of inactivity.
    pub fn new(gap_ms: i64) -> Self {
        Sessionizer {
            gap_ms: gap_ms.max(1),
            open: HashMap::new(),
            by_last: BTreeSet::new(),
        }
    }

    /// Adds an event of `key` at `t`; returns the changes it causes (an earlier session of the
    /// key that the event proves complete, then the new session's start).
    pub fn observe(&mut self, key: &str, t: EventTimeMs) -> Vec<SessionChange> {
        let mut out = Vec::new();
        match self.open.get_mut(key) {
            // Within the gap of the open session (on either side, for slightly late events).
            Some(s) if t <= s.last + self.gap_ms && t >= s.start - self.gap_ms => {
                s.start = s.start.min(t);
                if t > s.last {
                    self.by_last.remove(&(s.last, key.to_string()));
                    s.last = t;
                    self.by_last.insert((t, key.to_string()));
                }
                s.events += 1;
                return out;
            }
            Some(s) if t > s.last + self.gap_ms => {
                let ended = s.clone();
                self.by_last.remove(&(ended.last, key.to_string()));
                out.push(SessionChange::Ended {
                    key: key.to_string(),
                    duration_ms: ended.last - ended.start,
                    session: ended,
                });
            }
            // Far older than the open session: it belonged to a session already closed; the
            // caller treats it as late (it does not reopen history).
            Some(_) => return out,
            None => {}
        }
        let session = Session {
            id: format!("{key}:{t}"),
            start: t,
            last: t,
            events: 1,
        };
        self.open.insert(key.to_string(), session.clone());
        self.by_last.insert((t, key.to_string()));
        out.push(SessionChange::Started {
            key: key.to_string(),
            session,
        });
        out
    }

    /// The watermark past which the open session that ends first is over.
    pub fn next_end(&self) -> Option<EventTimeMs> {
        self.by_last.first().map(|(last, _)| last + self.gap_ms + 1)
    }

    /// Ends every session whose last event is more than the gap behind the watermark.
    pub fn advance(&mut self, watermark: EventTimeMs) -> Vec<SessionChange> {
        let mut out = Vec::new();
        while let Some((last, key)) = self.by_last.first().cloned() {
            if last + self.gap_ms >= watermark {
                break;
            }
            self.by_last.pop_first();
            if let Some(s) = self.open.remove(&key) {
                out.push(SessionChange::Ended {
                    key,
                    duration_ms: s.last - s.start,
                    session: s,
                });
            }
        }
        out
    }

    /// A merge of `from` into `into`: `from`'s open session continues as `into`'s (a visitor
    /// who identifies mid-visit stays in one session). If both have one, `into`'s continues
    /// and `from`'s ends here.
    pub fn merge(&mut self, from: &str, into: &str) -> Vec<SessionChange> {
        let Some(gone) = self.open.remove(from) else {
            return Vec::new();
        };
        self.by_last.remove(&(gone.last, from.to_string()));
        if self.open.contains_key(into) {
            return vec![SessionChange::Ended {
                key: into.to_string(),
                duration_ms: gone.last - gone.start,
                session: gone,
            }];
        }
        self.by_last.insert((gone.last, into.to_string()));
        self.open.insert(into.to_string(), gone);
        Vec::new()
    }

    /// The open session of a key.
    pub fn current(&self, key: &str) -> Option<&Session> {
        self.open.get(key)
    }

    /// Forgets a profile's open session without ending it (the profile is being evicted).
    pub fn remove(&mut self, key: &str) {
        if let Some(s) = self.open.remove(key) {
            self.by_last.remove(&(s.last, key.to_string()));
        }
    }

    /// How many sessions are open (the state held in memory).
    pub fn open_sessions(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn events_within_the_gap_share_a_session_and_a_gap_starts_a_new_one() {
        let mut s = Sessionizer::new(30 * MIN);
        assert!(matches!(
            s.observe("c1", 0)[..],
            [SessionChange::Started { .. }]
        ));
        assert!(s.observe("c1", 10 * MIN).is_empty());
        assert!(
            s.observe("c1", 35 * MIN).is_empty(),
            "25 min after the last event"
        );
        let changes = s.observe("c1", 70 * MIN);
        match &changes[..] {
            [SessionChange::Ended {
                session,
                duration_ms,
                ..
            }, SessionChange::Started { session: next, .. }] => {
                assert_eq!(session.events, 3);
                assert_eq!(*duration_ms, 35 * MIN);
                assert_eq!(next.id, "c1:4200000");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_watermark_ends_idle_sessions_and_late_events_still_join_theirs() {
        let mut s = Sessionizer::new(30 * MIN);
        s.observe("a", 0);
        s.observe("b", 20 * MIN);
        // A late event of `a`, earlier than its first: the session stretches back.
        assert!(s.observe("a", -5 * MIN).is_empty());
        assert_eq!(s.current("a").unwrap().start, -5 * MIN);
        assert!(s.advance(30 * MIN).is_empty(), "a's gap has not passed yet");
        let ended = s.advance(31 * MIN);
        assert!(
            matches!(&ended[..], [SessionChange::Ended { key, duration_ms, .. }] if key == "a" && *duration_ms == 5 * MIN)
        );
        assert_eq!(s.open_sessions(), 1);
    }

    #[test]
    fn a_merge_carries_the_open_session_over_to_the_surviving_profile() {
        let mut s = Sessionizer::new(30 * MIN);
        s.observe("anon", 0);
        assert!(s.merge("anon", "known").is_empty());
        assert!(
            s.observe("known", MIN).is_empty(),
            "the same session goes on after the merge"
        );
        assert_eq!(s.current("known").unwrap().events, 2);
        assert!(s.current("anon").is_none());
        // Both open: the absorbed one ends.
        s.observe("other", 2 * MIN);
        let ended = s.merge("other", "known");
        assert!(
            matches!(&ended[..], [SessionChange::Ended { session, .. }] if session.id == "other:120000")
        );
        assert_eq!(s.open_sessions(), 1);
        assert_eq!(
            s.advance(40 * MIN).len(),
            1,
            "the merged session still ends on time"
        );
    }

    #[test]
    fn session_ids_are_deterministic_across_a_checkpoint() {
        let mut s = Sessionizer::new(DEFAULT_GAP_MS);
        s.observe("k", 1_000);
        let restored: Sessionizer =
            serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(restored, s);
        assert_eq!(restored.current("k").unwrap().id, "k:1000");
    }
}
