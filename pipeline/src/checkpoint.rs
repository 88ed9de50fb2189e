//! The checkpoint's versions. The engine's state is stored as JSON with a `version`; a
//! checkpoint written by an older release is brought up to [`VERSION`] one step at a time by
//! [`migrate`] before it is read, so the state types never carry defaults for fields that
//! older forms lacked (Arroyo's `MigratableState` is the model).
//!
//! - 1 (no `version` field): the form before versions. Depending on its age it may lack
//!   `crm_offsets`, `fired_at`, `rolled_day` and, per workspace, `traits` and `dirty`;
//!   identifier kinds in the identity graph are spelled as the old enum did (`anonymous`).
//! - 2: every field present; identifier kinds spelled as [`domain::identity::IdKind`] prints
//!   them (`anon`).
//! - 3: event time per workspace: `watermark`, `dedupe`, `swept_at` and `rolled_day` move from
//!   the engine into each workspace's model (`fired_at` is gone). A version-2 state had one
//!   clock and one dedupe memory for its partition; each workspace starts from a copy of both
//!   (the ids cannot be told apart by workspace; the copies expire within the horizon). The
//!   config gains `future_tolerance_ms` (the default, 10 minutes).
//! - 4: dedupe remembers ids as 64-bit hashes in one set per hour of event time
//!   (`buckets`) instead of the ids themselves twice (`ids`, `by_time`).
//! - 5: idle anonymous profiles are evicted: the config gains `anonymous_ttl_ms` (the
//!   default, 90 days) and the stats `evicted` (0).
//! - 6: a per-workspace profile cap: the config gains `max_profiles_per_workspace` (the
//!   default) and the stats `capped` (0).
//! - 7: label definitions are versioned (they arrive as control records in the log): each
//!   workspace's `labels` gains `version` 0, which any published version replaces.
//! - 8: shared identifiers: the config gains `shared_identifiers` (the default) and each
//!   workspace's `identity` the same limit with no link counts and no flags. New profiles get
//!   128-bit ids; existing ones keep theirs.

use crate::operator::Traits;
use crate::EngineConfig;
use serde::de::{DeserializeOwned, Error as _};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The version [`crate::Engine`] writes.
pub const VERSION: u32 = 8;

/// Reads a checkpoint of any version up to [`VERSION`].
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    #[derive(Deserialize)]
    struct Version {
        version: Option<u32>,
    }
    let version = serde_json::from_slice::<Version>(bytes)?
        .version
        .unwrap_or(1);
    if version == VERSION {
        return serde_json::from_slice(bytes);
    }
    if version > VERSION {
        return Err(serde_json::Error::custom(format!(
            "the checkpoint is version {version}, newer than this release reads ({VERSION})"
        )));
    }
    let mut state: Value = serde_json::from_slice(bytes)?;
    for from in version..VERSION {
        migrate(from, &mut state)?;
    }
    serde_json::from_value(state)
}

