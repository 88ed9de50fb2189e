//! Checkpoints and positions: crash recovery equals a clean run, splitting by owner, CRM
//! positions, and reading old and too-new checkpoints.

use super::*;
use std::collections::BTreeMap;

#[test]
fn crashes_at_random_points_give_the_same_effects_as_a_clean_run() {
    let stream = recorded();
    let (expected, clean_engine) = run_clean(&stream);
    // Crash points and checkpoint intervals vary per round.
    let mut rand = xorshift(0x2545F4914F6CDD1D);
    for _round in 0..8 {
        let mut sink = Map::new();
        let mut checkpoint = engine().checkpoint();
        let mut engine = Engine::restore(&checkpoint).unwrap();
        let mut i = 0usize;
        let mut since_checkpoint = 0;
        let every = 1 + rand(40) as usize;
        while i < stream.len() {
            for fx in engine.feed(0, i as i64, &stream[i]) {
                sink.insert(fx.id(), fx);
            }
            i += 1;
            since_checkpoint += 1;
            if since_checkpoint >= every {
                checkpoint = engine.checkpoint();
                since_checkpoint = 0;
            }
            if rand(25) == 0 {
                // Crash: the state since the checkpoint is lost; the consumer resumes from
                // an earlier committed position (here: the start of the log).
                engine = Engine::restore(&checkpoint).unwrap();
                i = 0;
                since_checkpoint = 0;
            }
        }
        assert_eq!(sink, expected);
        assert_eq!(engine.models, clean_engine.models);
    }
}

#[test]
fn splitting_by_owner_keeps_each_share_its_workspaces_and_its_partitions_position() {
    let mut e = Engine::new(config());
    e.feed(0, 0, &in_ws(WS_A, page("x", "/", T0, "m1")));
    e.feed(1, 0, &in_ws(WS_B, page("y", "/", T0, "m2")));
    let mut share = Engine::restore(&e.checkpoint()).unwrap();
    share.keep_only(1, |ws| ws == WS_B);
    assert!(share.identity(WS_A).is_none());
    assert_eq!(share.identity(WS_B).unwrap().len(), 1);
    assert_eq!(share.offsets(), &BTreeMap::from([(1, 1)]));
}

#[test]
fn seen_crm_positions_only_move_forward() {
    let mut e = Engine::new(config());
    assert!(e.skip_crm_to(3, 10));
    assert!(!e.skip_crm_to(3, 4));
    assert_eq!(e.crm_offsets(), &BTreeMap::from([(3, 10)]));
    // A change before the seen position is not applied again.
    let change = change(
        "r",
        "customer_identifiers",
        T0,
        json!({"workspace_id": "", "customer_id": "c-1", "kind": "email",
               "namespace": "", "value": "a@b.example"}),
    );
    e.feed_crm(3, 9, &change);
    assert!(e.identity("").is_none());
}

/// A checkpoint as releases before versions wrote it: no `version`, `crm_offsets`,
/// `fired_at`, `rolled_day`, per-workspace `traits` or `dirty`; kinds spelled `anonymous`.
const OLD_CHECKPOINT: &str = r#"{"config":{"max_disorder_ms":2000,"allowed_lateness_ms":10000,"dedupe_horizon_ms":86400000,"session_gap_ms":1800000},"watermark":{"max_disorder_ms":2000,"allowed_lateness_ms":10000,"max_seen":1795000000000},"dedupe":{"horizon_ms":86400000,"ids":{"m0":1795000000000},"by_time":{"1795000000000":["m0"]}},"models":{"":{"identity":{"owner":{"anon:a":"p_0000000000000001"},"profiles":{"p_0000000000000001":{"ids":{"anonymous":["a"]},"seq":1}},"next_seq":1},"sessions":{"gap_ms":1800000,"open":{},"by_last":[]},"labels":{"defs":[],"states":{},"timers":[]}}},"offsets":{"0":1},"swept_at":1795000000000,"stats":{"processed":1,"duplicates":0,"too_late":0,"unidentified":0,"invalid":0}}"#;

#[test]
fn an_old_checkpoint_is_migrated() {
    let mut e = Engine::restore(OLD_CHECKPOINT.as_bytes()).unwrap();
    assert_eq!(e.version, crate::checkpoint::VERSION);
    assert_eq!(e.offsets(), &BTreeMap::from([(0, 1)]));
    assert!(e.crm_offsets().is_empty());
    assert_eq!(ids_of(&e, "p_0000000000000001"), ["anon:a"]);
    assert_eq!(
        e.watermark_of(""),
        Some(1_795_000_000_000 - 2_000),
        "the partition's clock became its workspace's"
    );
    // The restored state goes on where it stopped: the record it covers is skipped, the
    // visitor's next event lands on the same profile, and a duplicate is still one.
    assert!(e.feed(0, 0, &page("a", "/", T0, "m0")).is_empty());
    let fx = e.feed(0, 1, &page("a", "/pricing", T0 + 1, "m1"));
    assert!(
        fx.iter()
            .any(|f| f.effect.profile() == "p_0000000000000001"),
        "{fx:?}"
    );
    assert!(e.feed(0, 2, &page("a", "/", T0, "m0")).is_empty());
    assert_eq!(e.stats().duplicates, 1);
    // Written again, it is the current version and reads back unchanged.
    let again = Engine::restore(&e.checkpoint()).unwrap();
    assert_eq!(again, e);
}

#[test]
fn a_checkpoint_newer_than_this_release_is_refused() {
    let mut v: Value = serde_json::from_slice(&engine().checkpoint()).unwrap();
    v["version"] = json!(crate::checkpoint::VERSION + 1);
    let err = Engine::restore(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}
