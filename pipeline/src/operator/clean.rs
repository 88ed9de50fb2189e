//! Cleaning identifiers and names before identity resolution: trimmed, lower-case emails, a
//! blocklist of junk values that would otherwise merge strangers, and canonical event names.
//! Phones follow the CRM's rule, [`domain::phone`].

use std::collections::HashMap;

/// An email as identity resolution compares it (trimmed, lower-case), or `None` if it is not a
/// plausible address or is a known test/junk address.
pub fn email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || e.chars().any(|c| c.is_whitespace() || c.is_control())
        || e.len() > 254
    {
        return None;
    }
    if is_junk(&e) || JUNK_EMAIL_DOMAINS.contains(&domain) || JUNK_EMAIL_LOCALS.contains(&local) {
        return None;
    }
    Some(e)
}

const JUNK_EMAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "test.com",
    "mailinator.com",
];
const JUNK_EMAIL_LOCALS: &[&str] = &["test", "noreply", "no-reply", "none", "null", "asdf"];

/// Values SDKs and forms send when they have no real identifier; merging on them would join
/// thousands of unrelated people into one profile.
pub fn is_junk(id: &str) -> bool {
    let t = id.trim();
    if t.is_empty() || t.len() > 256 {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "null"
            | "undefined"
            | "none"
            | "nil"
            | "nan"
            | "0"
            | "-1"
            | "[object object]"
            | "unknown"
            | "anonymous"
            | "guest"
            | "n/a"
            | "na"
            | "test"
            | "{}"
            | "[]"
            | "\"\""
            | "00000000-0000-0000-0000-000000000000"
    )
}

/// An identifier of any kind, trimmed, or `None` when it is junk.
pub fn id(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!is_junk(t)).then(|| t.to_string())
}

/// Canonical event names: an explicit mapping first (e.g. `signup` → `Signed Up`), otherwise
/// the name as sent with surrounding whitespace removed. Lookups ignore case, spaces,
/// underscores and dashes, so `signed_up`, `Signed-Up` and `SIGNED UP` find the same entry.
#[derive(Debug, Clone, Default)]
pub struct EventNames {
    map: HashMap<String, String>,
}

fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl EventNames {
    /// A mapping from variants to canonical names; each canonical name maps to itself too.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut map = HashMap::new();
        for (from, to) in pairs {
            map.insert(fold(to), to.to_string());
            map.insert(fold(from), to.to_string());
        }
        EventNames { map }
    }

    /// The canonical name of `name`.
    pub fn canonical(&self, name: &str) -> String {
        self.map
            .get(&fold(name))
            .cloned()
            .unwrap_or_else(|| name.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_junk_is_refused() {
        assert_eq!(
            email("  Ada.Lovelace@Example.IO ").as_deref(),
            Some("ada.lovelace@example.io")
        );
        assert_eq!(email("test@example.com"), None, "documentation domain");
        assert_eq!(email("noreply@shop.io"), None);
        assert_eq!(email("not-an-email"), None);
        assert_eq!(email("a@b"), None);
        assert_eq!(email("a b@shop.io"), None);
    }

    #[test]
    fn junk_identifiers_never_reach_identity_resolution() {
        for junk in [
            "",
            " ",
            "null",
            "undefined",
            "0",
            "[object Object]",
            "NaN",
            "-1",
        ] {
            assert!(is_junk(junk), "{junk:?} is junk");
            assert_eq!(id(junk), None);
        }
        assert_eq!(id(" user-42 ").as_deref(), Some("user-42"));
    }

    #[test]
    fn event_names_map_variants_to_one_canonical_name() {
        let names = EventNames::new([("signup", "Signed Up"), ("register", "Signed Up")]);
        for v in ["signup", "SIGN-UP", "signed_up", "Signed Up", " register "] {
            assert_eq!(names.canonical(v), "Signed Up", "{v}");
        }
        assert_eq!(names.canonical(" Order Completed "), "Order Completed");
    }
}
