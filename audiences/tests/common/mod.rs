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

pub async fn add_member(pool: &PgPool, ws: Uuid, name: &str, role: Role) -> Member {
    Member {
        workspace_id: ws,
        user_id: testkit::add_member(pool, ws, name, role.as_str()).await,
        role,
    }
}

pub async fn world() -> World {
    let db = testkit::fresh_db().await;
    let pool = db.pool;
    let ws = testkit::add_workspace(&pool, "acme").await;
    let other = testkit::add_workspace(&pool, "globex").await;
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
