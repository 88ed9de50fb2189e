//! The bus: produce keyed records to a topic and wait for a durable acknowledgement; consume a
//! topic as a member of a consumer group from committed offsets; commit; reset a group for
//! replay; read a whole topic from positions the caller keeps. Two implementations share one
//! contract: [`PgBus`], a durable single-node log in the Postgres Pulse already runs (the
//! default on one machine), and [`KafkaBus`] for scale-out.

mod combine;
mod consume;
mod kafka;
mod pg;

pub use combine::Combiner;
pub use consume::{consume, next_positions, CancellationToken, Commit, ConsumeSpec, Handler};
pub use kafka::{KafkaBus, KafkaSettings};
pub use pg::PgBus;

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The topic does not exist (create it with [`Bus::ensure_topic`]).
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The request itself is wrong (bad name, partition count, offsets not owned).
    #[error("{0}")]
    Invalid(String),
    /// The log is unreachable or failed; nothing was acknowledged.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for BusError {
    fn from(e: sqlx::Error) -> Self {
        BusError::Unavailable(e.to_string())
    }
}

/// A record to produce. Records with the same key go to the same partition, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub key: String,
    pub value: Vec<u8>,
    /// Event time in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: Vec<u8>,
    pub timestamp_ms: i64,
}

/// Where a reset puts a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The oldest retained record (replay everything).
    Earliest,
    /// After the newest record (skip everything so far).
    Latest,
    /// The first record at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// The bus every producer and consumer of Pulse talks to.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Creates the topic with `partitions` partitions if it does not exist.
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError>;

    /// How many partitions `topic` has.
    async fn partitions(&self, topic: &str) -> Result<i32, BusError>;

    /// Appends records and returns once they are durable, in input order.
    async fn produce(
        &self,
        topic: &str,
        records: Vec<OutRecord>,
    ) -> Result<Vec<Delivered>, BusError>;

    /// Joins `group` on `topic`; the group's members share the partitions.
    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError>;

    /// Moves every partition of the group to a new position (members should be stopped).
    async fn reset_group(&self, group: &str, topic: &str, to: ResetTo) -> Result<(), BusError>;

    /// Reads every partition of `topic` outside any group, starting at `from` (partition →
    /// next offset to read; a partition not named starts at its oldest retained record).
    async fn read(
        &self,
        topic: &str,
        from: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn Reader>, BusError>;
}

/// A reader of a whole topic whose positions the caller keeps (for example in a checkpoint):
/// it shares no partitions with anyone and commits nothing.
#[async_trait]
pub trait Reader: Send {
    /// Up to `max` records, each partition in offset order, waiting up to `wait` for some.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError>;
}

/// One member of a consumer group.
#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` records from the partitions this member owns, waiting up to `wait` for some.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError>;

    /// Commits positions as `(partition, next offset to read)`; only owned partitions.
    async fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), BusError>;

    /// The partitions this member owns now.
    fn assignment(&self) -> Vec<i32>;
}

/// The partition of a key: FNV-1a of its bytes, so a customer's records keep their order.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let mut h: u32 = 0x811c9dc5;
    for b in key.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x01000193);
    }
    (h % partitions.max(1) as u32) as i32
}

/// A key that [`partition_for`] places in `partition`: `prefix` and the first number that lands
/// there, for records addressed to one partition rather than to a customer.
pub fn key_for_partition(prefix: &str, partition: i32, partitions: i32) -> String {
    (0u64..)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| partition_for(k, partitions) == partition.rem_euclid(partitions.max(1)))
        .expect("some number lands in every partition")
}

/// Checks a topic or group name: 1–200 of `[A-Za-z0-9._-]`, as Kafka allows (and a bit shorter).
pub fn check_name(what: &str, name: &str) -> Result<(), BusError> {
    if name.is_empty()
        || name.len() > 200
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(BusError::Invalid(format!(
            "{what} name `{name}` must be 1-200 characters of A-Z a-z 0-9 . _ -"
        )));
    }
    Ok(())
}

/// Checks a partition count: 1 to 1024 (both buses create topics within these bounds).
pub fn check_partitions(topic: &str, partitions: i32) -> Result<(), BusError> {
    if (1..=1024).contains(&partitions) {
        Ok(())
    } else {
        Err(BusError::Invalid(format!(
            "topic {topic}: a topic has 1 to 1024 partitions, not {partitions}"
        )))
    }
}

/// How long an idle poll sleeps between looks at the log.
pub(crate) fn backoff(step: u32) -> Duration {
    Duration::from_millis((5u64 << step.min(4)).min(50))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_key_lands_in_its_partition() {
        for p in 0..12 {
            assert_eq!(partition_for(&key_for_partition("tick.", p, 12), 12), p);
        }
    }

    #[test]
    fn a_key_always_lands_in_the_same_partition() {
        let p = partition_for("customer-42", 12);
        assert!((0..12).contains(&p));
        assert_eq!(p, partition_for("customer-42", 12));
        let spread: std::collections::HashSet<i32> = (0..200)
            .map(|i| partition_for(&format!("k{i}"), 8))
            .collect();
        assert_eq!(spread.len(), 8, "keys spread over every partition");
    }

    #[test]
    fn names_follow_kafka_rules() {
        assert!(check_name("topic", "events.raw").is_ok());
        assert!(check_name("topic", "bad name").is_err());
        assert!(check_name("topic", "").is_err());
    }
}
