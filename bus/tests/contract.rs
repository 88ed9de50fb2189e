//! The bus contract: every implementation passes the same functions. `pg` runs them on the
//! embedded Postgres log (a fresh database per test), `kafka` on a real Kafka-protocol broker on
//! loopback (the one the test command starts; topics and groups get unique names per test).
//! Group membership is asynchronous in Kafka, so the tests wait for conditions instead of
//! assuming one poll is enough.

use bus::{Bus, Consumer, OutRecord, ResetTo};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// A name no other test (or earlier run against the same broker) uses.
fn unique(base: &str) -> String {
    format!("{base}.{}", uuid::Uuid::new_v4().simple())
}

fn rec(key: &str, seq: usize) -> OutRecord {
    OutRecord {
        key: key.to_string(),
        value: format!("{key}:{seq}").into_bytes(),
        timestamp_ms: 1_700_000_000_000 + seq as i64,
    }
}

async fn drain(c: &mut Box<dyn Consumer>, want: usize) -> Vec<bus::Message> {
    let mut got = Vec::new();
    for _ in 0..150 {
        got.extend(
            c.poll(want - got.len(), Duration::from_millis(200))
                .await
                .unwrap(),
        );
        if got.len() >= want {
            break;
        }
    }
    got
}

/// Polls until the member owns `n` partitions (or gives up after ~20 s).
async fn owns(c: &mut Box<dyn Consumer>, n: usize) -> bool {
    for _ in 0..100 {
        c.poll(1, Duration::from_millis(200)).await.unwrap();
        if c.assignment().len() == n {
            return true;
        }
    }
    false
}

