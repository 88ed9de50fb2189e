//! Pulse's stream processor (the "Flink layer"): sources, operators, keyed state with
//! checkpoints, event-time timers and sinks, embedded in the server process.
//!
//! Only event-time tracking exists so far; sources, operators, state and sinks arrive with the
//! live customer model. Folders follow the data's path: `source/`, `operator/`, `state/`,
//! `sink/`, with `time/` for watermarks shared by all of them.

pub mod time;
