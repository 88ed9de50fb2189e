//! The scale-out bus: Apache Kafka (or any Kafka-protocol broker) through librdkafka.
//!
//! Records are placed with [`partition_for`] rather than librdkafka's partitioner so a key lands
//! in the same partition whichever bus is configured, and the producer is idempotent with
//! `acks=all`: a produce call returns only after every in-sync replica has the records.

use crate::{
    check_name, check_partitions, partition_for, Bus, BusError, Consumer, Delivered, Message,
    OutRecord, Reader, ResetTo,
};
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to reach the brokers and how to create topics there.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]` (the `KAFKA_BROKERS` setting).
    pub brokers: String,
    /// Replication factor for topics Pulse creates (3 on a production cluster).
    pub replication: i32,
    /// How long a produce may wait for acknowledgement before it fails (and nothing is acked).
    pub delivery_timeout: Duration,
    /// How long a consumer-group member may be silent before the group moves its partitions.
    pub session_timeout: Duration,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, …) passed through verbatim.
    pub extra: Vec<(String, String)>,
}

impl KafkaSettings {
    /// Settings for `brokers` with single-replica topics and 30 s delivery timeout.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            replication: 1,
            delivery_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
            extra: Vec::new(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "pulse")
            // A missing topic is an error the caller must see, not something to create quietly.
            .set("allow.auto.create.topics", "false");
        c
    }

    /// The operator's extra properties win over Pulse's defaults.
    fn finish(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

/// The Kafka bus.
pub struct KafkaBus {
    settings: KafkaSettings,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Partition counts of topics seen so far (they only grow in Kafka; Pulse never grows them).
    partitions: Mutex<HashMap<String, i32>>,
}

fn unavailable(e: KafkaError) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl KafkaBus {
    /// Connects a producer and an admin client; fails if the settings are malformed.
    pub fn connect(settings: KafkaSettings) -> Result<Self, BusError> {
        let mut pc = settings.base();
        pc.set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "delivery.timeout.ms",
                settings.delivery_timeout.as_millis().to_string(),
            )
            // A few milliseconds of lingering turns concurrent requests into one broker batch.
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("compression.type", "lz4");
        let producer: FutureProducer = settings.finish(pc).create().map_err(unavailable)?;
        let admin: AdminClient<DefaultClientContext> = settings
            .finish(settings.base())
            .create()
            .map_err(unavailable)?;
        Ok(KafkaBus {
            settings,
            producer,
            admin,
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// The partition count of `topic`, from the cache or the brokers' metadata.
    async fn partitions_of(&self, topic: &str) -> Result<i32, BusError> {
        if let Some(n) = self.partitions.lock().unwrap().get(topic) {
            return Ok(*n);
        }
        check_name("topic", topic)?;
        let client = self.producer.clone();
        let name = topic.to_string();
        let timeout = self.settings.delivery_timeout.min(Duration::from_secs(10));
        let n = tokio::task::spawn_blocking(move || -> Result<i32, BusError> {
            let md = client
                .client()
                .fetch_metadata(Some(&name), timeout)
                .map_err(unavailable)?;
            let Some(t) = md.topics().iter().find(|t| t.name() == name) else {
                return Err(BusError::UnknownTopic(name));
            };
            match t.error() {
                None if !t.partitions().is_empty() => Ok(t.partitions().len() as i32),
                None => Err(BusError::UnknownTopic(name)),
                Some(e) => match RDKafkaErrorCode::from(e) {
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                        Err(BusError::UnknownTopic(name))
                    }
                    code => Err(BusError::Unavailable(format!("metadata of {name}: {code}"))),
                },
            }
        })
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))??;
        self.partitions.lock().unwrap().insert(topic.to_string(), n);
        Ok(n)
    }

    fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = self.settings.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set(
                "session.timeout.ms",
                self.settings.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (self.settings.session_timeout.as_millis() / 4).to_string(),
            );
        self.settings.finish(c)
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError> {
        check_name("topic", topic)?;
        check_partitions(topic, partitions)?;
        let new = NewTopic::new(
            topic,
            partitions,
            TopicReplication::Fixed(self.settings.replication),
        );
        // Bounded so a start against unreachable brokers fails with a message, not a hang.
        let opts = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(15)));
        let results = self
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(unavailable)?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Unavailable(format!(
                        "creating topic {name}: {code}"
                    )))
                }
            }
        }
        // Topic creation propagates to every broker asynchronously; wait until metadata shows it.
        let deadline = Instant::now() + Duration::from_secs(10);
        self.partitions.lock().unwrap().remove(topic);
        loop {
            match self.partitions_of(topic).await {
                Ok(_) => return Ok(()),
                Err(BusError::UnknownTopic(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn partitions(&self, topic: &str) -> Result<i32, BusError> {
        self.partitions_of(topic).await
    }

    async fn produce(
        &self,
        topic: &str,
        records: Vec<OutRecord>,
    ) -> Result<Vec<Delivered>, BusError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let partitions = self.partitions_of(topic).await?;
        let mut pending = Vec::with_capacity(records.len());
        for r in &records {
            let mut record = FutureRecord::to(topic)
                .key(r.key.as_bytes())
                .payload(&r.value)
                .timestamp(r.timestamp_ms)
                .partition(partition_for(&r.key, partitions));
            loop {
                match self.producer.send_result(record) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's local queue is full: wait for deliveries to drain it.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(unavailable(e)),
                }
            }
        }
        let mut out = Vec::with_capacity(pending.len());
        let mut failure = None;
        // Await every delivery even after a failure so none is left unobserved.
        for f in pending {
            match f.await {
                Ok(Ok(d)) => out.push(Delivered {
                    partition: d.partition,
                    offset: d.offset,
                }),
                Ok(Err((e, _))) => {
                    failure.get_or_insert(match e {
                        KafkaError::MessageProduction(
                            RDKafkaErrorCode::UnknownTopicOrPartition,
                        ) => BusError::UnknownTopic(topic.to_string()),
                        e => unavailable(e),
                    });
                }
                Err(_) => {
                    failure.get_or_insert(BusError::Unavailable("producer closed".into()));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        check_name("group", group)?;
        self.partitions_of(topic).await?;
        let consumer: StreamConsumer = self.consumer_config(group).create().map_err(unavailable)?;
        consumer.subscribe(&[topic]).map_err(unavailable)?;
        Ok(Box::new(KafkaConsumer {
            topic: topic.to_string(),
            consumer: Arc::new(consumer),
        }))
    }

    async fn reset_group(&self, group: &str, topic: &str, to: ResetTo) -> Result<(), BusError> {
        check_name("group", group)?;
        let partitions = self.partitions_of(topic).await?;
        let consumer: BaseConsumer = self.consumer_config(group).create().map_err(unavailable)?;
        let topic = topic.to_string();
        let group = group.to_string();
        tokio::task::spawn_blocking(move || -> Result<(), BusError> {
            let timeout = Duration::from_secs(10);
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, p, timeout)
                    .map_err(unavailable)?;
                let at = match to {
                    ResetTo::Earliest => low,
                    ResetTo::Latest => high,
                    ResetTo::Timestamp(ts) => {
                        let mut q = TopicPartitionList::new();
                        q.add_partition_offset(&topic, p, Offset::Offset(ts))
                            .map_err(unavailable)?;
                        let found = consumer
                            .offsets_for_times(q, timeout)
                            .map_err(unavailable)?;
                        // No record at or after the time: start after the newest.
                        match found.find_partition(&topic, p).map(|e| e.offset()) {
                            Some(Offset::Offset(o)) if o >= 0 => o,
                            _ => high,
                        }
                    }
                };
                tpl.add_partition_offset(&topic, p, Offset::Offset(at))
                    .map_err(unavailable)?;
            }
            consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
                BusError::Invalid(format!(
                    "could not reset group {group} on {topic} (stop its members first): {e}"
                ))
            })
        })
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))?
    }

    async fn read(
        &self,
        topic: &str,
        from: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn Reader>, BusError> {
        let partitions = self.partitions_of(topic).await?;
        // Assigned, not subscribed: the group id only satisfies librdkafka and never commits.
        let group = format!("pulse-reader-{}", uuid::Uuid::new_v4().simple());
        let consumer: StreamConsumer =
            self.consumer_config(&group).create().map_err(unavailable)?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            let at = match from.get(&p) {
                Some(o) => Offset::Offset(*o),
                None => Offset::Beginning,
            };
            tpl.add_partition_offset(topic, p, at)
                .map_err(unavailable)?;
        }
        consumer.assign(&tpl).map_err(unavailable)?;
        Ok(Box::new(KafkaReader { consumer }))
    }
}

/// One member of a Kafka consumer group.
struct KafkaConsumer {
    topic: String,
    consumer: Arc<StreamConsumer>,
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        receive(&self.consumer, max, wait).await
    }

    async fn commit(&mut self, positions: &[(i32, i64)]) -> Result<(), BusError> {
        if positions.is_empty() {
            return Ok(());
        }
        let owned = self.assignment();
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in positions {
            if !owned.contains(p) {
                return Err(BusError::Invalid(format!(
                    "partition {p} of {} is not owned by this member",
                    self.topic
                )));
            }
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*offset))
                .map_err(unavailable)?;
        }
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?
            .map_err(unavailable)
    }

    fn assignment(&self) -> Vec<i32> {
        let mut parts: Vec<i32> = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect()
            })
            .unwrap_or_default();
        parts.sort_unstable();
        parts
    }
}

/// A reader of a whole Kafka topic: partitions assigned by hand, offsets never committed.
struct KafkaReader {
    consumer: StreamConsumer,
}

#[async_trait]
impl Reader for KafkaReader {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        receive(&self.consumer, max, wait).await
    }
}

/// Waits up to `wait` for a first record, then takes what is already fetched, up to `max`.
async fn receive(
    consumer: &StreamConsumer,
    max: usize,
    wait: Duration,
) -> Result<Vec<Message>, BusError> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < max {
        // Wait for the first record; after that take only what is already fetched.
        let budget = if out.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        match tokio::time::timeout(budget, consumer.recv()).await {
            Err(_) => break,
            Ok(Err(e)) => return Err(unavailable(e)),
            Ok(Ok(m)) => out.push(Message {
                partition: m.partition(),
                offset: m.offset(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                value: m.payload().unwrap_or_default().to_vec(),
                timestamp_ms: m.timestamp().to_millis().unwrap_or_default(),
            }),
        }
    }
    Ok(out)
}
