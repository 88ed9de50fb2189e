//! Workspaces: the first admin, demo seeding and loading the signed-in viewer.

use crate::{audit, password::hash_password, AccessError};
use domain::validation::{check_email, check_name, check_password, normalize_email};
use domain::{FieldErrors, Role, Viewer, WorkspaceSummary};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// True once anybody can sign in; until then the first-run page creates the first admin.
pub async fn has_users(pool: &PgPool) -> Result<bool, AccessError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(pool)
        .await?)
}

/// The first workspace and its admin, from the first-run page, the CLI or the environment.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub workspace_name: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

/// Creates a workspace with an admin; refuses once any user exists so it cannot be replayed.
pub async fn bootstrap_admin(pool: &PgPool, input: &BootstrapAdmin) -> Result<Uuid, AccessError> {
    let mut errors = FieldErrors::default();
    if let Err(m) = check_name(&input.workspace_name) {
        errors.add("workspace_name", m);
    }
    if let Err(m) = check_name(&input.name) {
        errors.add("name", m);
    }
    if let Err(m) = check_email(&input.email) {
        errors.add("email", m);
    }
    if let Err(m) = check_password(&input.password) {
        errors.add("password", m);
    }
    errors.into_result().map_err(AccessError::Invalid)?;
    let hash = hash_password(&input.password).await?;

    let mut tx = pool.begin().await?;
    // Serialise concurrent first-run submissions: only the first one creates an admin.
    sqlx::query("LOCK TABLE users IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(&mut *tx)
        .await?;
    if any {
        return Err(AccessError::Conflict(
            "Pulse is already set up; sign in instead".into(),
        ));
    }
    let workspace_id = insert_workspace(&mut tx, input.workspace_name.trim()).await?;
    let user_id = insert_user(&mut tx, &input.email, input.name.trim(), &hash).await?;
    insert_membership(&mut tx, workspace_id, user_id, Role::Admin).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            workspace_id: Some(workspace_id),
            actor_user_id: Some(user_id),
            action: "workspace.create",
            subject_type: "workspace",
            subject_id: workspace_id.to_string(),
            before: None,
            after: Some(serde_json::json!({"name": input.workspace_name.trim(), "admin": normalize_email(&input.email)})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(workspace_id)
}

/// The shared password of the seeded demo accounts (printed by the run command).
pub const DEMO_PASSWORD: &str = "pulse-demo-2026";

/// One seeded demo account.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: Role,
    pub email: &'static str,
    pub name: &'static str,
}

const DEMO_USERS: [DemoLogin; 4] = [
    DemoLogin {
        role: Role::Admin,
        email: "admin@acme.example",
        name: "Avery Admin",
    },
    DemoLogin {
        role: Role::Manager,
        email: "manager@acme.example",
        name: "Morgan Manager",
    },
    DemoLogin {
        role: Role::Marketer,
        email: "marketer@acme.example",
        name: "Mira Marketer",
    },
    DemoLogin {
        role: Role::SalesRep,
        email: "rep@acme.example",
        name: "Sam Sales",
    },
];

/// The demo accounts `seed_demo` creates, one per role.
pub fn demo_logins() -> Vec<DemoLogin> {
    DEMO_USERS.to_vec()
}

/// Seeds the demo workspaces and one user per role; safe to run on every start.
///
/// A second workspace, where the demo admin is a manager, shows the workspace switcher.
pub async fn seed_demo(pool: &PgPool) -> Result<Vec<DemoLogin>, AccessError> {
    let hash = hash_password(DEMO_PASSWORD).await?;
    let mut tx = pool.begin().await?;
    let acme = upsert_workspace(&mut tx, "Acme Demo", "acme-demo").await?;
    let globex = upsert_workspace(&mut tx, "Globex Labs", "globex-labs").await?;
    for demo in &DEMO_USERS {
        let user_id: Uuid = sqlx::query_scalar(
            "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id",
        )
        .bind(Uuid::new_v4())
        .bind(demo.email)
        .bind(demo.name)
        .bind(&hash)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(acme)
        .bind(user_id)
        .bind(demo.role.as_str())
        .execute(&mut *tx)
        .await?;
        if demo.role == Role::Admin {
            sqlx::query(
                "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'manager')
                 ON CONFLICT DO NOTHING",
            )
            .bind(globex)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(demo_logins())
}

/// Loads the viewer for a session: the user, their active workspaces and their role in
/// `workspace_id` (or their first workspace when that one is no longer available to them).
pub async fn load_viewer(
    pool: &PgPool,
    user_id: Uuid,
    workspace_id: Option<Uuid>,
) -> Result<Viewer, AccessError> {
    let user: Option<(String, String)> =
        sqlx::query_as("SELECT email, name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    let (email, name) = user.ok_or(AccessError::NotFound("user"))?;
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT w.id, w.name, w.slug, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 AND m.active ORDER BY w.name, w.id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let current = rows
        .iter()
        .find(|r| Some(r.0) == workspace_id)
        .or_else(|| rows.first())
        .ok_or(AccessError::Deactivated)?;
    let role: Role = current
        .3
        .parse()
        .map_err(|_| AccessError::Conflict(format!("stored role `{}` is unknown", current.3)))?;
    let summary = |r: &(Uuid, String, String, String)| WorkspaceSummary {
        id: r.0,
        name: r.1.clone(),
        slug: r.2.clone(),
    };
    Ok(Viewer {
        user_id,
        email,
        name,
        workspace: summary(current),
        role,
        workspaces: rows.iter().map(summary).collect(),
    })
}

pub(crate) async fn insert_user(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<Uuid, AccessError> {
    let id = Uuid::new_v4();
    let res =
        sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(normalize_email(email))
            .bind(name)
            .bind(password_hash)
            .execute(conn)
            .await;
    match res {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AccessError::field(
            "email",
            "A user with this email already exists.",
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn insert_membership(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<(), AccessError> {
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(workspace_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_workspace(conn: &mut PgConnection, name: &str) -> Result<Uuid, AccessError> {
    let base = slugify(name);
    let id = Uuid::new_v4();
    // Append a short suffix until the slug is free (first try: the plain slug).
    for attempt in 0..20 {
        let slug = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{}", &Uuid::new_v4().simple().to_string()[..6])
        };
        let inserted = sqlx::query(
            "INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(&slug)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(id);
        }
    }
    Err(AccessError::Conflict(
        "could not find a free workspace slug".into(),
    ))
}

async fn upsert_workspace(
    conn: &mut PgConnection,
    name: &str,
    slug: &str,
) -> Result<Uuid, AccessError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)
         ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(slug)
    .fetch_one(conn)
    .await?)
}

/// A URL-safe identifier from a display name: lower-case ASCII words joined by dashes.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(48).collect();
    if slug.is_empty() {
        "workspace".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_are_lowercase_dashed_ascii() {
        assert_eq!(slugify("  Acme Demo, Inc. "), "acme-demo-inc");
        assert_eq!(slugify("Ünïcode only ✓"), "n-code-only");
        assert_eq!(slugify("!!!"), "workspace");
    }
}
