//! Label definitions: the Labels page's list with live counts, saving (create or replace by
//! name), archiving, and what the server's runner loads and writes back.

use crate::{AudienceError, Member};
use domain::labels::{LabelDefinition, LabelRule, LabelSummary};
use domain::{Area, Need};
use sqlx::types::Json;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A row of `label_definitions` as the list reads it: name, description, rule, trigger flag,
/// live count.
type LabelRow = (String, String, Json<LabelRule>, bool, Option<i64>);

/// The workspace's labels in name order, each with the profiles carrying it now.
pub async fn list(pool: &PgPool, member: &Member) -> Result<Vec<LabelSummary>, AudienceError> {
    member.role.authorize(Area::Labels, Need::Read)?;
    let rows: Vec<LabelRow> = sqlx::query_as(
        "SELECT name, description, rule, is_trigger, live_count FROM label_definitions
          WHERE workspace_id = $1 AND archived_at IS NULL ORDER BY name",
    )
    .bind(member.workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, description, rule, trigger, live_count)| LabelSummary {
                definition: LabelDefinition {
                    name,
                    description,
                    rule: rule.0,
                    trigger,
                },
                live_count,
            },
        )
        .collect())
}

/// The names of the workspace's labels, for filters.
pub async fn names(pool: &PgPool, member: &Member) -> Result<Vec<String>, AudienceError> {
    member.role.authorize(Area::Labels, Need::Read)?;
    Ok(sqlx::query_scalar(
        "SELECT name FROM label_definitions
          WHERE workspace_id = $1 AND archived_at IS NULL ORDER BY name",
    )
    .bind(member.workspace_id)
    .fetch_all(pool)
    .await?)
}

/// Saves a label: created, or replaced by name (an archived one comes back), as a new version
/// of the workspace's definitions, which the pipeline applies within about a second.
pub async fn save(
    pool: &PgPool,
    member: &Member,
    def: &LabelDefinition,
) -> Result<(), AudienceError> {
    member.role.authorize(Area::Labels, Need::Change)?;
    let errors = def.validate();
    if !errors.is_empty() {
        return Err(AudienceError::Invalid(errors));
    }
    store(pool, member.workspace_id, def).await?;
    Ok(())
}

/// Archives a label: the pipeline stops evaluating it and the lists no longer show it; saving
/// one by the same name brings it back.
pub async fn archive(pool: &PgPool, member: &Member, name: &str) -> Result<(), AudienceError> {
    member.role.authorize(Area::Labels, Need::Change)?;
    let mut tx = pool.begin().await?;
    let found = sqlx::query(
        "UPDATE label_definitions SET archived_at = coalesce(archived_at, now()), updated_at = now()
          WHERE workspace_id = $1 AND name = $2",
    )
    .bind(member.workspace_id)
    .bind(name)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if found == 0 {
        return Err(AudienceError::NotFound(
            "No label by that name exists in this workspace.",
        ));
    }
    new_version(&mut tx, member.workspace_id).await?;
    tx.commit().await?;
    Ok(())
}

