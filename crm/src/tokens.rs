//! API tokens for system callers: per workspace, scoped, revocable, and stored only as a
//! SHA-256 of the secret (the secret has 256 bits of entropy, so a slow KDF adds nothing).

use crate::actor::{Actor, Principal, Scope};
use crate::error::CrmError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// Every token starts with this, so leaked tokens are easy to find in logs and code.
pub const TOKEN_PREFIX: &str = "pulse_";

/// A token as lists show it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A new token with its secret, shown exactly once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}

/// Why anyone but an admin is refused.
const ADMINS_ONLY: &str = "only workspace admins manage API tokens";

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Issues a token; admins only.
pub async fn issue(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<IssuedToken, CrmError> {
    let user = actor.require_admin(ADMINS_ONLY)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CrmError::field(
            "name",
            "Name the token (at most 100 characters), e.g. after the system that uses it.",
        ));
    }
    if scopes.is_empty() {
        return Err(CrmError::field("scopes", "Choose at least one scope."));
    }
    if let Some(bad) = scopes.iter().find(|s| Scope::parse(s).is_none()) {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        return Err(CrmError::field(
            "scopes",
            format!("Unknown scope {bad}; use {}.", known.join(" or ")),
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let token: ApiToken = sqlx::query_as(
        "INSERT INTO api_tokens (id, workspace_id, name, prefix, secret_hash, scopes, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at",
    )
    .bind(Uuid::new_v4())
    .bind(actor.workspace_id)
    .bind(name)
    .bind(&prefix)
    .bind(hash(&secret))
    .bind(scopes)
    .bind(user)
    .fetch_one(conn)
    .await?;
    Ok(IssuedToken { token, secret })
}

/// The workspace's tokens, newest first; admins only.
pub async fn list(conn: &mut PgConnection, actor: &Actor) -> Result<Vec<ApiToken>, CrmError> {
    actor.require_admin(ADMINS_ONLY)?;
    Ok(sqlx::query_as(
        "SELECT id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at
           FROM api_tokens WHERE workspace_id = $1 ORDER BY created_at DESC",
    )
    .bind(actor.workspace_id)
    .fetch_all(conn)
    .await?)
}

/// Revokes a token at once; admins only.
pub async fn revoke(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<(), CrmError> {
    actor.require_admin(ADMINS_ONLY)?;
    let n = sqlx::query("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE workspace_id = $1 AND id = $2")
        .bind(actor.workspace_id)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(CrmError::Forbidden(
            "no such token in this workspace".into(),
        ));
    }
    Ok(())
}

/// The actor a bearer token stands for, or `None` for unknown and revoked tokens.
pub async fn authenticate(
    conn: &mut PgConnection,
    secret: &str,
) -> Result<Option<Actor>, CrmError> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 100 {
        return Ok(None);
    }
    // Stamp last use at most once a minute so busy integrations do not write on every call.
    let row: Option<(Uuid, Uuid, Vec<String>)> = sqlx::query_as(
        "WITH t AS (SELECT id, workspace_id, scopes FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL),
              u AS (UPDATE api_tokens SET last_used_at = now()
                     WHERE id IN (SELECT id FROM t) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))
         SELECT id, workspace_id, scopes FROM t",
    )
    .bind(hash(secret))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id, workspace_id, scopes)| Actor {
        workspace_id,
        principal: Principal::Token {
            id,
            scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        },
    }))
}
