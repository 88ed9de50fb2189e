//! The bus contract: every implementation must pass these. Today they run against the
//! Postgres log; the Kafka implementation will run the same functions against a broker.

use bus::{Bus, Consumer, OutRecord, PgBus, ResetTo};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

async fn pg_bus() -> Arc<dyn Bus> {
    let db = testkit::fresh_db().await;
    Arc::new(PgBus::new(db.pool))
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
    for _ in 0..100 {
        got.extend(c.poll(500, Duration::from_millis(200)).await.unwrap());
        if got.len() >= want {
            break;
        }
    }
    got
}

fn seq(m: &bus::Message) -> usize {
    String::from_utf8_lossy(&m.value)
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn records_of_one_key_arrive_in_order_and_nothing_is_lost() {
    let bus = pg_bus().await;
    bus.ensure_topic("events.raw", 4).await.unwrap();
    bus.ensure_topic("events.raw", 4).await.unwrap();
    let records: Vec<OutRecord> = (0..100)
        .map(|i| rec(&format!("customer-{}", i % 5), i))
        .collect();
    let delivered = bus.produce("events.raw", records).await.unwrap();
    assert_eq!(delivered.len(), 100);
    // Offsets are dense per partition.
    let mut per: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for d in &delivered {
        per.entry(d.partition).or_default().push(d.offset);
    }
    for offsets in per.values() {
        assert_eq!(*offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }
    let mut c = bus.subscribe("pipeline", "events.raw").await.unwrap();
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

#[tokio::test]
async fn a_new_member_resumes_after_the_committed_offsets_and_rereads_uncommitted_ones() {
    let bus = pg_bus().await;
    bus.ensure_topic("t", 1).await.unwrap();
    bus.produce("t", (0..50).map(|i| rec("k", i)).collect())
        .await
        .unwrap();
    let mut c = bus.subscribe("g", "t").await.unwrap();
    let first = c.poll(20, Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.len(), 20);
    c.commit(&[(0, first.last().unwrap().offset + 1)])
        .await
        .unwrap();
    // Read more without committing, then leave.
    let uncommitted = c.poll(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(seq(&uncommitted[0]), 20);
    drop(c);

    let mut c2 = bus.subscribe("g", "t").await.unwrap();
    let rest = drain(&mut c2, 30).await;
    assert_eq!(rest.len(), 30);
    assert_eq!(seq(&rest[0]), 20, "uncommitted records are delivered again");
    // Committing a partition the member does not own is refused.
    assert!(c2.commit(&[(7, 1)]).await.is_err());
}

#[tokio::test]
async fn members_of_a_group_share_the_partitions() {
    let bus = pg_bus().await;
    bus.ensure_topic("shared", 4).await.unwrap();
    let mut a = bus.subscribe("workers", "shared").await.unwrap();
    a.poll(10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(a.assignment().len(), 4, "a lone member owns everything");
    let mut b = bus.subscribe("workers", "shared").await.unwrap();
    let mut balanced = false;
    for _ in 0..40 {
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
    let mut other = bus.subscribe("auditors", "shared").await.unwrap();
    other.poll(1, Duration::from_millis(50)).await.unwrap();
    assert_eq!(other.assignment().len(), 4);
}

#[tokio::test]
async fn resetting_a_group_replays_or_skips() {
    let bus = pg_bus().await;
    bus.ensure_topic("replay", 2).await.unwrap();
    bus.produce(
        "replay",
        (0..10).map(|i| rec(&format!("k{i}"), i)).collect(),
    )
    .await
    .unwrap();
    let mut c = bus.subscribe("g", "replay").await.unwrap();
    let all = drain(&mut c, 10).await;
    let positions: BTreeMap<i32, i64> = all.iter().map(|m| (m.partition, m.offset + 1)).collect();
    c.commit(&positions.into_iter().collect::<Vec<_>>())
        .await
        .unwrap();
    drop(c);

    bus.reset_group("g", "replay", ResetTo::Earliest)
        .await
        .unwrap();
    let mut c = bus.subscribe("g", "replay").await.unwrap();
    assert_eq!(
        drain(&mut c, 10).await.len(),
        10,
        "earliest replays everything"
    );
    drop(c);

    bus.reset_group("g", "replay", ResetTo::Latest)
        .await
        .unwrap();
    let mut c = bus.subscribe("g", "replay").await.unwrap();
    assert!(
        c.poll(100, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty(),
        "latest skips everything"
    );
    drop(c);

    bus.reset_group("g", "replay", ResetTo::Timestamp(1_700_000_000_005))
        .await
        .unwrap();
    let mut c = bus.subscribe("g", "replay").await.unwrap();
    let since = drain(&mut c, 5).await;
    assert_eq!(since.len(), 5);
    assert!(since.iter().all(|m| seq(m) >= 5));
}

#[tokio::test]
async fn concurrent_producers_never_share_an_offset() {
    let bus = pg_bus().await;
    bus.ensure_topic("busy", 3).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..4 {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for batch in 0..10 {
                let recs = (0..25)
                    .map(|i| rec(&format!("k{}", (t * 7 + i) % 9), batch * 25 + i))
                    .collect();
                out.extend(bus.produce("busy", recs).await.unwrap());
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

#[tokio::test]
async fn combined_producers_each_get_their_own_offsets_in_one_append() {
    let db = testkit::fresh_db().await;
    let inner: Arc<dyn Bus> = Arc::new(PgBus::new(db.pool.clone()));
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
            (
                t,
                bus.produce(
                    "combined",
                    (0..5).map(|i| rec(&format!("t{t}"), i)).collect(),
                )
                .await
                .unwrap(),
            )
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        let (_, delivered) = task.await.unwrap();
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

#[tokio::test]
async fn bad_topics_and_names_are_refused_with_a_reason() {
    let bus = pg_bus().await;
    let err = bus.produce("nope", vec![rec("k", 0)]).await.unwrap_err();
    assert!(err.to_string().contains("unknown topic nope"));
    assert!(bus.ensure_topic("has space", 1).await.is_err());
    assert!(bus.ensure_topic("zero", 0).await.is_err());
    assert!(bus.subscribe("g", "nope").await.is_err());
    assert!(
        bus.produce("nope", vec![]).await.unwrap().is_empty(),
        "an empty batch is a no-op"
    );
}
