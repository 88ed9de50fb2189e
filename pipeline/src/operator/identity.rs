//! Identity resolution: an identity graph over anonymous ids, user ids, emails, phones,
//! external ids and CRM customer ids. Identifiers seen together on one event belong to one
//! profile; profiles merge by union-find. Limits per kind (one user id, five emails, …) and the
//! junk blocklist keep one bad identifier from merging thousands of people.

use crate::operator::clean;
use crate::time::EventTimeMs;
use domain::phone::CallingCode;
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
}

impl IdentityGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
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
        let first = *ids.first()?;
        let (target, created) = match self.owner.get(&first.to_string()) {
            Some(p) => (p.clone(), false),
            None => {
                let p = profile_name(first);
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
                self.owner.insert(first.to_string(), p.clone());
                (p, true)
            }
        };
        let mut refused = Vec::new();
        let mut merges = Vec::new();
        for id in ids.into_iter().skip(1) {
            let node = id.to_string();
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

/// A deterministic profile id from the identifier that created it.
fn profile_name(id: &Identifier) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id.to_string().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("p_{h:016x}")
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
