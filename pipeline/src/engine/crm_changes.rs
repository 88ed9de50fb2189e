//! Applying one record of `crm.changes`: a CRM customer's identifiers join its profile and
//! its fields become traits, without moving event time.

use super::effect::Emitted;
use super::model::{fan_out_merges, thresholds};
use super::Engine;
use crate::input::crm::{CrmFact, CrmUpdate};
use crate::input::{workspace_key, Invalid};

impl Engine {
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
}
