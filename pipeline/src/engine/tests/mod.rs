//! The engine's unit tests, grouped by the job they check; this file holds what they share:
//! records as the gateway and CDC write them, a recorded stream, and an engine decoding at its
//! edge as the runner does.

mod control;
mod crm_changes;
mod events;
mod profiles;
mod recovery;
mod timers;

use super::*;
use crate::fixtures::{big_spender, flagship};
use crate::input::crm;
use domain::labels::LabelRule;
use domain::phone::PhoneCountries;
use serde_json::{json, Value};
use std::collections::BTreeMap as Map;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Records fed to the engine decoded at its edge, as the runner does.
trait Feed {
    fn feed(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted>;
    fn feed_crm(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted>;
}

impl Feed for Engine {
    fn feed(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted> {
        self.apply(
            partition,
            offset,
            crate::input::decode(value, &PhoneCountries::default()),
        )
    }

    fn feed_crm(&mut self, partition: i32, offset: i64, value: &[u8]) -> Vec<Emitted> {
        self.process_crm(partition, offset, crm::decode(value))
    }
}

/// Two workspaces, as the gateway stamps them.
const WS_A: &str = "7d3c1f5e-0000-4000-8000-00000000000a";
const WS_B: &str = "7d3c1f5e-0000-4000-8000-00000000000b";

/// A CRM change as CDC writes it.
fn change(op: &str, table: &str, at: i64, after: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "before": null, "after": after, "op": op, "ts_ms": at,
        "source": {"connector": "pulse", "db": "pulse", "schema": "public",
                   "table": table, "lsn": 1, "txId": null}
    }))
    .unwrap()
}

/// A profile's identifiers as text.
fn ids_of(e: &Engine, profile: &str) -> Vec<String> {
    e.identity("")
        .unwrap()
        .identifiers(profile)
        .iter()
        .map(ToString::to_string)
        .collect()
}

const MIN: i64 = 60_000;
const T0: i64 = 1_795_000_000_000;

fn ts(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn page(anon: &str, path: &str, at: i64, id: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"type": "page", "anonymousId": anon, "messageId": id,
        "timestamp": ts(at), "properties": {"path": path}}),
    )
    .unwrap()
}

/// The same event stamped with a workspace (as the gateway does).
fn in_ws(ws: &str, v: Vec<u8>) -> Vec<u8> {
    let mut j: Value = serde_json::from_slice(&v).unwrap();
    j["_pulse"] = json!({"workspaceId": ws});
    serde_json::to_vec(&j).unwrap()
}

fn track(anon: &str, event: &str, at: i64, id: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"type": "track", "anonymousId": anon, "event": event,
        "messageId": id, "timestamp": ts(at), "properties": {}}),
    )
    .unwrap()
}

fn identify(anon: &str, user: &str, email: &str, at: i64, id: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"type": "identify", "anonymousId": anon, "userId": user,
        "messageId": id, "timestamp": ts(at), "traits": {"email": email}}),
    )
    .unwrap()
}

/// A recorded stream: 60 visitors; a third submit the form in time, a third too late, a
/// third never; some identify; duplicates and a late event mixed in; time moves on.
fn recorded() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..60i64 {
        let anon = format!("anon-{i}");
        let t = T0 + i * 20_000;
        out.push(page(&anon, "/pricing", t, &format!("m-{i}-a")));
        out.push(page(&anon, "/pricing", t, &format!("m-{i}-a"))); // a retry
        match i % 3 {
            0 => out.push(track(
                &anon,
                "form_submit",
                t + 5 * MIN,
                &format!("m-{i}-b"),
            )),
            1 => out.push(track(
                &anon,
                "form_submit",
                t + 15 * MIN,
                &format!("m-{i}-b"),
            )),
            _ => {}
        }
        if i % 4 == 0 {
            out.push(identify(
                &anon,
                &format!("user-{i}"),
                &format!("u{i}@shop.example"),
                t + MIN,
                &format!("m-{i}-c"),
            ));
        }
    }
    // Events are recorded in arrival order: roughly by time, with small disorder.
    out.sort_by_key(|v| {
        let e: Value = serde_json::from_slice(v).unwrap();
        OffsetDateTime::parse(e["timestamp"].as_str().unwrap(), &Rfc3339).unwrap()
    });
    out.push(track("anon-late", "form_submit", T0 - 60 * MIN, "m-late"));
    out.push(track("ticker", "heartbeat", T0 + 120 * MIN, "m-end"));
    out
}

fn config() -> EngineConfig {
    EngineConfig {
        max_disorder_ms: 2_000,
        allowed_lateness_ms: 10_000,
        ..EngineConfig::default()
    }
}

/// An engine with the flagship label in the workspace events without one land in.
fn engine() -> Engine {
    let mut e = Engine::new(config());
    e.set_labels("", vec![flagship()]);
    e
}

/// The stream applied without a crash, its effects in an idempotent sink (by id).
fn run_clean(stream: &[Vec<u8>]) -> (Map<String, Emitted>, Engine) {
    let mut e = engine();
    let sink = apply_all(&mut e, stream);
    (sink, e)
}

/// Feeds `stream` from offset 0 into `e`; its effects in an idempotent sink (by id).
fn apply_all(e: &mut Engine, stream: &[Vec<u8>]) -> Map<String, Emitted> {
    let mut sink = Map::new();
    for (i, v) in stream.iter().enumerate() {
        for fx in e.feed(0, i as i64, v) {
            sink.insert(fx.id(), fx);
        }
    }
    sink
}

/// A small deterministic PRNG (xorshift) for crash points: `rand(n)` is below `n`.
fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}
