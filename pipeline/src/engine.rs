//! The engine: one state machine that takes records of `events.raw` in order and emits effects
//! — clean → dedupe → identity → sessions → labels, on event time with a watermark. It has no
//! I/O: the runner feeds it records, writes its effects to idempotent sinks and checkpoints it
//! (state and the offsets it has consumed, together), so after a crash the engine restored from
//! its checkpoint skips what it already applied and decides everything else as before.

use crate::input::crm::{CrmFact, CrmUpdate};
use crate::input::segment::SegmentEvent;
use crate::input::{workspace_key, Invalid};
use crate::operator::identity::{IdentityGraph, Merge};
use crate::operator::labels::{LabelChange, Labels};
use crate::operator::traits::{Traits, TraitsView, DAY_MS};
use crate::operator::{Dedupe, Seen, SessionChange, Sessionizer};
use crate::time::{EventTimeMs, Lateness, Watermark};
use domain::labels::LabelDefinition;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Event-time settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Disorder the watermark waits for.
    pub max_disorder_ms: i64,
    /// Events this far behind the watermark still apply; older ones are counted and dropped.
    pub allowed_lateness_ms: i64,
    /// How long message ids are remembered for dedupe.
    pub dedupe_horizon_ms: i64,
    /// Inactivity that ends a session.
    pub session_gap_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_disorder_ms: 5_000,
            allowed_lateness_ms: 60_000,
            dedupe_horizon_ms: crate::operator::dedupe::DEFAULT_HORIZON_MS,
            session_gap_ms: crate::operator::session::DEFAULT_GAP_MS,
        }
    }
}

/// What the engine decided; each effect has a deterministic id, so writing one twice (after a
/// replay) is harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// An event attributed to a profile (the timeline).
    Event {
        profile: String,
        message_id: String,
        name: String,
        at: EventTimeMs,
        properties: Value,
    },
    /// Two profiles merged.
    Merged(Merge),
    /// A label set or cleared.
    Label(LabelChange),
    /// A session started or ended.
    Session {
        profile: String,
        session: String,
        started: bool,
        at: EventTimeMs,
        duration_ms: i64,
        events: u64,
    },
}

impl Effect {
    /// The effect's deterministic id.
    pub fn id(&self) -> String {
        match self {
            Effect::Event { message_id, .. } => format!("event:{message_id}"),
            Effect::Merged(m) => format!("merge:{}:{}:{}", m.from, m.into, m.at),
            Effect::Label(c) => format!(
                "label:{}:{}:{}:{}",
                c.profile,
                c.label,
                if c.set { "set" } else { "cleared" },
                c.at
            ),
            Effect::Session {
                session, started, ..
            } => format!(
                "session:{session}:{}",
                if *started { "start" } else { "end" }
            ),
        }
    }

    /// The profile the effect is about (the routing key of its record).
    pub fn profile(&self) -> &str {
        match self {
            Effect::Event { profile, .. } | Effect::Session { profile, .. } => profile,
            Effect::Merged(m) => &m.into,
            Effect::Label(c) => &c.profile,
        }
    }
}

/// Counters of what the engine applied, and of what it did not and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Applied in full.
    pub processed: u64,
    /// Dropped: the messageId was seen (or is older than the dedupe horizon).
    pub duplicates: u64,
    /// Beyond the allowed lateness: applied to the profile and timeline, not to sessions or
    /// event-pattern label rules.
    pub too_late: u64,
    /// Dropped: no identifier to attribute the event to.
    pub unidentified: u64,
    /// Dropped: not a parseable event.
    pub invalid: u64,
}

/// One workspace's customer model: its own identity graph, sessions and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Model {
    identity: IdentityGraph,
    sessions: Sessionizer,
    labels: Labels,
    traits: Traits,
    /// Profiles changed since the last `take_profiles`.
    dirty: BTreeSet<String>,
}

/// One profile as it is now: what the analytics store's profile table keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSnapshot {
    pub workspace: String,
    pub profile: String,
    /// Identifiers as `kind:value` (e.g. `email:ada@example.com`, `crm:<uuid>`).
    pub identifiers: Vec<String>,
    pub labels: Vec<String>,
    /// None for a profile known only from the CRM (no behaviour yet).
    pub traits: Option<TraitsView>,
}

/// An effect in the workspace it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emitted {
    pub workspace: String,
    #[serde(flatten)]
    pub effect: Effect,
}

impl Emitted {
    /// The effect's deterministic id, unique across workspaces.
    pub fn id(&self) -> String {
        format!("{}:{}", self.workspace, self.effect.id())
    }
}

