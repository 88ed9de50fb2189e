//! The sales inbox against a real Postgres: who sees which alerts and who may mark one read.

mod common;

use audiences::{inbox, AudienceError, Member};
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
