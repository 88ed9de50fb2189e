//! Identifiers of people: the one spelling of each kind and the `kind:value` text form that
//! profiles, triggers and the analytics store carry. Parsed and printed only here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Kinds of identifiers, highest priority first: a profile is named after its best one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// A CRM customer id.
    Crm,
    /// The app's user id.
    User,
    /// Another system's id (`namespace:value`).
    External,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A device or browser id.
    Anonymous,
}

impl IdKind {
    /// Every kind, highest priority first.
    pub const ALL: [IdKind; 6] = [
        IdKind::Crm,
        IdKind::User,
        IdKind::External,
        IdKind::Email,
        IdKind::Phone,
        IdKind::Anonymous,
    ];

    /// The kind's one spelling, e.g. `email`, `anon`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Crm => "crm",
            IdKind::User => "user",
            IdKind::External => "external",
            IdKind::Email => "email",
            IdKind::Phone => "phone",
            IdKind::Anonymous => "anon",
        }
    }

    /// The name of the kind for people.
    pub fn label(self) -> &'static str {
        match self {
            IdKind::Crm => "CRM customer",
            IdKind::User => "User id",
            IdKind::External => "External id",
            IdKind::Email => "Email",
            IdKind::Phone => "Phone",
            IdKind::Anonymous => "Anonymous id",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no identifier kind, or is not `kind:value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an identifier (`kind:value` with kind crm, user, external, email, phone or anon)"
)]
pub struct NotAnIdentifier(pub String);

impl FromStr for IdKind {
    type Err = NotAnIdentifier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| NotAnIdentifier(s.to_string()))
    }
}

impl Serialize for IdKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IdKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One identifier, e.g. `email:ada@example.com`; serialised as that text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    pub kind: IdKind,
    /// The value as cleaned by whoever made it (an external id is `namespace:value`).
    pub value: String,
}

impl Identifier {
    /// An identifier of `kind` with this value (taken as it is: cleaning is the caller's rule).
    pub fn new(kind: IdKind, value: impl Into<String>) -> Self {
        Identifier {
            kind,
            value: value.into(),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

impl FromStr for Identifier {
    type Err = NotAnIdentifier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| NotAnIdentifier(s.to_string()))?;
        let kind = kind.parse().map_err(|_| NotAnIdentifier(s.to_string()))?;
        Ok(Identifier::new(kind, value))
    }
}

impl Serialize for Identifier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_through_their_one_text_form() {
        for text in [
            "crm:0b7c3a9e-1111-4222-8333-444455556666",
            "user:u-1",
            "external:shopify:123",
            "email:ada@example.com",
            "phone:+4915112345678",
            "anon:a-1",
        ] {
            let id: Identifier = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Identifier>(&json).unwrap(), id);
        }
        let external: Identifier = "external:shopify:123".parse().unwrap();
        assert_eq!(external.kind, IdKind::External);
        assert_eq!(external.value, "shopify:123");
    }

    #[test]
    fn other_spellings_of_a_kind_are_not_identifiers() {
        for text in ["anonymous:a", "external_id:x", "id:x", "no-colon"] {
            assert!(text.parse::<Identifier>().is_err(), "{text}");
        }
    }
}
