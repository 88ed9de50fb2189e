//! Change data capture of the CRM: Postgres logical replication (`pgoutput`) onto the bus topic
//! `crm.changes` as Debezium-style envelopes (`before`, `after`, `op`, `ts_ms`,
//! `source{db,schema,table,lsn,txId}`), keyed by the customer a row belongs to.
//!
//! A first run creates the replication slot with an exported snapshot and publishes every
//! existing row (op `r`) consistent with the slot's start; then each committed transaction's
//! changes (ops `c`/`u`/`d`) are produced together, and only after the bus acknowledged them
//! does the slot's confirmed LSN move to the commit's end. A restart resumes there: changes of a
//! transaction whose acknowledgement was lost are sent again with the same LSN, so consumers can
//! drop them.
//!
//! The modules follow a change's path: `config` names what is captured, `setup` prepares
//! the database, `stream` runs the snapshot and the replication loop, `values` types each
//! row's columns, `envelope` wraps a row change for the bus, and `lag` reports how far the
//! slot trails.

mod config;
mod envelope;
mod lag;
mod setup;
mod stream;
mod values;

pub use config::{CdcConfig, CdcError, HEARTBEAT, HEARTBEAT_TABLE, TABLES, TOPIC};
pub use lag::{lag, SlotLag, LAG_ALERT_BYTES};
pub use setup::{drop_slot, prepare, uninstall};
pub use stream::run;

/// Stops a running [`run`] (re-exported so callers need no replication crate of their own).
pub use pg_walstream::CancellationToken;
