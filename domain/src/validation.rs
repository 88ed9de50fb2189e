//! Field validation shared by browser forms and server services, so both say the same thing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Minimum password length; long passphrases beat composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_LEN: usize = 10;
/// Upper bound that keeps argon2 work per request predictable.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Per-field error messages, keyed by the form field name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    /// Records a message for a field (the first message per field wins).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    /// The message for one field, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// True when no field has an error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds another set of errors (existing messages win).
    pub fn extend(&mut self, other: FieldErrors) {
        for (k, v) in other.0 {
            self.0.entry(k).or_insert(v);
        }
    }

    /// `Ok(())` when empty, otherwise the errors.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Normalises an email address for storage and lookup (trimmed, lower-case).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks the shape of an email address: one `@`, a local part, a dotted domain, no spaces.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    let email = email.trim();
    if email.is_empty() {
        return Err("Enter an email address.");
    }
    if email.len() > 254 {
        return Err("Email addresses are at most 254 characters.");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("An email address needs an @.");
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok || domain.contains('@') || email.contains(char::is_whitespace)
    {
        return Err("This does not look like an email address.");
    }
    Ok(())
}

/// Checks a new password against the length policy.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "Use at least {MIN_PASSWORD_LEN} characters (a passphrase works well)."
        ));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(format!("Use at most {MAX_PASSWORD_LEN} characters."));
    }
    Ok(())
}

/// Checks a display name (person or workspace).
pub fn check_name(name: &str) -> Result<(), &'static str> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Enter a name.");
    }
    if name.chars().count() > 120 {
        return Err("Names are at most 120 characters.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_rejects_malformed_ones() {
        for ok in [
            "a@b.co",
            " Ada@Example.com ",
            "first.last+tag@sub.example.org",
        ] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@b",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@b@c.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_is_normalised_to_trimmed_lower_case() {
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
    }

    #[test]
    fn short_passwords_are_rejected_with_the_rule() {
        let err = check_password("short").unwrap_err();
        assert!(err.contains("10"));
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password(&"x".repeat(300)).is_err());
    }

    #[test]
    fn first_error_per_field_is_kept() {
        let mut e = FieldErrors::default();
        e.add("email", "first");
        e.add("email", "second");
        assert_eq!(e.get("email"), Some("first"));
        assert!(e.clone().into_result().is_err());
        assert!(FieldErrors::default().into_result().is_ok());
    }

    #[test]
    fn names_must_be_present_and_bounded() {
        assert!(check_name("  ").is_err());
        assert!(check_name("Acme").is_ok());
        assert!(check_name(&"n".repeat(121)).is_err());
    }
}
