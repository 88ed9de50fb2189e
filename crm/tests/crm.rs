//! CRM services against a real Postgres: invariants, authorization, audit, lists and tokens.

use crm::{
    accounts, activities, audit, contracts, customers, leads, loyalty, orders, tickets, tokens,
};
use crm::{Actor, CrmError, ListParams};
use domain::crm::*;
use domain::Role;
use sqlx::{PgConnection, PgPool};
use time::macros::date;
use uuid::Uuid;

struct World {
    pool: PgPool,
    ws: Uuid,
    admin: Actor,
    manager: Actor,
    marketer: Actor,
    rep: Actor,
    rep2: Actor,
    other_ws_admin: Actor,
}

async fn add_user(pool: &PgPool, ws: Uuid, name: &str, role: Role) -> Actor {
    Actor::user(
        ws,
        testkit::add_member(pool, ws, name, role.as_str()).await,
        role,
    )
}

async fn world() -> World {
    let db = testkit::fresh_db().await;
    let pool = db.pool;
    let ws = testkit::add_workspace(&pool, "acme").await;
    let other = testkit::add_workspace(&pool, "globex").await;
    World {
        admin: add_user(&pool, ws, "Admin", Role::Admin).await,
        manager: add_user(&pool, ws, "Manager", Role::Manager).await,
        marketer: add_user(&pool, ws, "Marketer", Role::Marketer).await,
        rep: add_user(&pool, ws, "Rep", Role::SalesRep).await,
        rep2: add_user(&pool, ws, "Rep2", Role::SalesRep).await,
        other_ws_admin: add_user(&pool, other, "Other", Role::Admin).await,
        pool,
        ws,
    }
}

impl World {
    async fn conn(&self) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
        self.pool.acquire().await.unwrap()
    }
}

fn person(first: &str, email: &str) -> CustomerInput {
    CustomerInput {
        first_name: first.into(),
        last_name: "Tester".into(),
        emails: vec![email.into()],
        ..Default::default()
    }
}

fn field(e: CrmError, name: &str) -> String {
    match e {
        CrmError::Invalid(f) => f
            .get(name)
            .unwrap_or_else(|| panic!("no error on {name}: {f}"))
            .to_string(),
        other => panic!("expected a field error on {name}, got {other:?}"),
    }
}

