//! `crm.changes` → [`CrmUpdate`]: a CRM row change reduced to what the customer model uses —
//! an identifier that joins a customer's profile, or a customer's fields.

use super::Invalid;
use crate::operator::identity::{identifier, IdKind, Identifier};
use crate::time::EventTimeMs;
use domain::crm_change::{CrmChange, Op};
use domain::phone::CallingCode;
use domain::WorkspaceId;
use serde_json::{Map, Value};

/// Columns of CRM `customers` rows the model keeps as `crm.<column>` on the profile.
pub const CRM_FIELDS: [&str; 9] = [
    "first_name",
    "last_name",
    "lifecycle_stage",
    "locale",
    "time_zone",
    "consent_email",
    "consent_sms",
    "consent_phone",
    "consent_push",
];

/// One CRM change, as the engine applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmUpdate {
    /// The row's workspace (after the change or, for a delete, before it).
    pub workspace: Option<WorkspaceId>,
    /// Commit time.
    pub at: EventTimeMs,
    pub change: CrmFact,
}

/// What a CRM change tells the model.
#[derive(Debug, Clone, PartialEq)]
pub enum CrmFact {
    /// A customer's email, phone or external id: it joins the customer's profile.
    Identifier {
        customer: Identifier,
        identifier: Identifier,
    },
    /// A customer's fields, as `crm.<column>` (a missing column is null).
    Fields {
        customer: Identifier,
        fields: Vec<(String, Value)>,
    },
    /// Nothing for the model: a delete (merges are not undone), another table, a junk value.
    Nothing,
}

/// Decodes one record of `crm.changes`.
pub fn decode(value: &[u8]) -> Result<CrmUpdate, Invalid> {
    let change: CrmChange = serde_json::from_slice(value)?;
    Ok(CrmUpdate::from(change))
}

impl From<CrmChange> for CrmUpdate {
    fn from(c: CrmChange) -> Self {
        let workspace = c.workspace().and_then(|w| w.parse().ok());
        let change = match (&c.op, &c.after) {
            (Op::Create | Op::Read | Op::Update, Some(row)) => match c.source.table.as_str() {
                "customer_identifiers" => identifier_row(row),
                "customers" => customer_row(row),
                _ => CrmFact::Nothing,
            },
            _ => CrmFact::Nothing,
        };
        CrmUpdate {
            workspace,
            at: c.ts_ms,
            change,
        }
    }
}

fn text<'a>(row: &'a Map<String, Value>, column: &str) -> &'a str {
    row.get(column).and_then(Value::as_str).unwrap_or_default()
}

/// The CRM stores phones in E.164 (by its workspace's default country, see [`domain::phone`]),
/// so no default applies to them here; only the parsing does.
const STORED_E164: CallingCode = CallingCode::NORTH_AMERICA;

fn identifier_row(row: &Map<String, Value>) -> CrmFact {
    let value = text(row, "value");
    // The CRM's own spelling of the kinds (`customer_identifiers.kind`).
    let found = match text(row, "kind") {
        "email" => identifier(IdKind::Email, value, STORED_E164),
        "phone" => identifier(IdKind::Phone, value, STORED_E164),
        "external_id" => identifier(
            IdKind::External,
            &format!("{}:{value}", text(row, "namespace")),
            STORED_E164,
        ),
        _ => None,
    };
    match (
        identifier(IdKind::Crm, text(row, "customer_id"), STORED_E164),
        found,
    ) {
        (Some(customer), Some(identifier)) => CrmFact::Identifier {
            customer,
            identifier,
        },
        _ => CrmFact::Nothing,
    }
}

fn customer_row(row: &Map<String, Value>) -> CrmFact {
    let Some(customer) = identifier(IdKind::Crm, text(row, "id"), STORED_E164) else {
        return CrmFact::Nothing;
    };
    let fields = CRM_FIELDS
        .iter()
        .map(|column| {
            (
                format!("crm.{column}"),
                row.get(*column).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    CrmFact::Fields { customer, fields }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "7d3c1f5e-0000-4000-8000-000000000001";

    #[test]
    fn a_cdc_identifier_row_becomes_an_identifier_of_its_customer() {
        // As CDC writes it (see `domain::crm_change`).
        let wire = format!(
            r#"{{"before":null,"after":{{"id":"i-1","workspace_id":"{WS}","customer_id":"c-1","kind":"external_id","namespace":"shopify","value":"123"}},"op":"c","ts_ms":1795000000000,"source":{{"connector":"pulse","db":"pulse","schema":"public","table":"customer_identifiers","lsn":1,"txId":7}}}}"#
        );
        let u = decode(wire.as_bytes()).unwrap();
        assert_eq!(u.workspace.unwrap().to_string(), WS);
        assert_eq!(u.at, 1_795_000_000_000);
        let CrmFact::Identifier {
            customer,
            identifier,
        } = u.change
        else {
            panic!("{:?}", u.change)
        };
        assert_eq!(customer.to_string(), "crm:c-1");
        assert_eq!(identifier.to_string(), "external:shopify:123");
    }

    #[test]
    fn deletes_and_other_tables_tell_the_model_nothing_but_still_name_their_workspace() {
        let deleted = format!(
            r#"{{"before":{{"workspace_id":"{WS}","id":"c-1"}},"after":null,"op":"d","ts_ms":1,"source":{{"connector":"pulse","db":"pulse","schema":"public","table":"customers","lsn":1,"txId":null}}}}"#
        );
        let u = decode(deleted.as_bytes()).unwrap();
        assert_eq!(u.workspace.unwrap().to_string(), WS);
        assert_eq!(u.change, CrmFact::Nothing);
        let order = format!(
            r#"{{"before":null,"after":{{"workspace_id":"{WS}","id":"o-1"}},"op":"r","ts_ms":1,"source":{{"connector":"pulse","db":"pulse","schema":"public","table":"orders","lsn":1,"txId":null}}}}"#
        );
        assert_eq!(decode(order.as_bytes()).unwrap().change, CrmFact::Nothing);
        assert!(decode(b"not json").is_err());
    }
}
