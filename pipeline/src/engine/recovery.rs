//! What a runner persists and resumes from: the checkpoint, the input positions it covers,
//! and the share of the state one owner takes over when the state is split.

use super::Engine;
use std::collections::BTreeMap;

impl Engine {
    /// The checkpoint: the whole state with the offsets it covers.
    pub fn checkpoint(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the engine state serialises")
    }

    /// An engine restored from a checkpoint of this or any earlier version.
    pub fn restore(bytes: &[u8]) -> Result<Engine, serde_json::Error> {
        crate::checkpoint::read(bytes)
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
}
