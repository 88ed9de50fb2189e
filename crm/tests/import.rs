//! CSV import against a real Postgres: mapping, dry-run reports, duplicates, outcomes.

use crm::import;
use crm::Actor;
use domain::import::{DuplicateMode, ImportKind, ImportStatus};
use domain::Role;
use sqlx::PgPool;
use uuid::Uuid;

async fn setup() -> (PgPool, Actor) {
    let db = testkit::fresh_db().await;
    let ws = Uuid::new_v4();
    let user = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Acme', 'acme')")
        .bind(ws)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'm@acme.example', 'Mia', 'x')").bind(user).execute(&db.pool).await.unwrap();
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'manager')")
        .bind(ws)
        .bind(user)
        .execute(&db.pool)
        .await
        .unwrap();
    (db.pool, Actor::user(ws, user, Role::Manager))
}

async fn wait_done(pool: &PgPool, actor: &Actor, id: Uuid) -> domain::import::ImportReport {
    let mut conn = pool.acquire().await.unwrap();
    for _ in 0..200 {
        let r = import::report(&mut conn, actor, id).await.unwrap();
        if matches!(r.status, ImportStatus::Done | ImportStatus::Failed) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import did not finish");
}

const CUSTOMERS: &str = "First Name,Last Name,E-mail,Phone,Newsletter\n\
Ada,Lovelace,ada@example.com,+44 20 7946 0958,yes\n\
Bad,Email,not-an-email,,no\n\
Grace,Hopper,grace@example.com,,maybe\n\
,,,,\n\
Alan,Turing,alan@example.com,0207 946 CALL,no\n\
Ada,Again,ADA@example.com,,no\n";

#[tokio::test]
async fn a_dry_run_reports_every_bad_row_and_the_import_records_every_outcome() {
    let (pool, actor) = setup().await;
    let mut c = pool.acquire().await.unwrap();
    let up = import::upload(
        &mut c,
        &actor,
        ImportKind::Customers,
        "people.csv",
        CUSTOMERS,
    )
    .await
    .unwrap();
    assert_eq!(up.total_rows, 5, "the blank line is not a row");
    assert_eq!(
        up.mapping,
        vec![
            Some("first_name".into()),
            Some("last_name".into()),
            Some("email".into()),
            Some("phone".into()),
            Some("consent_email".into())
        ]
    );

    let r = import::validate(
        &mut c,
        &actor,
        up.id,
        up.mapping.clone(),
        DuplicateMode::Update,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.to_create, r.duplicates, r.invalid),
        (1, 0, 4),
        "{:?}",
        r.problems
    );
    let rows: Vec<i32> = r.problems.iter().map(|p| p.row).collect();
    assert!(rows.contains(&2) && rows.contains(&3) && rows.contains(&4) && rows.contains(&5));
    let email = r.problems.iter().find(|p| p.row == 2).unwrap();
    assert_eq!(email.column.as_deref(), Some("E-mail"));
    assert!(r
        .problems
        .iter()
        .any(|p| p.row == 3 && p.message.contains("maybe")));
    assert!(r
        .problems
        .iter()
        .any(|p| p.row == 4 && p.message.contains("only digits")));
    assert!(
        r.problems
            .iter()
            .any(|p| p.row == 5 && p.message.contains("row 1")),
        "duplicate within the file"
    );

    import::start(&pool, &actor, up.id).await.unwrap();
    let done = wait_done(&pool, &actor, up.id).await;
    assert_eq!((done.processed, done.created, done.failed), (5, 1, 4));
    let csv = import::outcomes_csv(&mut c, &actor, up.id).await.unwrap();
    assert_eq!(
        csv.lines().count(),
        6,
        "a header and one line per row: {csv}"
    );
    assert!(csv.contains("failed") && csv.contains("created"));
    // An import runs once.
    assert!(import::start(&pool, &actor, up.id).await.is_err());
}

