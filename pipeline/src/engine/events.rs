//! Applying one record of `events.raw`: dedupe, identity, sessions, traits and labels on the
//! event's profile, then the timers its event time made due.

use super::effect::{session_effect, Effect, Emitted};
use super::model::{fan_out_merges, thresholds};
use super::timers::fire;
use super::Engine;
use crate::input::segment::SegmentEvent;
use crate::input::{workspace_key, Invalid};
use crate::operator::{Seen, SessionChange};
use crate::time::Lateness;

impl Engine {
    /// Takes the record at `offset` of `partition` of `events.raw` as applied; false when the
    /// state already covers it (a replay after restoring a checkpoint).
    pub(super) fn claim(&mut self, partition: i32, offset: i64) -> bool {
        let next = self.offsets.entry(partition).or_insert(0);
        if offset < *next {
            return false;
        }
        *next = offset + 1;
        true
    }

    /// Applies the event at `offset` of `partition` of `events.raw`; a record the state
    /// already covers (a replay after restoring a checkpoint) is skipped.
    pub fn process(
        &mut self,
        partition: i32,
        offset: i64,
        input: Result<SegmentEvent, Invalid>,
    ) -> Vec<Emitted> {
        if !self.claim(partition, offset) {
            return Vec::new();
        }
        let Ok(mut e) = input else {
            self.stats.invalid += 1;
            return Vec::new();
        };
        if let Some(received) = e.received_at {
            if e.at - received > self.config.future_tolerance_ms {
                e.at = received;
            }
        }
        let workspace = workspace_key(e.workspace);
        let model = self.model(&workspace);
        // An event beyond the allowed lateness (an offline app's backlog, a client clock that
        // lags, an import of last week) still belongs on its profile — identity, traits,
        // timeline — because it was acknowledged; only the event-time computations already
        // emitted (sessions and event-pattern label rules) no longer take it.
        let mut too_late = model.watermark.observe(e.at) == Lateness::TooLate;
        match model
            .dedupe
            .check(&e.message_id, e.at, model.watermark.current())
        {
            Seen::First => {}
            Seen::Duplicate => {
                self.stats.duplicates += 1;
                return Vec::new();
            }
            // Older than what dedupe remembers: it cannot be told from a repeat, and dropping
            // it would lose an acknowledged event, so it is applied as a late one.
            Seen::BeyondHorizon => too_late = true,
        }
        let cap = self.config.max_profiles_per_workspace;
        let model = self.model(&workspace);
        if model.identity.len() as u64 >= cap && model.identity.would_create(&e.ids) {
            self.stats.capped += 1;
            return Vec::new();
        }
        let Some(r) = model.identity.resolve(&e.ids, e.at) else {
            self.stats.unidentified += 1;
            return Vec::new();
        };
        let mut out = fan_out_merges(model, r.merges);
        let sessions = if too_late {
            Vec::new()
        } else {
            model.sessions.observe(&r.profile, e.at)
        };
        for c in sessions {
            if let SessionChange::Started { key, .. } = &c {
                model.traits.on_session(key);
            }
            out.push(session_effect(c));
        }
        model
            .traits
            .on_event(&r.profile, &e.name, &e.properties, e.at, e.identify);
        model.dirty.insert(r.profile.clone());
        out.extend(thresholds(model, &r.profile, e.at));
        if !too_late {
            out.extend(
                model
                    .labels
                    .on_event(&r.profile, &e.name, &e.properties, e.at)
                    .into_iter()
                    .map(Effect::Label),
            );
        }
        out.push(Effect::Event {
            profile: r.profile,
            message_id: e.message_id,
            name: e.name,
            at: e.at,
            properties: e.properties,
        });
        if too_late {
            self.stats.too_late += 1;
        } else {
            self.stats.processed += 1;
        }
        let mut out: Vec<Emitted> = out
            .into_iter()
            .map(|effect| Emitted {
                workspace: workspace.clone(),
                effect,
            })
            .collect();
        let config = self.config;
        let model = self
            .models
            .get_mut(&workspace)
            .expect("the event's workspace has a model");
        out.extend(fire(&workspace, model, &config, &mut self.stats));
        out
    }
}
