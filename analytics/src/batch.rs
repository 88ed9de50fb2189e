//! A batch of rows for the store, built from the pipeline's effects and profile snapshots.
//! Within a batch, later facts about the same key win (one row per key per table), so the
//! engines can upsert a batch in one statement per table.

use domain::profiles::{display_name, Identifier};
use domain::IdKind;
use pipeline::{Effect, Emitted, ProfileSnapshot};
use std::collections::HashMap;

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub workspace: String,
    pub profile: String,
    pub message_id: String,
    pub name: String,
    pub at: i64,
    /// JSON text.
    pub properties: String,
}

/// One row of the profile wide table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileRow {
    pub workspace: String,
    pub profile: String,
    /// The store keeps the row with the highest revision (replays never go back in time).
    pub revision: i64,
    pub display: String,
    pub email: Option<String>,
    pub crm_customer: Option<String>,
    /// JSON array of `kind:value`.
    pub identifiers: String,
    /// JSON array of label names.
    pub labels: String,
    /// JSON object of identify traits.
    pub traits: String,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub events_total: i64,
    pub sessions_total: i64,
    pub events_today: i64,
    pub events_7d: i64,
    pub events_30d: i64,
    pub orders_30d: i64,
    pub revenue_30d: f64,
    pub distinct_pages_7d: i64,
    /// Lowercased identifiers, name and trait values: what search matches.
    pub search: String,
}

/// A profile that merged into another.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRow {
    pub workspace: String,
    pub from_profile: String,
    pub into_profile: String,
    pub via: String,
    pub at: i64,
}

/// A label set or cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRow {
    pub id: String,
    pub workspace: String,
    pub profile: String,
    pub label: String,
    pub set: bool,
    pub at: i64,
    pub reason: String,
}

/// A session's start or end.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub workspace: String,
    pub session: String,
    pub profile: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: i64,
    pub events: i64,
}

/// Rows for every table, one per key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub events: Vec<EventRow>,
    pub profiles: Vec<ProfileRow>,
    pub merges: Vec<MergeRow>,
    pub labels: Vec<LabelRow>,
    pub sessions: Vec<SessionRow>,
    /// (workspace, identifier) → profile, from the snapshots.
    pub identities: Vec<(String, String, String)>,
}

/// Collects effects and snapshots into a [`Batch`], keeping one row per key.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    batch: Batch,
    profiles: HashMap<(String, String), usize>,
    sessions: HashMap<(String, String), usize>,
    identities: HashMap<(String, String), usize>,
    events: std::collections::HashSet<(String, String)>,
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        BatchBuilder::default()
    }

    /// Rows collected so far (the sink's size trigger).
    pub fn len(&self) -> usize {
        let b = &self.batch;
        b.events.len() + b.profiles.len() + b.merges.len() + b.labels.len() + b.sessions.len()
    }

    /// Nothing collected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one effect of the pipeline.
    pub fn effect(&mut self, e: &Emitted) {
        let ws = e.workspace.clone();
        match &e.effect {
            Effect::Event {
                profile,
                message_id,
                name,
                at,
                properties,
            } => {
                if self.events.insert((ws.clone(), message_id.clone())) {
                    self.batch.events.push(EventRow {
                        workspace: ws,
                        profile: profile.clone(),
                        message_id: message_id.clone(),
                        name: name.clone(),
                        at: *at,
                        properties: properties.to_string(),
                    });
                }
            }
            Effect::Merged(m) => self.batch.merges.push(MergeRow {
                workspace: ws,
                from_profile: m.from.clone(),
                into_profile: m.into.clone(),
                via: m.via.clone(),
                at: m.at,
            }),
            Effect::Label(c) => self.batch.labels.push(LabelRow {
                id: e.id(),
                workspace: ws,
                profile: c.profile.clone(),
                label: c.label.clone(),
                set: c.set,
                at: c.at,
                reason: c.reason.clone(),
            }),
            Effect::Session {
                profile,
                session,
                started,
                at,
                duration_ms,
                events,
            } => {
                let row = SessionRow {
                    workspace: ws.clone(),
                    session: session.clone(),
                    profile: profile.clone(),
                    started_at: if *started { *at } else { at - duration_ms },
                    ended_at: (!started).then_some(*at),
                    duration_ms: *duration_ms,
                    events: *events as i64,
                };
                match self.sessions.get(&(ws.clone(), session.clone())) {
                    // An end replaces the start; a start never replaces an end.
                    Some(&i) if !started => self.batch.sessions[i] = row,
                    Some(_) => {}
                    None => {
                        self.sessions
                            .insert((ws, session.clone()), self.batch.sessions.len());
                        self.batch.sessions.push(row);
                    }
                }
            }
        }
    }

    /// Adds a profile snapshot; a later snapshot of the same profile replaces an earlier one.
    pub fn profile(&mut self, s: &ProfileSnapshot) {
        let row = profile_row(s);
        for id in &s.identifiers {
            let key = (s.workspace.clone(), id.clone());
            let entry = (s.workspace.clone(), id.clone(), s.profile.clone());
            match self.identities.get(&key) {
                Some(&i) => self.batch.identities[i] = entry,
                None => {
                    self.identities.insert(key, self.batch.identities.len());
                    self.batch.identities.push(entry);
                }
            }
        }
        let key = (s.workspace.clone(), s.profile.clone());
        match self.profiles.get(&key) {
            Some(&i) if self.batch.profiles[i].revision <= row.revision => {
                self.batch.profiles[i] = row
            }
            Some(_) => {}
            None => {
                self.profiles.insert(key, self.batch.profiles.len());
                self.batch.profiles.push(row);
            }
        }
    }

    /// The batch, leaving the builder empty.
    pub fn take(&mut self) -> Batch {
        let out = std::mem::take(&mut self.batch);
        *self = BatchBuilder::default();
        out
    }
}

