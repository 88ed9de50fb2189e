//! Event time moving on: label timers firing at the watermark, sessions and dedupe swept,
//! and rolling windows refreshed when a new day begins.

use super::effect::{session_effect, Effect, Emitted};
use super::model::thresholds;
use super::Engine;
use crate::operator::traits::DAY_MS;
use crate::time::EventTimeMs;

impl Engine {
    /// Moves event time forward without an event (an idle stream still fires its timers).
    pub fn advance_to(&mut self, watermark: EventTimeMs) -> Vec<Emitted> {
        self.watermark.advance_to(watermark);
        self.fire(None)
    }

    /// Fires timers due at the watermark; sweeps sessions and dedupe once per second of
    /// event time (a sweep scans every open session).
    ///
    /// Workspaces other than the event's (`current`) are visited only when the watermark moved:
    /// otherwise nothing can have come due there.
    pub(super) fn fire(&mut self, current: Option<&str>) -> Vec<Emitted> {
        let Some(wm) = self.watermark.current() else {
            return Vec::new();
        };
        let sweep = self.swept_at.is_none_or(|s| wm >= s + 1_000);
        let moved = self.fired_at.is_none_or(|f| wm > f);
        self.fired_at = Some(wm);
        let mut out = Vec::new();
        for (ws, m) in self.models.iter_mut() {
            if !moved && !sweep && current != Some(ws.as_str()) {
                continue;
            }
            let mut fx: Vec<Effect> = m
                .labels
                .advance(wm)
                .into_iter()
                .map(|c| {
                    m.dirty.insert(c.profile.clone());
                    Effect::Label(c)
                })
                .collect();
            if sweep {
                fx.extend(m.sessions.advance(wm).into_iter().map(session_effect));
            }
            out.extend(fx.into_iter().map(|effect| Emitted {
                workspace: ws.clone(),
                effect,
            }));
        }
        if sweep {
            self.swept_at = Some(wm);
            self.dedupe.expire(wm);
        }
        out.extend(self.roll_day(wm));
        out
    }

    /// When event time enters a new day, every profile whose rolling windows moved is written
    /// again and its threshold labels re-checked — a big spender who stops buying loses
    /// `revenue_30d ≥ 100` thirty days later without doing anything.
    fn roll_day(&mut self, wm: EventTimeMs) -> Vec<Emitted> {
        let today = wm.div_euclid(DAY_MS);
        let Some(done) = self.rolled_day else {
            self.rolled_day = Some(today);
            return Vec::new();
        };
        if today <= done {
            return Vec::new();
        }
        self.rolled_day = Some(today);
        let mut out = Vec::new();
        for (ws, m) in self.models.iter_mut() {
            for profile in m.traits.roll_day(done, today) {
                let effects = thresholds(m, &profile, wm);
                m.dirty.insert(profile);
                out.extend(effects.into_iter().map(|effect| Emitted {
                    workspace: ws.clone(),
                    effect,
                }));
            }
        }
        out
    }
}