#[tokio::test]
async fn matching_rows_update_or_skip_as_the_user_chooses() {
    let (pool, actor) = setup().await;
    let mut c = pool.acquire().await.unwrap();
    let first = "name,email,stage\nAda Lovelace,ada@example.com,prospect\n";
    let up = import::upload(&mut c, &actor, ImportKind::Customers, "a.csv", first)
        .await
        .unwrap();
    import::validate(
        &mut c,
        &actor,
        up.id,
        up.mapping.clone(),
        DuplicateMode::Update,
    )
    .await
    .unwrap();
    import::start(&pool, &actor, up.id).await.unwrap();
    assert_eq!(wait_done(&pool, &actor, up.id).await.created, 1);

    let second = "name,email,stage\nAda King,ADA@example.com,customer\nNew Person,new@example.com,customer\n";
    // Skip: Ada is left alone, New Person is created. Update: both now exist and are updated.
    for (mode, expect_dups, expect_updated, expect_skipped) in [
        (DuplicateMode::Skip, 1, 0, 1),
        (DuplicateMode::Update, 2, 2, 0),
    ] {
        let up = import::upload(&mut c, &actor, ImportKind::Customers, "b.csv", second)
            .await
            .unwrap();
        let r = import::validate(&mut c, &actor, up.id, up.mapping.clone(), mode)
            .await
            .unwrap();
        assert_eq!(r.duplicates, expect_dups);
        import::start(&pool, &actor, up.id).await.unwrap();
        let done = wait_done(&pool, &actor, up.id).await;
        assert_eq!(
            (done.updated, done.skipped),
            (expect_updated, expect_skipped),
            "{mode:?}"
        );
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT first_name || ' ' || last_name FROM customers ORDER BY created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(names, vec!["Ada King", "New Person"]);
}

#[tokio::test]
async fn order_lines_group_into_orders_and_unknown_customers_are_reported() {
    let (pool, actor) = setup().await;
    let mut c = pool.acquire().await.unwrap();
    let people = "email\nbuyer@example.com\n";
    let up = import::upload(&mut c, &actor, ImportKind::Customers, "p.csv", people)
        .await
        .unwrap();
    import::validate(
        &mut c,
        &actor,
        up.id,
        up.mapping.clone(),
        DuplicateMode::Update,
    )
    .await
    .unwrap();
    import::start(&pool, &actor, up.id).await.unwrap();
    wait_done(&pool, &actor, up.id).await;

    let orders = "Order Number,Email,Date,SKU,Description,Qty,Unit Price,Currency\n\
#1001,buyer@example.com,2026-11-01,BOOT,Boots,2,89.00,EUR\n\
#1001,buyer@example.com,2026-11-01,LACE,Laces,1,4.50,EUR\n\
#1002,ghost@example.com,2026-11-02,BOOT,Boots,1,89.00,EUR\n\
#1003,buyer@example.com,2026-11-03,BOOT,Boots,two,89.00,EUR\n";
    let up = import::upload(&mut c, &actor, ImportKind::Orders, "orders.csv", orders)
        .await
        .unwrap();
    assert_eq!(up.mapping[0].as_deref(), Some("number"));
    assert_eq!(up.mapping[1].as_deref(), Some("customer_email"));
    let r = import::validate(
        &mut c,
        &actor,
        up.id,
        up.mapping.clone(),
        DuplicateMode::Update,
    )
    .await
    .unwrap();
    assert_eq!((r.to_create, r.invalid), (1, 2), "{:?}", r.problems);
    assert!(r
        .problems
        .iter()
        .any(|p| p.row == 3 && p.message.contains("No customer with ghost@example.com")));
    assert!(r
        .problems
        .iter()
        .any(|p| p.row == 4 && p.message.contains("`two`")));
    import::start(&pool, &actor, up.id).await.unwrap();
    let done = wait_done(&pool, &actor, up.id).await;
    // Counts are per order: two rows made one order; two orders failed.
    assert_eq!((done.processed, done.created, done.failed), (4, 1, 2));
    let total: i64 = sqlx::query_scalar("SELECT total_minor FROM orders WHERE number = '#1001'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(total, 2 * 8900 + 450);
}

#[tokio::test]
async fn a_mapping_without_required_fields_is_refused_with_reasons() {
    let (pool, actor) = setup().await;
    let mut c = pool.acquire().await.unwrap();
    let up = import::upload(
        &mut c,
        &actor,
        ImportKind::Orders,
        "o.csv",
        "colour,size\nred,9\n",
    )
    .await
    .unwrap();
    let err = import::validate(
        &mut c,
        &actor,
        up.id,
        vec![None, None],
        DuplicateMode::Update,
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("Order number") && msg.contains("customer email"),
        "{msg}"
    );
    assert!(
        import::upload(&mut c, &actor, ImportKind::Customers, "e.csv", "email\n")
            .await
            .is_err(),
        "a header without rows is refused"
    );
}
