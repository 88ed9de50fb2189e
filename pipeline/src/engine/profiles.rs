//! Reading the customer model out: snapshots of the profiles that changed (the analytics
//! store's profile rows) and lookups of identities, labels and state sizes.

use super::Engine;
use crate::operator::identity::IdentityGraph;
use crate::operator::traits::TraitsView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

impl Engine {
    /// The profiles changed since the last call, as they are now (windows end at the
    /// workspace's watermark). The runner writes them to the analytics store, which keeps the highest
    /// revision, so calling this once per poll coalesces many events into one row write.
    pub fn take_profiles(&mut self) -> Vec<ProfileSnapshot> {
        let mut out = Vec::new();
        for (ws, m) in self.models.iter_mut() {
            let now = m.watermark.current().unwrap_or(0);
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
}
