use domain::FieldErrors;

/// What went wrong in an access operation, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Unknown email or wrong password (deliberately not saying which).
    #[error("the email or password is not correct")]
    InvalidCredentials,
    /// Too many failed sign-ins recently for this email or address.
    #[error("too many failed sign-in attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// The person has no active membership in any (or the requested) workspace.
    #[error("this account is deactivated; ask a workspace admin to reactivate it")]
    Deactivated,
    /// The viewer's role does not allow the operation.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The subject does not exist in the viewer's workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input failed validation; messages per field.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// The change conflicts with existing state (duplicate, last admin, ...).
    #[error("{0}")]
    Conflict(String),
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Password hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl AccessError {
    /// A validation error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut e = FieldErrors::default();
        e.add(field, message);
        AccessError::Invalid(e)
    }
}
