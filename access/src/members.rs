//! Member administration inside the viewer's workspace: list, create, change role, deactivate.

use crate::workspaces::{insert_membership, insert_user};
use crate::{audit, password::hash_password, AccessError};
use domain::validation::{check_email, check_name, check_password, normalize_email};
use domain::{FieldErrors, MemberSummary, Role, Viewer};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// One page of a workspace's members, ordered by name.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub members: Vec<MemberSummary>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// A person to add to the viewer's workspace.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Initial password for a new account; ignored when the email already has an account.
    pub password: String,
}

fn require_admin(viewer: &Viewer) -> Result<(), AccessError> {
    if viewer.role.can_manage_members() {
        Ok(())
    } else {
        Err(AccessError::Forbidden(
            "only workspace admins manage users and roles",
        ))
    }
}

type MemberRow = (
    Uuid,
    String,
    String,
    String,
    bool,
    Option<OffsetDateTime>,
    OffsetDateTime,
);

fn to_summary(r: MemberRow) -> Result<MemberSummary, AccessError> {
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    Ok(MemberSummary {
        user_id: r.0,
        email: r.1,
        name: r.2,
        role: r
            .3
            .parse()
            .map_err(|_| AccessError::Conflict(format!("stored role `{}` is unknown", r.3)))?,
        active: r.4,
        last_login_at: r.5.map(fmt),
        joined_at: fmt(r.6),
    })
}

const MEMBER_SELECT: &str =
    "SELECT u.id, u.email, u.name, m.role, m.active, u.last_login_at, m.created_at
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// Lists members of the viewer's workspace, `page_size` per page (page numbers start at 1).
pub async fn list_members(
    pool: &PgPool,
    viewer: &Viewer,
    page: u32,
    page_size: u32,
) -> Result<MemberPage, AccessError> {
    require_admin(viewer)?;
    let page = page.max(1);
    let page_size = page_size.clamp(1, 200);
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE workspace_id = $1")
        .bind(viewer.workspace.id)
        .fetch_one(pool)
        .await?;
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.workspace_id = $1 ORDER BY lower(u.name), u.id LIMIT $2 OFFSET $3"
    ))
    .bind(viewer.workspace.id)
    .bind(i64::from(page_size))
    .bind(i64::from(page - 1) * i64::from(page_size))
    .fetch_all(pool)
    .await?;
    Ok(MemberPage {
        members: rows.into_iter().map(to_summary).collect::<Result<_, _>>()?,
        total,
        page,
        page_size,
    })
}

async fn fetch_member(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<MemberSummary, AccessError> {
    let row: Option<MemberRow> = sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2 FOR UPDATE OF m"
    ))
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    to_summary(row.ok_or(AccessError::NotFound("member"))?)
}

/// Adds a person to the viewer's workspace: creates the account if the email is new, otherwise
/// adds the existing account (keeping its password).
pub async fn create_member(
    pool: &PgPool,
    viewer: &Viewer,
    input: &NewMember,
) -> Result<MemberSummary, AccessError> {
    require_admin(viewer)?;
    let mut errors = FieldErrors::default();
    if let Err(m) = check_email(&input.email) {
        errors.add("email", m);
    }
    if let Err(m) = check_name(&input.name) {
        errors.add("name", m);
    }
    let email = normalize_email(&input.email);
    let existing: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(pool)
        .await?;
    if existing.is_none() {
        if let Err(m) = check_password(&input.password) {
            errors.add("password", m);
        }
    }
    errors.into_result().map_err(AccessError::Invalid)?;

    let mut tx = pool.begin().await?;
    let user_id = match existing {
        Some(id) => id,
        None => {
            let hash = hash_password(&input.password).await?;
            insert_user(&mut tx, &email, input.name.trim(), &hash).await?
        }
    };
    let already: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = $1 AND user_id = $2)",
    )
    .bind(viewer.workspace.id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    if already {
        return Err(AccessError::field(
            "email",
            "This person is already a member of this workspace.",
        ));
    }
    insert_membership(&mut tx, viewer.workspace.id, user_id, input.role).await?;
    let member = fetch_member(&mut tx, viewer.workspace.id, user_id).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            workspace_id: Some(viewer.workspace.id),
            actor_user_id: Some(viewer.user_id),
            action: "member.create",
            subject_type: "member",
            subject_id: user_id.to_string(),
            before: None,
            after: Some(json!({"email": member.email, "name": member.name, "role": member.role, "active": true})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(member)
}

/// Refuses a change that would leave the workspace without an active admin.
async fn ensure_other_admin(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<(), AccessError> {
    // Lock every admin row so two concurrent demotions cannot both pass the check.
    let others: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM memberships WHERE workspace_id = $1 AND role = 'admin' AND active
         AND user_id <> $2 FOR UPDATE",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    if others.is_empty() {
        Err(AccessError::Conflict(
            "A workspace needs at least one active admin; make someone else admin first.".into(),
        ))
    } else {
        Ok(())
    }
}

/// Changes a member's role in the viewer's workspace.
pub async fn change_role(
    pool: &PgPool,
    viewer: &Viewer,
    user_id: Uuid,
    role: Role,
) -> Result<MemberSummary, AccessError> {
    require_admin(viewer)?;
    let mut tx = pool.begin().await?;
    let before = fetch_member(&mut tx, viewer.workspace.id, user_id).await?;
    if before.role == role {
        return Ok(before);
    }
    if before.role == Role::Admin && before.active {
        ensure_other_admin(&mut tx, viewer.workspace.id, user_id).await?;
    }
    sqlx::query("UPDATE memberships SET role = $3, updated_at = now() WHERE workspace_id = $1 AND user_id = $2")
        .bind(viewer.workspace.id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
    let after = fetch_member(&mut tx, viewer.workspace.id, user_id).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            workspace_id: Some(viewer.workspace.id),
            actor_user_id: Some(viewer.user_id),
            action: "member.change_role",
            subject_type: "member",
            subject_id: user_id.to_string(),
            before: Some(json!({"role": before.role})),
            after: Some(json!({"role": after.role})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deactivates or reactivates a member; a deactivated member's sessions stop working at once.
pub async fn set_active(
    pool: &PgPool,
    viewer: &Viewer,
    user_id: Uuid,
    active: bool,
) -> Result<MemberSummary, AccessError> {
    require_admin(viewer)?;
    if !active && user_id == viewer.user_id {
        return Err(AccessError::Conflict(
            "You cannot deactivate yourself.".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let before = fetch_member(&mut tx, viewer.workspace.id, user_id).await?;
    if before.active == active {
        return Ok(before);
    }
    if !active && before.role == Role::Admin {
        ensure_other_admin(&mut tx, viewer.workspace.id, user_id).await?;
    }
    sqlx::query("UPDATE memberships SET active = $3, updated_at = now() WHERE workspace_id = $1 AND user_id = $2")
        .bind(viewer.workspace.id)
        .bind(user_id)
        .bind(active)
        .execute(&mut *tx)
        .await?;
    let after = fetch_member(&mut tx, viewer.workspace.id, user_id).await?;
    audit::record(
        &mut tx,
        audit::AuditEntry {
            workspace_id: Some(viewer.workspace.id),
            actor_user_id: Some(viewer.user_id),
            action: if active {
                "member.reactivate"
            } else {
                "member.deactivate"
            },
            subject_type: "member",
            subject_id: user_id.to_string(),
            before: Some(json!({"active": before.active})),
            after: Some(json!({"active": after.active})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}