async fn make_customer(c: &mut PgConnection, actor: &Actor, first: &str) -> Customer {
    customers::create(
        c,
        actor,
        person(first, &format!("{}@example.com", first.to_lowercase())),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_phone_without_country_code_takes_the_workspace_default_country() {
    let w = world().await;
    let mut c = w.conn().await;
    let mut input = person("Ada", "ada@example.com");
    input.phones = vec!["(415) 555-0100".into()];
    let us = customers::create(&mut c, &w.rep, input.clone())
        .await
        .unwrap();
    assert_eq!(
        us.phones,
        vec!["+14155550100"],
        "North America until changed"
    );

    let uk = domain::phone::CallingCode::new(44).unwrap();
    let refused = crm::settings::set_phone_country(&mut c, &w.manager, uk).await;
    assert!(
        matches!(refused, Err(CrmError::Forbidden(_))),
        "{refused:?}"
    );
    crm::settings::set_phone_country(&mut c, &w.admin, uk)
        .await
        .unwrap();
    assert_eq!(
        crm::settings::phone_country(&mut c, w.ws).await.unwrap(),
        uk
    );
    let countries = crm::settings::phone_countries(&w.pool).await.unwrap();
    assert_eq!(countries.of(Some(w.ws.into())), uk);

    input.emails = vec!["grace@example.com".into()];
    input.phones = vec!["020 7946 0958".into()];
    let gb = customers::create(&mut c, &w.rep, input).await.unwrap();
    assert_eq!(gb.phones, vec!["+442079460958"]);
    let other = w.other_ws_admin.workspace_id;
    assert_eq!(
        crm::settings::phone_country(&mut c, other).await.unwrap(),
        domain::phone::CallingCode::NORTH_AMERICA,
        "the setting is per workspace"
    );
}

#[tokio::test]
async fn editing_a_customer_writes_an_audit_entry_with_before_and_after() {
    let w = world().await;
    let mut c = w.conn().await;
    let created = customers::create(&mut c, &w.manager, person("Ada", " Ada@Example.com "))
        .await
        .unwrap();
    assert_eq!(created.emails, vec!["ada@example.com"]);
    assert_eq!(
        created.owner_id,
        w.manager.user_id(),
        "creator owns by default"
    );
    assert_eq!(created.version, 1);

    let mut input = customers::to_input(&created);
    input.last_name = "Lovelace".into();
    input.phones = vec!["+44 20 7946 0958".into()];
    let updated = customers::update(&mut c, &w.manager, created.id, 1, input)
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.phones, vec!["+442079460958"]);

    let history = audit::history(&mut c, &w.manager, RecordKind::Customer, created.id, 10)
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| h.action.as_str())
            .collect::<Vec<_>>(),
        ["update", "create"]
    );
    let upd = &history[0];
    assert_eq!(upd.actor_user_id, w.manager.user_id());
    assert_eq!(upd.actor_name.as_deref(), Some("Manager"));
    assert_eq!(upd.before.as_ref().unwrap()["last_name"], "Tester");
    assert_eq!(upd.after.as_ref().unwrap()["last_name"], "Lovelace");
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_changes_nothing() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Grace").await;
    let mut input = customers::to_input(&cu);
    input.first_name = "Changed".into();
    customers::update(&mut c, &w.manager, cu.id, 1, input.clone())
        .await
        .unwrap();
    let err = customers::update(&mut c, &w.manager, cu.id, 1, input)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CrmError::Conflict {
                current_version: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        customers::get(&mut c, &w.manager, cu.id)
            .await
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn an_email_of_another_customer_is_rejected_naming_the_value() {
    let w = world().await;
    let mut c = w.conn().await;
    make_customer(&mut c, &w.manager, "Ada").await;
    let err = customers::create(&mut c, &w.manager, person("Imposter", "ADA@example.com"))
        .await
        .unwrap_err();
    assert!(field(err, "emails[0]").contains("ada@example.com already belongs to another customer"));
    let mut bad_tz = person("Zed", "zed@example.com");
    bad_tz.time_zone = Some("Mars/Olympus".into());
    assert!(field(
        customers::create(&mut c, &w.manager, bad_tz)
            .await
            .unwrap_err(),
        "time_zone"
    )
    .contains("IANA"));
}

#[tokio::test]
async fn sales_reps_edit_only_their_own_records_unless_the_workspace_allows_it() {
    let w = world().await;
    let mut c = w.conn().await;
    let mine = make_customer(&mut c, &w.rep, "Mine").await;
    let theirs = make_customer(&mut c, &w.rep2, "Theirs").await;

    // Reps see every customer...
    assert_eq!(
        customers::get(&mut c, &w.rep, theirs.id).await.unwrap().id,
        theirs.id
    );
    // ...but change only their own.
    let mut input = customers::to_input(&theirs);
    input.first_name = "Hijacked".into();
    let err = customers::update(&mut c, &w.rep, theirs.id, 1, input.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::Forbidden(_)), "{err:?}");
    assert!(matches!(
        crm::records::delete::<Customer>(&mut c, &w.rep, theirs.id, None)
            .await
            .unwrap_err(),
        CrmError::Forbidden(_)
    ));
    let mut own = customers::to_input(&mine);
    own.first_name = "Still mine".into();
    customers::update(&mut c, &w.rep, mine.id, 1, own)
        .await
        .unwrap();

    // An admin relaxes the rule; a manager may not.
    assert!(
        crm::actor::set_reps_edit_own_only(&mut c, &w.manager, false)
            .await
            .is_err()
    );
    crm::actor::set_reps_edit_own_only(&mut c, &w.admin, false)
        .await
        .unwrap();
    customers::update(&mut c, &w.rep, theirs.id, 1, input)
        .await
        .unwrap();
}

