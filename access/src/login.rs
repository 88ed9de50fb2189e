//! Password sign-in with throttling of repeated failures per email and per client address.

use crate::{password::verify_password, AccessError};
use domain::validation::normalize_email;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Limits on failed sign-ins inside a sliding window.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Failures allowed per email address inside the window.
    pub max_failures_per_email: i64,
    /// Failures allowed per client address inside the window (slows password spraying).
    pub max_failures_per_ip: i64,
    /// Length of the sliding window.
    pub window: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            max_failures_per_email: 5,
            max_failures_per_ip: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// A successful sign-in: who, and which workspace to open first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
}

/// A hash of a random secret that no password matches; verifying against it keeps the response
/// time for an unknown email the same as for a wrong password, so timing reveals no accounts.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash() -> &'static str {
    DUMMY_HASH
        .get_or_init(|| async {
            let secret = Uuid::new_v4().to_string();
            crate::password::hash_password(&secret)
                .await
                .unwrap_or_default()
        })
        .await
}

/// Verifies email and password, records the attempt and returns the user and first workspace.
pub async fn authenticate(
    pool: &PgPool,
    policy: &LoginPolicy,
    email: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<SignedIn, AccessError> {
    let email = normalize_email(email);
    if email.is_empty() || password.is_empty() {
        return Err(AccessError::InvalidCredentials);
    }
    check_throttle(pool, policy, &email, client_ip).await?;

    let user: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(pool)
            .await?;
    let hash = match user.as_ref() {
        Some((_, h)) => h.as_str(),
        None => dummy_hash().await,
    };
    let ok = verify_password(password, hash).await && user.is_some();
    sqlx::query("INSERT INTO login_attempts (email, client_ip, succeeded) VALUES ($1, $2, $3)")
        .bind(&email)
        .bind(client_ip)
        .bind(ok)
        .execute(pool)
        .await?;
    let Some((user_id, _)) = user.filter(|_| ok) else {
        return Err(AccessError::InvalidCredentials);
    };

    let workspace_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT m.workspace_id FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 AND m.active ORDER BY w.name, w.id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    let workspace_id = workspace_id.ok_or(AccessError::Deactivated)?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(SignedIn {
        user_id,
        workspace_id,
    })
}

async fn check_throttle(
    pool: &PgPool,
    policy: &LoginPolicy,
    email: &str,
    client_ip: Option<&str>,
) -> Result<(), AccessError> {
    let window_secs = policy.window.as_secs_f64();
    // Failures in the window and the seconds until the oldest of them leaves it.
    let (by_email, email_wait): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM min(attempted_at) + make_interval(secs => $2) - now())::float8
         FROM login_attempts
         WHERE email = $1 AND NOT succeeded AND attempted_at > now() - make_interval(secs => $2)",
    )
    .bind(email)
    .bind(window_secs)
    .fetch_one(pool)
    .await?;
    if by_email >= policy.max_failures_per_email {
        return Err(throttled(email_wait));
    }
    if let Some(ip) = client_ip {
        let (by_ip, ip_wait): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM min(attempted_at) + make_interval(secs => $2) - now())::float8
             FROM login_attempts
             WHERE client_ip = $1 AND NOT succeeded AND attempted_at > now() - make_interval(secs => $2)",
        )
        .bind(ip)
        .bind(window_secs)
        .fetch_one(pool)
        .await?;
        if by_ip >= policy.max_failures_per_ip {
            return Err(throttled(ip_wait));
        }
    }
    Ok(())
}

fn throttled(wait: Option<f64>) -> AccessError {
    AccessError::Throttled {
        retry_after_secs: wait.unwrap_or(1.0).ceil().max(1.0) as u64,
    }
}
