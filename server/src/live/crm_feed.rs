//! `crm.changes` as the owned engines take it: read ahead into a buffer, and applied to an
//! engine only at a tick of its partition, up to the positions the tick records. The tick is
//! in `events.raw`, so a replay applies the same changes between the same events.

use super::Failure;
use pipeline::input::crm::CrmUpdate;
use pipeline::input::Invalid;
use pipeline::{Emitted, Engine};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a tick may wait for the CRM changes it names before the runner gives up (and
/// starts again): they were read once, so they are in the log unless it lost them.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// One change read ahead.
struct Change {
    offset: i64,
    /// The partition of `events.raw` its workspace is keyed to (`None`: it names none).
    home: Option<i32>,
    update: Result<CrmUpdate, Invalid>,
}

/// The reader of `crm.changes` shared by the owned partitions, and the changes it read that
/// some owned engine has not passed yet.
pub(super) struct CrmFeed {
    reader: Option<Box<dyn bus::Reader>>,
    /// Per partition of `crm.changes`, the next offset to read.
    at: BTreeMap<i32, i64>,
    buffer: BTreeMap<i32, VecDeque<Change>>,
    /// Partitions of `events.raw` (a workspace's home is `partition_for(workspace, this)`).
    events_partitions: i32,
}

impl CrmFeed {
    /// A feed that has read nothing yet.
    pub fn new(events_partitions: i32) -> Self {
        CrmFeed {
            reader: None,
            at: BTreeMap::new(),
            buffer: BTreeMap::new(),
            events_partitions,
        }
    }

    /// Forgets what was read (after a reset the engines load again from their checkpoints).
    pub fn clear(&mut self) {
        self.reader = None;
        self.at.clear();
        self.buffer.clear();
    }

    /// Where the feed has read to: what a new tick records.
    pub fn position(&self) -> BTreeMap<i32, i64> {
        self.at.clone()
    }

    /// Reads what is there now, starting again from `least` (per partition, the least offset
    /// an owned engine has not applied) when the buffer does not reach back that far.
    pub async fn read(
        &mut self,
        bus: &dyn bus::Bus,
        least: &BTreeMap<i32, i64>,
    ) -> Result<(), Failure> {
        let behind = least.iter().any(|(q, want)| {
            let from = self
                .buffer
                .get(q)
                .and_then(|b| b.front())
                .map_or_else(|| self.at.get(q).copied().unwrap_or(0), |c| c.offset);
            *want < from
        });
        if self.reader.is_none() || behind {
            self.reader = Some(bus.read(cdc::TOPIC, least).await?);
            self.at = least.clone();
            self.buffer.clear();
        }
        self.poll(Duration::from_millis(1)).await
    }

    async fn poll(&mut self, wait: Duration) -> Result<(), Failure> {
        let reader = self.reader.as_mut().expect("opened by read");
        for m in reader.poll(5_000, wait).await? {
            self.at.insert(m.partition, m.offset + 1);
            let update = pipeline::input::crm::decode(&m.value);
            let home = update
                .as_ref()
                .ok()
                .and_then(|u| u.workspace)
                .map(|ws| bus::partition_for(&domain::events_key(ws), self.events_partitions));
            self.buffer
                .entry(m.partition)
                .or_default()
                .push_back(Change {
                    offset: m.offset,
                    home,
                    update,
                });
        }
        Ok(())
    }

    /// Reads until the feed is at `marks` (a tick's positions) or further.
    pub async fn read_to(
        &mut self,
        bus: &dyn bus::Bus,
        least: &BTreeMap<i32, i64>,
        marks: &BTreeMap<i32, i64>,
    ) -> Result<(), Failure> {
        if self.reader.is_none() {
            self.read(bus, least).await?;
        }
        let started = Instant::now();
        while marks
            .iter()
            .any(|(q, m)| self.at.get(q).copied().unwrap_or(0) < *m)
        {
            if started.elapsed() > CATCH_UP_LIMIT {
                return Err(format!(
                    "a tick of events.raw names crm.changes up to {marks:?}, but only {:?} \
                     could be read",
                    self.at
                )
                .into());
            }
            self.poll(Duration::from_millis(200)).await?;
        }
        Ok(())
    }

    /// Whether changes of `partition`'s workspaces wait that its engine has not applied.
    pub fn pending_for(&self, partition: i32, engine: &Engine) -> bool {
        self.buffer.iter().any(|(q, changes)| {
            let applied = engine.crm_offsets().get(q).copied().unwrap_or(0);
            changes
                .iter()
                .any(|c| c.offset >= applied && c.home == Some(partition))
        })
    }

    /// Applies to `engine` (owner of `partition`) its workspaces' changes before `marks` that
    /// it has not applied, and moves it past the others there.
    pub fn apply(
        &self,
        engine: &mut Engine,
        partition: i32,
        marks: &BTreeMap<i32, i64>,
    ) -> Vec<Emitted> {
        let mut out = Vec::new();
        for (q, mark) in marks {
            let applied = engine.crm_offsets().get(q).copied().unwrap_or(0);
            for c in self.buffer.get(q).into_iter().flatten() {
                if c.offset >= applied && c.offset < *mark && c.home == Some(partition) {
                    out.extend(engine.process_crm(*q, c.offset, c.update.clone()));
                }
            }
            engine.skip_crm_to(*q, *mark);
        }
        out
    }

    /// Drops changes every owned engine has passed (`least` as for [`CrmFeed::read`]).
    pub fn prune(&mut self, least: &BTreeMap<i32, i64>) {
        for (q, changes) in self.buffer.iter_mut() {
            let keep_from = least.get(q).copied().unwrap_or(0);
            while changes.front().is_some_and(|c| c.offset < keep_from) {
                changes.pop_front();
            }
        }
    }
}
