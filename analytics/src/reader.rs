//! The store's reads, once for both engines: each engine supplies a thin [`Executor`] (its
//! dialect and a way to run one statement) and these functions do the rest — the search, the
//! 360 view with merges followed to the survivor, the timeline, resolve.

use crate::query::{self, reads, Datum, Dialect, ProfileFilter, Sql};
use crate::AnalyticsError;
use async_trait::async_trait;
use domain::profiles::{
    Identifier, LabelEvent, MergeRecord, ProfileDetail, ProfilePage, ProfileSummary, ProfileTraits,
    SessionRecord, TimelineEvent,
};

/// Merges can chain (a into b, b into c); following more than this many hops means a cycle.
const MAX_HOPS: usize = 32;

/// One result row, its cells in select order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Datum>);

impl Row {
    fn cell(&self, i: usize) -> &Datum {
        self.0.get(i).unwrap_or(&Datum::Null)
    }

    fn opt_text(&self, i: usize) -> Option<String> {
        match self.cell(i) {
            Datum::Null => None,
            Datum::Text(t) => Some(t.clone()),
            Datum::Int(n) => Some(n.to_string()),
            Datum::Float(f) => Some(f.to_string()),
            Datum::Bool(b) => Some(b.to_string()),
        }
    }

    fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    fn opt_int(&self, i: usize) -> Option<i64> {
        match self.cell(i) {
            Datum::Int(n) => Some(*n),
            Datum::Float(f) => Some(*f as i64),
            Datum::Bool(b) => Some(*b as i64),
            // The MySQL protocol may answer numbers as text.
            Datum::Text(t) => t.trim().parse().ok(),
            Datum::Null => None,
        }
    }

    fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or(0)
    }

    fn count(&self, i: usize) -> u64 {
        self.int(i).max(0) as u64
    }

    fn float(&self, i: usize) -> f64 {
        match self.cell(i) {
            Datum::Float(f) => *f,
            Datum::Int(n) => *n as f64,
            Datum::Text(t) => t.trim().parse().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    fn boolean(&self, i: usize) -> bool {
        match self.cell(i) {
            Datum::Bool(b) => *b,
            Datum::Text(t) => t == "1" || t.eq_ignore_ascii_case("true"),
            _ => self.int(i) != 0,
        }
    }
}

/// Runs statements on one engine.
#[async_trait]
pub trait Executor: Send + Sync {
    /// How the engine spells SQL.
    fn dialect(&self) -> &dyn Dialect;

    /// Runs a read and returns its rows.
    async fn rows(&self, sql: Sql) -> Result<Vec<Row>, AnalyticsError>;
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Profiles matching the filter, in its order, with the total.
pub async fn find(
    x: &dyn Executor,
    ws: &str,
    f: &ProfileFilter,
) -> Result<ProfilePage, AnalyticsError> {
    let rows = x.rows(query::profile_page(x.dialect(), ws, f)?).await?;
    let total = match rows.first() {
        Some(r) => r.count(query::SUMMARY_COLUMNS.len()),
        // Past the end (or nothing matches): the page has no row to carry the total.
        None if f.offset > 0 => x
            .rows(query::profile_count(x.dialect(), ws, f)?)
            .await?
            .first()
            .map(|r| r.count(0))
            .unwrap_or(0),
        None => 0,
    };
    let rows = rows
        .iter()
        .map(|r| ProfileSummary {
            profile: r.text(0),
            display: r.text(1),
            email: r.opt_text(2),
            crm_customer: r.opt_text(3),
            labels: json_list(&r.text(4)),
            events_total: r.count(5),
            last_seen: r.opt_int(6),
        })
        .collect();
    Ok(ProfilePage { rows, total })
}

/// The surviving profile of `profile` (following merges), or itself.
pub async fn survivor(x: &dyn Executor, ws: &str, profile: &str) -> Result<String, AnalyticsError> {
    let mut current = profile.to_string();
    for _ in 0..MAX_HOPS {
        let rows = x
            .rows(reads::merged_into(x.dialect(), ws, &current))
            .await?;
        match rows.first().and_then(|r| r.opt_text(0)) {
            Some(next) => current = next,
            None => break,
        }
    }
    Ok(current)
}

/// The profile and every profile merged into it (transitively), with the merge records newest
/// first; one statement per hop.
pub async fn merged_set(
    x: &dyn Executor,
    ws: &str,
    profile: &str,
) -> Result<(Vec<String>, Vec<MergeRecord>), AnalyticsError> {
    let mut all = vec![profile.to_string()];
    let mut records = Vec::new();
    let mut frontier = vec![profile.to_string()];
    for _ in 0..MAX_HOPS {
        if frontier.is_empty() {
            break;
        }
        let rows = x
            .rows(reads::merges_into(x.dialect(), ws, &frontier))
            .await?;
        frontier.clear();
        for r in rows {
            let m = MergeRecord {
                from_profile: r.text(0),
                via: r.text(1),
                at: r.int(2),
            };
            if !all.contains(&m.from_profile) {
                all.push(m.from_profile.clone());
                frontier.push(m.from_profile.clone());
                records.push(m);
            }
        }
    }
    records.sort_by_key(|m| std::cmp::Reverse(m.at));
    Ok((all, records))
}

async fn timeline(
    x: &dyn Executor,
    ws: &str,
    set: &[String],
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<TimelineEvent>, AnalyticsError> {
    let rows = x
        .rows(reads::timeline(x.dialect(), ws, set, after, limit))
        .await?;
    let mut out: Vec<TimelineEvent> = rows
        .iter()
        .map(|r| TimelineEvent {
            message_id: r.text(0),
            name: r.text(1),
            at: r.int(2),
            properties: r
                .opt_text(3)
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(serde_json::Value::Null),
        })
        .collect();
    // StarRocks' Duplicate Key table keeps a replayed event twice; the timeline shows it once
    // (the order puts the copies side by side).
    out.dedup_by(|a, b| a.message_id == b.message_id);
    Ok(out)
}

/// The 360 view of a profile, answered for its survivor.
pub async fn profile(
    x: &dyn Executor,
    ws: &str,
    profile: &str,
    limit: usize,
) -> Result<Option<ProfileDetail>, AnalyticsError> {
    let d = x.dialect();
    let profile = survivor(x, ws, profile).await?;
    let Some(r) = x
        .rows(reads::profile_row(d, ws, &profile))
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let traits = ProfileTraits {
        first_seen: r.opt_int(4),
        last_seen: r.opt_int(5),
        events_total: r.count(6),
        sessions_total: r.count(7),
        events_today: r.count(8),
        events_7d: r.count(9),
        events_30d: r.count(10),
        orders_30d: r.count(11),
        revenue_30d: r.float(12),
        distinct_pages_7d: r.count(13),
        traits: serde_json::from_str(&r.text(3)).unwrap_or_default(),
    };
    let (set, merges) = merged_set(x, ws, &profile).await?;
    let label_history = x
        .rows(reads::label_history(d, ws, &set))
        .await?
        .iter()
        .map(|r| LabelEvent {
            label: r.text(0),
            set: r.boolean(1),
            at: r.int(2),
            reason: r.text(3),
        })
        .collect();
    let sessions = x
        .rows(reads::sessions(d, ws, &set))
        .await?
        .iter()
        .map(|r| SessionRecord {
            session: r.text(0),
            started_at: r.int(1),
            ended_at: r.opt_int(2),
            duration_ms: r.int(3),
            events: r.count(4),
        })
        .collect();
    Ok(Some(ProfileDetail {
        timeline: timeline(x, ws, &set, None, limit).await?,
        display: r.text(0),
        identifiers: json_list(&r.text(1))
            .iter()
            .filter_map(|i| i.parse::<Identifier>().ok())
            .collect(),
        labels: json_list(&r.text(2)),
        profile,
        merges,
        label_history,
        traits,
        sessions,
    }))
}

/// Events of a profile and those merged into it newer than `after`, oldest first.
pub async fn events_after(
    x: &dyn Executor,
    ws: &str,
    profile: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<TimelineEvent>, AnalyticsError> {
    let profile = survivor(x, ws, profile).await?;
    let (set, _) = merged_set(x, ws, &profile).await?;
    timeline(x, ws, &set, Some(after), limit).await
}

/// The (surviving) profile holding an identifier.
pub async fn resolve(
    x: &dyn Executor,
    ws: &str,
    identifier: &str,
) -> Result<Option<String>, AnalyticsError> {
    let rows = x.rows(reads::identity(x.dialect(), ws, identifier)).await?;
    match rows.first().and_then(|r| r.opt_text(0)) {
        Some(p) => Ok(Some(survivor(x, ws, &p).await?)),
        None => Ok(None),
    }
}
