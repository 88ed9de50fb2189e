//! The one consumer loop every group member runs: poll, handle, commit after handling, stop on
//! cancel, back off and start again from the last commit on errors.
//!
//! Delivery stays at-least-once: a record is committed only after its handler said what may be
//! committed, so a crash or an error means the records since the last commit are handled again.

use crate::{Bus, BusError, Message};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
pub use tokio_util::sync::CancellationToken;

/// What the loop may commit after a handler call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// Every record of the batch just handled (the usual answer of a stateless consumer).
    Handled,
    /// These `(partition, next offset to read)` positions, for consumers whose progress is
    /// durable only at their own checkpoints.
    Positions(Vec<(i32, i64)>),
    /// Nothing yet.
    Nothing,
}

/// The work of one consumer group member.
#[async_trait]
pub trait Handler: Send {
    /// Why handling failed; logged, then the loop starts again from the last commit.
    type Error: fmt::Display + Send;

    /// Handles one poll's records in poll order (partition by partition, each in offset
    /// order). Also called with no records when a poll waited in vain, so a handler can do
    /// timed work; `assignment` is the partitions this member owns now.
    async fn handle(
        &mut self,
        batch: &[Message],
        assignment: &[i32],
    ) -> Result<Commit, Self::Error>;

    /// Called once when the loop is cancelled, after the last batch; what it returns is
    /// committed before the loop ends.
    async fn finish(&mut self) -> Result<Commit, Self::Error> {
        Ok(Commit::Nothing)
    }

    /// Called after a failure, before the records since the last commit are read again: a
    /// handler with in-memory state drops what it built from them.
    async fn reset(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Where and how a consumer loop reads.
#[derive(Debug, Clone)]
pub struct ConsumeSpec<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    /// Records per poll at most.
    pub max: usize,
    /// How long one poll waits for records.
    pub wait: Duration,
    /// The first pause after an error; it doubles with every failure in a row.
    pub backoff: Duration,
    /// The longest pause after errors.
    pub max_backoff: Duration,
}

impl<'a> ConsumeSpec<'a> {
    /// 500 records or 500 ms per poll; errors back off from 200 ms to 10 s.
    pub fn new(group: &'a str, topic: &'a str) -> Self {
        ConsumeSpec {
            group,
            topic,
            max: 500,
            wait: Duration::from_millis(500),
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Why one round of the loop ended.
enum Stop<E> {
    Cancelled,
    Bus(BusError),
    Handler(E),
}

impl<E: fmt::Display> fmt::Display for Stop<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Cancelled => f.write_str("cancelled"),
            Stop::Bus(e) => write!(f, "bus: {e}"),
            Stop::Handler(e) => write!(f, "handler: {e}"),
        }
    }
}

/// Runs `handler` as a member of `spec.group` on `spec.topic` until `cancel` fires. Errors of
/// the bus or the handler are logged, the handler is reset, and after a growing pause the
/// member joins again and reads from the last commit; the loop itself never gives up.
pub async fn consume<H: Handler>(
    bus: &dyn Bus,
    spec: &ConsumeSpec<'_>,
    cancel: &CancellationToken,
    handler: &mut H,
) {
    let mut pause = spec.backoff;
    loop {
        match round(bus, spec, cancel, handler, &mut pause).await {
            Stop::Cancelled => return,
            stop => {
                tracing::warn!(group = spec.group, topic = spec.topic, error = %stop,
                    retry_in_ms = pause.as_millis() as u64, "consumer stopped; starting again from the last commit");
                if let Err(e) = handler.reset().await {
                    tracing::warn!(group = spec.group, error = %e, "consumer reset failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = cancel.cancelled() => return,
                }
                pause = (pause * 2).min(spec.max_backoff);
            }
        }
    }
}

/// One membership: subscribe, then poll → handle → commit until something fails or cancel.
async fn round<H: Handler>(
    bus: &dyn Bus,
    spec: &ConsumeSpec<'_>,
    cancel: &CancellationToken,
    handler: &mut H,
    pause: &mut Duration,
) -> Stop<H::Error> {
    let mut consumer = match bus.subscribe(spec.group, spec.topic).await {
        Ok(c) => c,
        Err(e) => return Stop::Bus(e),
    };
    loop {
        let batch = tokio::select! {
            b = consumer.poll(spec.max, spec.wait) => match b {
                Ok(b) => b,
                Err(e) => return Stop::Bus(e),
            },
            _ = cancel.cancelled() => {
                return match handler.finish().await {
                    Ok(commit) => match commit_positions(consumer.as_mut(), &[], commit).await {
                        Ok(()) => Stop::Cancelled,
                        Err(e) => Stop::Bus(e),
                    },
                    Err(e) => Stop::Handler(e),
                };
            }
        };
        let assignment = consumer.assignment();
        let commit = match handler.handle(&batch, &assignment).await {
            Ok(c) => c,
            Err(e) => return Stop::Handler(e),
        };
        if let Err(e) = commit_positions(consumer.as_mut(), &batch, commit).await {
            return Stop::Bus(e);
        }
        if !batch.is_empty() {
            *pause = spec.backoff;
        }
    }
}

async fn commit_positions(
    consumer: &mut dyn crate::Consumer,
    batch: &[Message],
    commit: Commit,
) -> Result<(), BusError> {
    let positions = match commit {
        Commit::Nothing => return Ok(()),
        Commit::Handled => next_positions(batch),
        Commit::Positions(p) => p,
    };
    if positions.is_empty() {
        return Ok(());
    }
    consumer.commit(&positions).await
}

/// The next offset to read per partition after `batch`.
pub fn next_positions(batch: &[Message]) -> Vec<(i32, i64)> {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for m in batch {
        let e = next.entry(m.partition).or_insert(m.offset + 1);
        *e = (*e).max(m.offset + 1);
    }
    next.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(partition: i32, offset: i64) -> Message {
        Message {
            partition,
            offset,
            key: String::new(),
            value: vec![],
            timestamp_ms: 0,
        }
    }

    #[test]
    fn the_next_position_is_one_past_the_highest_offset_of_each_partition() {
        let batch = [msg(1, 7), msg(0, 3), msg(1, 9), msg(0, 2)];
        assert_eq!(next_positions(&batch), vec![(0, 4), (1, 10)]);
        assert!(next_positions(&[]).is_empty());
    }
}
