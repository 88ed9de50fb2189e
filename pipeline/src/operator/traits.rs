//! Profile traits: what identify calls said about a customer (per trait, the value with the
//! newest event time wins, so a late event never overwrites a newer value), first and last
//! seen, totals, and rolling event-time windows kept as one bucket per day — sliding 7- and
//! 30-day counts and sums, a 7-day distinct count of pages, and today's tumbling count.

use crate::time::EventTimeMs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One day of event time, the width of a window bucket.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Buckets older than this many days are dropped (the longest window).
const KEEP_DAYS: i64 = 30;
/// Distinct values remembered per day; beyond it the distinct count is a lower bound.
const DISTINCT_CAP: usize = 200;
/// Trait values longer than this are cut (one huge trait must not bloat every snapshot).
const MAX_TRAIT_CHARS: usize = 500;
/// Identify traits kept per profile.
const MAX_TRAITS: usize = 50;

/// The event that counts as an order, and the properties that carry its amount.
pub const ORDER_EVENT: &str = "Order Completed";
const AMOUNT_PROPERTIES: [&str; 3] = ["revenue", "total", "value"];

/// One day of one profile's behaviour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Day {
    events: u64,
    orders: u64,
    revenue: f64,
    pages: BTreeSet<String>,
}

/// One profile's trait state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    first_seen: EventTimeMs,
    last_seen: EventTimeMs,
    events: u64,
    sessions: u64,
    /// Per trait: the value and the event time it was said at.
    traits: BTreeMap<String, (Value, EventTimeMs)>,
    /// Day number (event time / 1 day) → that day's counts.
    days: BTreeMap<i64, Day>,
    /// Bumped on every change; the store keeps the highest it has seen.
    revision: u64,
}

/// The traits of one profile as the analytics store keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitsView {
    pub revision: u64,
    pub first_seen: EventTimeMs,
    pub last_seen: EventTimeMs,
    pub events_total: u64,
    pub sessions_total: u64,
    pub events_today: u64,
    pub events_7d: u64,
    pub events_30d: u64,
    pub orders_30d: u64,
    pub revenue_30d: f64,
    pub distinct_pages_7d: u64,
    pub traits: Map<String, Value>,
}

/// Trait state of every profile of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traits {
    profiles: HashMap<String, State>,
}

fn amount(properties: &Value) -> f64 {
    AMOUNT_PROPERTIES
        .iter()
        .find_map(|k| match properties.get(*k) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        })
        .filter(|a| a.is_finite())
        .unwrap_or(0.0)
}

fn clip(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > MAX_TRAIT_CHARS => {
            Value::String(s.chars().take(MAX_TRAIT_CHARS).collect())
        }
        Value::Array(_) | Value::Object(_) => {
            let text = v.to_string();
            if text.len() > MAX_TRAIT_CHARS {
                Value::String(text.chars().take(MAX_TRAIT_CHARS).collect())
            } else {
                v.clone()
            }
        }
        _ => v.clone(),
    }
}

impl Traits {
    /// Empty state.
    pub fn new() -> Self {
        Traits::default()
    }

    /// Profiles whose newest event is older than `before` (event time).
    pub fn last_seen_before(&self, before: EventTimeMs) -> Vec<String> {
        let mut out: Vec<String> = self
            .profiles
            .iter()
            .filter(|(_, s)| s.last_seen < before)
            .map(|(p, _)| p.clone())
            .collect();
        out.sort_unstable();
        out
    }

    /// Forgets a profile's traits.
    pub fn remove(&mut self, profile: &str) {
        self.profiles.remove(profile);
    }

    /// Profiles with trait state.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// No profile has trait state.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Applies an event of `profile` at `at`. `identify` traits come from identify calls.
    pub fn on_event(
        &mut self,
        profile: &str,
        name: &str,
        properties: &Value,
        at: EventTimeMs,
        identify: bool,
    ) {
        let s = self.profiles.entry(profile.to_string()).or_default();
        if s.events == 0 {
            s.first_seen = at;
            s.last_seen = at;
        }
        s.first_seen = s.first_seen.min(at);
        s.last_seen = s.last_seen.max(at);
        s.events += 1;
        s.revision += 1;
        if identify {
            if let Value::Object(traits) = properties {
                for (k, v) in traits {
                    if v.is_null() {
                        continue;
                    }
                    match s.traits.get(k) {
                        // Event time decides, not arrival: an older value never replaces a newer one.
                        Some((_, seen)) if *seen > at => {}
                        Some(_) => {
                            s.traits.insert(k.clone(), (clip(v), at));
                        }
                        None if s.traits.len() < MAX_TRAITS => {
                            s.traits.insert(k.clone(), (clip(v), at));
                        }
                        None => {}
                    }
                }
            }
        }
        let day = s.days.entry(at.div_euclid(DAY_MS)).or_default();
        day.events += 1;
        if name == ORDER_EVENT {
            day.orders += 1;
            day.revenue += amount(properties);
        }
        if name == "Page Viewed" && day.pages.len() < DISTINCT_CAP {
            if let Some(path) = properties.get("path").and_then(Value::as_str) {
                day.pages.insert(path.to_string());
            }
        }
        let newest = s.last_seen.div_euclid(DAY_MS);
        while let Some((&d, _)) = s.days.first_key_value() {
            if d > newest - KEEP_DAYS {
                break;
            }
            s.days.pop_first();
        }
    }

