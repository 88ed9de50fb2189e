//! A CRM row change as CDC puts it on `crm.changes`: a Debezium-style envelope. CDC writes
//! this type and the pipeline's CRM input reads it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What happened to the row: Debezium's `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Inserted.
    #[serde(rename = "c")]
    Create,
    /// Read by the initial snapshot.
    #[serde(rename = "r")]
    Read,
    #[serde(rename = "u")]
    Update,
    #[serde(rename = "d")]
    Delete,
}

/// Where the change came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSource {
    pub connector: String,
    pub db: String,
    pub schema: String,
    pub table: String,
    /// WAL position of the commit.
    pub lsn: u64,
    #[serde(rename = "txId")]
    pub tx_id: Option<u32>,
}

/// One row change: the row before (updates and deletes) and after (all but deletes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmChange {
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
    pub op: Op,
    /// Commit time, ms since the epoch.
    pub ts_ms: i64,
    pub source: ChangeSource,
}

impl CrmChange {
    /// The row as it is now, or as it was before a delete.
    pub fn row(&self) -> Option<&Map<String, Value>> {
        self.after.as_ref().or(self.before.as_ref())
    }

    /// The row's `workspace_id` (after the change or, for a delete, before it).
    pub fn workspace(&self) -> Option<&str> {
        self.row()?.get("workspace_id")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cdc_envelope_decodes_and_encodes_to_the_same_bytes() {
        // As `cdc::envelope` writes it (field order included).
        let wire = r#"{"before":null,"after":{"id":"c-1","workspace_id":"7d3c1f5e-0000-4000-8000-000000000001","email":"ada@example.com"},"op":"c","ts_ms":1795000000000,"source":{"connector":"pulse","db":"pulse","schema":"public","table":"customers","lsn":123456,"txId":789}}"#;
        let change: CrmChange = serde_json::from_str(wire).unwrap();
        assert_eq!(change.op, Op::Create);
        assert_eq!(change.source.table, "customers");
        assert_eq!(
            change.workspace(),
            Some("7d3c1f5e-0000-4000-8000-000000000001")
        );
        assert_eq!(serde_json::to_string(&change).unwrap(), wire);
        let deleted = r#"{"before":{"workspace_id":"w2"},"after":null,"op":"d","ts_ms":1,"source":{"connector":"pulse","db":"pulse","schema":"public","table":"orders","lsn":1,"txId":null}}"#;
        let change: CrmChange = serde_json::from_str(deleted).unwrap();
        assert_eq!(change.workspace(), Some("w2"));
        assert_eq!(serde_json::to_string(&change).unwrap(), deleted);
    }
}
