//! Pulse's stream processor (the "Flink layer"): sources, operators, keyed state with
//! checkpoints, event-time timers and sinks, embedded in the server process.
//!
//! So far: event time (watermarks, lateness) and the first operators as checkpointable state
//! machines (cleaning, dedupe by messageId, sessions). Sources, keyed state with checkpoints
//! and sinks arrive with the live customer model. Folders follow the data's path: `source/`,
//! `operator/`, `state/`, `sink/`, with `time/` for watermarks shared by all of them.

pub mod operator;
pub mod time;
