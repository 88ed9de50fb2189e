//! CRM truth on Postgres. One module per aggregate; each write checks the actor's rights,
//! validates, enforces the aggregate's invariants and writes an audit entry in the same
//! transaction. Lists share one keyset-paginated query builder.

pub mod accounts;
pub mod activities;
pub mod actor;
pub mod audit;
pub mod contracts;
pub mod customers;
pub mod demo;
mod error;
pub mod import;
pub mod leads;
pub mod list;
pub mod loyalty;
pub mod names;
pub mod orders;
pub mod records;
pub mod settings;
pub mod tickets;
pub mod tokens;

pub use actor::{Actor, Principal, Scope};
pub use error::CrmError;
pub use list::ListParams;

/// The list spec (sorts, filters, search) of a record kind.
pub fn list_spec(kind: domain::crm::RecordKind) -> &'static list::ListSpec {
    use domain::crm::RecordKind;
    match kind {
        RecordKind::Account => &accounts::LIST,
        RecordKind::Customer => &customers::LIST,
        RecordKind::Lead => &leads::LIST,
        RecordKind::Order => &orders::LIST,
        RecordKind::Contract => &contracts::LIST,
        RecordKind::LoyaltyMembership => &loyalty::LIST,
        RecordKind::Ticket => &tickets::LIST,
        RecordKind::Activity => &activities::LIST,
    }
}