    /// Event time moved from day `from` to day `today` (days since the epoch): the profiles
    /// whose windows changed on the way — a day bucket still inside the longest window on day
    /// `from` and older than today — get a new revision and are returned, sorted, so their rows
    /// and window thresholds follow time even when they do nothing.
    pub fn roll_day(&mut self, from: i64, today: i64) -> Vec<String> {
        let mut out: Vec<String> = self
            .profiles
            .iter_mut()
            .filter(|(_, s)| {
                s.days
                    .last_key_value()
                    .is_some_and(|(d, _)| *d < today && *d > from - KEEP_DAYS)
            })
            .map(|(p, s)| {
                s.revision += 1;
                p.clone()
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Sets one field said at event time `at` (a CRM field from CDC, as `crm.<column>`); the
    /// newest by event time wins, as for identify traits. Returns whether it changed.
    pub fn set_field(&mut self, profile: &str, key: &str, value: Value, at: EventTimeMs) -> bool {
        let s = self.profiles.entry(profile.to_string()).or_default();
        match s.traits.get(key) {
            Some((_, seen)) if *seen > at => false,
            Some((old, _)) if *old == value => false,
            _ => {
                s.traits.insert(key.to_string(), (clip(&value), at));
                s.revision += 1;
                true
            }
        }
    }

    /// Counts a session that started for `profile`.
    pub fn on_session(&mut self, profile: &str) {
        let s = self.profiles.entry(profile.to_string()).or_default();
        s.sessions += 1;
        s.revision += 1;
    }

    /// Moves `from`'s traits into `into` (a merge): totals add, first/last seen widen, per trait
    /// the newer value wins, day buckets add.
    pub fn merge(&mut self, from: &str, into: &str) {
        let Some(gone) = self.profiles.remove(from) else {
            return;
        };
        let s = self.profiles.entry(into.to_string()).or_default();
        if s.events == 0 {
            s.first_seen = gone.first_seen;
            s.last_seen = gone.last_seen;
        } else if gone.events > 0 {
            s.first_seen = s.first_seen.min(gone.first_seen);
            s.last_seen = s.last_seen.max(gone.last_seen);
        }
        s.events += gone.events;
        s.sessions += gone.sessions;
        s.revision = s.revision.max(gone.revision) + 1;
        for (k, (v, at)) in gone.traits {
            match s.traits.get(&k) {
                Some((_, seen)) if *seen > at => {}
                _ => {
                    s.traits.insert(k, (v, at));
                }
            }
        }
        for (d, day) in gone.days {
            let mine = s.days.entry(d).or_default();
            mine.events += day.events;
            mine.orders += day.orders;
            mine.revenue += day.revenue;
            for p in day.pages {
                if mine.pages.len() >= DISTINCT_CAP {
                    break;
                }
                mine.pages.insert(p);
            }
        }
    }

    /// The profile's traits with windows ending at `now` (event time).
    pub fn view(&self, profile: &str, now: EventTimeMs) -> Option<TraitsView> {
        let s = self.profiles.get(profile)?;
        let today = now.div_euclid(DAY_MS);
        let within = |days: i64| s.days.range(today - days + 1..=today).map(|(_, d)| d);
        let mut pages = BTreeSet::new();
        for d in within(7) {
            pages.extend(d.pages.iter());
        }
        Some(TraitsView {
            revision: s.revision,
            first_seen: s.first_seen,
            last_seen: s.last_seen,
            events_total: s.events,
            sessions_total: s.sessions,
            events_today: within(1).map(|d| d.events).sum(),
            events_7d: within(7).map(|d| d.events).sum(),
            events_30d: within(30).map(|d| d.events).sum(),
            orders_30d: within(30).map(|d| d.orders).sum(),
            revenue_30d: (within(30).map(|d| d.revenue).sum::<f64>() * 100.0).round() / 100.0,
            distinct_pages_7d: pages.len() as u64,
            traits: s
                .traits
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_795_000_000_000;

    #[test]
    fn a_late_identify_never_overwrites_a_newer_trait_value() {
        let mut t = Traits::new();
        t.on_event(
            "p",
            "Identified",
            &json!({"plan": "pro"}),
            T0 + 10_000,
            true,
        );
        // Arrives later but happened earlier: the plan stays "pro", the name is new and applies.
        t.on_event(
            "p",
            "Identified",
            &json!({"plan": "free", "name": "Ada"}),
            T0,
            true,
        );
        let v = t.view("p", T0 + 10_000).unwrap();
        assert_eq!(v.traits["plan"], json!("pro"));
        assert_eq!(v.traits["name"], json!("Ada"));
        assert_eq!((v.first_seen, v.last_seen), (T0, T0 + 10_000));
    }

    #[test]
    fn sliding_windows_count_sum_and_distinct_by_event_day() {
        let mut t = Traits::new();
        for (days_ago, name, props) in [
            (0, "Page Viewed", json!({"path": "/pricing"})),
            (0, "Page Viewed", json!({"path": "/pricing"})),
            (3, "Page Viewed", json!({"path": "/docs"})),
            (10, ORDER_EVENT, json!({"revenue": 19.99})),
            (20, ORDER_EVENT, json!({"total": "5.01"})),
            (40, ORDER_EVENT, json!({"revenue": 100})),
        ] {
            t.on_event("p", name, &props, T0 - days_ago * DAY_MS, false);
        }
        let v = t.view("p", T0).unwrap();
        assert_eq!(v.events_total, 6);
        assert_eq!(v.events_today, 2);
        assert_eq!(v.events_7d, 3);
        assert_eq!(v.events_30d, 5, "the 40-day-old order is outside 30 days");
        assert_eq!(v.orders_30d, 2);
        assert_eq!(v.revenue_30d, 25.0);
        assert_eq!(v.distinct_pages_7d, 2);
        // A week later the 7-day window has moved past every page view.
        assert_eq!(t.view("p", T0 + 8 * DAY_MS).unwrap().events_7d, 0);
    }

    #[test]
    fn a_new_day_refreshes_the_windows_of_profiles_active_within_30_days() {
        let mut t = Traits::new();
        let day = |n: i64| T0 + n * DAY_MS;
        t.on_event(
            "recent",
            ORDER_EVENT,
            &json!({"revenue": 120}),
            day(0),
            false,
        );
        t.on_event("old", "Page Viewed", &json!({}), day(-40), false);
        let before = t.view("recent", day(0)).unwrap();
        assert_eq!(before.revenue_30d, 120.0);
        let d0 = day(0).div_euclid(DAY_MS);
        assert_eq!(t.roll_day(d0, d0 + 1), vec!["recent".to_string()]);
        // A jump over the day the order leaves the 30-day window still refreshes it.
        assert_eq!(t.roll_day(d0 + 10, d0 + 31), vec!["recent".to_string()]);
        assert!(
            t.roll_day(d0 + 30, d0 + 31).is_empty(),
            "its windows were already empty on day 30"
        );
        let after = t.view("recent", day(31)).unwrap();
        assert_eq!(after.revenue_30d, 0.0);
        assert!(
            after.revision > before.revision,
            "the store takes the refreshed row"
        );
    }

    #[test]
    fn a_merge_adds_totals_and_keeps_the_newest_trait() {
        let mut t = Traits::new();
        t.on_event("a", "Identified", &json!({"plan": "free"}), T0, true);
        t.on_session("a");
        t.on_event("b", "Identified", &json!({"plan": "pro"}), T0 + 5, true);
        t.on_event("b", ORDER_EVENT, &json!({"revenue": 10}), T0 + 6, false);
        t.merge("a", "b");
        assert!(t.view("a", T0).is_none());
        let v = t.view("b", T0 + 6).unwrap();
        assert_eq!(v.events_total, 3);
        assert_eq!(v.sessions_total, 1);
        assert_eq!(v.traits["plan"], json!("pro"));
        assert_eq!(v.revenue_30d, 10.0);
        assert_eq!(v.first_seen, T0);
    }

    #[test]
    fn huge_and_null_trait_values_are_cut_or_skipped() {
        let mut t = Traits::new();
        let long = "x".repeat(10_000);
        t.on_event(
            "p",
            "Identified",
            &json!({"bio": long, "gone": null}),
            T0,
            true,
        );
        let v = t.view("p", T0).unwrap();
        assert_eq!(v.traits["bio"].as_str().unwrap().len(), MAX_TRAIT_CHARS);
        assert!(!v.traits.contains_key("gone"));
    }
}
