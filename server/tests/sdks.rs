//! SDK compatibility: third-party SDKs installed unmodified from PyPI and npm (by
//! `scripts/setup --test`, into `$PULSE_SDKS_DIR`, default `~/.cache/pulse/sdks`) send tracks,
//! identifies, pages and a batch to a real server; the first request that reaches the bus is
//! refused with 503, so every SDK also has to retry. Each event the SDK reports sending must be
//! on `events.raw` exactly once by message id, about the person it was sent for. The drivers
//! and their contract are in `server/tests/sdks/`.

mod common;

use async_trait::async_trait;
use bus::{Bus, BusError, Consumer, Delivered, OutRecord, PgBus, Reader, ResetTo};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The real bus, refusing the next `fail` produce calls on `events.raw` (as a broker that is
/// briefly down would), so the gateway answers 503 and the SDK must retry.
struct Refusing {
    inner: PgBus,
    fail: Arc<AtomicUsize>,
}

#[async_trait]
impl Bus for Refusing {
    async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), BusError> {
        self.inner.ensure_topic(topic, partitions).await
    }
    async fn partitions(&self, topic: &str) -> Result<i32, BusError> {
        self.inner.partitions(topic).await
    }
    async fn produce(
        &self,
        topic: &str,
        records: Vec<OutRecord>,
    ) -> Result<Vec<Delivered>, BusError> {
        if topic == gateway::EVENTS_TOPIC
            && self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(BusError::Unavailable(
                "refused once by the SDK suite".into(),
            ));
        }
        self.inner.produce(topic, records).await
    }
    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        self.inner.subscribe(group, topic).await
    }
    async fn reset_group(&self, group: &str, topic: &str, to: ResetTo) -> Result<(), BusError> {
        self.inner.reset_group(group, topic, to).await
    }
    async fn read(
        &self,
        topic: &str,
        from: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn Reader>, BusError> {
        self.inner.read(topic, from).await
    }
}

fn sdks_dir() -> PathBuf {
    std::env::var_os("PULSE_SDKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/pulse/sdks")
        })
}

/// What a driver reports it sent.
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Sent {
    message_id: String,
    #[serde(rename = "type")]
    call: String,
    user_id: Option<String>,
    anonymous_id: Option<String>,
}

#[derive(serde::Deserialize, Debug)]
struct Report {
    sdk: String,
    events: Vec<Sent>,
}

/// How an SDK names the person an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// `userId` and `anonymousId` (Segment, RudderStack, posthog-js, which says when the person
    /// is not identified yet).
    Typed,
    /// One `distinct_id` that never says whether it is anonymous (PostHog's server SDKs):
    /// Pulse takes it as the user id, and `$identify` joins the anonymous one later.
    Distinct,
}

