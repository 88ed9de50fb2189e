//! Pulse's stream processor (the "Flink layer"): sources, operators, keyed state with
//! checkpoints, event-time timers and sinks, embedded in the server process.
//!
//! `engine` is the whole customer model as one state machine without I/O: clean → dedupe →
//! identity → sessions → labels on event time, checkpointed together with the offsets it has
//! applied. `operator/` holds the operators, `time/` watermarks.

pub mod engine;
pub mod operator;
pub mod time;

pub use engine::{crm_workspace, Effect, Emitted, Engine, EngineConfig, ProfileSnapshot, Stats};
