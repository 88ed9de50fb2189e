//! The Data Router over HTTP: credentials, idempotency keys, error bodies in the sending
//! system's terms, rate limits — against a real server, Postgres and the embedded bus.

mod common;

use domain::Role;
use integrations::templates;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

struct Shop {
    run: common::Running,
    secret: String,
    url: String,
}

async fn install(system: &str) -> Shop {
    let run = common::start().await;
    let ws = Uuid::new_v4();
    let user = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Acme', 'acme')")
        .bind(ws)
        .execute(&run.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'a@acme.example', 'A', 'x')")
        .bind(user)
        .execute(&run.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(ws)
        .bind(user)
        .execute(&run.pool)
        .await
        .unwrap();
    let admin = crm::Actor::user(ws, user, Role::Admin);
    let (_, secret) = integrations::create(&run.pool, &admin, "Store", system, system)
        .await
        .unwrap();
    let url = format!("{}/api/v1/integrations/{system}", run.base);
    Shop { run, secret, url }
}

#[tokio::test]
async fn a_shopify_webhook_is_written_once_per_webhook_id_and_answers_what_it_wrote() {
    let shop = install("shopify").await;
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!("{}/orders/create", shop.url))
            .bearer_auth(&shop.secret)
            .header(
                "X-Shopify-Webhook-Id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            )
            .header("content-type", "application/json")
            .body(templates::SHOPIFY_ORDER)
    };
    let first = post().send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let body: Value = first.json().await.unwrap();
    assert!(
        body["written"][0]
            .as_str()
            .unwrap()
            .contains("created order #1001"),
        "{body}"
    );

    let again = post().send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&shop.run.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);

    // Shopify cannot set headers: the topic header names the kind, the token rides in the URL.
    let topic = http
        .post(format!("{}?token={}", shop.url, shop.secret))
        .header("X-Shopify-Topic", "orders/updated")
        .body(templates::SHOPIFY_ORDER.replace("\"paid\"", "\"refunded\""))
        .send()
        .await
        .unwrap();
    assert_eq!(
        topic.status(),
        StatusCode::OK,
        "{}",
        topic.text().await.unwrap()
    );
    let status: String = sqlx::query_scalar("SELECT status FROM orders")
        .fetch_one(&shop.run.pool)
        .await
        .unwrap();
    assert_eq!(status, "refunded");
}

#[tokio::test]
async fn bad_requests_get_clear_answers_and_a_refused_payload_names_zendesks_field() {
    let desk = install("zendesk").await;
    let http = reqwest::Client::new();
    let url = format!("{}/tickets", desk.url);

    let none = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.text().await.unwrap().contains("Bearer"));

    let wrong = http
        .post(&url)
        .bearer_auth("pulse_not-a-token")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let other = http
        .post(format!(
            "{}/api/v1/integrations/somewhere-else/tickets",
            desk.run.base
        ))
        .bearer_auth(&desk.secret)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert!(other.text().await.unwrap().contains("`zendesk`"));

    let not_json = http
        .post(&url)
        .bearer_auth(&desk.secret)
        .body("{\"ticket\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert!(not_json.text().await.unwrap().contains("not JSON"));

    // Basic auth (Zendesk's "basic authentication" option): the token is the password.
    let refused = http
        .post(&url)
        .basic_auth("zendesk", Some(&desk.secret))
        .body(templates::ZENDESK_TICKET.replace("\"high\"", "\"critical\""))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["fields"]["ticket.priority"]
            .as_str()
            .unwrap()
            .contains("critical"),
        "{body}"
    );
    assert!(body["delivery"].as_i64().is_some());
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&desk.run.pool)
        .await
        .unwrap();
    assert_eq!(tickets, 0);
}

#[tokio::test]
async fn an_integration_over_its_rate_is_told_when_to_retry() {
    let sg = install("sendgrid").await;
    sqlx::query("UPDATE integrations SET rate_per_minute = 2")
        .execute(&sg.run.pool)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut statuses = vec![];
    for i in 0..3 {
        let r = http
            .post(format!("{}/events", sg.url))
            .bearer_auth(&sg.secret)
            .header("Idempotency-Key", format!("batch-{i}"))
            .body(templates::SENDGRID_EVENTS)
            .send()
            .await
            .unwrap();
        statuses.push((r.status(), r.headers().get("retry-after").cloned()));
    }
    assert_eq!(statuses[0].0, StatusCode::OK);
    assert_eq!(statuses[1].0, StatusCode::OK);
    assert_eq!(statuses[2].0, StatusCode::TOO_MANY_REQUESTS);
    assert!(statuses[2].1.is_some());
}
