//! The REST API against a real server and Postgres: status codes, ETags and If-Match,
//! validation bodies, roles, API tokens, lists and lead conversion.

mod common;

use common::{client, login, start};
use serde_json::{json, Value};

async fn signed_in(base: &str, who: &str) -> reqwest::Client {
    let c = client();
    let r = login(
        &c,
        base,
        &format!("{who}@acme.example"),
        access::DEMO_PASSWORD,
    )
    .await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    c
}

async fn body(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_api_refuses_callers_without_a_session_or_token() {
    let s = start().await;
    let r = client()
        .get(format!("{}/api/v1/customers", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(body(r).await["error"], "unauthenticated");
    let r = client()
        .get(format!("{}/api/v1/customers", s.base))
        .bearer_auth("pulse_not_a_real_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn customers_round_trip_with_etags_if_match_and_field_errors() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let c = signed_in(&s.base, "manager").await;
    let url = format!("{}/api/v1/customers", s.base);

    let r = c
        .post(&url)
        .json(
            &json!({ "first_name": "Ada", "last_name": "Lovelace", "emails": ["ADA@example.com"] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let created = body(r).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["emails"], json!(["ada@example.com"]));

    let r = c.get(format!("{url}/{id}")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["etag"].to_str().unwrap()),
        (200, "\"1\"")
    );

    let edit =
        json!({ "first_name": "Augusta Ada", "last_name": "King", "emails": ["ada@example.com"] });
    let r = c
        .put(format!("{url}/{id}"))
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 428, "updates without If-Match are refused");
    let r = c
        .put(format!("{url}/{id}"))
        .header("if-match", "\"1\"")
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let r = c
        .put(format!("{url}/{id}"))
        .header("if-match", "\"1\"")
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(body(r).await["current_version"], 2);

    let r = c
        .post(&url)
        .json(&json!({ "first_name": "Bad", "emails": ["nope"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let b = body(r).await;
    assert_eq!(b["error"], "validation_failed");
    assert!(b["fields"]["emails[0]"].as_str().unwrap().contains("email"));

    let r = c
        .post(&url)
        .json(&json!({ "first_name": "X", "favourite_colour": "red" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(body(r).await["message"]
        .as_str()
        .unwrap()
        .contains("favourite_colour"));

    let r = c.get(format!("{url}?q=augusta")).send().await.unwrap();
    let page = body(r).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_null());

    let history = body(c.get(format!("{url}/{id}/history")).send().await.unwrap()).await;
    assert_eq!(history[0]["action"], "update");
    assert_eq!(history[0]["before"]["first_name"], "Ada");
    assert_eq!(history[0]["after"]["first_name"], "Augusta Ada");

    assert_eq!(
        c.delete(format!("{url}/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.get(format!("{url}/{id}")).send().await.unwrap().status(),
        404
    );
    let r = c.post(format!("{url}/{id}/restore")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(format!("{url}/{id}")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn malformed_list_requests_get_a_message_not_a_guess() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let c = signed_in(&s.base, "manager").await;
    for (q, needle) in [
        ("colour=red", "unknown parameter `colour`"),
        ("sort=shoe", "cannot sort by `shoe`"),
        ("cursor=garbage", "cursor is not valid"),
        ("limit=5000", "limit must be"),
        ("lifecycle_stage=vip", "`vip` is not one of"),
        ("q=ab", "at least 3 characters"),
    ] {
        let r = c
            .get(format!("{}/api/v1/customers?{q}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let m = body(r).await["message"].as_str().unwrap().to_string();
        assert!(m.contains(needle), "{q}: {m}");
    }
    let r = c
        .get(format!("{}/api/v1/customers/not-a-uuid", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(format!("{}/api/v1/unicorns", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn roles_are_enforced_by_the_api_not_only_the_ui() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let manager = signed_in(&s.base, "manager").await;
    let rep = signed_in(&s.base, "rep").await;
    let marketer = signed_in(&s.base, "marketer").await;
    let url = format!("{}/api/v1/customers", s.base);
    let theirs = body(
        manager
            .post(&url)
            .json(&json!({ "first_name": "Managed" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = theirs["id"].as_str().unwrap();

    assert_eq!(
        rep.get(format!("{url}/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = rep
        .put(format!("{url}/{id}"))
        .header("if-match", "1")
        .json(&json!({ "first_name": "Rep was here" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        rep.post(&url)
            .json(&json!({ "first_name": "Own" }))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );

    // Marketers work with profiles, not CRM records (domain::access's table).
    assert_eq!(marketer.get(&url).send().await.unwrap().status(), 403);
    let r = marketer
        .post(&url)
        .json(&json!({ "first_name": "Nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        body(r).await["message"],
        "Only admins, managers and sales reps change CRM records."
    );
}

#[tokio::test]
async fn api_tokens_are_issued_once_scoped_and_revocable() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let admin = signed_in(&s.base, "admin").await;
    let manager = signed_in(&s.base, "manager").await;
    let tokens = format!("{}/api/v1/tokens", s.base);
    let r = manager
        .post(&tokens)
        .json(&json!({ "name": "ETL", "scopes": ["crm:read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let issued = body(
        admin
            .post(&tokens)
            .json(&json!({ "name": "ETL", "scopes": ["crm:read"] }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let secret = issued["secret"].as_str().unwrap().to_string();
    let listed = body(admin.get(&tokens).send().await.unwrap()).await;
    assert!(
        listed[0].get("secret").is_none(),
        "lists never show the secret"
    );

    let bot = client();
    let url = format!("{}/api/v1/customers", s.base);
    assert_eq!(
        bot.get(&url)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = bot
        .post(&url)
        .bearer_auth(&secret)
        .json(&json!({ "first_name": "Bot" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let id = issued["token"]["id"].as_str().unwrap();
    assert_eq!(
        admin
            .delete(format!("{tokens}/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        bot.get(&url)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_lead_converts_through_the_api() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let rep = signed_in(&s.base, "rep").await;
    let lead = body(
        rep.post(format!("{}/api/v1/leads", s.base))
            .json(&json!({ "first_name": "Lena", "email": "lena@hooli.example", "company_name": "Hooli", "source": "event" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = lead["id"].as_str().unwrap();
    let r = rep
        .post(format!("{}/api/v1/leads/{id}/convert", s.base))
        .json(&json!({ "create_account": true, "version": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let res = body(r).await;
    assert_eq!(res["lead"]["status"], "converted");
    assert_eq!(res["customer_created"], true);
    let customer = body(
        rep.get(format!(
            "{}/api/v1/customers/{}",
            s.base,
            res["customer_id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(customer["account_id"], res["account_id"]);
}

#[tokio::test]
async fn the_openapi_document_and_its_reference_page_are_served() {
    let s = start().await;
    let r = client()
        .get(format!("{}/api/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = body(r).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/customers/{id}"]["put"].is_object());
    let page = client()
        .get(format!("{}/api/docs", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/api/openapi.json"));
}

#[tokio::test]
async fn a_list_view_exports_to_csv_with_its_filters() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let c = signed_in(&s.base, "manager").await;
    let url = format!("{}/api/v1/customers", s.base);
    for (first, stage) in [
        ("Quote \"Unquote\", Esq", "customer"),
        ("Second", "customer"),
        ("Gone", "churned"),
    ] {
        let r = c.post(&url).json(&json!({ "first_name": first, "lifecycle_stage": stage, "emails": [format!("{}@x.example", stage.len() + first.len())] })).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = c
        .get(format!(
            "{url}/export.csv?lifecycle_stage=customer&sort=created_at"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("customers-"));
    let text = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let first_name = headers.iter().position(|h| h == "first_name").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2, "the churned customer is filtered out");
    assert_eq!(&rows[0][first_name], "Quote \"Unquote\", Esq");
    let denied = client()
        .get(format!("{url}/export.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
}

#[tokio::test]
async fn an_admin_sets_the_calling_code_that_national_phones_take() {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let admin = signed_in(&s.base, "admin").await;
    let url = format!("{}/api/v1/settings/crm", s.base);

    let r = admin.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        body(r).await["phone_country"],
        "+1",
        "North America until chosen"
    );

    let r = admin
        .put(&url)
        .json(&json!({ "reps_edit_own_only": false, "phone_country": "12345" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(body(r).await.to_string().contains("phone_country"));

    let r = admin
        .put(&url)
        .json(&json!({ "reps_edit_own_only": false, "phone_country": "44" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["phone_country"], "+44");

    let r = admin
        .post(format!("{}/api/v1/customers", s.base))
        .json(&json!({ "first_name": "Ada", "phones": ["020 7946 0958"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["phones"], json!(["+442079460958"]));

    let manager = signed_in(&s.base, "manager").await;
    let r = manager
        .put(&url)
        .json(&json!({ "reps_edit_own_only": false, "phone_country": "49" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only admins change workspace settings");
}
