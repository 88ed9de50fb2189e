//! Identity resolution: an identity graph over anonymous ids, user ids, emails, phones,
//! external ids and CRM customer ids. Identifiers seen together on one event belong to one
//! profile; profiles merge by union-find. Limits per kind (one user id, five emails, …) and the
//! junk blocklist keep one bad identifier from merging thousands of people, and an identifier
//! that would join more distinct profiles within a period than a real person's would (a
//! placeholder user id like `false`, a role address like `info@company.com`) is flagged as
//! shared and stops joining anyone: the event stays on the profile of its other identifiers.

use crate::operator::clean;
use crate::time::EventTimeMs;
use domain::phone::CallingCode;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use domain::identity::{IdKind, Identifier};

/// How many identifiers of `kind` one profile may hold.
pub fn limit(kind: IdKind) -> usize {
    match kind {
        IdKind::Crm | IdKind::User => 1,
        IdKind::Email | IdKind::Phone => 5,
        IdKind::External => 10,
        IdKind::Anonymous => 1_000,
    }
}

/// A cleaned identifier, or `None` for junk (`null`, `undefined`, `0`, test emails, …).
/// Phones follow the CRM's rule ([`domain::phone`]), with `phone_country` (the workspace's)
/// for numbers written without a country code.
pub fn identifier(kind: IdKind, raw: &str, phone_country: CallingCode) -> Option<Identifier> {
    let value = match kind {
        IdKind::Email => clean::email(raw)?,
        IdKind::Phone => domain::phone::normalize(raw, phone_country).ok()?,
        _ => clean::id(raw)?,
    };
    Some(Identifier { kind, value })
}

/// Two profiles became one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    /// The profile that no longer exists.
    pub from: String,
    /// The profile that holds both now.
    pub into: String,
    /// The identifier that linked them.
    pub via: String,
    pub at: EventTimeMs,
}

/// When an identifier counts as shared: it would join more than `profiles` distinct profiles
/// within `period_ms` of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLimit {
    pub profiles: usize,
    pub period_ms: i64,
}

impl Default for SharedLimit {
    /// 10 profiles in 24 hours.
    fn default() -> Self {
        SharedLimit {
            profiles: 10,
            period_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// An identifier flagged as shared: how many distinct profiles it met in its period, some of
/// them, and when it was flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flagged {
    pub profiles: usize,
    pub samples: Vec<String>,
    pub at: EventTimeMs,
}

/// The distinct profiles (as hashes) an identifier was seen joining since `since`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Links {
    since: EventTimeMs,
    profiles: Vec<u64>,
}

/// How many sample profiles a flag keeps.
const SAMPLES: usize = 5;

/// An identifier that was not linked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub id: String,
    pub reason: String,
}

/// What resolving an event's identifiers did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The profile the event belongs to.
    pub profile: String,
    /// Whether the profile is new.
    pub created: bool,
    pub merges: Vec<Merge>,
    pub refused: Vec<Refused>,
}

/// One profile: its identifiers by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Members {
    ids: BTreeMap<IdKind, Vec<String>>,
    /// Creation order (diagnostics and stable ordering in exports).
    seq: u64,
}

impl Members {
    fn count(&self, kind: IdKind) -> usize {
        self.ids.get(&kind).map_or(0, Vec::len)
    }
}

/// The graph, checkpointed with the pipeline's other state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityGraph {
    /// Node (`kind:value`) → its profile.
    owner: HashMap<String, String>,
    profiles: HashMap<String, Members>,
    next_seq: u64,
    shared: SharedLimit,
    /// Per node (as a hash), the profiles it joined in its current period; entries exist only
    /// for nodes that joined something, and go when their period ends.
    links: FxHashMap<u64, Links>,
    /// Nodes flagged as shared.
    flagged: BTreeMap<String, Flagged>,
}

impl IdentityGraph {
    /// An empty graph with the default shared-identifier limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph whose identifiers count as shared past `shared`.
    pub fn with_limit(shared: SharedLimit) -> Self {
        IdentityGraph {
            shared,
            ..Self::default()
        }
    }

    /// The identifiers flagged as shared (`kind:value`).
    pub fn flagged(&self) -> &BTreeMap<String, Flagged> {
        &self.flagged
    }

    /// Forgets link counts whose period ended before `now` (once a day is enough).
    pub fn expire_links(&mut self, now: EventTimeMs) {
        let period = self.shared.period_ms;
        self.links.retain(|_, l| now - l.since <= period);
    }

    /// The profile an identifier belongs to.
    pub fn profile_of(&self, id: &Identifier) -> Option<&str> {
        self.owner.get(&id.to_string()).map(String::as_str)
    }

