//! The name the product shows for a person, so a customer is called the same on the CRM
//! record, in lists and on the profile joined to it.

/// The name to show for a person: first and last name, each trimmed and joined by a space;
/// without either, the first non-blank fallback (an email, a phone, an id), trimmed. `None`
/// when there is nothing at all, so the caller says what kind of nobody it is.
pub fn display_name<'a>(
    first: &str,
    last: &str,
    fallbacks: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let full = [first.trim(), last.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        return Some(full);
    }
    fallbacks
        .into_iter()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_named_first_and_last_else_by_the_first_fallback() {
        assert_eq!(
            display_name(" Ada ", "Lovelace", ["ada@x.example"]).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(display_name("", "King", []).as_deref(), Some("King"));
        assert_eq!(display_name("Ada", "  ", []).as_deref(), Some("Ada"));
        assert_eq!(
            display_name("", "", ["", " ada@x.example", "+4420"]).as_deref(),
            Some("ada@x.example")
        );
        assert_eq!(display_name(" ", "", [" "]), None);
    }
}
