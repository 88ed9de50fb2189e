//! The checkpoint store: one row per partition of `events.raw` in `pipeline_checkpoints`,
//! holding the engine's state, the offsets it covers and the instance that stored it.

use super::Failure;
use pipeline::Engine;
use sqlx::PgPool;
use uuid::Uuid;

/// The name of the single checkpoint row used before checkpoints were per partition.
const WHOLE: &str = "events.raw";

/// The checkpoint row of one partition of `events.raw`.
fn row_name(partition: i32) -> String {
    format!("{WHOLE}/{partition}")
}

/// This process (and, as tests run several in one process, this run) for checkpoint rows.
pub(super) fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into());
    let run = Uuid::new_v4().simple().to_string();
    format!("{host}/{}/{}", std::process::id(), &run[..8])
}

/// A partition's stored state, if any.
pub(super) async fn load(pool: &PgPool, partition: i32) -> Result<Option<Engine>, Failure> {
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT state FROM pipeline_checkpoints WHERE name = $1")
            .bind(row_name(partition))
            .fetch_optional(pool)
            .await?;
    Ok(match stored {
        Some(bytes) => Some(Engine::restore(&bytes)?),
        None => None,
    })
}

/// Stores a partition's state unless a newer owner has stored more; returns whether it was
/// stored.
pub(super) async fn save(
    pool: &PgPool,
    instance: &str,
    partition: i32,
    engine: &Engine,
) -> Result<bool, Failure> {
    let offsets = engine.offsets();
    let position = offsets.get(&partition).copied().unwrap_or(0);
    let stored = sqlx::query(
        "INSERT INTO pipeline_checkpoints (name, state, offsets, position, owner) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, offsets = EXCLUDED.offsets,
                position = EXCLUDED.position, owner = EXCLUDED.owner, taken_at = now()
          WHERE pipeline_checkpoints.position <= EXCLUDED.position",
    )
    .bind(row_name(partition))
    .bind(engine.checkpoint())
    .bind(sqlx::types::Json(offsets))
    .bind(position)
    .bind(instance)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    Ok(stored)
}

/// Before checkpoints were per partition, one row held the whole state: split it once by
/// owner. (Events produced under the old per-person keys and not yet applied then are applied
/// by the owner of the partition they are in.)
pub(super) async fn split_whole(pool: &PgPool, partitions: i32) -> Result<(), Failure> {
    let mut tx = pool.begin().await?;
    let whole: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT state FROM pipeline_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(WHOLE)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(bytes) = whole else {
        return Ok(());
    };
    for p in 0..partitions {
        let mut engine = Engine::restore(&bytes)?;
        engine.keep_only(p, |ws| bus::partition_for(ws, partitions) == p);
        let position = engine.offsets().get(&p).copied().unwrap_or(0);
        sqlx::query(
            "INSERT INTO pipeline_checkpoints (name, state, offsets, position) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(row_name(p))
        .bind(engine.checkpoint())
        .bind(sqlx::types::Json(engine.offsets()))
        .bind(position)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM pipeline_checkpoints WHERE name = $1")
        .bind(WHOLE)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        partitions,
        "split the customer model's checkpoint by partition"
    );
    Ok(())
}
