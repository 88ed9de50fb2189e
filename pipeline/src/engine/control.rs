//! Applying a control record of `events.raw`: a tick moves every workspace of the partition to
//! the time it records, a label-definition version replaces a workspace's definitions — both
//! at their place in the log, so a replay decides as the first run did.

use super::effect::Emitted;
use super::timers::fire;
use super::Engine;
use crate::input::{workspace_key, Record};
use crate::time::EventTimeMs;
use domain::control::Control;

impl Engine {
    /// Applies the record at `offset` of `partition` of `events.raw`, event or control; a
    /// record the state already covers is skipped. The CRM changes a tick names are the
    /// caller's to apply first ([`Engine::process_crm`], then [`Engine::skip_crm_to`]).
    pub fn apply(&mut self, partition: i32, offset: i64, record: Record) -> Vec<Emitted> {
        match record {
            Record::Event(event) => self.process(partition, offset, event),
            Record::Control(control) => {
                if !self.claim(partition, offset) {
                    return Vec::new();
                }
                match control {
                    Control::Tick { at, .. } => self.advance_to(at - self.config.max_disorder_ms),
                    Control::Labels {
                        workspace,
                        version,
                        definitions,
                    } => {
                        self.set_labels_version(
                            &workspace_key(Some(workspace)),
                            version,
                            definitions,
                        );
                        Vec::new()
                    }
                }
            }
        }
    }

    /// Moves every workspace's event time forward to at least `watermark` without an event
    /// (what a tick does; tests and backtests call it directly).
    pub fn advance_to(&mut self, watermark: EventTimeMs) -> Vec<Emitted> {
        let mut out = Vec::new();
        for (ws, m) in self.models.iter_mut() {
            m.watermark.advance_to(watermark);
            out.extend(fire(ws, m, &self.config, &mut self.stats));
        }
        out
    }

    /// The earliest event time at which moving on would change something — a label timer, a
    /// session ending, a new day — across the workspaces; `None` when nothing waits. A runner
    /// writes ticks only while this is behind the wall clock, so an idle log stays quiet.
    pub fn next_due(&self) -> Option<EventTimeMs> {
        self.models.values().filter_map(|m| m.next_due()).min()
    }
}
