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

/// Saves a label: created, or replaced by name (an archived one comes back). The pipeline
/// applies it within 5 seconds.
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
    let found = sqlx::query(
        "UPDATE label_definitions SET archived_at = coalesce(archived_at, now()), updated_at = now()
          WHERE workspace_id = $1 AND name = $2",
    )
    .bind(member.workspace_id)
    .bind(name)
    .execute(pool)
    .await?
    .rows_affected();
    if found == 0 {
        return Err(AudienceError::NotFound(
            "No label by that name exists in this workspace.",
        ));
    }
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
    sqlx::query(
        "INSERT INTO label_definitions (id, workspace_id, name, description, rule, is_trigger)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, name) DO UPDATE
            SET description = EXCLUDED.description, rule = EXCLUDED.rule,
                is_trigger = EXCLUDED.is_trigger, updated_at = now(), archived_at = NULL,
                live_count = CASE WHEN label_definitions.rule = EXCLUDED.rule
                                  THEN label_definitions.live_count END,
                counted_at = CASE WHEN label_definitions.rule = EXCLUDED.rule
                                  THEN label_definitions.counted_at END",
    )
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(&def.name)
    .bind(&def.description)
    .bind(Json(&def.rule))
    .bind(def.trigger)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores the definitions whose name the workspace has no label of yet (archived ones count):
/// the demo's first-start labels, which never overwrite what people changed.
pub async fn seed(
    pool: &PgPool,
    workspace_id: Uuid,
    defs: &[LabelDefinition],
) -> Result<(), sqlx::Error> {
    for def in defs {
        sqlx::query(
            "INSERT INTO label_definitions (id, workspace_id, name, description, rule, is_trigger)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, name) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(workspace_id)
        .bind(&def.name)
        .bind(&def.description)
        .bind(Json(&def.rule))
        .bind(def.trigger)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Every workspace's live (not archived) definitions, keyed by workspace id: what the runner
/// loads at start and reloads every few seconds.
pub async fn definitions(
    pool: &PgPool,
) -> Result<BTreeMap<String, Vec<LabelDefinition>>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, Json<LabelRule>, bool)> = sqlx::query_as(
        "SELECT workspace_id, name, description, rule, is_trigger FROM label_definitions
          WHERE archived_at IS NULL ORDER BY workspace_id, name",
    )
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, Vec<LabelDefinition>> = BTreeMap::new();
    for (ws, name, description, rule, trigger) in rows {
        out.entry(ws.to_string())
            .or_default()
            .push(LabelDefinition {
                name,
                description,
                rule: rule.0,
                trigger,
            });
    }
    Ok(out)
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
