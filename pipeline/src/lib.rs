//! Pulse's stream processor (the "Flink layer"): sources, operators, keyed state with
//! checkpoints, event-time timers and sinks, embedded in the server process.
//!
//! `input/` decodes bus records (`events.raw`, `crm.changes`) into typed inputs. `engine` is
//! the whole customer model as one state machine without I/O: clean → dedupe → identity →
//! sessions → labels on event time, checkpointed together with the offsets it has applied
//! (`checkpoint` reads every version of that state). `operator/` holds the operators, `time/`
//! watermarks.

pub mod checkpoint;
pub mod engine;
pub mod input;
pub mod operator;
pub mod time;

#[cfg(test)]
mod fixtures;

pub use engine::{Effect, Emitted, Engine, EngineConfig, ProfileSnapshot, Stats};
