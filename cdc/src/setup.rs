//! The database side of CDC's lifecycle: the publication and full before-images prepared
//! before streaming; the slot (which the stream creates) and the publication dropped on
//! uninstall.

use crate::config::{CdcConfig, CdcError, HEARTBEAT_TABLE, TABLES};
use sqlx::PgPool;

/// Checks `wal_level`, creates the publication if missing and gives the captured tables full
/// before-images (`REPLICA IDENTITY FULL`), so updates and deletes carry the old row.
pub async fn prepare(pool: &PgPool, config: &CdcConfig) -> Result<(), CdcError> {
    let wal_level: String = sqlx::query_scalar("SHOW wal_level").fetch_one(pool).await?;
    if wal_level != "logical" {
        return Err(CdcError::Unsupported(format!(
            "CDC needs wal_level=logical on the CRM database; it is {wal_level}. Set it in \
             postgresql.conf (and max_replication_slots, max_wal_senders >= 1) and restart Postgres"
        )));
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(&config.publication)
            .fetch_one(pool)
            .await?;
    if !exists {
        sqlx::query(&format!(
            "CREATE PUBLICATION {} FOR TABLE {}",
            ident(&config.publication),
            TABLES.join(", ")
        ))
        .execute(pool)
        .await?;
    }
    let has_heartbeat: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2)",
    )
    .bind(&config.publication)
    .bind(HEARTBEAT_TABLE)
    .fetch_one(pool)
    .await?;
    if !has_heartbeat {
        sqlx::query(&format!(
            "ALTER PUBLICATION {} ADD TABLE {HEARTBEAT_TABLE}",
            ident(&config.publication)
        ))
        .execute(pool)
        .await?;
    }
    // ALTER TABLE takes an exclusive lock: only for tables not yet set.
    let pending: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND c.relreplident <> 'f'",
    )
    .bind(TABLES)
    .fetch_all(pool)
    .await?;
    for t in pending {
        sqlx::query(&format!("ALTER TABLE {} REPLICA IDENTITY FULL", ident(&t)))
            .execute(pool)
            .await?;
    }
    Ok(())
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops the replication slot (the uninstall step: Postgres stops keeping WAL for it). Fails if
/// a CDC process still streams from it.
pub async fn drop_slot(pool: &PgPool, config: &CdcConfig) -> Result<(), CdcError> {
    sqlx::query(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(&config.slot)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM cdc_slots WHERE slot = $1")
        .bind(&config.slot)
        .execute(pool)
        .await?;
    Ok(())
}

/// Uninstalls CDC: drops the slot (see [`drop_slot`]) and the publication.
pub async fn uninstall(pool: &PgPool, config: &CdcConfig) -> Result<(), CdcError> {
    drop_slot(pool, config).await?;
    sqlx::query(&format!(
        "DROP PUBLICATION IF EXISTS {}",
        ident(&config.publication)
    ))
    .execute(pool)
    .await?;
    Ok(())
}
