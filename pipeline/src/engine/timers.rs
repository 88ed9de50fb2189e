//! Event time moving on, per workspace: label timers firing at its watermark, sessions and
//! dedupe swept, and rolling windows refreshed when a new day begins.

use super::effect::{session_effect, Effect, Emitted};
use super::model::{thresholds, Model};
use super::{EngineConfig, Stats};
use crate::operator::traits::DAY_MS;
use crate::time::EventTimeMs;
use std::collections::BTreeSet;

/// Fires one workspace's timers due at its watermark; sweeps its sessions and dedupe once per
/// second of its event time (a sweep scans every open session); once per day of its event
/// time refreshes windows and forgets idle anonymous profiles.
pub(super) fn fire(
    ws: &str,
    m: &mut Model,
    config: &EngineConfig,
    stats: &mut Stats,
) -> Vec<Emitted> {
    let Some(wm) = m.watermark.current() else {
        return Vec::new();
    };
    let sweep = m.swept_at.is_none_or(|s| wm >= s + 1_000);
    let lateness = m.watermark.allowed_lateness_ms();
    let mut fx: Vec<Effect> = m
        .labels
        .advance(wm, lateness)
        .into_iter()
        .map(|c| {
            m.dirty.insert(c.profile.clone());
            Effect::Label(c)
        })
        .collect();
    if sweep {
        fx.extend(m.sessions.advance(wm).into_iter().map(session_effect));
        m.swept_at = Some(wm);
        m.dedupe.expire(wm);
    }
    if let Some(effects) = roll_day(m, wm) {
        fx.extend(effects);
        stats.evicted += evict_idle(m, wm - config.anonymous_ttl_ms) as u64;
        m.identity.expire_links(wm);
    }
    fx.into_iter()
        .map(|effect| Emitted {
            workspace: ws.to_string(),
            effect,
        })
        .collect()
}

/// When a workspace's event time enters a new day, every profile whose rolling windows moved
/// is written again and its threshold labels re-checked — a big spender who stops buying
/// loses `revenue_30d ≥ 100` thirty days later without doing anything.
/// Returns `None` when no new day began.
fn roll_day(m: &mut Model, wm: EventTimeMs) -> Option<Vec<Effect>> {
    let today = wm.div_euclid(DAY_MS);
    let Some(done) = m.rolled_day else {
        m.rolled_day = Some(today);
        return None;
    };
    if today <= done {
        return None;
    }
    m.rolled_day = Some(today);
    let mut out = Vec::new();
    for profile in m.traits.roll_day(done, today) {
        out.extend(thresholds(m, &profile, wm));
        m.dirty.insert(profile);
    }
    Some(out)
}

/// Forgets the profiles known only by anonymous ids whose newest event is before `before`:
/// their identity nodes, traits, label states and timers, open sessions. Their rows and
/// history stay in the analytics store; an event under one of their ids later starts a new
/// profile. Returns how many went.
fn evict_idle(m: &mut Model, before: EventTimeMs) -> usize {
    let gone: BTreeSet<String> = m
        .traits
        .last_seen_before(before)
        .into_iter()
        .filter(|p| m.identity.is_anonymous_only(p))
        .collect();
    for p in &gone {
        m.identity.evict(p);
        m.traits.remove(p);
        m.sessions.remove(p);
        m.dirty.remove(p);
    }
    m.labels.remove(&gone);
    gone.len()
}
