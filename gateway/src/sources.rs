//! The source registry: sources and their write keys (stored as SHA-256 only).

use crate::policy::Policy;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::tracking::{
    ConsentPolicy, SourceCounts, SourceDetail, SourceSummary, StatPoint, TrackingPlan,
};
use domain::FieldErrors;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Every write key starts with this.
pub const WRITE_KEY_PREFIX: &str = "wk_";

/// A source as the gateway needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub kind: String,
    /// Its tracking plan and consent policy.
    pub policy: Policy,
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    kind: String,
    tracking_plan: Json<TrackingPlan>,
    consent_policy: Json<ConsentPolicy>,
}

impl From<SourceRow> for Source {
    fn from(r: SourceRow) -> Self {
        Source {
            id: r.id,
            workspace_id: r.workspace_id,
            name: r.name,
            kind: r.kind,
            policy: Policy {
                plan: r.tracking_plan.0,
                consent: r.consent_policy.0,
            },
        }
    }
}

const SOURCE_COLUMNS: &str = "id, workspace_id, name, kind, tracking_plan, consent_policy";

/// Source registry failures.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Invalid(String),
    /// Field-level problems of submitted settings.
    #[error("the settings have errors")]
    Fields(FieldErrors),
    #[error("no such source")]
    NotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Creates a source and returns it with its write key (shown once).
pub async fn create(
    pool: &PgPool,
    workspace_id: Uuid,
    name: &str,
    kind: &str,
) -> Result<(Source, String), SourceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(SourceError::Invalid(
            "Name the source (at most 100 characters).".into(),
        ));
    }
    if !matches!(kind, "web" | "mobile" | "server") {
        return Err(SourceError::Invalid(
            "A source is web, mobile or server.".into(),
        ));
    }
    let key = new_key();
    let source: SourceRow = sqlx::query_as(&format!(
        "INSERT INTO sources (id, workspace_id, name, kind, write_key_hash, write_key_prefix)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SOURCE_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(name)
    .bind(kind)
    .bind(hash(&key))
    .bind(key_prefix(&key))
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("sources_name_key") => {
            SourceError::Invalid("Another source already has this name.".into())
        }
        _ => SourceError::Database(e),
    })?;
    Ok((source.into(), key))
}

fn key_prefix(key: &str) -> String {
    key.chars().take(WRITE_KEY_PREFIX.len() + 6).collect()
}

/// Creates a source with a given key if no source has that name yet (demo data, tests).
pub async fn ensure_with_key(
    pool: &PgPool,
    workspace_id: Uuid,
    name: &str,
    kind: &str,
    key: &str,
) -> Result<Source, SourceError> {
    sqlx::query(
        "INSERT INTO sources (id, workspace_id, name, kind, write_key_hash, write_key_prefix)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(name)
    .bind(kind)
    .bind(hash(key))
    .bind(key_prefix(key))
    .execute(pool)
    .await?;
    authenticate(pool, key).await?.ok_or_else(|| {
        SourceError::Invalid(format!("a source named {name} exists with another key"))
    })
}

fn new_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{WRITE_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The enabled source a write key belongs to.
pub async fn authenticate(pool: &PgPool, key: &str) -> Result<Option<Source>, SourceError> {
    if key.is_empty() || key.len() > 200 {
        return Ok(None);
    }
    let row: Option<SourceRow> = sqlx::query_as(&format!(
        "SELECT {SOURCE_COLUMNS} FROM sources WHERE write_key_hash = $1 AND disabled_at IS NULL"
    ))
    .bind(hash(key))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Source::from))
}