#[tokio::test]
async fn marketers_read_the_crm_but_cannot_change_it() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Read").await;
    assert!(customers::get(&mut c, &w.marketer, cu.id).await.is_ok());
    assert!(customers::list(&mut c, &w.marketer, &ListParams::default())
        .await
        .is_ok());
    assert!(matches!(
        customers::create(&mut c, &w.marketer, person("No", "no@example.com"))
            .await
            .unwrap_err(),
        CrmError::Forbidden(_)
    ));
    assert!(matches!(
        customers::update(&mut c, &w.marketer, cu.id, 1, customers::to_input(&cu))
            .await
            .unwrap_err(),
        CrmError::Forbidden(_)
    ));
}

#[tokio::test]
async fn only_managers_and_admins_reassign_owners() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.rep, "Owned").await;
    let mut input = customers::to_input(&cu);
    input.owner_id = w.rep2.user_id();
    assert!(field(
        customers::update(&mut c, &w.rep, cu.id, 1, input.clone())
            .await
            .unwrap_err(),
        "owner_id"
    )
    .contains("managers"));
    let moved = customers::update(&mut c, &w.manager, cu.id, 1, input)
        .await
        .unwrap();
    assert_eq!(moved.owner_id, w.rep2.user_id());
    // Owners must be members of the workspace.
    let mut outsider = customers::to_input(&moved);
    outsider.owner_id = w.other_ws_admin.user_id();
    assert!(field(
        customers::update(&mut c, &w.manager, cu.id, 2, outsider)
            .await
            .unwrap_err(),
        "owner_id"
    )
    .contains("member"));
}

