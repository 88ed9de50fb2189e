//! Access rules against a real Postgres: sign-in, throttling, member administration, scoping.

use access::*;
use domain::Role;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

async fn setup() -> (PgPool, Viewer) {
    let db = testkit::fresh_db().await;
    bootstrap_admin(
        &db.pool,
        &BootstrapAdmin {
            workspace_name: "Acme".into(),
            name: "Ada Admin".into(),
            email: "Ada@Acme.example".into(),
            password: "correct horse battery".into(),
        },
    )
    .await
    .unwrap();
    let signed = authenticate(
        &db.pool,
        &LoginPolicy::default(),
        "ada@acme.example",
        "correct horse battery",
        None,
    )
    .await
    .unwrap();
    let viewer = load_viewer(&db.pool, signed.user_id, Some(signed.workspace_id))
        .await
        .unwrap();
    (db.pool, viewer)
}

fn member(email: &str, role: Role) -> NewMember {
    NewMember {
        email: email.into(),
        name: format!("Person {email}"),
        role,
        password: "a long enough password".into(),
    }
}

async fn viewer_of(pool: &PgPool, email: &str) -> Viewer {
    let s = authenticate(
        pool,
        &LoginPolicy::default(),
        email,
        "a long enough password",
        None,
    )
    .await
    .unwrap();
    load_viewer(pool, s.user_id, Some(s.workspace_id))
        .await
        .unwrap()
}

#[tokio::test]
async fn first_admin_signs_in_with_normalised_email_and_lands_in_their_workspace() {
    let (_pool, viewer) = setup().await;
    assert_eq!(viewer.email, "ada@acme.example");
    assert_eq!(viewer.role, Role::Admin);
    assert_eq!(viewer.workspace.name, "Acme");
    assert_eq!(viewer.workspace.slug, "acme");
}