    /// The identifiers of a profile, best kind first.
    pub fn identifiers(&self, profile: &str) -> Vec<Identifier> {
        self.profiles
            .get(profile)
            .map(|m| {
                m.ids
                    .iter()
                    .flat_map(|(k, vs)| vs.iter().map(move |v| Identifier::new(*k, v.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether linking these identifiers would start a new profile (resolve picks the best
    /// identifier's profile, or starts one when it has none).
    pub fn would_create(&self, ids: &[Identifier]) -> bool {
        ids.iter()
            .min()
            .is_some_and(|best| !self.owner.contains_key(&best.to_string()))
    }

    /// Whether every identifier of the profile is an anonymous id (nobody said who it is).
    pub fn is_anonymous_only(&self, profile: &str) -> bool {
        self.profiles
            .get(profile)
            .is_some_and(|m| m.ids.keys().all(|k| *k == IdKind::Anonymous))
    }

    /// Forgets a profile and its identifiers (an anonymous visitor gone for good); an event
    /// under one of them later starts a new profile.
    pub fn evict(&mut self, profile: &str) {
        if let Some(gone) = self.profiles.remove(profile) {
            for (kind, values) in gone.ids {
                for v in values {
                    self.owner.remove(&format!("{kind}:{v}"));
                }
            }
        }
    }

    /// Profiles in the graph.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// True when no profile exists.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Links the identifiers of one event; returns its profile, merges and refusals.
    /// Returns `None` when the event carries no usable identifier.
    ///
    /// The event's best identifier decides its profile (existing or new); every other
    /// identifier joins that profile, merging its own profile in, unless a per-kind limit would
    /// be exceeded — then that identifier alone is refused.
    pub fn resolve(&mut self, ids: &[Identifier], at: EventTimeMs) -> Option<Resolution> {
        let mut ids: Vec<&Identifier> = ids.iter().collect();
        ids.sort();
        ids.dedup();
        // Each identifier with its node name, spelled once for every lookup below.
        let mut ids: Vec<(&Identifier, String)> =
            ids.into_iter().map(|id| (id, id.to_string())).collect();
        let mut refused = self.refuse_shared(&mut ids, at);
        let (first, first_node) = ids.first()?;
        let (target, created) = match self.owner.get(first_node) {
            Some(p) => (p.clone(), false),
            None => {
                let p = profile_name(first);
                if self.profiles.contains_key(&p) {
                    // Two identifiers hashing to one 128-bit id: never overwrite a profile;
                    // the event is counted as one without a usable identifier.
                    return None;
                }
                self.next_seq += 1;
                let mut members = Members {
                    ids: BTreeMap::new(),
                    seq: self.next_seq,
                };
                members
                    .ids
                    .entry(first.kind)
                    .or_default()
                    .push(first.value.clone());
                self.profiles.insert(p.clone(), members);
                self.owner.insert(first_node.clone(), p.clone());
                (p, true)
            }
        };
        let mut merges = Vec::new();
        for (id, node) in ids.into_iter().skip(1) {
            match self.owner.get(&node).cloned() {
                Some(p) if p == target => {}
                Some(other) => match self.can_merge(&target, &other) {
                    Ok(()) => {
                        self.merge(&other, &target);
                        merges.push(Merge {
                            from: other,
                            into: target.clone(),
                            via: node,
                            at,
                        });
                    }
                    Err(reason) => refused.push(Refused { id: node, reason }),
                },
                None => {
                    let members = self.profiles.get_mut(&target).expect("target exists");
                    if members.count(id.kind) >= limit(id.kind) {
                        refused.push(Refused {
                            id: node,
                            reason: format!(
                                "the profile already has {} {} id(s), the most it may hold",
                                limit(id.kind),
                                id.kind
                            ),
                        });
                        continue;
                    }
                    members
                        .ids
                        .entry(id.kind)
                        .or_default()
                        .push(id.value.clone());
                    self.owner.insert(node, target.clone());
                }
            }
        }
        Some(Resolution {
            profile: target,
            created,
            merges,
            refused,
        })
    }

    /// Takes shared identifiers out of `ids` (each with its node name) before they link
    /// anything: one flagged already, or one this event would make join more distinct profiles
    /// in its period than the limit (it is flagged now). CRM customer ids are the CRM's own
    /// and never count as shared. When every identifier is shared the event keeps its best one
    /// (it has nowhere else to go). Returns the refusals.
    fn refuse_shared(
        &mut self,
        ids: &mut Vec<(&Identifier, String)>,
        at: EventTimeMs,
    ) -> Vec<Refused> {
        if ids.len() < 2 {
            return Vec::new();
        }
        // The profile each identifier belongs to now, or would start.
        let homes: Vec<String> = ids
            .iter()
            .map(|(id, node)| {
                self.owner
                    .get(node)
                    .cloned()
                    .unwrap_or_else(|| profile_name(id))
            })
            .collect();
        let linking = homes.iter().any(|h| *h != homes[0]);
        // The common case: every identifier on one profile already, none flagged.
        if !linking && self.flagged.is_empty() {
            return Vec::new();
        }
        let mut shared = vec![false; ids.len()];
        for (i, (id, node)) in ids.iter().enumerate() {
            if self.flagged.contains_key(node) {
                shared[i] = true;
                continue;
            }
            if !linking || id.kind == IdKind::Crm {
                continue;
            }
            let others = || homes.iter().filter(|h| **h != homes[i]);
            let links = self.links.entry(node_hash(node)).or_insert(Links {
                since: at,
                profiles: Vec::new(),
            });
            if at - links.since > self.shared.period_ms {
                *links = Links {
                    since: at,
                    profiles: Vec::new(),
                };
            }
            for home in others() {
                let h = node_hash(home);
                if !links.profiles.contains(&h) {
                    links.profiles.push(h);
                }
            }
            if links.profiles.len() > self.shared.profiles {
                let mut samples: Vec<String> = others().cloned().collect();
                samples.insert(0, homes[i].clone());
                samples.dedup();
                samples.truncate(SAMPLES);
                self.flagged.insert(
                    node.clone(),
                    Flagged {
                        profiles: links.profiles.len(),
                        samples,
                        at,
                    },
                );
                shared[i] = true;
            }
        }
        if !shared.iter().any(|s| *s) {
            return Vec::new();
        }
        let reason = format!(
            "a shared identifier: it would join more than {} profiles within {}",
            self.shared.profiles,
            domain::labels::duration(self.shared.period_ms)
        );
        let best = ids[0].clone();
        let mut refused = Vec::new();
        let mut kept = Vec::new();
        for (id, shared) in ids.drain(..).zip(shared) {
            if shared {
                refused.push(Refused {
                    id: id.1,
                    reason: reason.clone(),
                });
            } else {
                kept.push(id);
            }
        }
        if kept.is_empty() {
            kept.push(best);
            refused.remove(0);
        }
        *ids = kept;
        refused
    }

    fn can_merge(&self, a: &str, b: &str) -> Result<(), String> {
        let (ma, mb) = (&self.profiles[a], &self.profiles[b]);
        for kind in IdKind::ALL {
            if ma.count(kind) + mb.count(kind) > limit(kind) {
                return Err(format!(
                    "merging would give one profile more than {} {} id(s)",
                    limit(kind),
                    kind
                ));
            }
        }
        Ok(())
    }

    fn merge(&mut self, from: &str, into: &str) {
        let gone = self.profiles.remove(from).expect("merged profile exists");
        let target = self.profiles.get_mut(into).expect("target exists");
        for (kind, values) in gone.ids {
            for v in values {
                self.owner.insert(format!("{kind}:{v}"), into.to_string());
                target.ids.entry(kind).or_default().push(v);
            }
        }
    }
}

/// A deterministic profile id from the identifier that created it: 128 bits of XXH3, so two
/// identifiers sharing one is not to be expected in any workspace (and is refused if it
/// happens). Profiles created before version 8 of the checkpoint keep their 64-bit ids.
fn profile_name(id: &Identifier) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(id.to_string().as_bytes());
    format!("p_{h:032x}")
}

/// A node or profile as the link counts keep it.
fn node_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: IdKind, v: &str) -> Identifier {
        identifier(kind, v, CallingCode::default()).unwrap()
    }

    #[test]
    fn anonymous_visitor_merges_into_the_user_profile_when_identified() {
        let mut g = IdentityGraph::new();
        let anon = g.resolve(&[id(IdKind::Anonymous, "a-1")], 1).unwrap();
        let user = g
            .resolve(
                &[
                    id(IdKind::User, "u-1"),
                    id(IdKind::Email, "Ada@Acme.example"),
                ],
                2,
            )
            .unwrap();
        assert_ne!(anon.profile, user.profile);
        let both = g
            .resolve(&[id(IdKind::Anonymous, "a-1"), id(IdKind::User, "u-1")], 3)
            .unwrap();
        assert_eq!(both.profile, user.profile, "the user-id profile survives");
        assert_eq!(both.merges.len(), 1);
        assert_eq!(both.merges[0].from, anon.profile);
        assert_eq!(g.len(), 1);
        assert_eq!(
            g.profile_of(&id(IdKind::Email, "ada@acme.example")),
            Some(user.profile.as_str())
        );
        assert!(g
            .identifiers(&user.profile)
            .contains(&id(IdKind::Anonymous, "a-1")));
    }

    #[test]
    fn two_user_ids_never_merge_and_junk_ids_are_not_identifiers() {
        let mut g = IdentityGraph::new();
        let a = g
            .resolve(
                &[
                    id(IdKind::User, "u-1"),
                    id(IdKind::Anonymous, "shared-kiosk"),
                ],
                1,
            )
            .unwrap();
        let b = g
            .resolve(
                &[
                    id(IdKind::User, "u-2"),
                    id(IdKind::Anonymous, "shared-kiosk"),
                ],
                2,
            )
            .unwrap();
        assert_ne!(b.profile, a.profile, "u-2 is someone else");
        assert_eq!(b.refused.len(), 1, "{b:?}");
        assert_eq!(b.refused[0].id, "anon:shared-kiosk");
        assert_eq!(g.len(), 2);
        assert!(identifier(IdKind::User, "undefined", CallingCode::default()).is_none());
        assert!(identifier(IdKind::Anonymous, "null", CallingCode::default()).is_none());
        assert!(identifier(IdKind::User, "0", CallingCode::default()).is_none());
    }

    #[test]
    fn one_bad_identifier_cannot_chain_thousands_of_profiles() {
        let mut g = IdentityGraph::new();
        for i in 0..100 {
            g.resolve(
                &[
                    id(IdKind::User, &format!("u-{i}")),
                    id(IdKind::Email, "support@shop.example"),
                ],
                i,
            )
            .unwrap();
        }
        // The shared email joined the first profile only; the others refused it.
        assert_eq!(g.len(), 100);
    }

    #[test]
    fn a_flagged_shared_identifier_keeps_n_plus_one_visitors_apart() {
        let mut g = IdentityGraph::with_limit(SharedLimit {
            profiles: 10,
            period_ms: 86_400_000,
        });
        let mut profiles = Vec::new();
        for i in 0..12 {
            // Each visitor is known first by their own anonymous id...
            let own = g
                .resolve(&[id(IdKind::Anonymous, &format!("a-{i}"))], i)
                .unwrap();
            // ...then a form sends the same placeholder user id for everyone.
            let r = g
                .resolve(
                    &[
                        id(IdKind::User, "{{userId}}"),
                        id(IdKind::Anonymous, &format!("a-{i}")),
                    ],
                    i,
                )
                .unwrap();
            profiles.push((own.profile, r));
        }
        // The first ten joined the placeholder's profile (up to the limit)...
        let blob = profiles[0].1.profile.clone();
        assert!(profiles[..10].iter().all(|(_, r)| r.profile == blob));
        // ...the eleventh would have made it eleven: it is flagged and joins nobody, and the
        // event stays on the visitor's own profile.
        for (own, r) in &profiles[10..] {
            assert_eq!(&r.profile, own, "kept apart");
            assert!(r.merges.is_empty());
            assert_eq!(r.refused[0].id, "user:{{userId}}");
            assert!(r.refused[0].reason.contains("shared"), "{:?}", r.refused);
        }
        let flag = &g.flagged()["user:{{userId}}"];
        assert_eq!(flag.profiles, 11);
        assert!(!flag.samples.is_empty());
        // A later event under the placeholder alone still has somewhere to go.
        let alone = g.resolve(&[id(IdKind::User, "{{userId}}")], 20).unwrap();
        assert_eq!(alone.profile, blob);
    }

    #[test]
    fn a_real_person_linking_a_few_devices_is_never_flagged() {
        let mut g = IdentityGraph::new();
        for d in 0..5 {
            g.resolve(
                &[
                    id(IdKind::User, "u-1"),
                    id(IdKind::Anonymous, &format!("device-{d}")),
                    id(IdKind::Email, "ada@acme.example"),
                ],
                d,
            )
            .unwrap();
        }
        assert!(g.flagged().is_empty());
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn profile_ids_are_deterministic_and_the_graph_survives_a_checkpoint() {
        let mut a = IdentityGraph::new();
        let mut b = IdentityGraph::new();
        let ra = a.resolve(&[id(IdKind::Anonymous, "x")], 1).unwrap();
        let rb = b.resolve(&[id(IdKind::Anonymous, "x")], 1).unwrap();
        assert_eq!(ra.profile, rb.profile);
        let json = serde_json::to_string(&a).unwrap();
        let back: IdentityGraph = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