/// The whole pipeline state; serialised as the checkpoint (see [`crate::checkpoint`] for its
/// versions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// The checkpoint format this state is in ([`crate::checkpoint::VERSION`]).
    version: u32,
    config: EngineConfig,
    watermark: Watermark,
    dedupe: Dedupe,
    /// Per workspace (`_pulse.workspaceId` of the events).
    models: BTreeMap<String, Model>,
    /// Per partition, the next offset not yet applied.
    offsets: BTreeMap<i32, i64>,
    /// The same for `crm.changes` (CRM identifiers joining profiles).
    crm_offsets: BTreeMap<i32, i64>,
    /// Watermark at which sessions and dedupe were last swept.
    swept_at: Option<EventTimeMs>,
    /// Watermark at which every workspace's timers last fired.
    fired_at: Option<EventTimeMs>,
    /// The event-time day (days since the epoch) whose window refresh is done.
    rolled_day: Option<i64>,
    stats: Stats,
}

impl Engine {
    /// A fresh engine with these label definitions.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            version: crate::checkpoint::VERSION,
            config,
            watermark: Watermark::new(config.max_disorder_ms, config.allowed_lateness_ms),
            dedupe: Dedupe::new(config.dedupe_horizon_ms),
            models: BTreeMap::new(),
            offsets: BTreeMap::new(),
            crm_offsets: BTreeMap::new(),
            swept_at: None,
            fired_at: None,
            rolled_day: None,
            stats: Stats::default(),
        }
    }

    /// The checkpoint: the whole state with the offsets it covers.
    pub fn checkpoint(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the engine state serialises")
    }

    /// An engine restored from a checkpoint of this or any earlier version.
    pub fn restore(bytes: &[u8]) -> Result<Engine, serde_json::Error> {
        crate::checkpoint::read(bytes)
    }

    fn model(&mut self, workspace: &str) -> &mut Model {
        let gap = self.config.session_gap_ms;
        self.models
            .entry(workspace.to_string())
            .or_insert_with(|| Model {
                identity: IdentityGraph::new(),
                sessions: Sessionizer::new(gap),
                labels: Labels::new(Vec::new()),
                traits: Traits::new(),
                dirty: BTreeSet::new(),
            })
    }

    /// Replaces a workspace's label definitions (at start and after an edit).
    pub fn set_labels(&mut self, workspace: &str, labels: Vec<LabelDefinition>) {
        self.model(workspace).labels.set_definitions(labels);
    }

    /// Per partition, the next offset the engine has not applied.
    pub fn offsets(&self) -> &BTreeMap<i32, i64> {
        &self.offsets
    }

    /// Per partition of `crm.changes`, the next offset not yet applied.
    pub fn crm_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.crm_offsets
    }

    /// Notes that the records of `crm.changes` partition `partition` before `next` were seen:
    /// a runner that hands this engine only its own workspaces' changes moves it past the
    /// others', so a restore does not read them again. Returns whether the position moved.
    pub fn skip_crm_to(&mut self, partition: i32, next: i64) -> bool {
        let at = self.crm_offsets.entry(partition).or_insert(0);
        let moved = next > *at;
        *at = (*at).max(next);
        moved
    }

    /// Keeps only the workspaces `keep` accepts and the position in `partition` of
    /// `events.raw`: the share of this state that the owner of that partition takes over when
    /// one engine's state is split by owner.
    pub fn keep_only(&mut self, partition: i32, keep: impl Fn(&str) -> bool) {
        self.models.retain(|ws, _| keep(ws));
        self.offsets.retain(|p, _| *p == partition);
    }

    /// Applies the CRM change at `offset` of `partition` of `crm.changes`: a customer's email,
    /// phone or external id joins the profile of that CRM customer, so behaviour under that
    /// identifier and the CRM record become one profile; a customer's fields become traits.
    /// Removed identifiers do not unlink (merges are not undone). CRM changes do not move
    /// event time.
    pub fn process_crm(
        &mut self,
        partition: i32,
        offset: i64,
        input: Result<CrmUpdate, Invalid>,
    ) -> Vec<Emitted> {
        let next = self.crm_offsets.entry(partition).or_insert(0);
        if offset < *next {
            return Vec::new();
        }
        *next = offset + 1;
        let Ok(update) = input else {
            self.stats.invalid += 1;
            return Vec::new();
        };
        if update.change == CrmFact::Nothing {
            return Vec::new();
        }
        let workspace = workspace_key(update.workspace);
        let at = update.at;
        let model = self.model(&workspace);
        let effects = match update.change {
            CrmFact::Nothing => Vec::new(),
            CrmFact::Identifier {
                customer,
                identifier,
            } => {
                let Some(r) = model.identity.resolve(&[customer, identifier], at) else {
                    return Vec::new();
                };
                model.dirty.insert(r.profile.clone());
                fan_out_merges(model, r.merges)
            }
            // Newest by commit time wins; threshold labels on the fields are re-checked.
            CrmFact::Fields { customer, fields } => {
                let Some(r) = model.identity.resolve(&[customer], at) else {
                    return Vec::new();
                };
                let mut changed = false;
                for (field, value) in fields {
                    changed |= model.traits.set_field(&r.profile, &field, value, at);
                }
                if !changed {
                    return Vec::new();
                }
                model.dirty.insert(r.profile.clone());
                thresholds(model, &r.profile, at)
            }
        };
        effects
            .into_iter()
            .map(|effect| Emitted {
                workspace: workspace.clone(),
                effect,
            })
            .collect()
    }

    /// The profiles changed since the last call, as they are now (windows end at the
    /// watermark). The runner writes them to the analytics store, which keeps the highest
    /// revision, so calling this once per poll coalesces many events into one row write.
    pub fn take_profiles(&mut self) -> Vec<ProfileSnapshot> {
        let now = self.watermark.current().unwrap_or(0);
        let mut out = Vec::new();
        for (ws, m) in self.models.iter_mut() {
            for profile in std::mem::take(&mut m.dirty) {
                let identifiers: Vec<String> = m
                    .identity
                    .identifiers(&profile)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                // Merged away since it changed: the merge effect retires it.
                if identifiers.is_empty() {
                    continue;
                }
                out.push(ProfileSnapshot {
                    workspace: ws.clone(),
                    identifiers,
                    labels: m.labels.current(&profile),
                    traits: m.traits.view(&profile, now.max(0)),
                    profile,
                });
            }
        }
        out
    }

    /// The current watermark.
    pub fn watermark(&self) -> Option<EventTimeMs> {
        self.watermark.current()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A workspace's identity graph (profile lookups).
    pub fn identity(&self, workspace: &str) -> Option<&IdentityGraph> {
        self.models.get(workspace).map(|m| &m.identity)
    }

    /// The labels a profile carries.
    pub fn labels_of(&self, workspace: &str, profile: &str) -> Vec<String> {
        self.models
            .get(workspace)
            .map(|m| m.labels.current(profile))
            .unwrap_or_default()
    }

    /// Per workspace, how many profiles carry each label now.
    pub fn label_counts(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        self.models
            .iter()
            .map(|(ws, m)| (ws.clone(), m.labels.counts()))
            .collect()
    }

    /// Profiles, profiles with label state, pending timers — over all workspaces.
    pub fn sizes(&self) -> (usize, usize, usize) {
        self.models.values().fold((0, 0, 0), |(a, b, c), m| {
            (
                a + m.identity.len(),
                b + m.labels.profiles(),
                c + m.labels.timers(),
            )
        })
    }

    /// Applies the event at `offset` of `partition` of `events.raw`; a record the state
    /// already covers (a replay after restoring a checkpoint) is skipped.
    pub fn process(
        &mut self,
        partition: i32,
        offset: i64,
        input: Result<SegmentEvent, Invalid>,
    ) -> Vec<Emitted> {
        let next = self.offsets.entry(partition).or_insert(0);
        if offset < *next {
            return Vec::new();
        }
        *next = offset + 1;
        let Ok(e) = input else {
            self.stats.invalid += 1;
            return Vec::new();
        };
        let workspace = workspace_key(e.workspace);
        // An event beyond the allowed lateness (an offline app's backlog, a client clock that
        // lags) still belongs on its profile — identity, traits, timeline — because it was
        // acknowledged; only the event-time computations already emitted (sessions and
        // event-pattern label rules) no longer take it.
        let too_late = self.watermark.observe(e.at) == Lateness::TooLate;
        match self
            .dedupe
            .check(&e.message_id, e.at, self.watermark.current())
        {
            Seen::First => {}
            Seen::Duplicate | Seen::BeyondHorizon => {
                self.stats.duplicates += 1;
                return Vec::new();
            }
        }
        let model = self.model(&workspace);
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
        out.extend(self.fire(Some(&workspace)));
        out
    }

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
    fn fire(&mut self, current: Option<&str>) -> Vec<Emitted> {
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

/// Applies merges to every operator that keeps per-profile state — the one place a merge
/// fans out — and returns the merge effects and the sessions they ended.
fn fan_out_merges(model: &mut Model, merges: Vec<Merge>) -> Vec<Effect> {
    let mut out = Vec::new();
    for m in merges {
        model.labels.merge(&m.from, &m.into);
        model.traits.merge(&m.from, &m.into);
        let ended = model.sessions.merge(&m.from, &m.into);
        out.push(Effect::Merged(m));
        out.extend(ended.into_iter().map(session_effect));
    }
    out
}

/// Re-checks the threshold labels of a profile after it changed at `at`.
fn thresholds(model: &mut Model, profile: &str, at: EventTimeMs) -> Vec<Effect> {
    if !model.labels.has_thresholds() {
        return Vec::new();
    }
    let Some(view) = model.traits.view(profile, at) else {
        return Vec::new();
    };
    let field = |name: &str| -> Option<Value> {
        Some(match name {
            "events_total" => view.events_total.into(),
            "sessions_total" => view.sessions_total.into(),
            "events_today" => view.events_today.into(),
            "events_7d" => view.events_7d.into(),
            "events_30d" => view.events_30d.into(),
            "orders_30d" => view.orders_30d.into(),
            "revenue_30d" => view.revenue_30d.into(),
            "distinct_pages_7d" => view.distinct_pages_7d.into(),
            "first_seen" => view.first_seen.into(),
            "last_seen" => view.last_seen.into(),
            other => match other.strip_prefix("traits.") {
                Some(t) => view.traits.get(t)?.clone(),
                None => view.traits.get(other)?.clone(),
            },
        })
    };
    model
        .labels
        .on_profile(profile, field, at)
        .into_iter()
        .map(Effect::Label)
        .collect()
}

fn session_effect(c: SessionChange) -> Effect {
    match c {
        SessionChange::Started { key, session } => Effect::Session {
            profile: key,
            at: session.start,
            session: session.id,
            started: true,
            duration_ms: 0,
            events: session.events,
        },
        SessionChange::Ended {
            key,
            session,
            duration_ms,
        } => Effect::Session {
            profile: key,
            at: session.last,
            session: session.id,
            started: false,
            duration_ms,
            events: session.events,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{crm, segment};
    use domain::labels::{EventMatch, LabelRule};
    use domain::phone::PhoneCountries;
    use serde_json::json;
    use std::collections::BTreeMap as Map;
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// Records fed to the engine decoded at its edge, as the runner does.
    trait Feed {
        fn feed(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted>;
        fn feed_crm(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted>;
    }

    impl Feed for Engine {
        fn feed(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted> {
            self.process(
                partition,
                offset,
                segment::decode(value, &PhoneCountries::default()),
            )
        }

        fn feed_crm(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted> {
            self.process_crm(partition, offset, crm::decode(value))
        }
    }

    /// Two workspaces, as the gateway stamps them.
    const WS_A: &str = "7d3c1f5e-0000-4000-8000-00000000000a";
    const WS_B: &str = "7d3c1f5e-0000-4000-8000-00000000000b";

    /// A CRM change as CDC writes it.
    fn change(op: &str, table: &str, at: i64, after: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "before": null, "after": after, "op": op, "ts_ms": at,
            "source": {"connector": "pulse", "db": "pulse", "schema": "public",
                       "table": table, "lsn": 1, "txId": null}
        }))
        .unwrap()
    }

    /// A profile's identifiers as text.
    fn ids_of(e: &Engine, profile: &str) -> Vec<String> {
        e.identity("")
            .unwrap()
            .identifiers(profile)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const MIN: i64 = 60_000;
    const T0: i64 = 1_795_000_000_000;

    fn flagship() -> LabelDefinition {
        let mut first = EventMatch::named("Page Viewed");
        first.properties.insert("path".into(), "/pricing".into());
        LabelDefinition {
            name: "high_intent_unresolved".into(),
            description: String::new(),
            rule: LabelRule::Absence {
                first,
                then_not: EventMatch::named("form_submit"),
                within_ms: 10 * MIN,
            },
            trigger: true,
        }
    }

    fn ts(ms: i64) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap()
            .format(&Rfc3339)
            .unwrap()
    }

    fn page(anon: &str, path: &str, at: i64, id: &str) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"type": "page", "anonymousId": anon, "messageId": id,
            "timestamp": ts(at), "properties": {"path": path}}),
        )
        .unwrap()
    }

    /// The same event stamped with a workspace (as the gateway does).
    fn in_ws(ws: &str, v: Vec<u8>) -> Vec<u8> {
        let mut j: Value = serde_json::from_slice(&v).unwrap();
        j["_pulse"] = json!({"workspaceId": ws});
        serde_json::to_vec(&j).unwrap()
    }

    fn track(anon: &str, event: &str, at: i64, id: &str) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"type": "track", "anonymousId": anon, "event": event,
            "messageId": id, "timestamp": ts(at), "properties": {}}),
        )
        .unwrap()
    }

    fn identify(anon: &str, user: &str, email: &str, at: i64, id: &str) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"type": "identify", "anonymousId": anon, "userId": user,
            "messageId": id, "timestamp": ts(at), "traits": {"email": email}}),
        )
        .unwrap()
    }

    /// A recorded stream: 60 visitors; a third submit the form in time, a third too late, a
    /// third never; some identify; duplicates and a late event mixed in; time moves on.
    fn recorded() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for i in 0..60i64 {
            let anon = format!("anon-{i}");
            let t = T0 + i * 20_000;
            out.push(page(&anon, "/pricing", t, &format!("m-{i}-a")));
            out.push(page(&anon, "/pricing", t, &format!("m-{i}-a"))); // a retry
            match i % 3 {
                0 => out.push(track(
                    &anon,
                    "form_submit",
                    t + 5 * MIN,
                    &format!("m-{i}-b"),
                )),
                1 => out.push(track(
                    &anon,
                    "form_submit",
                    t + 15 * MIN,
                    &format!("m-{i}-b"),
                )),
                _ => {}
            }
            if i % 4 == 0 {
                out.push(identify(
                    &anon,
                    &format!("user-{i}"),
                    &format!("u{i}@shop.example"),
                    t + MIN,
                    &format!("m-{i}-c"),
                ));
            }
        }
        // Events are recorded in arrival order: roughly by time, with small disorder.
        out.sort_by_key(|v| {
            let e: Value = serde_json::from_slice(v).unwrap();
            OffsetDateTime::parse(e["timestamp"].as_str().unwrap(), &Rfc3339).unwrap()
        });
        out.push(track("anon-late", "form_submit", T0 - 60 * MIN, "m-late"));
        out.push(track("ticker", "heartbeat", T0 + 120 * MIN, "m-end"));
        out
    }

    fn config() -> EngineConfig {
        EngineConfig {
            max_disorder_ms: 2_000,
            allowed_lateness_ms: 10_000,
            ..EngineConfig::default()
        }
    }

    /// An idempotent sink: effects by id.
    fn engine() -> Engine {
        let mut e = Engine::new(config());
        e.set_labels("", vec![flagship()]);
        e
    }

    fn run_clean(stream: &[Vec<u8>]) -> (Map<String, Emitted>, Engine) {
        let mut e = engine();
        let mut sink = Map::new();
        for (i, v) in stream.iter().enumerate() {
            for fx in e.feed(0, i as i64, v) {
                sink.insert(fx.id(), fx);
            }
        }
        (sink, e)
    }

    #[test]
    fn a_too_late_event_reaches_its_profile_timeline_but_not_sessions_or_pattern_labels() {
        let mut e = engine();
        let mut fx = Vec::new();
        fx.extend(e.feed(0, 0, &page("now", "/", T0, "m-now")));
        // Two hours behind the watermark: far beyond the allowed lateness.
        fx.extend(e.feed(0, 1, &page("offline", "/pricing", T0 - 120 * MIN, "m-old")));
        fx.extend(e.feed(0, 2, &track("ticker", "heartbeat", T0 + 60 * MIN, "m-tick")));
        let profile = fx
            .iter()
            .find_map(|f| match &f.effect {
                Effect::Event {
                    profile,
                    message_id,
                    ..
                } if message_id == "m-old" => Some(profile.clone()),
                _ => None,
            })
            .expect("the too-late event is on its profile's timeline");
        let other = fx.iter().find(|f| match &f.effect {
            Effect::Session { profile: p, .. } => *p == profile,
            Effect::Label(c) => c.profile == profile,
            _ => false,
        });
        assert!(other.is_none(), "no session or label: {other:?}");
        assert_eq!(e.stats().too_late, 1);
        assert_eq!(e.stats().processed, 2);
        assert!(e
            .take_profiles()
            .iter()
            .any(|p| p.profile == profile && p.traits.is_some()));
    }

    #[test]
    fn the_flagship_label_fires_once_for_visitors_without_a_timely_form() {
        let (sink, engine) = run_clean(&recorded());
        let set: Vec<&LabelChange> = sink
            .values()
            .filter_map(|f| match &f.effect {
                Effect::Label(c) if c.set => Some(c),
                _ => None,
            })
            .collect();
        // i % 3 == 1 (form after 15 min) and i % 3 == 2 (never): 40 visitors.
        assert_eq!(set.len(), 40);
        assert!(set.iter().all(|c| c.trigger));
        let cleared = sink
            .values()
            .filter(|f| matches!(&f.effect, Effect::Label(c) if !c.set))
            .count();
        assert_eq!(cleared, 20, "the late forms clear the label");
        let stats = engine.stats();
        assert_eq!(stats.duplicates, 60);
        assert_eq!(stats.too_late, 1);
    }

    #[test]
    fn crashes_at_random_points_give_the_same_effects_as_a_clean_run() {
        let stream = recorded();
        let (expected, clean_engine) = run_clean(&stream);
        // A small deterministic PRNG: crash points and checkpoint intervals vary per round.
        let mut seed: u64 = 0x2545F4914F6CDD1D;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _round in 0..8 {
            let mut sink = Map::new();
            let mut checkpoint = engine().checkpoint();
            let mut engine = Engine::restore(&checkpoint).unwrap();
            let mut i = 0usize;
            let mut since_checkpoint = 0;
            let every = 1 + rand(40) as usize;
            while i < stream.len() {
                for fx in engine.feed(0, i as i64, &stream[i]) {
                    sink.insert(fx.id(), fx);
                }
                i += 1;
                since_checkpoint += 1;
                if since_checkpoint >= every {
                    checkpoint = engine.checkpoint();
                    since_checkpoint = 0;
                }
                if rand(25) == 0 {
                    // Crash: the state since the checkpoint is lost; the consumer resumes from
                    // an earlier committed position (here: the start of the log).
                    engine = Engine::restore(&checkpoint).unwrap();
                    i = 0;
                    since_checkpoint = 0;
                }
            }
            assert_eq!(sink, expected);
            assert_eq!(engine.models, clean_engine.models);
        }
    }

    #[test]
    fn another_workspaces_events_move_time_for_all_workspaces() {
        let mut e = Engine::new(config());
        e.set_labels(WS_A, vec![flagship()]);
        e.feed(0, 0, &in_ws(WS_A, page("x", "/pricing", T0, "m1")));
        let fired = e.feed(0, 1, &in_ws(WS_B, track("y", "ping", T0 + 11 * MIN, "m2")));
        assert!(
            fired
                .iter()
                .any(|f| f.workspace == WS_A && matches!(&f.effect, Effect::Label(c) if c.set)),
            "{fired:?}"
        );
    }

    #[test]
    fn splitting_by_owner_keeps_each_share_its_workspaces_and_its_partitions_position() {
        let mut e = Engine::new(config());
        e.feed(0, 0, &in_ws(WS_A, page("x", "/", T0, "m1")));
        e.feed(1, 0, &in_ws(WS_B, page("y", "/", T0, "m2")));
        let mut share = Engine::restore(&e.checkpoint()).unwrap();
        share.keep_only(1, |ws| ws == WS_B);
        assert!(share.identity(WS_A).is_none());
        assert_eq!(share.identity(WS_B).unwrap().len(), 1);
        assert_eq!(share.offsets(), &BTreeMap::from([(1, 1)]));
    }

    #[test]
    fn seen_crm_positions_only_move_forward() {
        let mut e = Engine::new(config());
        assert!(e.skip_crm_to(3, 10));
        assert!(!e.skip_crm_to(3, 4));
        assert_eq!(e.crm_offsets(), &BTreeMap::from([(3, 10)]));
        // A change before the seen position is not applied again.
        let change = change(
            "r",
            "customer_identifiers",
            T0,
            json!({"workspace_id": "", "customer_id": "c-1", "kind": "email",
                   "namespace": "", "value": "a@b.example"}),
        );
        e.feed_crm(3, 9, &change);
        assert!(e.identity("").is_none());
    }

    /// A checkpoint as releases before versions wrote it: no `version`, `crm_offsets`,
    /// `fired_at`, `rolled_day`, per-workspace `traits` or `dirty`; kinds spelled `anonymous`.
    const OLD_CHECKPOINT: &str = r#"{"config":{"max_disorder_ms":2000,"allowed_lateness_ms":10000,"dedupe_horizon_ms":86400000,"session_gap_ms":1800000},"watermark":{"max_disorder_ms":2000,"allowed_lateness_ms":10000,"max_seen":1795000000000},"dedupe":{"horizon_ms":86400000,"ids":{"m0":1795000000000},"by_time":{"1795000000000":["m0"]}},"models":{"":{"identity":{"owner":{"anon:a":"p_0000000000000001"},"profiles":{"p_0000000000000001":{"ids":{"anonymous":["a"]},"seq":1}},"next_seq":1},"sessions":{"gap_ms":1800000,"open":{},"by_last":[]},"labels":{"defs":[],"states":{},"timers":[]}}},"offsets":{"0":1},"swept_at":1795000000000,"stats":{"processed":1,"duplicates":0,"too_late":0,"unidentified":0,"invalid":0}}"#;

    #[test]
    fn an_old_checkpoint_is_migrated() {
        let mut e = Engine::restore(OLD_CHECKPOINT.as_bytes()).unwrap();
        assert_eq!(e.version, crate::checkpoint::VERSION);
        assert_eq!(e.offsets(), &BTreeMap::from([(0, 1)]));
        assert!(e.crm_offsets().is_empty());
        assert_eq!(ids_of(&e, "p_0000000000000001"), ["anon:a"]);
        // The restored state goes on where it stopped: the record it covers is skipped, the
        // visitor's next event lands on the same profile, and a duplicate is still one.
        assert!(e.feed(0, 0, &page("a", "/", T0, "m0")).is_empty());
        let fx = e.feed(0, 1, &page("a", "/pricing", T0 + 1, "m1"));
        assert!(
            fx.iter()
                .any(|f| f.effect.profile() == "p_0000000000000001"),
            "{fx:?}"
        );
        assert!(e.feed(0, 2, &page("a", "/", T0, "m0")).is_empty());
        assert_eq!(e.stats().duplicates, 1);
        // Written again, it is the current version and reads back unchanged.
        let again = Engine::restore(&e.checkpoint()).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn a_checkpoint_newer_than_this_release_is_refused() {
        let mut v: Value = serde_json::from_slice(&engine().checkpoint()).unwrap();
        v["version"] = json!(crate::checkpoint::VERSION + 1);
        let err = Engine::restore(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn an_idle_stream_still_fires_when_time_moves_on() {
        let mut e = engine();
        e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
        assert!(e
            .advance_to(T0 + 9 * MIN)
            .iter()
            .all(|f| !matches!(f.effect, Effect::Label(_))));
        let fired = e.advance_to(T0 + 10 * MIN);
        assert!(
            fired
                .iter()
                .any(|f| matches!(&f.effect, Effect::Label(c) if c.set)),
            "{fired:?}"
        );
    }

    #[test]
    fn a_crm_customers_email_joins_the_visitor_who_identifies_with_it() {
        let mut e = Engine::new(config());
        let change = change(
            "r",
            "customer_identifiers",
            T0,
            json!({"workspace_id": "", "customer_id": "c-42", "kind": "email",
                   "namespace": "", "value": "ada@acme.example"}),
        );
        e.feed_crm(0, 0, &change);
        e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
        let fx = e.feed(
            0,
            1,
            &identify("a", "u-1", "Ada@Acme.example", T0 + 1, "m2"),
        );
        let profile = fx
            .iter()
            .find_map(|f| match &f.effect {
                Effect::Event { profile, .. } => Some(profile.clone()),
                _ => None,
            })
            .unwrap();
        let ids = ids_of(&e, &profile);
        assert!(ids.contains(&"crm:c-42".to_string()), "{ids:?}");
        assert!(ids.contains(&"anon:a".to_string()), "{ids:?}");
        // Replaying the change (after a restore) changes nothing.
        assert!(e.feed_crm(0, 0, &change).is_empty());
    }

    #[test]
    fn crm_fields_become_profile_traits_and_drive_threshold_labels() {
        let mut e = Engine::new(config());
        e.set_labels(
            "",
            vec![LabelDefinition {
                name: "churned".into(),
                description: String::new(),
                rule: LabelRule::Threshold {
                    field: "crm.lifecycle_stage".into(),
                    op: domain::labels::Comparison::Eq,
                    value: "churned".into(),
                },
                trigger: false,
            }],
        );
        let row = |stage: &str, at: i64| {
            change(
                "u",
                "customers",
                at,
                json!({"workspace_id": "", "id": "c-7", "first_name": "Ada",
                       "last_name": "King", "lifecycle_stage": stage}),
            )
        };
        assert!(e.feed_crm(0, 0, &row("customer", T0)).is_empty());
        let snap = e.take_profiles();
        let traits = &snap[0].traits.as_ref().unwrap().traits;
        assert_eq!(traits["crm.lifecycle_stage"], json!("customer"));
        assert_eq!(traits["crm.first_name"], json!("Ada"));
        let fx = e.feed_crm(0, 1, &row("churned", T0 + 10));
        assert!(
            matches!(&fx[..], [Emitted { effect: Effect::Label(c), .. }] if c.set && c.reason.contains("churned")),
            "{fx:?}"
        );
        // An older change arriving late does not bring "customer" back.
        assert!(e.feed_crm(0, 2, &row("customer", T0 + 5)).is_empty());
        assert_eq!(
            e.labels_of("", &snap[0].profile),
            vec!["churned".to_string()]
        );
    }

    #[test]
    fn a_window_threshold_clears_when_the_window_moves_past_the_activity() {
        let mut e = Engine::new(config());
        e.set_labels(
            "",
            vec![LabelDefinition {
                name: "big_spender".into(),
                description: String::new(),
                rule: LabelRule::Threshold {
                    field: "revenue_30d".into(),
                    op: domain::labels::Comparison::Gte,
                    value: "100".into(),
                },
                trigger: false,
            }],
        );
        let order = serde_json::to_vec(&json!({"type": "track", "anonymousId": "a",
            "event": "Order Completed", "messageId": "o1", "timestamp": ts(T0),
            "properties": {"revenue": 150}}))
        .unwrap();
        let fx = e.feed(0, 0, &order);
        assert!(fx
            .iter()
            .any(|f| matches!(&f.effect, Effect::Label(c) if c.set)));
        let profile = e.take_profiles()[0].profile.clone();
        // Ten days without activity: still within the window, nothing changes.
        let quiet = e.advance_to(T0 + 10 * DAY_MS);
        assert!(quiet.iter().all(|f| !matches!(f.effect, Effect::Label(_))));
        assert_eq!(
            e.take_profiles().len(),
            1,
            "the day's refresh rewrites the row"
        );
        // Thirty-one days on, the order has left the window: cleared, and the row says 0.
        let later = e.advance_to(T0 + 31 * DAY_MS);
        assert!(
            later
                .iter()
                .any(|f| matches!(&f.effect, Effect::Label(c) if !c.set && c.profile == profile)),
            "{later:?}"
        );
        let row = e.take_profiles();
        assert_eq!(row[0].traits.as_ref().unwrap().revenue_30d, 0.0);
        assert!(e.labels_of("", &profile).is_empty());
    }

    #[test]
    fn changed_profiles_come_out_once_with_identifiers_traits_and_labels() {
        let mut e = Engine::new(config());
        e.set_labels("", vec![flagship()]);
        e.feed(0, 0, &page("a", "/pricing", T0, "m1"));
        e.feed(
            0,
            1,
            &identify("a", "u-1", "ada@acme.example", T0 + 1, "m2"),
        );
        let snaps = e.take_profiles();
        assert_eq!(
            snaps.len(),
            1,
            "two events of one profile, one snapshot: {snaps:?}"
        );
        let p = &snaps[0];
        assert!(p
            .identifiers
            .contains(&"email:ada@acme.example".to_string()));
        let traits = p.traits.as_ref().unwrap();
        assert_eq!(traits.events_total, 2);
        assert_eq!(traits.sessions_total, 1);
        assert_eq!(traits.traits["email"], json!("ada@acme.example"));
        assert!(e.take_profiles().is_empty(), "nothing changed since");
        // The absence timer fires with no event: the profile is snapshotted with its label.
        e.advance_to(T0 + 11 * MIN);
        let snaps = e.take_profiles();
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].labels, vec!["high_intent_unresolved".to_string()]);
        assert!(snaps[0].traits.as_ref().unwrap().revision >= traits.revision);
    }

    #[test]
    fn identify_links_the_visitor_to_the_user_and_its_email() {
        let mut e = Engine::new(config());
        e.feed(0, 0, &page("a", "/", T0, "m1"));
        let fx = e.feed(
            0,
            1,
            &identify("a", "u-1", "Ada@Acme.example", T0 + 1, "m2"),
        );
        let profile = fx.iter().find_map(|f| match &f.effect {
            Effect::Event { profile, .. } => Some(profile.clone()),
            _ => None,
        });
        let ids = ids_of(&e, &profile.unwrap());
        assert!(
            ids.contains(&"email:ada@acme.example".to_string()),
            "{ids:?}"
        );
        assert!(ids.contains(&"anon:a".to_string()), "{ids:?}");
    }
}
