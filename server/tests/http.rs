//! The HTTP edge against a real Postgres: operations endpoints, the sign-in gate, server
//! functions with sessions, CSRF refusal and role enforcement.

mod common;

use common::{client, login, start};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let s = start().await;
    let c = client();
    assert_eq!(
        c.get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let ready = c.get(format!("{}/readyz", s.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        ready.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    let metrics = c
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/readyz\""), "{metrics}");
}

#[tokio::test]
async fn before_the_first_admin_exists_every_page_leads_to_setup() {
    let s = start().await;
    let c = client();
    let r = c.get(format!("{}/crm", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/setup");
    let r = c.get(format!("{}/setup", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn signed_out_pages_redirect_to_login_with_the_target_and_sign_in_opens_them() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let c = client();
    let r = c
        .get(format!("{}/settings/users?page=2", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Fsettings%2Fusers%3Fpage%3D2"
    );

    let r = login(&c, &s.base, "admin@acme.example", access::DEMO_PASSWORD).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let page = c
        .get(format!("{}/settings/users", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let viewer: serde_json::Value = c
        .post(format!("{}/api/current_viewer", s.base))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(viewer["role"], "admin");
    assert_eq!(viewer["workspace"]["slug"], "acme-demo");

    // Signed in, /login goes home.
    let r = c.get(format!("{}/login", s.base)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn a_wrong_password_is_a_401_with_a_field_error() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let r = login(&client(), &s.base, "admin@acme.example", "nope nope nope").await;
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("The email or password is not correct."),
        "{body}"
    );
}

#[tokio::test]
async fn cross_site_posts_are_refused_before_reaching_server_functions() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let r = client()
        .post(format!("{}/api/login", s.base))
        .header("origin", "http://evil.example")
        .form(&[
            ("email", "admin@acme.example"),
            ("password", access::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 0, "the refused request never reached sign-in");
}

#[tokio::test]
async fn member_administration_is_refused_to_non_admins_on_the_server() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let c = client();
    login(&c, &s.base, "rep@acme.example", access::DEMO_PASSWORD).await;
    let r = c
        .post(format!("{}/api/list_members", s.base))
        .header("accept", "application/json")
        .form(&[("page", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{}/api/create_member", s.base))
        .header("accept", "application/json")
        .form(&[
            ("name", "X"),
            ("email", "x@acme.example"),
            ("role", "admin"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'x@acme.example'")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn sign_out_ends_the_session_in_the_store() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let c = client();
    login(&c, &s.base, "manager@acme.example", access::DEMO_PASSWORD).await;
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tower_sessions.session")
            .fetch_one(&s.pool)
            .await
            .unwrap()
    };
    assert_eq!(sessions().await, 1);
    c.post(format!("{}/api/logout", s.base))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(sessions().await, 0);
    let r = c.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
}
