//! The Pulse server: configuration, the managed services it starts, and the HTTP edge.
//!
//! `main.rs` wires these together: load [`config::Config`], start (or connect to) Postgres via
//! [`database`], run migrations, seed, and serve [`http::router`] until SIGINT/SIGTERM, then shut
//! down in order (stop accepting, drain requests, close the pool, stop the managed Postgres).

#![recursion_limit = "256"]

pub mod config;
pub mod database;
pub mod http;
pub mod telemetry;
