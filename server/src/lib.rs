//! The Pulse server: configuration, the managed services it starts, and the HTTP edge.
//!
//! `main.rs` wires these together: load [`config::Config`], start (or connect to) Postgres via
//! [`database`], run migrations, seed, and serve [`http::router`] until SIGINT/SIGTERM, then shut
//! down in order (stop accepting, drain requests, close the pool, stop the managed Postgres).

#![recursion_limit = "256"]

pub mod cdc_task;
pub mod config;
pub mod database;
pub mod demo_traffic;
pub mod gateway_runtime;
pub mod http;
pub mod live;
pub mod supervise;
pub mod telemetry;

/// The write key of the demo workspace's website source (demo mode only).
pub const DEMO_WRITE_KEY: &str = "wk_demo_acme_website";