/// The one label upsert, without a member: for the server's own seeding (the demo, benches).
///
/// A changed rule clears the live count, which belonged to the old rule, until the pipeline
/// counts again; saving the same rule keeps it.
pub async fn store(
    pool: &PgPool,
    workspace_id: Uuid,
    def: &LabelDefinition,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "INSERT INTO label_definitions (id, workspace_id, name, description, rule, is_trigger)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, name) DO UPDATE
            SET description = EXCLUDED.description, rule = EXCLUDED.rule,
                is_trigger = EXCLUDED.is_trigger, updated_at = now(), archived_at = NULL,
                live_count = CASE WHEN label_definitions.rule = EXCLUDED.rule
                                  THEN label_definitions.live_count END,
                counted_at = CASE WHEN label_definitions.rule = EXCLUDED.rule
                                  THEN label_definitions.counted_at END
          WHERE label_definitions.rule IS DISTINCT FROM EXCLUDED.rule
             OR label_definitions.description IS DISTINCT FROM EXCLUDED.description
             OR label_definitions.is_trigger IS DISTINCT FROM EXCLUDED.is_trigger
             OR label_definitions.archived_at IS NOT NULL",
    )
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(&def.name)
    .bind(&def.description)
    .bind(Json(&def.rule))
    .bind(def.trigger)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Saving what is there already (the demo's labels at every start) is no new version.
    if changed > 0 {
        new_version(&mut tx, workspace_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Stores the definitions whose name the workspace has no label of yet (archived ones count):
/// the demo's first-start labels, which never overwrite what people changed.
pub async fn seed(
    pool: &PgPool,
    workspace_id: Uuid,
    defs: &[LabelDefinition],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut added = 0;
    for def in defs {
        added += sqlx::query(
            "INSERT INTO label_definitions (id, workspace_id, name, description, rule, is_trigger)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, name) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(workspace_id)
        .bind(&def.name)
        .bind(&def.description)
        .bind(Json(&def.rule))
        .bind(def.trigger)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if added > 0 {
        new_version(&mut tx, workspace_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records the workspace's live definitions, as they are in `tx`, as its next version (the
/// runner publishes it to the customer model's log). Saves in one workspace take their
/// versions one after the other.
async fn new_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    workspace_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('label_versions'), hashtext($1::text))")
        .bind(workspace_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO label_versions (workspace_id, version, definitions)
         SELECT $1,
                coalesce((SELECT max(version) FROM label_versions WHERE workspace_id = $1), 0) + 1,
                coalesce((SELECT jsonb_agg(jsonb_build_object(
                                 'name', name, 'description', description, 'rule', rule,
                                 'trigger', is_trigger) ORDER BY name)
                            FROM label_definitions
                           WHERE workspace_id = $1 AND archived_at IS NULL), '[]'::jsonb)",
    )
    .bind(workspace_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One version of a workspace's label definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelsVersion {
    pub workspace: Uuid,
    pub version: u64,
    pub definitions: Vec<LabelDefinition>,
}

type VersionRow = (Uuid, i64, Json<Vec<LabelDefinition>>);

fn version_of((workspace, version, definitions): VersionRow) -> LabelsVersion {
    LabelsVersion {
        workspace,
        version: version as u64,
        definitions: definitions.0,
    }
}

/// Versions not yet published to the customer model's log, oldest first per workspace (at
/// most `limit`).
pub async fn unpublished(pool: &PgPool, limit: i64) -> Result<Vec<LabelsVersion>, sqlx::Error> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT workspace_id, version, definitions FROM label_versions
          WHERE published_at IS NULL ORDER BY workspace_id, version LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(version_of).collect())
}

/// Notes that a version is in the log (publishing it again is harmless: the model ignores a
/// version it has).
pub async fn mark_published(
    pool: &PgPool,
    workspace_id: Uuid,
    version: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE label_versions SET published_at = now()
          WHERE workspace_id = $1 AND version = $2 AND published_at IS NULL",
    )
    .bind(workspace_id)
    .bind(version as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every workspace's newest version: what a model that starts without a checkpoint begins
/// with (later versions reach it through the log).
pub async fn latest_versions(pool: &PgPool) -> Result<Vec<LabelsVersion>, sqlx::Error> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT DISTINCT ON (workspace_id) workspace_id, version, definitions
           FROM label_versions ORDER BY workspace_id, version DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(version_of).collect())
}

/// Records how many profiles carry each label now (from the runner's checkpoint); rows whose
/// count did not change are not rewritten.
pub async fn record_live_counts(
    pool: &PgPool,
    workspace_id: Uuid,
    counts: &BTreeMap<String, usize>,
) -> Result<(), sqlx::Error> {
    for (label, n) in counts {
        sqlx::query(
            "UPDATE label_definitions SET live_count = $3, counted_at = now()
              WHERE workspace_id = $1 AND name = $2 AND live_count IS DISTINCT FROM $3",
        )
        .bind(workspace_id)
        .bind(label)
        .bind(*n as i64)
        .execute(pool)
        .await?;
    }
    Ok(())
}
