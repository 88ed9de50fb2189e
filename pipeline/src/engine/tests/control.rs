//! Control records: ticks move time at their place in the log, label versions replace
//! definitions there, and a stream with both replays to the same effects after crashes.

use super::*;
use domain::control::Control;

fn tick(at: i64) -> Vec<u8> {
    Control::Tick {
        at,
        crm: Default::default(),
    }
    .encode()
}

fn labels(version: u64, definitions: Vec<domain::labels::LabelDefinition>) -> Vec<u8> {
    Control::Labels {
        workspace: WS_A.parse().unwrap(),
        version,
        definitions,
    }
    .encode()
}

/// The flagship label with another window.
fn flagship_within(ms: i64) -> domain::labels::LabelDefinition {
    let mut def = flagship();
    if let LabelRule::Absence { within_ms, .. } = &mut def.rule {
        *within_ms = ms;
    }
    def
}

#[test]
fn a_tick_moves_every_workspace_to_its_time_less_the_disorder_and_fires_what_is_due() {
    let mut e = Engine::new(config());
    e.feed(0, 0, &labels(1, vec![flagship()]));
    e.feed(0, 1, &in_ws(WS_A, page("a", "/pricing", T0, "m1")));
    e.feed(0, 2, &in_ws(WS_B, page("b", "/", T0, "m2")));
    assert_eq!(e.next_due(), Some(T0 + 10 * MIN), "the absence deadline");
    // Just short of deadline + lateness (+ the disorder a tick leaves): nothing.
    let early = T0 + 10 * MIN + 10_000 + 2_000 - 1;
    assert!(e.feed(0, 3, &tick(early)).is_empty());
    assert_eq!(e.watermark_of(WS_B), Some(early - 2_000), "every workspace");
    let fired = e.feed(0, 4, &tick(early + 1));
    let set: Vec<_> = fired
        .iter()
        .filter_map(|f| match &f.effect {
            Effect::Label(c) => Some((f.workspace.as_str(), c.set, c.version)),
            _ => None,
        })
        .collect();
    assert_eq!(set, vec![(WS_A, true, 1)]);
    assert!(fired[0].id().contains(":v1:"), "{}", fired[0].id());
    // A replayed tick (an offset the state covers) does nothing.
    assert!(e.feed(0, 4, &tick(early + MIN)).is_empty());
}

#[test]
fn a_label_version_applies_at_its_position_and_an_older_or_repeated_one_is_ignored() {
    let mut e = Engine::new(config());
    e.feed(0, 0, &labels(2, vec![flagship()]));
    assert_eq!(e.labels_version(WS_A), 2);
    e.feed(0, 1, &labels(1, Vec::new()));
    e.feed(0, 2, &labels(2, Vec::new()));
    assert_eq!(e.labels_version(WS_A), 2, "older and repeated are ignored");
    e.feed(0, 3, &in_ws(WS_A, page("a", "/pricing", T0, "m1")));
    // Version 3 narrows the window; the wait started under version 2 is decided by version 3.
    e.feed(0, 4, &labels(3, vec![flagship_within(MIN)]));
    let fired = e.feed(0, 5, &tick(T0 + MIN + 10_000 + 2_000));
    let versions: Vec<u64> = fired
        .iter()
        .filter_map(|f| match &f.effect {
            Effect::Label(c) => Some(c.version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, vec![3]);
}

/// [`recorded`] in workspace A, with a tick every 20 records and the label's window edited
/// (a new version) halfway.
fn recorded_with_control() -> Vec<Vec<u8>> {
    let events = recorded();
    let mut out = vec![labels(1, vec![flagship()])];
    let half = events.len() / 2;
    for (i, v) in events.into_iter().enumerate() {
        let at = {
            let e: Value = serde_json::from_slice(&v).unwrap();
            OffsetDateTime::parse(e["timestamp"].as_str().unwrap(), &Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .unwrap()
        };
        out.push(in_ws(WS_A, v));
        if i % 20 == 19 {
            out.push(tick(at));
        }
        if i == half {
            out.push(labels(2, vec![flagship_within(5 * MIN)]));
        }
    }
    out.push(tick(T0 + 200 * MIN));
    out
}

#[test]
fn a_stream_with_ticks_and_a_label_edit_replays_to_the_same_effects_after_crashes() {
    let stream = recorded_with_control();
    let clean = apply_all(&mut Engine::new(config()), &stream);
    let versions: std::collections::BTreeSet<u64> = clean
        .values()
        .filter_map(|f| match &f.effect {
            Effect::Label(c) => Some(c.version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, [1, 2].into(), "both versions decided something");
    let mut rand = xorshift(0x9E3779B97F4A7C15);
    for _round in 0..8 {
        let mut sink = Map::new();
        let mut e = Engine::new(config());
        let mut checkpoint = e.checkpoint();
        let mut i = 0usize;
        while i < stream.len() {
            for fx in e.feed(0, i as i64, &stream[i]) {
                sink.insert(fx.id(), fx);
            }
            i += 1;
            if rand(15) == 0 {
                checkpoint = e.checkpoint();
            }
            if rand(30) == 0 {
                e = Engine::restore(&checkpoint).unwrap();
                i = 0;
            }
        }
        assert_eq!(sink, clean);
    }
}