fn profile_row(s: &ProfileSnapshot) -> ProfileRow {
    let ids: Vec<Identifier> = s
        .identifiers
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    let empty = serde_json::Map::new();
    let traits = s.traits.as_ref();
    let trait_map = traits.map(|t| &t.traits).unwrap_or(&empty);
    let display = display_name(trait_map, &ids);
    let first = |kind: IdKind| ids.iter().find(|i| i.kind == kind).map(|i| i.value.clone());
    let mut search = s.identifiers.join(" ").to_lowercase();
    search.push(' ');
    search.push_str(&display.to_lowercase());
    for v in trait_map.values() {
        if let Some(t) = v.as_str() {
            search.push(' ');
            search.push_str(&t.to_lowercase());
        }
    }
    let n = |f: fn(&pipeline::operator::TraitsView) -> u64| traits.map(f).unwrap_or(0) as i64;
    ProfileRow {
        workspace: s.workspace.clone(),
        profile: s.profile.clone(),
        revision: traits.map(|t| t.revision).unwrap_or(0) as i64,
        display,
        email: first(IdKind::Email),
        crm_customer: first(IdKind::Crm),
        identifiers: serde_json::to_string(&s.identifiers).expect("strings serialise"),
        labels: serde_json::to_string(&s.labels).expect("strings serialise"),
        traits: serde_json::Value::Object(trait_map.clone()).to_string(),
        // A profile known only from the CRM has not been seen yet.
        first_seen: traits.filter(|t| t.events_total > 0).map(|t| t.first_seen),
        last_seen: traits.filter(|t| t.events_total > 0).map(|t| t.last_seen),
        events_total: n(|t| t.events_total),
        sessions_total: n(|t| t.sessions_total),
        events_today: n(|t| t.events_today),
        events_7d: n(|t| t.events_7d),
        events_30d: n(|t| t.events_30d),
        orders_30d: n(|t| t.orders_30d),
        revenue_30d: traits.map(|t| t.revenue_30d).unwrap_or(0.0),
        distinct_pages_7d: n(|t| t.distinct_pages_7d),
        search,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::operator::identity::Merge;
    use pipeline::operator::LabelChange;
    use serde_json::json;

    fn emitted(effect: Effect) -> Emitted {
        Emitted {
            workspace: "w".into(),
            effect,
        }
    }

    fn snapshot(profile: &str, revision: u64, labels: &[&str]) -> ProfileSnapshot {
        let traits: pipeline::operator::TraitsView = serde_json::from_value(json!({
            "revision": revision, "first_seen": 1, "last_seen": 2, "events_total": revision,
            "sessions_total": 1, "events_today": 1, "events_7d": 1, "events_30d": 1,
            "orders_30d": 0, "revenue_30d": 0.0, "distinct_pages_7d": 1,
            "traits": {"name": "Ada Lovelace", "plan": "Pro"}
        }))
        .unwrap();
        ProfileSnapshot {
            workspace: "w".into(),
            profile: profile.into(),
            identifiers: vec!["email:ada@x.example".into(), "crm:c-1".into()],
            labels: labels.iter().map(|s| s.to_string()).collect(),
            traits: Some(traits),
        }
    }

    #[test]
    fn one_row_per_profile_with_the_highest_revision_and_searchable_text() {
        let mut b = BatchBuilder::new();
        b.profile(&snapshot("p", 2, &["vip"]));
        b.profile(&snapshot("p", 1, &[]));
        let batch = b.take();
        assert_eq!(batch.profiles.len(), 1);
        let row = &batch.profiles[0];
        assert_eq!(row.revision, 2);
        assert_eq!(row.labels, r#"["vip"]"#);
        assert_eq!(row.display, "Ada Lovelace");
        assert_eq!(row.email.as_deref(), Some("ada@x.example"));
        assert_eq!(row.crm_customer.as_deref(), Some("c-1"));
        assert!(row.search.contains("email:ada@x.example") && row.search.contains("pro"));
        assert_eq!(batch.identities.len(), 2);
        assert!(b.is_empty(), "take leaves the builder empty");
    }

    #[test]
    fn a_session_end_replaces_its_start_and_duplicate_events_collapse() {
        let mut b = BatchBuilder::new();
        let session = |started: bool, at: i64| {
            emitted(Effect::Session {
                profile: "p".into(),
                session: "s".into(),
                started,
                at,
                duration_ms: if started { 0 } else { 60 },
                events: 2,
            })
        };
        b.effect(&session(true, 100));
        b.effect(&session(false, 160));
        b.effect(&session(true, 100));
        let event = emitted(Effect::Event {
            profile: "p".into(),
            message_id: "m".into(),
            name: "Page Viewed".into(),
            at: 100,
            properties: json!({"path": "/"}),
        });
        b.effect(&event);
        b.effect(&event);
        b.effect(&emitted(Effect::Merged(Merge {
            from: "q".into(),
            into: "p".into(),
            via: "email:a@x.example".into(),
            at: 90,
        })));
        b.effect(&emitted(Effect::Label(LabelChange {
            profile: "p".into(),
            label: "l".into(),
            set: true,
            at: 100,
            reason: "because".into(),
            trigger: false,
            version: 1,
        })));
        let batch = b.take();
        assert_eq!(batch.sessions.len(), 1);
        assert_eq!(batch.sessions[0].ended_at, Some(160));
        assert_eq!(batch.sessions[0].started_at, 100);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.merges.len(), 1);
        assert_eq!(batch.labels[0].id, "w:label:p:l:v1:set:100");
    }
}