#[tokio::test]
async fn records_of_another_workspace_are_invisible_and_unreferenceable() {
    let w = world().await;
    let mut c = w.conn().await;
    let acct = accounts::create(
        &mut c,
        &w.manager,
        AccountInput {
            name: "Acme".into(),
            currency: "USD".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let cu = make_customer(&mut c, &w.manager, "Local").await;
    assert!(matches!(
        customers::get(&mut c, &w.other_ws_admin, cu.id)
            .await
            .unwrap_err(),
        CrmError::NotFound(RecordKind::Customer)
    ));
    let mut sneaky = person("Sneaky", "sneaky@example.com");
    sneaky.account_id = Some(acct.id);
    assert!(field(
        customers::create(&mut c, &w.other_ws_admin, sneaky)
            .await
            .unwrap_err(),
        "account_id"
    )
    .contains("No such account"));
    let page = customers::list(&mut c, &w.other_ws_admin, &ListParams::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn converting_a_lead_creates_customer_and_account_in_one_step() {
    let w = world().await;
    let mut c = w.conn().await;
    let lead = leads::create(
        &mut c,
        &w.rep,
        LeadInput {
            first_name: "Linus".into(),
            last_name: "Lead".into(),
            email: Some("Linus@Initech.example".into()),
            company_name: Some("Initech".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(lead.status, LeadStatus::New);
    let res = leads::convert(
        &mut c,
        &w.rep,
        lead.id,
        LeadConversion {
            customer_id: None,
            account_id: None,
            create_account: true,
            version: 1,
        },
    )
    .await
    .unwrap();
    assert!(res.customer_created && res.account_created);
    assert_eq!(res.lead.status, LeadStatus::Converted);
    let customer = customers::get(&mut c, &w.rep, res.customer_id)
        .await
        .unwrap();
    assert_eq!(customer.emails, vec!["linus@initech.example"]);
    assert_eq!(customer.account_id, res.account_id);
    assert_eq!(customer.owner_id, w.rep.user_id());

    // Converted leads are closed; converting twice fails.
    let again = leads::convert(
        &mut c,
        &w.rep,
        lead.id,
        LeadConversion {
            customer_id: None,
            account_id: None,
            create_account: false,
            version: 2,
        },
    )
    .await
    .unwrap_err();
    assert!(field(again, "status").contains("already converted"));

    // A second lead with the same email links to the existing customer and account.
    let dup = leads::create(
        &mut c,
        &w.rep,
        LeadInput {
            email: Some("linus@initech.example".into()),
            company_name: Some("INITECH".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let res2 = leads::convert(
        &mut c,
        &w.rep,
        dup.id,
        LeadConversion {
            customer_id: None,
            account_id: None,
            create_account: true,
            version: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (res2.customer_id, res2.customer_created),
        (res.customer_id, false)
    );
    assert_eq!(
        (res2.account_id, res2.account_created),
        (res.account_id, false)
    );
}

#[tokio::test]
async fn a_failed_conversion_leaves_nothing_behind() {
    let w = world().await;
    let mut c = w.conn().await;
    let lead = leads::create(
        &mut c,
        &w.manager,
        LeadInput {
            first_name: "Half".into(),
            company_name: Some("Halfway".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The account is created first, then the customer id turns out to be bogus.
    let err = leads::convert(
        &mut c,
        &w.manager,
        lead.id,
        LeadConversion {
            customer_id: Some(Uuid::new_v4()),
            account_id: None,
            create_account: true,
            version: 1,
        },
    )
    .await
    .unwrap_err();
    assert!(field(err, "customer_id").contains("No such customer"));
    assert!(accounts::find_by_name(&mut c, w.ws, "Halfway")
        .await
        .unwrap()
        .is_none());
    let l: Lead = crm::records::get(&mut c, &w.manager, lead.id)
        .await
        .unwrap();
    assert_eq!((l.status, l.version), (LeadStatus::New, 1));
}

fn order_for(customer: Uuid) -> OrderInput {
    OrderInput {
        number: String::new(),
        customer_id: customer,
        account_id: None,
        status: OrderStatus::Paid,
        channel: SalesChannel::Web,
        currency: "EUR".into(),
        ordered_at: None,
        owner_id: None,
        lines: vec![
            OrderLineInput {
                sku: Some("SKU-1".into()),
                description: "Boots".into(),
                quantity: 2,
                unit_price_minor: 8900,
                discount_minor: 800,
            },
            OrderLineInput {
                sku: None,
                description: "Laces".into(),
                quantity: 1,
                unit_price_minor: 450,
                discount_minor: 0,
            },
        ],
    }
}

#[tokio::test]
async fn an_orders_total_always_equals_its_lines() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Buyer").await;
    let o = orders::create(&mut c, &w.manager, order_for(cu.id))
        .await
        .unwrap();
    assert_eq!(o.total_minor, 2 * 8900 - 800 + 450);
    assert_eq!(
        o.lines.iter().map(|l| l.line_total_minor).sum::<i64>(),
        o.total_minor
    );
    assert!(o.number.starts_with("PO-"));

    let mut input = orders::to_input(&o);
    input.lines.pop();
    let o2 = orders::update(&mut c, &w.manager, o.id, 1, input)
        .await
        .unwrap();
    assert_eq!((o2.total_minor, o2.lines.len()), (2 * 8900 - 800, 1));

    // The database itself refuses a total that disagrees with the lines.
    let err = sqlx::query("UPDATE orders SET total_minor = total_minor + 1 WHERE id = $1")
        .bind(o.id)
        .execute(&mut *c)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not equal the sum of its lines"),
        "{err}"
    );

    let mut dup = order_for(cu.id);
    dup.number = o.number.clone();
    assert!(field(
        orders::create(&mut c, &w.manager, dup).await.unwrap_err(),
        "number"
    )
    .contains("Another order"));
}

#[tokio::test]
async fn tier_changes_are_recorded_with_their_reason() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Loyal").await;
    let input = LoyaltyMembershipInput {
        customer_id: cu.id,
        program: "default".into(),
        tier: Tier::Silver,
        points: 1200,
        status: LoyaltyStatus::Active,
        joined_on: Some(date!(2025 - 01 - 10)),
        expires_on: None,
        tier_reason: None,
    };
    let m = loyalty::create(&mut c, &w.manager, input.clone())
        .await
        .unwrap();
    let gold = LoyaltyMembershipInput {
        tier: Tier::Gold,
        points: 5400,
        tier_reason: Some("Spent over 5000 EUR".into()),
        ..input.clone()
    };
    let m2 = loyalty::update(&mut c, &w.manager, m.id, 1, gold)
        .await
        .unwrap();
    assert_eq!(m2.tier, Tier::Gold);
    let history = loyalty::tier_history(&mut c, &w.manager, m.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0].from_tier, history[0].to_tier),
        (None, Tier::Silver)
    );
    assert_eq!(
        (history[1].from_tier, history[1].to_tier),
        (Some(Tier::Silver), Tier::Gold)
    );
    assert_eq!(history[1].reason.as_deref(), Some("Spent over 5000 EUR"));
    // One membership per programme.
    assert!(field(
        loyalty::create(&mut c, &w.manager, input)
            .await
            .unwrap_err(),
        "customer_id"
    )
    .contains("already has"));
}

#[tokio::test]
async fn cursor_pages_walk_every_row_once_in_order() {
    let w = world().await;
    let mut c = w.conn().await;
    let names = ["Zoe", "Adam", "Mia", "Bob", "Eve", "Carl", "Nina"];
    for n in names {
        make_customer(&mut c, &w.manager, n).await;
    }
    let mut seen = Vec::new();
    let mut params = ListParams {
        limit: Some(3),
        ..Default::default()
    };
    params.sort = Some("created_at".into());
    loop {
        let page = customers::list(&mut c, &w.manager, &params).await.unwrap();
        seen.extend(page.items.iter().map(|c| c.first_name.clone()));
        match page.next_cursor {
            Some(cur) => params.cursor = Some(cur),
            None => break,
        }
    }
    assert_eq!(seen, names);

    let desc = customers::list(
        &mut c,
        &w.manager,
        &ListParams {
            sort: Some("-created_at".into()),
            limit: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(desc.items[0].first_name, "Nina");

    let found = customers::list(
        &mut c,
        &w.manager,
        &ListParams {
            q: Some("MIA@exa".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].emails, vec!["mia@example.com"]);

    let err = ListParams::from_pairs(&customers::LIST, [("colour", "red")]).unwrap_err();
    assert!(err.to_string().contains("unknown parameter `colour`"));
    let bad_sort = customers::list(
        &mut c,
        &w.manager,
        &ListParams {
            sort: Some("shoe_size".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(bad_sort.unwrap_err().to_string().contains("cannot sort by"));
}

#[tokio::test]
async fn filters_narrow_lists_and_me_means_the_signed_in_user() {
    let w = world().await;
    let mut c = w.conn().await;
    for (who, first) in [(&w.rep, "R1"), (&w.rep, "R2"), (&w.rep2, "Other")] {
        leads::create(
            &mut c,
            who,
            LeadInput {
                first_name: first.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let params = ListParams::from_pairs(
        &leads::LIST,
        [("owner_id", "me"), ("status", "new,contacted")],
    )
    .unwrap();
    let mine: Page<Lead> = crm::list::list(&mut c, &w.rep, &leads::LIST, &params)
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 2);
    let bad = ListParams::from_pairs(&leads::LIST, [("status", "won")]).unwrap();
    let err = crm::list::list::<Lead>(&mut c, &w.rep, &leads::LIST, &bad)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`won` is not one of"));
}

#[tokio::test]
async fn deleted_records_leave_lists_and_can_be_restored() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Gone").await;
    crm::records::delete::<Customer>(&mut c, &w.manager, cu.id, Some(1))
        .await
        .unwrap();
    assert!(matches!(
        customers::get(&mut c, &w.manager, cu.id).await.unwrap_err(),
        CrmError::NotFound(_)
    ));
    assert!(customers::list(&mut c, &w.manager, &ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let trash = customers::list(
        &mut c,
        &w.manager,
        &ListParams {
            deleted: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(trash.items.len(), 1);
    // Its email stays reserved, and the message says how to get it back.
    let err = customers::create(&mut c, &w.manager, person("New", "gone@example.com"))
        .await
        .unwrap_err();
    assert!(field(err, "emails[0]").contains("deleted customer"));
    let back: Customer = crm::records::restore(&mut c, &w.manager, cu.id)
        .await
        .unwrap();
    assert!(back.deleted_at.is_none());
    let actions: Vec<String> = audit::history(&mut c, &w.manager, RecordKind::Customer, cu.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.action)
        .collect();
    assert_eq!(actions, ["restore", "delete", "create"]);
}

#[tokio::test]
async fn tickets_stamp_solved_and_tasks_stamp_done() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Help").await;
    let t = tickets::create(
        &mut c,
        &w.manager,
        TicketInput {
            customer_id: cu.id,
            subject: "Parcel late".into(),
            description: String::new(),
            status: TicketStatus::Open,
            priority: Priority::High,
            channel: TicketChannel::Email,
            satisfaction: None,
            external_ref: None,
            opened_at: None,
            owner_id: None,
        },
    )
    .await
    .unwrap();
    assert!(t.solved_at.is_none());
    let solved = TicketInput {
        customer_id: cu.id,
        subject: t.subject.clone(),
        description: String::new(),
        status: TicketStatus::Solved,
        priority: Priority::High,
        channel: TicketChannel::Email,
        satisfaction: Some(5),
        external_ref: None,
        opened_at: None,
        owner_id: t.owner_id,
    };
    let t2 = tickets::update(&mut c, &w.manager, t.id, 1, solved)
        .await
        .unwrap();
    assert!(t2.solved_at.is_some());

    let task = activities::create(
        &mut c,
        &w.rep,
        ActivityInput {
            kind: ActivityKind::Task,
            subject: "Call back".into(),
            body: String::new(),
            customer_id: Some(cu.id),
            lead_id: None,
            account_id: None,
            occurred_at: None,
            duration_minutes: None,
            due_at: Some(time::OffsetDateTime::now_utc()),
            done: false,
            owner_id: None,
        },
    )
    .await
    .unwrap();
    let open = ListParams::from_pairs(
        &activities::LIST,
        [("owner_id", "me"), ("done", "false"), ("kind", "task")],
    )
    .unwrap();
    assert_eq!(
        crm::list::list::<Activity>(&mut c, &w.rep, &activities::LIST, &open)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let mut done = ActivityInput {
        kind: task.kind,
        subject: task.subject.clone(),
        body: String::new(),
        customer_id: task.customer_id,
        lead_id: None,
        account_id: None,
        occurred_at: None,
        duration_minutes: None,
        due_at: task.due_at,
        done: true,
        owner_id: task.owner_id,
    };
    let finished = activities::update(&mut c, &w.rep, task.id, 1, done.clone())
        .await
        .unwrap();
    assert!(finished.done_at.is_some());
    assert!(
        crm::list::list::<Activity>(&mut c, &w.rep, &activities::LIST, &open)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    done.done = false;
    assert!(activities::update(&mut c, &w.rep, task.id, 2, done)
        .await
        .unwrap()
        .done_at
        .is_none());
}

#[tokio::test]
async fn contracts_need_a_party_and_ordered_dates() {
    let w = world().await;
    let mut c = w.conn().await;
    let cu = make_customer(&mut c, &w.manager, "Signer").await;
    let mut input = ContractInput {
        title: "Support plan".into(),
        customer_id: None,
        account_id: None,
        status: ContractStatus::Active,
        start_date: date!(2026 - 01 - 01),
        end_date: date!(2025 - 12 - 31),
        renewal_date: None,
        auto_renew: true,
        value_minor: 120_000,
        currency: "USD".into(),
        owner_id: None,
    };
    let err = contracts::create(&mut c, &w.manager, input.clone())
        .await
        .unwrap_err();
    let CrmError::Invalid(f) = err else { panic!() };
    assert!(f.get("customer_id").is_some() && f.get("end_date").is_some());
    input.customer_id = Some(cu.id);
    input.end_date = date!(2026 - 12 - 31);
    input.renewal_date = Some(date!(2026 - 12 - 01));
    let k = contracts::create(&mut c, &w.manager, input).await.unwrap();
    let soon = ListParams::from_pairs(
        &contracts::LIST,
        [("renewal_before", "2027-01-01"), ("status", "active")],
    )
    .unwrap();
    let page: Page<Contract> = crm::list::list(&mut c, &w.manager, &contracts::LIST, &soon)
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![k.id]
    );
}

#[tokio::test]
async fn api_tokens_are_scoped_revocable_and_stored_hashed() {
    let w = world().await;
    let mut c = w.conn().await;
    assert!(
        tokens::issue(&mut c, &w.manager, "ETL", &["crm:read".into()])
            .await
            .is_err()
    );
    let read = tokens::issue(&mut c, &w.admin, "Warehouse export", &["crm:read".into()])
        .await
        .unwrap();
    assert!(read.secret.starts_with("pulse_"));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens WHERE id = $1")
        .bind(read.token.id)
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert_ne!(
        stored,
        read.secret.as_bytes(),
        "secret is not stored in clear"
    );

    let actor = tokens::authenticate(&mut c, &read.secret)
        .await
        .unwrap()
        .expect("valid token");
    assert_eq!(actor.workspace_id, w.ws);
    assert!(customers::list(&mut c, &actor, &ListParams::default())
        .await
        .is_ok());
    assert!(matches!(
        customers::create(&mut c, &actor, person("Bot", "bot@example.com"))
            .await
            .unwrap_err(),
        CrmError::Forbidden(_)
    ));

    let write = tokens::issue(&mut c, &w.admin, "Shop sync", &["crm:write".into()])
        .await
        .unwrap();
    let writer = tokens::authenticate(&mut c, &write.secret)
        .await
        .unwrap()
        .unwrap();
    let cu = customers::create(&mut c, &writer, person("Synced", "synced@example.com"))
        .await
        .unwrap();
    let entry = &audit::history(&mut c, &w.admin, RecordKind::Customer, cu.id, 1)
        .await
        .unwrap()[0];
    assert_eq!(entry.actor_token_id, Some(write.token.id));

    tokens::revoke(&mut c, &w.admin, read.token.id)
        .await
        .unwrap();
    assert!(tokens::authenticate(&mut c, &read.secret)
        .await
        .unwrap()
        .is_none());
    assert!(tokens::authenticate(&mut c, "pulse_guess")
        .await
        .unwrap()
        .is_none());
    let bad_scope = tokens::issue(&mut c, &w.admin, "x", &["crm:everything".into()])
        .await
        .unwrap_err();
    assert!(field(bad_scope, "scopes").contains("Unknown scope"));
}

#[tokio::test]
async fn demo_data_is_deterministic_and_satisfies_every_constraint() {
    let w = world().await;
    let scale = crm::demo::Scale {
        accounts: 30,
        customers: 400,
        leads: 50,
        orders: 900,
        contracts: 20,
        memberships: 100,
        tickets: 80,
        activities: 200,
    };
    let day = date!(2026 - 11 - 25);
    let g = crm::demo::generate(&w.pool, w.ws, 42, day, scale)
        .await
        .unwrap()
        .expect("empty workspace is seeded");
    assert_eq!((g.customers, g.orders, g.memberships), (400, 900, 100));
    assert!(
        crm::demo::generate(&w.pool, w.ws, 42, day, scale)
            .await
            .unwrap()
            .is_none(),
        "seeding twice is a no-op"
    );

    // Same seed, day and workspace in two fresh databases: identical people in identical order.
    let fixed = Uuid::from_u128(0x5eed);
    let mut lists = Vec::new();
    for _ in 0..2 {
        let db = testkit::fresh_db().await;
        sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, 'Demo', 'demo')")
            .bind(fixed)
            .execute(&db.pool)
            .await
            .unwrap();
        crm::demo::generate(&db.pool, fixed, 7, day, scale)
            .await
            .unwrap()
            .unwrap();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT c.first_name || ' ' || c.last_name, c.primary_email,
                    (SELECT coalesce(sum(total_minor), 0) FROM orders o WHERE o.customer_id = c.id)::int8
               FROM customers c ORDER BY c.id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        lists.push(rows);
    }
    assert_eq!(lists[0].len(), 400);
    assert_eq!(lists[0], lists[1]);

    let mismatched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders o WHERE o.total_minor <> (SELECT sum(line_total_minor) FROM order_lines l WHERE l.order_id = o.id)",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0);
    let mut c = w.conn().await;
    let found = customers::list(
        &mut c,
        &w.manager,
        &ListParams {
            q: Some("@mail.example".into()),
            limit: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.items.len(), 5);
    assert!(found.items.iter().all(|c| !c.emails.is_empty()));
}
