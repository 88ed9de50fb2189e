//! The label definitions the engines run, read from Postgres.

use domain::labels::{LabelDefinition, LabelRule};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Every workspace's label definitions.
pub async fn label_definitions(
    pool: &PgPool,
) -> Result<BTreeMap<String, Vec<LabelDefinition>>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, sqlx::types::Json<LabelRule>, bool)> = sqlx::query_as(
        "SELECT workspace_id, name, description, rule, is_trigger FROM label_definitions ORDER BY workspace_id, name",
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

/// Stores a workspace's label definition (created or replaced by name).
pub async fn save_label(
    pool: &PgPool,
    workspace_id: Uuid,
    def: &LabelDefinition,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO label_definitions (id, workspace_id, name, description, rule, is_trigger)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workspace_id, name) DO UPDATE
            SET description = EXCLUDED.description, rule = EXCLUDED.rule,
                is_trigger = EXCLUDED.is_trigger, updated_at = now()",
    )
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(&def.name)
    .bind(&def.description)
    .bind(sqlx::types::Json(&def.rule))
    .bind(def.trigger)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records the live label counts of a partition's workspaces (after its checkpoint is stored,
/// so the counts never run ahead of what a restart would restore).
pub(super) async fn store_live_counts(
    pool: &PgPool,
    counts: BTreeMap<String, BTreeMap<String, usize>>,
) -> Result<(), sqlx::Error> {
    for (ws, counts) in counts {
        let Ok(ws) = Uuid::parse_str(&ws) else {
            continue;
        };
        for (label, n) in counts {
            sqlx::query(
                "UPDATE label_definitions SET live_count = $3, counted_at = now()
                  WHERE workspace_id = $1 AND name = $2 AND live_count IS DISTINCT FROM $3",
            )
            .bind(ws)
            .bind(&label)
            .bind(n as i64)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}