/// Turns a checkpoint of version `from` into version `from + 1`.
pub fn migrate(from: u32, state: &mut Value) -> Result<(), serde_json::Error> {
    let Value::Object(engine) = state else {
        return Err(serde_json::Error::custom("a checkpoint is a JSON object"));
    };
    match from {
        1 => {
            engine
                .entry("crm_offsets")
                .or_insert_with(|| Value::Object(Map::new()));
            engine.entry("fired_at").or_insert(Value::Null);
            engine.entry("rolled_day").or_insert(Value::Null);
            let empty_traits = serde_json::to_value(Traits::new())?;
            for model in models(engine) {
                model
                    .entry("traits")
                    .or_insert_with(|| empty_traits.clone());
                model
                    .entry("dirty")
                    .or_insert_with(|| Value::Array(Vec::new()));
                respell_kinds(model);
            }
        }
        2 => {
            let mut shared = Map::new();
            for field in ["watermark", "dedupe", "swept_at", "rolled_day"] {
                shared.insert(field.into(), engine.remove(field).unwrap_or(Value::Null));
            }
            engine.remove("fired_at");
            let tolerance = EngineConfig::default().future_tolerance_ms;
            add(engine, "config", "future_tolerance_ms", tolerance.into());
            for model in models(engine) {
                model.extend(shared.clone());
            }
        }
        3 => {
            for model in models(engine) {
                if let Some(Value::Object(dedupe)) = model.get_mut("dedupe") {
                    hash_dedupe_ids(dedupe)?;
                }
            }
        }
        4 => {
            let ttl = EngineConfig::default().anonymous_ttl_ms;
            add(engine, "config", "anonymous_ttl_ms", ttl.into());
            add(engine, "stats", "evicted", 0.into());
        }
        5 => {
            let cap = EngineConfig::default().max_profiles_per_workspace;
            add(engine, "config", "max_profiles_per_workspace", cap.into());
            add(engine, "stats", "capped", 0.into());
        }
        6 => {
            for model in models(engine) {
                if let Some(Value::Object(labels)) = model.get_mut("labels") {
                    labels.insert("version".into(), 0.into());
                }
            }
        }
        7 => {
            let limit = serde_json::to_value(EngineConfig::default().shared_identifiers)?;
            add(engine, "config", "shared_identifiers", limit.clone());
            for model in models(engine) {
                if let Some(Value::Object(identity)) = model.get_mut("identity") {
                    identity.insert("shared".into(), limit.clone());
                    identity.insert("links".into(), Value::Object(Map::new()));
                    identity.insert("flagged".into(), Value::Object(Map::new()));
                }
            }
        }
        _ => {
            return Err(serde_json::Error::custom(format!(
                "no migration from checkpoint version {from}"
            )))
        }
    }
    engine.insert("version".into(), Value::from(from + 1));
    Ok(())
}

/// Sets `field` in the object `part` of the state (`config`, `stats`): a setting or counter
/// that versions before this one lacked, at its default.
fn add(engine: &mut Map<String, Value>, part: &str, field: &str, value: Value) {
    if let Some(Value::Object(object)) = engine.get_mut(part) {
        object.insert(field.into(), value);
    }
}

/// Every workspace's model in the state.
fn models(engine: &mut Map<String, Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    engine
        .get_mut("models")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|models| models.values_mut().filter_map(Value::as_object_mut))
}

/// Version 3's dedupe kept each id and its event time; version 4 keeps the id's hash in the
/// set of its hour.
fn hash_dedupe_ids(dedupe: &mut Map<String, Value>) -> Result<(), serde_json::Error> {
    let ids = match dedupe.remove("ids") {
        Some(Value::Object(ids)) => ids,
        _ => Map::new(),
    };
    dedupe.remove("by_time");
    let mut buckets: std::collections::BTreeMap<i64, Vec<u64>> = Default::default();
    for (id, at) in ids {
        let at = at
            .as_i64()
            .ok_or_else(|| serde_json::Error::custom("a dedupe time is not a number"))?;
        buckets
            .entry(at.div_euclid(crate::operator::dedupe::BUCKET_MS))
            .or_default()
            .push(crate::operator::dedupe::id_hash(&id));
    }
    dedupe.insert("buckets".into(), serde_json::to_value(buckets)?);
    Ok(())
}

/// Version 1 keyed each profile's identifiers by the old enum's names; `anonymous` is `anon`
/// now (node names in `owner` were `anon:` already).
fn respell_kinds(model: &mut Map<String, Value>) {
    let Some(Value::Object(profiles)) = model
        .get_mut("identity")
        .and_then(|i| i.get_mut("profiles"))
    else {
        return;
    };
    for members in profiles.values_mut() {
        if let Some(Value::Object(ids)) = members.get_mut("ids") {
            if let Some(anon) = ids.remove("anonymous") {
                ids.insert("anon".into(), anon);
            }
        }
    }
}