/// A source of the workspace by id (enabled or not).
pub async fn by_id(pool: &PgPool, workspace_id: Uuid, id: Uuid) -> Result<Source, SourceError> {
    let row: Option<SourceRow> = sqlx::query_as(&format!(
        "SELECT {SOURCE_COLUMNS} FROM sources WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(Source::from).ok_or(SourceError::NotFound)
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: Uuid,
    name: String,
    kind: String,
    write_key_prefix: String,
    created_at: OffsetDateTime,
    key_rotated_at: Option<OffsetDateTime>,
    disabled_at: Option<OffsetDateTime>,
    tracking_plan: Json<TrackingPlan>,
    consent_policy: Json<ConsentPolicy>,
    settings_version: i32,
    accepted: i64,
    flagged: i64,
    quarantined: i64,
    not_activatable: i64,
    future_clamped: i64,
}

impl SummaryRow {
    fn summary(&self) -> SourceSummary {
        SourceSummary {
            id: self.id,
            name: self.name.clone(),
            kind: self.kind.clone(),
            key_prefix: self.write_key_prefix.clone(),
            created_at: self.created_at,
            key_rotated_at: self.key_rotated_at,
            disabled: self.disabled_at.is_some(),
            plan_mode: self.tracking_plan.mode,
            planned_events: self.tracking_plan.events.len(),
            last_day: SourceCounts {
                accepted: self.accepted,
                flagged: self.flagged,
                quarantined: self.quarantined,
                not_activatable: self.not_activatable,
                future_clamped: self.future_clamped,
            },
        }
    }
}

const SUMMARY_SQL: &str = "SELECT s.id, s.name, s.kind, s.write_key_prefix, s.created_at,
        s.key_rotated_at, s.disabled_at, s.tracking_plan, s.consent_policy, s.settings_version,
        COALESCE(d.accepted, 0)::int8 AS accepted, COALESCE(d.flagged, 0)::int8 AS flagged,
        COALESCE(d.quarantined, 0)::int8 AS quarantined,
        COALESCE(d.not_activatable, 0)::int8 AS not_activatable,
        COALESCE(d.future_clamped, 0)::int8 AS future_clamped
    FROM sources s
    LEFT JOIN LATERAL (
        SELECT sum(accepted) AS accepted, sum(flagged) AS flagged,
               sum(quarantined) AS quarantined, sum(not_activatable) AS not_activatable,
               sum(future_clamped) AS future_clamped
        FROM source_stats st
        WHERE st.source_id = s.id AND st.minute >= now() - interval '24 hours'
    ) d ON true
    WHERE s.workspace_id = $1";

/// The workspace's sources with their last day's counts, by name.
pub async fn list(pool: &PgPool, workspace_id: Uuid) -> Result<Vec<SourceSummary>, SourceError> {
    let rows: Vec<SummaryRow> = sqlx::query_as(&format!("{SUMMARY_SQL} ORDER BY lower(s.name)"))
        .bind(workspace_id)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(SummaryRow::summary).collect())
}

/// One source with its settings.
pub async fn get(pool: &PgPool, workspace_id: Uuid, id: Uuid) -> Result<SourceDetail, SourceError> {
    let row: SummaryRow = sqlx::query_as(&format!("{SUMMARY_SQL} AND s.id = $2"))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(SourceError::NotFound)?;
    Ok(SourceDetail {
        summary: row.summary(),
        plan: row.tracking_plan.0.clone(),
        consent: row.consent_policy.0.clone(),
        settings_version: row.settings_version,
    })
}

/// Replaces a source's write key; the old key stops working at once (gateways re-check keys
/// within their cache lifetime). Returns the new key, to be shown once.
pub async fn rotate_key(
    pool: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<String, SourceError> {
    let key = new_key();
    let done = sqlx::query(
        "UPDATE sources SET write_key_hash = $3, write_key_prefix = $4, key_rotated_at = now(),
                updated_at = now(), settings_version = settings_version + 1
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(hash(&key))
    .bind(key_prefix(&key))
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(SourceError::NotFound);
    }
    Ok(key)
}

/// Saves a source's tracking plan and consent policy after checking both.
pub async fn update_policy(
    pool: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
    plan: &TrackingPlan,
    consent: &ConsentPolicy,
) -> Result<(), SourceError> {
    let mut errors = FieldErrors::default();
    if let Err(e) = plan.validate() {
        errors.extend(e);
    }
    if let Err(e) = consent.validate() {
        errors.extend(e);
    }
    errors.into_result().map_err(SourceError::Fields)?;
    let done = sqlx::query(
        "UPDATE sources SET tracking_plan = $3, consent_policy = $4, updated_at = now(),
                settings_version = settings_version + 1
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(Json(plan))
    .bind(Json(consent))
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(SourceError::NotFound);
    }
    Ok(())
}

/// Turns a source off (its key is refused) or on again.
pub async fn set_disabled(
    pool: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
    disabled: bool,
) -> Result<(), SourceError> {
    let done = sqlx::query(
        "UPDATE sources SET disabled_at = CASE WHEN $3 THEN COALESCE(disabled_at, now()) END,
                updated_at = now(), settings_version = settings_version + 1
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(disabled)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(SourceError::NotFound);
    }
    Ok(())
}

/// Adds counted events to the per-minute stats (gateways flush what they counted).
pub async fn add_stats(
    pool: &PgPool,
    rows: &[(Uuid, OffsetDateTime, SourceCounts)],
) -> Result<(), SourceError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let minutes: Vec<OffsetDateTime> = rows.iter().map(|r| r.1).collect();
    let col = |f: fn(&SourceCounts) -> i64| rows.iter().map(|r| f(&r.2)).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO source_stats (source_id, minute, accepted, flagged, quarantined, not_activatable,
             future_clamped)
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
             $7::int8[])
         ON CONFLICT (source_id, minute) DO UPDATE SET
            accepted = source_stats.accepted + EXCLUDED.accepted,
            flagged = source_stats.flagged + EXCLUDED.flagged,
            quarantined = source_stats.quarantined + EXCLUDED.quarantined,
            not_activatable = source_stats.not_activatable + EXCLUDED.not_activatable,
            future_clamped = source_stats.future_clamped + EXCLUDED.future_clamped",
    )
    .bind(ids)
    .bind(minutes)
    .bind(col(|c| c.accepted))
    .bind(col(|c| c.flagged))
    .bind(col(|c| c.quarantined))
    .bind(col(|c| c.not_activatable))
    .bind(col(|c| c.future_clamped))
    .execute(pool)
    .await?;
    Ok(())
}

/// Per-minute counts of a source since `since` (minutes without events are absent).
pub async fn stats(
    pool: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
    since: OffsetDateTime,
) -> Result<Vec<StatPoint>, SourceError> {
    let rows: Vec<(OffsetDateTime, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT st.minute, st.accepted, st.flagged, st.quarantined, st.not_activatable,
                st.future_clamped
         FROM source_stats st JOIN sources s ON s.id = st.source_id
         WHERE s.workspace_id = $1 AND st.source_id = $2 AND st.minute >= $3
         ORDER BY st.minute",
    )
    .bind(workspace_id)
    .bind(id)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(minute, accepted, flagged, quarantined, not_activatable, future_clamped)| StatPoint {
                minute,
                counts: SourceCounts {
                    accepted,
                    flagged,
                    quarantined,
                    not_activatable,
                    future_clamped,
                },
            },
        )
        .collect())
}
