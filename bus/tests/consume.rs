//! The consumer loop on the embedded log: what is handled is committed, a failing handler sees
//! the same records again after a pause, and cancelling commits what the handler finished.

use async_trait::async_trait;
use bus::{consume, Bus, CancellationToken, Commit, ConsumeSpec, Handler, Message, OutRecord};
use std::sync::Arc;
use std::time::Duration;

async fn bus_with(records: usize) -> Arc<dyn Bus> {
    let db = testkit::fresh_db().await;
    let bus: Arc<dyn Bus> = Arc::new(bus::PgBus::new(db.pool));
    bus.ensure_topic("t", 2).await.unwrap();
    let recs = (0..records)
        .map(|i| OutRecord {
            key: format!("k{}", i % 5),
            value: i.to_string().into_bytes(),
            timestamp_ms: i as i64,
        })
        .collect();
    bus.produce("t", recs).await.unwrap();
    bus
}

fn spec() -> ConsumeSpec<'static> {
    ConsumeSpec {
        max: 7,
        wait: Duration::from_millis(50),
        backoff: Duration::from_millis(20),
        ..ConsumeSpec::new("g", "t")
    }
}

/// Records what it saw; fails once on the record `fail_on`; cancels when it has seen `stop_at`
/// distinct records.
struct Recorder {
    seen: Vec<u64>,
    fail_on: Option<u64>,
    resets: usize,
    stop_at: usize,
    cancel: CancellationToken,
}

#[async_trait]
impl Handler for Recorder {
    type Error = String;

    async fn handle(&mut self, batch: &[Message], _: &[i32]) -> Result<Commit, String> {
        for m in batch {
            let n: u64 = String::from_utf8_lossy(&m.value).parse().unwrap();
            if self.fail_on == Some(n) {
                self.fail_on = None;
                return Err(format!("record {n} failed"));
            }
            self.seen.push(n);
        }
        let mut distinct = self.seen.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() >= self.stop_at {
            self.cancel.cancel();
        }
        Ok(Commit::Handled)
    }

    async fn reset(&mut self) -> Result<(), String> {
        self.resets += 1;
        Ok(())
    }
}

fn recorder(stop_at: usize, fail_on: Option<u64>) -> Recorder {
    Recorder {
        seen: vec![],
        fail_on,
        resets: 0,
        stop_at,
        cancel: CancellationToken::new(),
    }
}

#[tokio::test]
async fn handled_records_are_committed_and_the_next_member_starts_after_them() {
    let bus = bus_with(30).await;
    let mut first = recorder(30, None);
    let cancel = first.cancel.clone();
    consume(bus.as_ref(), &spec(), &cancel, &mut first).await;
    assert_eq!(first.seen.len(), 30, "each record handled once");

    bus.produce(
        "t",
        vec![OutRecord {
            key: "k1".into(),
            value: b"30".to_vec(),
            timestamp_ms: 30,
        }],
    )
    .await
    .unwrap();
    let mut second = recorder(1, None);
    let cancel = second.cancel.clone();
    consume(bus.as_ref(), &spec(), &cancel, &mut second).await;
    assert_eq!(second.seen, vec![30], "only what came after the commit");
}

#[tokio::test]
async fn a_failed_batch_is_handled_again_after_a_reset_and_nothing_is_skipped() {
    let bus = bus_with(30).await;
    let mut r = recorder(30, Some(12));
    let cancel = r.cancel.clone();
    consume(bus.as_ref(), &spec(), &cancel, &mut r).await;
    assert_eq!(r.resets, 1);
    let mut distinct = r.seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, (0..30).collect::<Vec<u64>>());
}

/// Commits nothing while handling; on cancel, commits the records it finished.
struct AtCheckpoint {
    done: Vec<(i32, i64)>,
    cancel: CancellationToken,
}

#[async_trait]
impl Handler for AtCheckpoint {
    type Error = String;

    async fn handle(&mut self, batch: &[Message], _: &[i32]) -> Result<Commit, String> {
        for m in batch {
            self.done.push((m.partition, m.offset + 1));
        }
        if self.done.len() >= 10 {
            self.cancel.cancel();
        }
        Ok(Commit::Nothing)
    }

    async fn finish(&mut self) -> Result<Commit, String> {
        let mut last = std::collections::BTreeMap::new();
        for (p, o) in &self.done {
            let e = last.entry(*p).or_insert(*o);
            *e = (*e).max(*o);
        }
        Ok(Commit::Positions(last.into_iter().collect()))
    }
}

#[tokio::test]
async fn cancelling_commits_what_the_handler_finished() {
    let bus = bus_with(10).await;
    let cancel = CancellationToken::new();
    let mut h = AtCheckpoint {
        done: vec![],
        cancel: cancel.clone(),
    };
    consume(bus.as_ref(), &spec(), &cancel, &mut h).await;
    assert_eq!(h.done.len(), 10);

    let mut next = recorder(1, None);
    let cancel = next.cancel.clone();
    // Nothing is left: the member waits in vain until cancelled from outside.
    let stopper = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            cancel.cancel();
        })
    };
    consume(bus.as_ref(), &spec(), &cancel, &mut next).await;
    stopper.await.unwrap();
    assert!(next.seen.is_empty(), "{:?}", next.seen);
}