/// Runs one driver against a fresh server and checks what reached `events.raw`.
async fn run(program: &str, args: &[&str], ids: Ids) {
    let dir = sdks_dir();
    assert!(
        dir.join("venv").is_dir() && dir.join("node/node_modules").is_dir(),
        "the SDKs are not installed in {}; run `scripts/setup --test` (or set PULSE_SDKS_DIR)",
        dir.display()
    );
    let fail = Arc::new(AtomicUsize::new(1));
    let s = {
        let fail = fail.clone();
        common::start_with(move |pool| {
            Arc::new(Refusing {
                inner: PgBus::new(pool),
                fail,
            })
        })
        .await
    };
    let key = common::workspace_source(&s.pool).await;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let program = match program {
        "python" => dir.join("venv/bin/python").to_string_lossy().to_string(),
        other => other.to_string(),
    };
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdks");
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&program)
            .args(args)
            .current_dir(&scripts)
            .env("PULSE_HOST", &s.base)
            .env("PULSE_WRITE_KEY", &key)
            .env("PULSE_RUN", &run_id)
            .env("PULSE_SDKS_DIR", &dir)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{args:?} did not finish within 120 s"))
    .unwrap_or_else(|e| panic!("{program} {args:?} could not start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let report: Report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{args:?} printed no report:\n{stdout}\n{stderr}"));
    assert_eq!(
        fail.load(Ordering::SeqCst),
        0,
        "{}: no request reached the bus to be refused",
        report.sdk
    );
    assert!(
        report.events.len() >= 25,
        "{}: {} events",
        report.sdk,
        report.events.len()
    );

    let reader = PgBus::new(s.pool.clone());
    let mut c = reader
        .subscribe("sdk-suite", gateway::EVENTS_TOPIC)
        .await
        .unwrap();
    let mut on_bus: HashMap<String, Vec<Value>> = HashMap::new();
    loop {
        let batch = c.poll(1000, Duration::from_millis(300)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let e: Value = serde_json::from_slice(&m.value).unwrap();
            let id = e["messageId"].as_str().unwrap_or_default().to_string();
            on_bus.entry(id).or_default().push(e);
        }
    }
    for sent in &report.events {
        let copies = on_bus.get(&sent.message_id).map_or(0, Vec::len);
        assert_eq!(
            copies, 1,
            "{}: {:?} is on events.raw {copies} times",
            report.sdk, sent
        );
        let e = &on_bus[&sent.message_id][0];
        assert_eq!(
            e["type"],
            sent.call.as_str(),
            "{}: {sent:?} arrived as {e}",
            report.sdk
        );
        let text = |k: &str| e[k].as_str().map(str::to_string);
        let context = format!("{}: {sent:?} arrived as {e}", report.sdk);
        if sent.call == "alias" {
            // An alias joins two ids; SDKs disagree on which one is `previousId`
            // (posthog-python sends the old id as the distinct id); either way both become one
            // person.
            let mut joined = [text("userId"), text("previousId")];
            let mut meant = [sent.user_id.clone(), sent.anonymous_id.clone()];
            joined.sort();
            meant.sort();
            assert_eq!(joined, meant, "{context}");
        } else if ids == Ids::Distinct {
            let meant = sent.user_id.clone().or(sent.anonymous_id.clone());
            assert_eq!(text("userId").or(text("anonymousId")), meant, "{context}");
        } else {
            if let Some(u) = &sent.user_id {
                assert_eq!(text("userId").as_ref(), Some(u), "{context}");
            }
            if let Some(a) = &sent.anonymous_id {
                assert_eq!(text("anonymousId").as_ref(), Some(a), "{context}");
            }
        }
    }
    let quarantined: i64 = sqlx::query_scalar("SELECT count(*) FROM bus_records WHERE topic = $1")
        .bind(gateway::QUARANTINE_TOPIC)
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(quarantined, 0, "{}: events were quarantined", report.sdk);
    println!(
        "{}: {} events, each once, after one 503, in {:.1} s",
        report.sdk,
        report.events.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn segment_analytics_python() {
    run("python", &["analytics_python.py", "segment"], Ids::Typed).await;
}

#[tokio::test]
async fn rudderstack_python_with_gzip() {
    run("python", &["analytics_python.py", "rudder"], Ids::Typed).await;
}

#[tokio::test]
async fn posthog_python() {
    run("python", &["posthog_python.py"], Ids::Distinct).await;
}

#[tokio::test]
async fn segment_analytics_node() {
    run("node", &["segment_node.mjs"], Ids::Typed).await;
}

#[tokio::test]
async fn rudderstack_node_with_gzip() {
    run("node", &["rudder_node.mjs"], Ids::Typed).await;
}

#[tokio::test]
async fn posthog_node_with_gzip() {
    run("node", &["posthog_node.mjs"], Ids::Distinct).await;
}

#[tokio::test]
async fn segment_analytics_js_in_chromium_from_another_origin() {
    run("node", &["browser.mjs", "analytics.js"], Ids::Typed).await;
}

#[tokio::test]
async fn posthog_js_in_chromium_from_another_origin() {
    run("node", &["browser.mjs", "posthog-js"], Ids::Typed).await;
}