#[tokio::test]
async fn bootstrap_refuses_a_second_first_admin() {
    let (pool, _) = setup().await;
    let err = bootstrap_admin(
        &pool,
        &BootstrapAdmin {
            workspace_name: "Evil".into(),
            name: "Mallory".into(),
            email: "mallory@evil.example".into(),
            password: "another long password".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AccessError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn bootstrap_reports_every_invalid_field() {
    let db = testkit::fresh_db().await;
    let err = bootstrap_admin(
        &db.pool,
        &BootstrapAdmin {
            workspace_name: " ".into(),
            name: "".into(),
            email: "nope".into(),
            password: "short".into(),
        },
    )
    .await
    .unwrap_err();
    let AccessError::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    for f in ["workspace_name", "name", "email", "password"] {
        assert!(fields.get(f).is_some(), "missing error for {f}");
    }
    assert!(!has_users(&db.pool).await.unwrap());
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_error() {
    let (pool, _) = setup().await;
    let p = LoginPolicy::default();
    let a = authenticate(&pool, &p, "ada@acme.example", "wrong password!", None)
        .await
        .unwrap_err();
    let b = authenticate(&pool, &p, "nobody@acme.example", "wrong password!", None)
        .await
        .unwrap_err();
    assert!(matches!(a, AccessError::InvalidCredentials));
    assert!(matches!(b, AccessError::InvalidCredentials));
}

#[tokio::test]
async fn repeated_failures_throttle_the_email_even_with_the_right_password() {
    let (pool, _) = setup().await;
    let p = LoginPolicy {
        max_failures_per_email: 3,
        max_failures_per_ip: 100,
        window: Duration::from_secs(600),
    };
    for _ in 0..3 {
        let e = authenticate(
            &pool,
            &p,
            "ada@acme.example",
            "guess guess guess",
            Some("10.0.0.1"),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, AccessError::InvalidCredentials));
    }
    let e = authenticate(
        &pool,
        &p,
        "ada@acme.example",
        "correct horse battery",
        Some("10.0.0.2"),
    )
    .await
    .unwrap_err();
    let AccessError::Throttled { retry_after_secs } = e else {
        panic!("{e:?}")
    };
    assert!(
        retry_after_secs > 0 && retry_after_secs <= 600,
        "{retry_after_secs}"
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_throttle_other_emails_from_it() {
    let (pool, _) = setup().await;
    let p = LoginPolicy {
        max_failures_per_email: 100,
        max_failures_per_ip: 2,
        window: Duration::from_secs(600),
    };
    for email in ["a@x.example", "b@x.example"] {
        let _ = authenticate(&pool, &p, email, "whatever whatever", Some("10.9.9.9")).await;
    }
    let e = authenticate(
        &pool,
        &p,
        "ada@acme.example",
        "correct horse battery",
        Some("10.9.9.9"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AccessError::Throttled { .. }), "{e:?}");
    // Another address is not affected.
    authenticate(
        &pool,
        &p,
        "ada@acme.example",
        "correct horse battery",
        Some("10.9.9.8"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn admin_creates_members_and_they_sign_in_with_their_role() {
    let (pool, admin) = setup().await;
    for (email, role) in [
        ("m@acme.example", Role::Manager),
        ("k@acme.example", Role::Marketer),
        ("s@acme.example", Role::SalesRep),
    ] {
        let m = create_member(&pool, &admin, &member(email, role))
            .await
            .unwrap();
        assert_eq!(m.role, role);
        assert!(m.active);
        let v = viewer_of(&pool, email).await;
        assert_eq!(v.role, role);
        assert_eq!(v.workspace.id, admin.workspace.id);
    }
    let page = list_members(&pool, &admin, 1, 50).await.unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(page.members.len(), 4);
}

#[tokio::test]
async fn member_list_is_paginated() {
    let (pool, admin) = setup().await;
    for i in 0..5 {
        create_member(
            &pool,
            &admin,
            &member(&format!("p{i}@acme.example"), Role::SalesRep),
        )
        .await
        .unwrap();
    }
    let p1 = list_members(&pool, &admin, 1, 4).await.unwrap();
    let p2 = list_members(&pool, &admin, 2, 4).await.unwrap();
    assert_eq!(p1.total, 6);
    assert_eq!((p1.members.len(), p2.members.len()), (4, 2));
    assert!(p1.members.iter().all(|m| !p2.members.contains(m)));
}

#[tokio::test]
async fn only_admins_manage_members() {
    let (pool, admin) = setup().await;
    for (email, role) in [
        ("m@acme.example", Role::Manager),
        ("k@acme.example", Role::Marketer),
        ("s@acme.example", Role::SalesRep),
    ] {
        create_member(&pool, &admin, &member(email, role))
            .await
            .unwrap();
        let v = viewer_of(&pool, email).await;
        assert!(matches!(
            list_members(&pool, &v, 1, 50).await,
            Err(AccessError::Forbidden(_))
        ));
        assert!(matches!(
            create_member(&pool, &v, &member("x@acme.example", Role::Admin)).await,
            Err(AccessError::Forbidden(_))
        ));
        assert!(matches!(
            change_role(&pool, &v, v.user_id, Role::Admin).await,
            Err(AccessError::Forbidden(_))
        ));
        assert!(matches!(
            set_active(&pool, &v, admin.user_id, false).await,
            Err(AccessError::Forbidden(_))
        ));
    }
}

#[tokio::test]
async fn duplicate_member_and_invalid_fields_are_reported_per_field() {
    let (pool, admin) = setup().await;
    create_member(&pool, &admin, &member("dup@acme.example", Role::Marketer))
        .await
        .unwrap();
    let AccessError::Invalid(f) =
        create_member(&pool, &admin, &member("DUP@acme.example", Role::Marketer))
            .await
            .unwrap_err()
    else {
        panic!()
    };
    assert!(f.get("email").unwrap().contains("already"));
    let bad = NewMember {
        email: "bad".into(),
        name: "".into(),
        role: Role::Marketer,
        password: "short".into(),
    };
    let AccessError::Invalid(f) = create_member(&pool, &admin, &bad).await.unwrap_err() else {
        panic!()
    };
    assert!(f.get("email").is_some() && f.get("name").is_some() && f.get("password").is_some());
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let (pool, admin) = setup().await;
    let e = change_role(&pool, &admin, admin.user_id, Role::Manager)
        .await
        .unwrap_err();
    assert!(matches!(e, AccessError::Conflict(_)), "{e:?}");
    let e = set_active(&pool, &admin, admin.user_id, false)
        .await
        .unwrap_err();
    assert!(matches!(e, AccessError::Conflict(_)), "{e:?}");
    // With a second admin, the first may step down.
    let other = create_member(&pool, &admin, &member("b@acme.example", Role::Admin))
        .await
        .unwrap();
    change_role(&pool, &admin, admin.user_id, Role::Manager)
        .await
        .unwrap();
    let other_viewer = viewer_of(&pool, "b@acme.example").await;
    let e = set_active(&pool, &other_viewer, other.user_id, false)
        .await
        .unwrap_err();
    assert!(matches!(e, AccessError::Conflict(_)), "{e:?}");
}

#[tokio::test]
async fn a_deactivated_member_cannot_sign_in_or_keep_a_session_and_can_be_reactivated() {
    let (pool, admin) = setup().await;
    let m = create_member(&pool, &admin, &member("s@acme.example", Role::SalesRep))
        .await
        .unwrap();
    let before = viewer_of(&pool, "s@acme.example").await;
    set_active(&pool, &admin, m.user_id, false).await.unwrap();
    let e = authenticate(
        &pool,
        &LoginPolicy::default(),
        "s@acme.example",
        "a long enough password",
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AccessError::Deactivated), "{e:?}");
    let e = load_viewer(&pool, before.user_id, Some(before.workspace.id))
        .await
        .unwrap_err();
    assert!(matches!(e, AccessError::Deactivated), "{e:?}");
    set_active(&pool, &admin, m.user_id, true).await.unwrap();
    viewer_of(&pool, "s@acme.example").await;
}

#[tokio::test]
async fn member_changes_are_audited_with_before_and_after() {
    let (pool, admin) = setup().await;
    let m = create_member(&pool, &admin, &member("s@acme.example", Role::SalesRep))
        .await
        .unwrap();
    change_role(&pool, &admin, m.user_id, Role::Manager)
        .await
        .unwrap();
    set_active(&pool, &admin, m.user_id, false).await.unwrap();
    type AuditRow = (
        String,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        Option<Uuid>,
    );
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT action, before, after, actor_user_id FROM audit_log WHERE subject_id = $1 ORDER BY id",
    )
    .bind(m.user_id.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        ["member.create", "member.change_role", "member.deactivate"]
    );
    assert_eq!(rows[1].1.as_ref().unwrap()["role"], "sales_rep");
    assert_eq!(rows[1].2.as_ref().unwrap()["role"], "manager");
    assert!(rows.iter().all(|r| r.3 == Some(admin.user_id)));
}

#[tokio::test]
async fn members_of_another_workspace_are_invisible_and_untouchable() {
    let (pool, admin) = setup().await;
    seed_demo(&pool).await.unwrap();
    let demo_admin = {
        let s = authenticate(
            &pool,
            &LoginPolicy::default(),
            "admin@acme.example",
            DEMO_PASSWORD,
            None,
        )
        .await
        .unwrap();
        load_viewer(&pool, s.user_id, Some(s.workspace_id))
            .await
            .unwrap()
    };
    assert_ne!(demo_admin.workspace.id, admin.workspace.id);
    let page = list_members(&pool, &admin, 1, 50).await.unwrap();
    assert!(page.members.iter().all(|m| m.email != "admin@acme.example"));
    let e = set_active(&pool, &admin, demo_admin.user_id, false)
        .await
        .unwrap_err();
    assert!(matches!(e, AccessError::NotFound(_)), "{e:?}");
    let e = change_role(&pool, &admin, demo_admin.user_id, Role::SalesRep)
        .await
        .unwrap_err();
    assert!(matches!(e, AccessError::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn demo_seeding_is_idempotent_and_gives_one_user_per_role() {
    let db = testkit::fresh_db().await;
    let logins = seed_demo(&db.pool).await.unwrap();
    seed_demo(&db.pool).await.unwrap();
    let roles: Vec<Role> = logins.iter().map(|l| l.role).collect();
    assert_eq!(roles, Role::ALL);
    for l in &logins {
        let s = authenticate(
            &db.pool,
            &LoginPolicy::default(),
            l.email,
            DEMO_PASSWORD,
            None,
        )
        .await
        .unwrap();
        let v = load_viewer(&db.pool, s.user_id, None).await.unwrap();
        assert_eq!(v.role, l.role, "{}", l.email);
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(users, 4);
}

#[tokio::test]
async fn a_viewer_switches_only_to_workspaces_they_belong_to() {
    let db = testkit::fresh_db().await;
    seed_demo(&db.pool).await.unwrap();
    let s = authenticate(
        &db.pool,
        &LoginPolicy::default(),
        "admin@acme.example",
        DEMO_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let v = load_viewer(&db.pool, s.user_id, None).await.unwrap();
    assert_eq!(v.workspaces.len(), 2);
    let globex = v
        .workspaces
        .iter()
        .find(|w| w.slug == "globex-labs")
        .unwrap()
        .id;
    let in_globex = load_viewer(&db.pool, s.user_id, Some(globex))
        .await
        .unwrap();
    assert_eq!(in_globex.role, Role::Manager);
    let rep = authenticate(
        &db.pool,
        &LoginPolicy::default(),
        "rep@acme.example",
        DEMO_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let rep_v = load_viewer(&db.pool, rep.user_id, Some(globex))
        .await
        .unwrap();
    assert_eq!(
        rep_v.workspace.slug, "acme-demo",
        "falls back to a workspace the rep belongs to"
    );
}
