//! One captured row change as a bus record: the Debezium envelope ([`CrmChange`], the contract
//! with the pipeline) as its value, keyed by the customer the row belongs to.

use bus::OutRecord;
use domain::crm_change::{ChangeSource, CrmChange, Op};
use serde_json::{Map, Value};

/// The customer a row belongs to: its own id for `customers`, else its `customer_id`, else the
/// row's id (accounts and rows without a customer keep their own order).
fn key_of(table: &str, row: Option<&Map<String, Value>>) -> String {
    let text = |k: &str| row?.get(k).and_then(Value::as_str).map(str::to_string);
    let own = if table == "customers" {
        text("id")
    } else {
        None
    };
    own.or_else(|| text("customer_id"))
        .or_else(|| text("converted_customer_id"))
        .or_else(|| text("id"))
        .unwrap_or_else(|| table.to_string())
}

/// A change event in the Debezium envelope, ready for the bus.
#[allow(clippy::too_many_arguments)]
pub(crate) fn envelope(
    db: &str,
    schema: &str,
    table: &str,
    op: Op,
    before: Option<Map<String, Value>>,
    after: Option<Map<String, Value>>,
    lsn: u64,
    tx_id: Option<u32>,
    ts_ms: i64,
) -> OutRecord {
    let change = CrmChange {
        before,
        after,
        op,
        ts_ms,
        source: ChangeSource {
            connector: "pulse".into(),
            db: db.into(),
            schema: schema.into(),
            table: table.into(),
            lsn,
            tx_id,
        },
    };
    OutRecord {
        key: key_of(table, change.row()),
        value: serde_json::to_vec(&change).unwrap_or_default(),
        timestamp_ms: ts_ms,
    }
}
