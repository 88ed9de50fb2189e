use domain::crm::RecordKind;
use domain::FieldErrors;

/// What went wrong in a CRM operation, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// Input failed validation; messages per field.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// The record does not exist in the caller's workspace (or is deleted).
    #[error("{} not found", .0.label())]
    NotFound(RecordKind),
    /// The record changed since the caller read it.
    #[error("this {} was changed by someone else (now version {current_version}); reload and try again", kind.label().to_lowercase())]
    Conflict {
        kind: RecordKind,
        current_version: i32,
    },
    /// The caller's role or token does not allow the operation.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// A list request was malformed (unknown sort, bad cursor, bad filter).
    #[error("{0}")]
    BadQuery(String),
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl CrmError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut e = FieldErrors::default();
        e.add(field, message);
        CrmError::Invalid(e)
    }
}

impl From<FieldErrors> for CrmError {
    fn from(e: FieldErrors) -> Self {
        CrmError::Invalid(e)
    }
}

impl From<sqlx::Error> for CrmError {
    /// Constraint violations the services could not pre-check (races, cross-workspace ids)
    /// become field errors that name the field; everything else is a database error.
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if let Some(c) = db.constraint() {
                if let Some((field, msg)) = constraint_message(c) {
                    return CrmError::field(field, msg);
                }
            }
        }
        CrmError::Database(e)
    }
}

/// The field and message for a named constraint, for violations users can cause.
fn constraint_message(constraint: &str) -> Option<(&'static str, &'static str)> {
    Some(match constraint {
        "customer_identifiers_unique_key" => (
            "emails",
            "Another customer in this workspace already has this email or external id.",
        ),
        "orders_number_key" => ("number", "Another order already has this number."),
        "accounts_domain_key" => ("domain", "Another account already has this domain."),
        "tickets_external_ref_key" => {
            ("external_ref", "Another ticket already has this reference.")
        }
        "loyalty_memberships_customer_key" => (
            "customer_id",
            "This customer already has a membership of this programme.",
        ),
        "orders_total_matches_lines" => {
            ("lines", "The order total must equal the sum of its lines.")
        }
        c if c.ends_with("_owner_id_fkey") => {
            ("owner_id", "The owner must be a member of this workspace.")
        }
        c if c.ends_with("_account_id_fkey") => {
            ("account_id", "No such account in this workspace.")
        }
        c if c.ends_with("_customer_id_fkey") => {
            ("customer_id", "No such customer in this workspace.")
        }
        c if c.ends_with("_lead_id_fkey") => ("lead_id", "No such lead in this workspace."),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::constraint_message;

    #[test]
    fn foreign_keys_name_the_field_that_points_nowhere() {
        assert_eq!(
            constraint_message("orders_workspace_id_customer_id_fkey").map(|m| m.0),
            Some("customer_id")
        );
        assert_eq!(
            constraint_message("activities_workspace_id_owner_id_fkey").map(|m| m.0),
            Some("owner_id")
        );
        assert!(constraint_message("something_else").is_none());
    }
}
