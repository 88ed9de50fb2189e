//! The sales inbox against a real Postgres: who sees which alerts and who may mark one read.

mod common;

use audiences::{inbox, AudienceError, Member};
use crm::Actor;
use domain::crm::CustomerInput;
use domain::events::Trigger;
use domain::{IdKind, Role};
use sqlx::PgPool;
use uuid::Uuid;

/// An alert as the alerts consumer stores it, for `owner` (none: nobody's customer matched).
async fn alert(pool: &PgPool, workspace: &Member, id: &str, owner: Option<&Member>) {
    sqlx::query(
        "INSERT INTO alerts (id, workspace_id, owner_id, customer_id, profile, label, reason, at)
         VALUES ($1, $2, $3, NULL, $4, 'high_intent_unresolved', 'viewed pricing, no form', now())",
    )
    .bind(id)
    .bind(workspace.workspace_id)
    .bind(owner.map(|o| o.user_id))
    .bind(format!("p-{}", Uuid::new_v4().simple()))
    .execute(pool)
    .await
    .unwrap();
}

async fn unread(pool: &PgPool, who: &Member) -> Vec<String> {
    let mut ids: Vec<String> = inbox::list(pool, who)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| !a.read)
        .map(|a| a.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn reps_see_their_own_alerts_and_managers_and_admins_see_every_one() {
    let w = common::world().await;
    alert(&w.pool, &w.admin, "a-rex", Some(&w.rep)).await;
    alert(&w.pool, &w.admin, "a-ria", Some(&w.other_rep)).await;
    alert(&w.pool, &w.admin, "a-nobody", None).await;
    alert(&w.pool, &w.stranger, "a-globex", Some(&w.stranger)).await;

    assert_eq!(unread(&w.pool, &w.rep).await, vec!["a-rex"]);
    assert_eq!(unread(&w.pool, &w.other_rep).await, vec!["a-ria"]);
    for boss in [&w.manager, &w.admin] {
        assert_eq!(
            unread(&w.pool, boss).await,
            vec!["a-nobody", "a-rex", "a-ria"]
        );
    }
    let e = inbox::list(&w.pool, &w.marketer).await.unwrap_err();
    assert!(matches!(e, AudienceError::Refused(_)), "{e:?}");
}

#[tokio::test]
async fn only_the_owner_or_a_manager_marks_an_alert_read() {
    let w = common::world().await;
    alert(&w.pool, &w.admin, "a-rex", Some(&w.rep)).await;
    alert(&w.pool, &w.admin, "a-ria", Some(&w.other_rep)).await;
    alert(&w.pool, &w.admin, "a-nobody", None).await;

    // Another rep may not mark it, nor an ownerless alert; a marketer has no inbox at all.
    for id in ["a-rex", "a-nobody"] {
        let e = inbox::mark_read(&w.pool, &w.other_rep, id)
            .await
            .unwrap_err();
        assert!(matches!(e, AudienceError::NotYours(_)), "{e:?}");
    }
    let e = inbox::mark_read(&w.pool, &w.marketer, "a-rex")
        .await
        .unwrap_err();
    assert!(matches!(e, AudienceError::Refused(_)), "{e:?}");
    assert_eq!(
        unread(&w.pool, &w.admin).await,
        vec!["a-nobody", "a-rex", "a-ria"],
        "refused marks change nothing"
    );

    inbox::mark_read(&w.pool, &w.rep, "a-rex").await.unwrap();
    inbox::mark_read(&w.pool, &w.manager, "a-ria")
        .await
        .unwrap();
    inbox::mark_read(&w.pool, &w.admin, "a-nobody")
        .await
        .unwrap();
    assert!(unread(&w.pool, &w.admin).await.is_empty());
    // Marking again changes nothing and is no error.
    inbox::mark_read(&w.pool, &w.rep, "a-rex").await.unwrap();
}

#[tokio::test]
async fn an_alert_of_another_workspace_cannot_be_marked_read() {
    let w = common::world().await;
    alert(&w.pool, &w.stranger, "a-globex", Some(&w.stranger)).await;
    let e = inbox::mark_read(&w.pool, &w.admin, "a-globex")
        .await
        .unwrap_err();
    assert!(matches!(e, AudienceError::NotFound(_)), "{e:?}");
    assert_eq!(unread(&w.pool, &w.stranger).await, vec!["a-globex"]);
}

/// A trigger of the flagship label for a profile known by `identifiers`.
fn trigger(workspace: &Member, id: &str, identifiers: Vec<domain::Identifier>) -> Trigger {
    Trigger {
        id: id.into(),
        workspace: workspace.workspace_id.into(),
        profile: format!("p-{id}"),
        label: "high_intent_unresolved".into(),
        reason: "viewed pricing, no form".into(),
        at: 1_780_000_000_000,
        identifiers,
    }
}

#[tokio::test]
async fn a_trigger_alerts_the_owner_of_the_matching_customer_once() {
    let w = common::world().await;
    let owner_actor = Actor::user(w.admin.workspace_id, w.admin.user_id, Role::Admin);
    let input = CustomerInput {
        first_name: "Ada".into(),
        emails: vec!["ada@shop.example".into()],
        owner_id: Some(w.rep.user_id),
        ..CustomerInput::default()
    };
    let mut conn = w.pool.acquire().await.unwrap();
    let ada = crm::customers::create(&mut conn, &owner_actor, input)
        .await
        .unwrap();
    drop(conn);
    let t = trigger(
        &w.admin,
        "t-ada",
        vec![
            domain::Identifier::new(IdKind::Anonymous, "anon-1"),
            domain::Identifier::new(IdKind::Email, "ada@shop.example"),
        ],
    );

    assert!(
        inbox::raise(&w.pool, &t).await.unwrap(),
        "a new trigger raises an alert"
    );
    assert!(
        !inbox::raise(&w.pool, &t).await.unwrap(),
        "a replayed trigger raises nothing"
    );
    let alerts = inbox::list(&w.pool, &w.rep).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].id, "t-ada");
    assert_eq!(alerts[0].customer_id, Some(ada.id));
    assert!(unread(&w.pool, &w.other_rep).await.is_empty());
}

#[tokio::test]
async fn a_trigger_nobody_in_the_crm_matches_is_an_unowned_alert_managers_see() {
    let w = common::world().await;
    let t = trigger(
        &w.admin,
        "t-unknown",
        vec![domain::Identifier::new(
            IdKind::Email,
            "nobody@nowhere.example",
        )],
    );
    assert!(inbox::raise(&w.pool, &t).await.unwrap());
    assert_eq!(unread(&w.pool, &w.manager).await, vec!["t-unknown"]);
    assert!(unread(&w.pool, &w.rep).await.is_empty());
    assert!(
        unread(&w.pool, &w.stranger).await.is_empty(),
        "other workspaces see nothing"
    );
}
