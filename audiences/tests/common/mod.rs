//! A workspace with one member per role, on a fresh database.
#![allow(dead_code)] // each test file uses part of the world

use audiences::Member;
use domain::Role;
use sqlx::PgPool;
use uuid::Uuid;

pub struct World {
    pub pool: PgPool,
    pub admin: Member,
    pub manager: Member,
    pub marketer: Member,
    pub rep: Member,
    pub other_rep: Member,
    /// An admin of another workspace.
    pub stranger: Member,
}

pub async fn add_workspace(pool: &PgPool, slug: &str) -> Uuid {
    let ws = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, $3)")
        .bind(ws)
        .bind(slug)
        .bind(slug)
        .execute(pool)
        .await
        .unwrap();
    ws
}

pub async fn add_member(pool: &PgPool, ws: Uuid, name: &str, role: Role) -> Member {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, 'x')")
        .bind(id)
        .bind(format!("{}@{}.example", name.to_lowercase(), id.simple()))
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(ws)
        .bind(id)
        .bind(role.as_str())
        .execute(pool)
        .await
        .unwrap();
    Member {
        workspace_id: ws,
        user_id: id,
        role,
    }
}

pub async fn world() -> World {
    let db = testkit::fresh_db().await;
    let pool = db.pool;
    let ws = add_workspace(&pool, "acme").await;
    let other = add_workspace(&pool, "globex").await;
    World {
        admin: add_member(&pool, ws, "Ada", Role::Admin).await,
        manager: add_member(&pool, ws, "Max", Role::Manager).await,
        marketer: add_member(&pool, ws, "Mia", Role::Marketer).await,
        rep: add_member(&pool, ws, "Rex", Role::SalesRep).await,
        other_rep: add_member(&pool, ws, "Ria", Role::SalesRep).await,
        stranger: add_member(&pool, other, "Sam", Role::Admin).await,
        pool,
    }
}
