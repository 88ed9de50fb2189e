//! Benchmark: the engine alone (no I/O) — events/s through clean → dedupe → identity →
//! sessions → labels, checkpoint size and time, and state bytes per profile.
//!
//! `cargo bench -p pipeline --bench throughput` generates `PULSE_BENCH_EVENTS` (default
//! 1,000,000) Segment events from `PULSE_BENCH_CUSTOMERS` (default 100,000) visitors over
//! about a day of event time: page views (a tenth of them /pricing), product views, some
//! `form_submit`s and an identify per visitor, with 1% retried duplicates, under three label
//! definitions (the flagship absence rule, a count rule and a recency rule).

use domain::labels::{EventMatch, LabelDefinition, LabelRule};
use domain::phone::PhoneCountries;
use pipeline::{Engine, EngineConfig};
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ts(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn main() {
    let n = env_or("PULSE_BENCH_EVENTS", 1_000_000);
    let customers = env_or("PULSE_BENCH_CUSTOMERS", 100_000);
    let t0: i64 = 1_795_000_000_000;
    let span_ms: i64 = 86_400_000;
    let ws = "7d3c1f5e-0000-4000-8000-000000000001";
    let mut rng: u64 = 0x9E3779B97F4A7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut events: Vec<Vec<u8>> = Vec::with_capacity(n);
    for i in 0..n {
        let c = (next() % customers as u64) as usize;
        // Time moves forward with small disorder.
        let at = t0 + (i as i64 * span_ms / n as i64) - (next() % 2_000) as i64;
        let anon = format!("anon-{c}");
        let kind = next() % 100;
        let body = match kind {
            0..=2 => format!(
                r#"{{"type":"identify","anonymousId":"{anon}","userId":"user-{c}","traits":{{"email":"c{c}@mail.example"}},"messageId":"m-{i}","timestamp":"{}","_pulse":{{"workspaceId":"{ws}"}}}}"#,
                ts(at)
            ),
            3..=12 => format!(
                r#"{{"type":"page","anonymousId":"{anon}","properties":{{"path":"/pricing"}},"messageId":"m-{i}","timestamp":"{}","_pulse":{{"workspaceId":"{ws}"}}}}"#,
                ts(at)
            ),
            13..=15 => format!(
                r#"{{"type":"track","anonymousId":"{anon}","event":"form_submit","properties":{{}},"messageId":"m-{i}","timestamp":"{}","_pulse":{{"workspaceId":"{ws}"}}}}"#,
                ts(at)
            ),
            16..=50 => format!(
                r#"{{"type":"track","anonymousId":"{anon}","event":"Product Viewed","properties":{{"product_id":"sku-{}","price":49.9}},"messageId":"m-{i}","timestamp":"{}","_pulse":{{"workspaceId":"{ws}"}}}}"#,
                next() % 977,
                ts(at)
            ),
            _ => format!(
                r#"{{"type":"page","anonymousId":"{anon}","properties":{{"path":"/p/{}"}},"messageId":"m-{i}","timestamp":"{}","_pulse":{{"workspaceId":"{ws}"}}}}"#,
                next() % 977,
                ts(at)
            ),
        };
        events.push(body.into_bytes());
        if next() % 100 == 0 {
            let dup = events.last().unwrap().clone();
            events.push(dup);
        }
    }
    let mut pricing = EventMatch::named("Page Viewed");
    pricing.properties.insert("path".into(), "/pricing".into());
    let labels = vec![
        LabelDefinition {
            name: "high_intent_unresolved".into(),
            description: String::new(),
            rule: LabelRule::Absence {
                first: pricing,
                then_not: EventMatch::named("form_submit"),
                within_ms: 600_000,
            },
            trigger: true,
        },
        LabelDefinition {
            name: "browsing".into(),
            description: String::new(),
            rule: LabelRule::Count {
                matching: EventMatch::named("Product Viewed"),
                count: 5,
                window_ms: 3_600_000,
            },
            trigger: false,
        },
        LabelDefinition {
            name: "active_today".into(),
            description: String::new(),
            rule: LabelRule::Recency {
                matching: EventMatch::named("Page Viewed"),
                within_ms: 86_400_000,
            },
            trigger: false,
        },
    ];
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_labels(ws, labels);
    let start = Instant::now();
    let mut effects = 0usize;
    for (i, e) in events.iter().enumerate() {
        // Decoding at the edge is part of what each event costs.
        let event = pipeline::input::segment::decode(e, &PhoneCountries::default());
        effects += engine.process(0, i as i64, event).len();
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = engine.stats();
    let (profiles, with_labels, timers) = engine.sizes();
    let started = Instant::now();
    let checkpoint = engine.checkpoint();
    let cp_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let restored = Engine::restore(&checkpoint).unwrap();
    let restore_secs = started.elapsed().as_secs_f64();
    assert_eq!(restored.offsets(), engine.offsets());
    println!(
        "Pipeline engine, {} records ({} customers, ~1 day of event time), one core:",
        events.len(),
        customers
    );
    println!(
        "  throughput            {:>12.0} events/s  ({:.2} s)",
        events.len() as f64 / secs,
        secs
    );
    println!("  effects               {:>12}", effects);
    println!(
        "  applied / duplicates / too late  {} / {} / {}",
        stats.processed, stats.duplicates, stats.too_late
    );
    println!(
        "  profiles              {:>12}  (with label state {with_labels}, timers {timers})",
        profiles
    );
    println!(
        "  checkpoint            {:>12.1} MiB  = {:.0} bytes per profile; write {:.2} s, restore {:.2} s",
        checkpoint.len() as f64 / 1_048_576.0,
        checkpoint.len() as f64 / profiles.max(1) as f64,
        cp_secs,
        restore_secs
    );
}
