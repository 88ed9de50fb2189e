//! The source registry: sources and their write keys (stored as SHA-256 only).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// Every write key starts with this.
pub const WRITE_KEY_PREFIX: &str = "wk_";

/// A source as the gateway needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Source {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub kind: String,
}

/// Source registry failures.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Invalid(String),
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
    let source: Source = sqlx::query_as(
        "INSERT INTO sources (id, workspace_id, name, kind, write_key_hash, write_key_prefix)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, workspace_id, name, kind",
    )
    .bind(Uuid::new_v4())
    .bind(workspace_id)
    .bind(name)
    .bind(kind)
    .bind(hash(&key))
    .bind(
        key.chars()
            .take(WRITE_KEY_PREFIX.len() + 6)
            .collect::<String>(),
    )
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("sources_name_key") => {
            SourceError::Invalid("Another source already has this name.".into())
        }
        _ => SourceError::Database(e),
    })?;
    Ok((source, key))
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
    .bind(
        key.chars()
            .take(WRITE_KEY_PREFIX.len() + 6)
            .collect::<String>(),
    )
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
    Ok(sqlx::query_as("SELECT id, workspace_id, name, kind FROM sources WHERE write_key_hash = $1 AND disabled_at IS NULL")
        .bind(hash(key))
        .fetch_optional(pool)
        .await?)
}
