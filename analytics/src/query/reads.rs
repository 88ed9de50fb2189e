//! The statements of the store's fixed reads (the 360 view, the timeline, merges, resolve), in
//! any dialect. [`crate::reader`] runs them; the golden tests pin their text.

use super::{Dialect, Renderer, Sql};
use crate::tables::{EVENTS, IDENTITIES, LABEL_HISTORY, MERGES, PROFILES, SESSIONS};

/// The profile columns the 360 view reads, in the order [`profile_row`] selects them.
pub const DETAIL_COLUMNS: [&str; 14] = [
    "display",
    "identifiers",
    "labels",
    "traits",
    "first_seen",
    "last_seen",
    "events_total",
    "sessions_total",
    "events_today",
    "events_7d",
    "events_30d",
    "orders_30d",
    "revenue_30d",
    "distinct_pages_7d",
];

/// The most events one timeline read returns.
pub const MAX_TIMELINE: usize = 1_000;

/// The profile a profile merged into, if it did.
pub fn merged_into(d: &dyn Dialect, ws: &str, profile: &str) -> Sql {
    let mut r = Renderer::new(d);
    r.push("SELECT into_profile FROM ")
        .push(MERGES.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND from_profile = ")
        .bind(profile);
    r.finish()
}

/// The merges into any of `into` (from_profile, via, ts): one hop of the merged set.
pub fn merges_into(d: &dyn Dialect, ws: &str, into: &[String]) -> Sql {
    let mut r = Renderer::new(d);
    r.push("SELECT from_profile, via, ts FROM ")
        .push(MERGES.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND into_profile IN (")
        .bind_list(into)
        .push(")");
    r.finish()
}

/// The profile's row for the 360 view ([`DETAIL_COLUMNS`]).
pub fn profile_row(d: &dyn Dialect, ws: &str, profile: &str) -> Sql {
    debug_assert!(DETAIL_COLUMNS.iter().all(|c| PROFILES.has(c)));
    let mut r = Renderer::new(d);
    r.push("SELECT ")
        .push(&DETAIL_COLUMNS.join(", "))
        .push(" FROM ")
        .push(PROFILES.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND profile = ")
        .bind(profile);
    r.finish()
}

/// Events of the profiles in `set` (message_id, name, ts, properties): the newest `limit`
/// newest first, or with `after` the oldest `limit` newer than it, oldest first.
pub fn timeline(
    d: &dyn Dialect,
    ws: &str,
    set: &[String],
    after: Option<i64>,
    limit: usize,
) -> Sql {
    let mut r = Renderer::new(d);
    r.push("SELECT message_id, name, ts, properties FROM ")
        .push(EVENTS.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND profile IN (")
        .bind_list(set)
        .push(")");
    let order = match after {
        Some(a) => {
            r.push(" AND ts > ").bind(a);
            "ASC"
        }
        None => "DESC",
    };
    r.push(&format!(
        " ORDER BY ts {order}, message_id LIMIT {}",
        limit.min(MAX_TIMELINE)
    ));
    r.finish()
}

/// Label sets and clears of the profiles in `set` (label, is_set, ts, reason), newest first.
pub fn label_history(d: &dyn Dialect, ws: &str, set: &[String]) -> Sql {
    let mut r = Renderer::new(d);
    r.push("SELECT label, is_set, ts, reason FROM ")
        .push(LABEL_HISTORY.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND profile IN (")
        .bind_list(set)
        .push(") ORDER BY ts DESC, id LIMIT 200");
    r.finish()
}

/// Sessions of the profiles in `set` (session, started_at, ended_at, duration_ms, events),
/// newest first.
pub fn sessions(d: &dyn Dialect, ws: &str, set: &[String]) -> Sql {
    let mut r = Renderer::new(d);
    r.push("SELECT session, started_at, ended_at, duration_ms, events FROM ")
        .push(SESSIONS.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND profile IN (")
        .bind_list(set)
        .push(") ORDER BY started_at DESC LIMIT 50");
    r.finish()
}

/// The profile holding an identifier.
pub fn identity(d: &dyn Dialect, ws: &str, identifier: &str) -> Sql {
    let mut r = Renderer::new(d);
    r.push("SELECT profile FROM ")
        .push(IDENTITIES.name)
        .push(" WHERE workspace = ")
        .bind(ws)
        .push(" AND identifier = ")
        .bind(identifier);
    r.finish()
}
