//! Customer profiles as the analytics store keeps them: the search result row and the 360 view
//! (identities with merge history, traits and rolling windows, labels with when and why,
//! sessions, the timeline). Times are milliseconds since the Unix epoch, in event time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One row of a profile search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub profile: String,
    /// A human name for the row: the `name` trait, else first + last name, else an email, else
    /// the best identifier.
    pub display: String,
    pub email: Option<String>,
    /// The CRM customer the profile is joined to, if any.
    pub crm_customer: Option<String>,
    pub labels: Vec<String>,
    pub events_total: u64,
    pub last_seen: Option<i64>,
}

/// A page of search results, newest activity first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfilePage {
    pub rows: Vec<ProfileSummary>,
    /// Total matches (for "showing 1–25 of N").
    pub total: u64,
}

/// Behaviour traits and rolling windows (windows end at the event time of the last write).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileTraits {
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub events_total: u64,
    pub sessions_total: u64,
    pub events_today: u64,
    pub events_7d: u64,
    pub events_30d: u64,
    pub orders_30d: u64,
    pub revenue_30d: f64,
    pub distinct_pages_7d: u64,
    /// What identify calls said (per trait the newest by event time).
    pub traits: Map<String, Value>,
}

use crate::identity::IdKind;
/// One identifier of a profile (the pipeline's `kind:value`), typed.
pub use crate::identity::Identifier;

/// A profile that merged into this one, and the identifier that proved them the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    pub from_profile: String,
    pub via: String,
    pub at: i64,
}

/// A label set or cleared, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEvent {
    pub label: String,
    pub set: bool,
    pub at: i64,
    pub reason: String,
}

/// A session: open while `ended_at` is None.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: i64,
    pub events: u64,
}

/// One event on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub message_id: String,
    pub name: String,
    pub at: i64,
    pub properties: Value,
}

/// Everything the 360 page shows that the analytics store holds (CRM records come from
/// Postgres separately).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileDetail {
    pub profile: String,
    pub display: String,
    pub identifiers: Vec<Identifier>,
    pub merges: Vec<MergeRecord>,
    pub labels: Vec<String>,
    pub label_history: Vec<LabelEvent>,
    pub traits: ProfileTraits,
    pub sessions: Vec<SessionRecord>,
    /// Newest first.
    pub timeline: Vec<TimelineEvent>,
}

/// The CRM customer a profile is joined to, as the 360 page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmSummary {
    pub customer_id: String,
    pub name: String,
    pub lifecycle: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub owner: Option<String>,
}

/// The 360 page's data: the store's view plus the CRM record from Postgres.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile360 {
    pub detail: ProfileDetail,
    pub crm: Option<CrmSummary>,
    /// Why the CRM record is missing although the profile names one (deleted, no access).
    pub crm_note: Option<String>,
}

/// A search answer with what the page needs around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSearch {
    pub page: ProfilePage,
    pub page_size: u64,
    pub offset: u64,
    /// The workspace's label names (the filter's options).
    pub labels: Vec<String>,
    /// `duckdb` or `starrocks`.
    pub engine: String,
}

/// The name to show for a profile, from its traits and identifiers.
pub fn display_name(traits: &Map<String, Value>, identifiers: &[Identifier]) -> String {
    let text = |k: &str| {
        traits
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(n) = text("name") {
        return n.to_string();
    }
    let first = text("firstName")
        .or(text("first_name"))
        .or(text("crm.first_name"));
    let last = text("lastName")
        .or(text("last_name"))
        .or(text("crm.last_name"));
    let by_kind = [
        IdKind::Email,
        IdKind::User,
        IdKind::Phone,
        IdKind::External,
        IdKind::Crm,
        IdKind::Anonymous,
    ]
    .into_iter()
    .filter_map(|kind| identifiers.iter().find(|i| i.kind == kind))
    .map(|i| i.value.as_str());
    crate::names::display_name(first.unwrap_or(""), last.unwrap_or(""), by_kind)
        .unwrap_or_else(|| "Unknown visitor".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_name_prefers_name_then_full_name_then_email() {
        let ids: Vec<Identifier> = vec![
            "anon:a1".parse().unwrap(),
            "email:ada@x.example".parse().unwrap(),
        ];
        let t = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(display_name(&t(json!({"name": "Ada L"})), &ids), "Ada L");
        assert_eq!(
            display_name(&t(json!({"firstName": "Ada", "lastName": "King"})), &ids),
            "Ada King"
        );
        assert_eq!(display_name(&t(json!({})), &ids), "ada@x.example");
        assert_eq!(display_name(&t(json!({})), &[]), "Unknown visitor");
    }
}