fn seq(m: &bus::Message) -> usize {
    String::from_utf8_lossy(&m.value)
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn records_of_one_key_arrive_in_order_and_nothing_is_lost(bus: Arc<dyn Bus>) {
    let topic = unique("events.raw");
    bus.ensure_topic(&topic, 4).await.unwrap();
    bus.ensure_topic(&topic, 4).await.unwrap();
    let records: Vec<OutRecord> = (0..100)
        .map(|i| rec(&format!("customer-{}", i % 5), i))
        .collect();
    let delivered = bus.produce(&topic, records).await.unwrap();
    assert_eq!(delivered.len(), 100);
    // Offsets are dense per partition.
    let mut per: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for d in &delivered {
        per.entry(d.partition).or_default().push(d.offset);
    }
    for offsets in per.values() {
        assert_eq!(*offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }
    // The same key lands in the same partition as bus::partition_for says, on every bus.
    assert!(delivered
        .iter()
        .enumerate()
        .all(|(i, d)| d.partition == bus::partition_for(&format!("customer-{}", i % 5), 4)));
    let mut c = bus.subscribe(&unique("pipeline"), &topic).await.unwrap();
    let got = drain(&mut c, 100).await;
    assert_eq!(got.len(), 100);
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        let s = seq(m);
        if let Some(prev) = last.insert(m.key.clone(), s) {
            assert!(s > prev, "{} out of order", m.key);
        }
    }
    assert!(
        got.iter()
            .all(|m| m.timestamp_ms == 1_700_000_000_000 + seq(m) as i64),
        "event times survive the trip"
    );
}

pub async fn a_new_member_resumes_after_the_committed_offsets_and_rereads_uncommitted_ones(
    bus: Arc<dyn Bus>,
) {
    let (topic, group) = (unique("t"), unique("g"));
    bus.ensure_topic(&topic, 1).await.unwrap();
    bus.produce(&topic, (0..50).map(|i| rec("k", i)).collect())
        .await
        .unwrap();
    let mut c = bus.subscribe(&group, &topic).await.unwrap();
    let first = drain(&mut c, 20).await;
    assert_eq!(first.len(), 20, "poll never returns more than asked");
    assert_eq!(seq(&first[19]), 19);
    c.commit(&[(0, first.last().unwrap().offset + 1)])
        .await
        .unwrap();
    // Read more without committing, then leave.
    let uncommitted = drain(&mut c, 10).await;
    assert_eq!(seq(&uncommitted[0]), 20);
    drop(c);

    let mut c2 = bus.subscribe(&group, &topic).await.unwrap();
    let rest = drain(&mut c2, 30).await;
    assert_eq!(rest.len(), 30);
    assert_eq!(seq(&rest[0]), 20, "uncommitted records are delivered again");
    // Committing a partition the member does not own is refused.
    assert!(c2.commit(&[(7, 1)]).await.is_err());
}

pub async fn members_of_a_group_share_the_partitions(bus: Arc<dyn Bus>) {
    let topic = unique("shared");
    let group = unique("workers");
    bus.ensure_topic(&topic, 4).await.unwrap();
    let mut a = bus.subscribe(&group, &topic).await.unwrap();
    assert!(owns(&mut a, 4).await, "a lone member owns everything");
    let mut b = bus.subscribe(&group, &topic).await.unwrap();
    let mut balanced = false;
    for _ in 0..100 {
        a.poll(10, Duration::from_millis(100)).await.unwrap();
        b.poll(10, Duration::from_millis(100)).await.unwrap();
        let (x, y) = (a.assignment(), b.assignment());
        let union: HashSet<i32> = x.iter().chain(y.iter()).copied().collect();
        if x.len() == 2 && y.len() == 2 && union.len() == 4 {
            balanced = true;
            break;
        }
    }
    assert!(balanced, "a: {:?} b: {:?}", a.assignment(), b.assignment());
    // Another group is independent.
    let mut other = bus.subscribe(&unique("auditors"), &topic).await.unwrap();
    assert!(owns(&mut other, 4).await);
}

pub async fn resetting_a_group_replays_or_skips(bus: Arc<dyn Bus>) {
    let (topic, group) = (unique("replay"), unique("g"));
    bus.ensure_topic(&topic, 2).await.unwrap();
    bus.produce(&topic, (0..10).map(|i| rec(&format!("k{i}"), i)).collect())
        .await
        .unwrap();
    let mut c = bus.subscribe(&group, &topic).await.unwrap();
    let all = drain(&mut c, 10).await;
    let positions: BTreeMap<i32, i64> = all.iter().map(|m| (m.partition, m.offset + 1)).collect();
    c.commit(&positions.into_iter().collect::<Vec<_>>())
        .await
        .unwrap();
    drop(c);

    bus.reset_group(&group, &topic, ResetTo::Earliest)
        .await
        .unwrap();
    let mut c = bus.subscribe(&group, &topic).await.unwrap();
    assert_eq!(
        drain(&mut c, 10).await.len(),
        10,
        "earliest replays everything"
    );
    drop(c);

    bus.reset_group(&group, &topic, ResetTo::Latest)
        .await
        .unwrap();
    bus.produce(&topic, vec![rec("later", 99)]).await.unwrap();
    let mut c = bus.subscribe(&group, &topic).await.unwrap();
    let after = drain(&mut c, 1).await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        seq(&after[0]),
        99,
        "latest skips everything before the reset"
    );
    assert!(c
        .poll(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    drop(c);

    // Records stamped with the current time, after a cut-off: a timestamp reset starts there.
    // (Real time, so a broker that resolves times by append time agrees with event time.)
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fresh: Vec<OutRecord> = (200..203)
        .map(|i| OutRecord {
            timestamp_ms: now_ms(),
            ..rec(&format!("k{i}"), i)
        })
        .collect();
    bus.produce(&topic, fresh).await.unwrap();
    bus.reset_group(&group, &topic, ResetTo::Timestamp(cut))
        .await
        .unwrap();
    let mut c = bus.subscribe(&group, &topic).await.unwrap();
    let since = drain(&mut c, 3).await;
    let mut seqs: Vec<usize> = since.iter().map(seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        vec![200, 201, 202],
        "only records at or after the time"
    );
    assert!(c
        .poll(10, Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub async fn concurrent_producers_never_share_an_offset(bus: Arc<dyn Bus>) {
    let topic = unique("busy");
    bus.ensure_topic(&topic, 3).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let bus = bus.clone();
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for batch in 0..10 {
                let recs = (0..25)
                    .map(|i| rec(&format!("k{}", (t * 7 + i) % 9), batch * 25 + i))
                    .collect();
                out.extend(bus.produce(&topic, recs).await.unwrap());
            }
            out
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for d in t.await.unwrap() {
            assert!(
                seen.insert((d.partition, d.offset)),
                "offset {d:?} handed out twice"
            );
        }
    }
    assert_eq!(seen.len(), 1000);
}

pub async fn bad_topics_and_names_are_refused_with_a_reason(bus: Arc<dyn Bus>) {
    let missing = unique("nope");
    let err = bus.produce(&missing, vec![rec("k", 0)]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("unknown topic {missing}")),
        "{err}"
    );
    assert!(bus.ensure_topic("has space", 1).await.is_err());
    assert!(bus.ensure_topic(&unique("zero"), 0).await.is_err());
    assert!(bus.subscribe("g", &missing).await.is_err());
    assert!(
        bus.produce(&missing, vec![]).await.unwrap().is_empty(),
        "an empty batch is a no-op"
    );
}

pub async fn a_reader_reads_every_partition_from_the_positions_it_is_given(bus: Arc<dyn Bus>) {
    let topic = unique("read");
    bus.ensure_topic(&topic, 3).await.unwrap();
    let records: Vec<OutRecord> = (0..30).map(|i| rec(&format!("k{}", i % 6), i)).collect();
    let delivered = bus.produce(&topic, records).await.unwrap();
    // The first record's partition starts after its first two records, the others at the start.
    let p0 = delivered[0].partition;
    let mut in_p0: Vec<i64> = delivered
        .iter()
        .filter(|d| d.partition == p0)
        .map(|d| d.offset)
        .collect();
    in_p0.sort_unstable();
    let from = BTreeMap::from([(p0, in_p0[2])]);
    let mut reader = bus.read(&topic, &from).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..150 {
        got.extend(reader.poll(100, Duration::from_millis(200)).await.unwrap());
        if got.len() >= 28 {
            break;
        }
    }
    let want: HashSet<(i32, i64)> = delivered
        .iter()
        .filter(|d| !(d.partition == p0 && d.offset < in_p0[2]))
        .map(|d| (d.partition, d.offset))
        .collect();
    let seen: HashSet<(i32, i64)> = got.iter().map(|m| (m.partition, m.offset)).collect();
    assert_eq!(got.len(), 28, "each record once");
    assert_eq!(seen, want, "every partition from its position");
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for m in &got {
        let prev = last.insert(m.partition, m.offset);
        assert!(
            prev.is_none_or(|p| p < m.offset),
            "offset order per partition"
        );
    }
    // A reader takes no partitions from groups and commits nothing for them.
    let mut member = bus
        .subscribe(&unique("after-reader"), &topic)
        .await
        .unwrap();
    assert_eq!(drain(&mut member, 30).await.len(), 30);
}

/// One `#[tokio::test]` per contract function, on the bus `$make` returns.
macro_rules! contract {
    ($make:expr) => {
        contract!(@each $make;
            records_of_one_key_arrive_in_order_and_nothing_is_lost,
            a_new_member_resumes_after_the_committed_offsets_and_rereads_uncommitted_ones,
            members_of_a_group_share_the_partitions,
            resetting_a_group_replays_or_skips,
            concurrent_producers_never_share_an_offset,
            bad_topics_and_names_are_refused_with_a_reason,
            a_reader_reads_every_partition_from_the_positions_it_is_given,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($make.await).await;
            }
        )*
    };
}

mod pg {
    use super::*;

    async fn bus() -> Arc<dyn Bus> {
        let db = testkit::fresh_db().await;
        Arc::new(bus::PgBus::new(db.pool))
    }

    contract!(bus());

    #[tokio::test]
    async fn combined_producers_each_get_their_own_offsets_in_one_append() {
        let db = testkit::fresh_db().await;
        let inner: Arc<dyn Bus> = Arc::new(bus::PgBus::new(db.pool.clone()));
        let bus: Arc<dyn Bus> = Arc::new(bus::Combiner::new(
            inner,
            1000,
            Duration::from_millis(20),
            2,
        ));
        bus.ensure_topic("combined", 2).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..20 {
            let bus = bus.clone();
            tasks.push(tokio::spawn(async move {
                bus.produce(
                    "combined",
                    (0..5).map(|i| rec(&format!("t{t}"), i)).collect(),
                )
                .await
                .unwrap()
            }));
        }
        let mut seen = HashSet::new();
        for task in tasks {
            let delivered = task.await.unwrap();
            assert_eq!(delivered.len(), 5);
            // One producer's records share a key, so they are consecutive in one partition.
            assert!(delivered
                .windows(2)
                .all(|w| w[0].partition == w[1].partition && w[1].offset > w[0].offset));
            for d in delivered {
                assert!(seen.insert((d.partition, d.offset)));
            }
        }
        let appends: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT appended_at) FROM bus_records WHERE topic = 'combined'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert!(appends < 20, "20 produce calls became {appends} appends");
        assert!(matches!(
            bus.produce("missing", vec![rec("k", 0)]).await,
            Err(bus::BusError::UnknownTopic(_))
        ));
    }
}

mod kafka {
    use super::*;

    async fn bus() -> Arc<dyn Bus> {
        let mut settings = bus::KafkaSettings::new(testkit::kafka_brokers());
        settings.extra = testkit::kafka_test_properties();
        Arc::new(bus::KafkaBus::connect(settings).expect("kafka client"))
    }

    contract!(bus());
}
