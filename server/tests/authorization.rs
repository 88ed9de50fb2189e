//! The authorization table proved against a real server and Postgres: every caller (each role,
//! an API token of each scope, nobody signed in) × every server function and API route × a
//! target in the caller's own workspace and one in another workspace.
//!
//! The expected table is written out here, not computed from `domain::Role::may`, so these tests
//! check the table itself as well as the server's use of it.

mod common;

use common::{client, login, start};
use domain::{Area, Need, Role};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use uuid::Uuid;

/// Who may read and who may change each area: a admin, m manager, k marketer, r sales rep.
const TABLE: &[(Area, &str, &str)] = &[
    (Area::Crm, "amr", "amr"),
    (Area::Inbox, "amr", "amr"),
    (Area::Profiles, "amkr", ""),
    (Area::Labels, "amkr", "amk"),
    (Area::Segments, "amk", "amk"),
    (Area::Journeys, "amk", "amk"),
    (Area::Dashboards, "amkr", "amk"),
    (Area::Sources, "a", "a"),
    (Area::Quarantine, "a", "a"),
    (Area::Integrations, "a", "a"),
    (Area::Users, "a", "a"),
    (Area::ApiTokens, "a", "a"),
];

/// What an API token of each scope reaches: CRM records and nothing else.
const TOKEN_TABLE: &[(&str, Area, Need)] = &[
    ("crm:read", Area::Crm, Need::Read),
    ("crm:write", Area::Crm, Need::Read),
    ("crm:write", Area::Crm, Need::Change),
];

/// Server functions whose checks live in the audiences service (labels, inbox, profiles).
const AUDIENCE_FNS: &[&str] = &[
    "labels",
    "save_label",
    "archive_label",
    "backtest_label",
    "inbox",
    "inbox_read",
    "profiles_search",
    "profile_view",
    "profile_events_after",
];

/// Routes outside the member table, and why.
const NOT_MEMBER_ROUTES: &[(&str, &str)] = &[
    ("/healthz", "operations probe, no workspace data"),
    ("/readyz", "operations probe, no workspace data"),
    ("/metrics", "Prometheus scrape, no workspace data"),
    ("/api/openapi.json", "the public API reference"),
    ("/api/docs", "the public API reference"),
];

/// Text every record of the other workspace carries, so an answer that leaks one shows it.
const MARKER: &str = "Zzotherworkspacezz";

fn letter(role: Role) -> char {
    match role {
        Role::Admin => 'a',
        Role::Manager => 'm',
        Role::Marketer => 'k',
        Role::SalesRep => 'r',
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Member(Role),
    Token(&'static str),
    Nobody,
}

/// What a request needs before it may run.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Sign-in and first-run pages.
    Public,
    /// Any signed-in member, whatever the role (the viewer, sign-out, the workspace switcher).
    SignedIn,
    /// The table's cell for this area and need.
    Table(Area, Need),
}

fn allowed(caller: Caller, rule: Rule) -> bool {
    match (rule, caller) {
        (Rule::Public, _) => true,
        (Rule::SignedIn, Caller::Member(_)) => true,
        (Rule::SignedIn, _) => false,
        (Rule::Table(area, need), Caller::Member(role)) => {
            let (_, read, change) = TABLE.iter().find(|t| t.0 == area).expect("area in TABLE");
            let who = if need == Need::Read { read } else { change };
            who.contains(letter(role))
        }
        (Rule::Table(area, need), Caller::Token(scope)) => {
            TOKEN_TABLE.contains(&(scope, area, need))
        }
        (Rule::Table(..), Caller::Nobody) => false,
    }
}

/// How far a request reaches when the client names the other workspace's records.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reach {
    /// Its arguments name one record: with the other workspace's ids every caller gets a 4xx.
    ById,
    /// It answers with the workspace's records: the answer never holds the other workspace's.
    Lists,
    /// It writes only into the caller's workspace and takes no record id from the client.
    OwnOnly,
}

/// The records of one workspace that requests name.
#[derive(Debug, Clone)]
struct Ids {
    workspace: Uuid,
    customer: Uuid,
    lead: Uuid,
    account: Uuid,
    activity: Uuid,
    source: Uuid,
    integration: Uuid,
    /// A token to revoke (not one the test calls with).
    token: Uuid,
    member: Uuid,
    import: Uuid,
}

type Form = fn(&Ids) -> Vec<(&'static str, String)>;
type JsonArgs = fn(&Ids) -> Value;

#[derive(Clone, Copy)]
enum Call {
    /// A server function with URL-encoded arguments.
    Form(Form),
    /// A server function with `input = Json`.
    Json(JsonArgs),
    /// An API route: method, path (`{id}` filled in), the id, the body.
    Api(
        &'static str,
        &'static str,
        fn(&Ids) -> Uuid,
        Option<JsonArgs>,
    ),
}

#[derive(Clone, Copy)]
struct Endpoint {
    /// The server function's endpoint, or the route's path.
    name: &'static str,
    call: Call,
    rule: Rule,
    reach: Reach,
    /// Runs on a session of its own (it signs in or out).
    own_session: bool,
}

fn server_fn(name: &'static str, rule: Rule, reach: Reach, args: Form) -> Endpoint {
    Endpoint {
        name,
        call: Call::Form(args),
        rule,
        reach,
        own_session: false,
    }
}

fn json_fn(name: &'static str, rule: Rule, reach: Reach, args: JsonArgs) -> Endpoint {
    Endpoint {
        name,
        call: Call::Json(args),
        rule,
        reach,
        own_session: false,
    }
}

fn route(
    method: &'static str,
    path: &'static str,
    rule: Rule,
    reach: Reach,
    id: fn(&Ids) -> Uuid,
    body: Option<JsonArgs>,
) -> Endpoint {
    Endpoint {
        name: path,
        call: Call::Api(method, path, id, body),
        rule,
        reach,
        own_session: false,
    }
}

fn none(_: &Ids) -> Vec<(&'static str, String)> {
    vec![]
}

fn nil(_: &Ids) -> Uuid {
    Uuid::nil()
}

/// Every server function and API route with the rule it must follow.
fn endpoints() -> Vec<Endpoint> {
    use Need::{Change, Read};
    use Reach::{ById, Lists, OwnOnly};
    use Rule::{Public, SignedIn, Table};
    let crm = |n| Table(Area::Crm, n);
    let mut e = vec![
        // Session.
        Endpoint {
            own_session: true,
            ..server_fn("login", Public, OwnOnly, |_| {
                vec![
                    ("email", "admin@acme.example".into()),
                    ("password", access::DEMO_PASSWORD.into()),
                ]
            })
        },
        server_fn("demo_accounts", Public, OwnOnly, none),
        Endpoint {
            own_session: true,
            ..server_fn("setup", Public, OwnOnly, |_| {
                vec![
                    ("workspace_name", "Second".into()),
                    ("name", "Second Admin".into()),
                    ("email", "second@acme.example".into()),
                    ("password", "a long enough password".into()),
                    ("password_confirm", "a long enough password".into()),
                ]
            })
        },
        server_fn("current_viewer", SignedIn, OwnOnly, none),
        // Ends whatever session there is; harmless without one.
        Endpoint {
            own_session: true,
            ..server_fn("logout", Public, OwnOnly, none)
        },
        server_fn("switch_workspace", SignedIn, ById, |i| {
            vec![("workspace_id", i.workspace.to_string())]
        }),
        // Settings → Sources and the quarantine.
        server_fn("sources", Table(Area::Sources, Read), Lists, none),
        server_fn(
            "create_source",
            Table(Area::Sources, Change),
            OwnOnly,
            |_| vec![("name", "New source".into()), ("kind", "web".into())],
        ),
        server_fn("source", Table(Area::Sources, Read), ById, |i| {
            vec![("id", i.source.to_string())]
        }),
        server_fn(
            "rotate_source_key",
            Table(Area::Sources, Change),
            ById,
            |i| vec![("id", i.source.to_string())],
        ),
        server_fn(
            "save_source_policy",
            Table(Area::Sources, Change),
            ById,
            |i| {
                vec![
                    ("id", i.source.to_string()),
                    ("mode", "allow".into()),
                    ("events_json", String::new()),
                    ("consent", String::new()),
                ]
            },
        ),
        server_fn(
            "quarantine_groups",
            Table(Area::Quarantine, Read),
            Lists,
            |_| vec![("include_replayed", "true".into())],
        ),
        // Filtered by workspace: another workspace's source has no events here.
        server_fn(
            "quarantine_events",
            Table(Area::Quarantine, Read),
            Lists,
            |i| vec![("source_id", i.source.to_string()), ("reason", "x".into())],
        ),
        server_fn(
            "replay_quarantine",
            Table(Area::Quarantine, Change),
            ById,
            |i| vec![("source_id", i.source.to_string()), ("reason", "x".into())],
        ),
        // Settings → Integrations.
        server_fn("integrations", Table(Area::Integrations, Read), Lists, none),
        server_fn(
            "create_integration",
            Table(Area::Integrations, Change),
            OwnOnly,
            |_| {
                vec![
                    ("name", "New shop".into()),
                    ("slug", format!("shop-{}", Uuid::new_v4().simple())),
                    ("system", "custom".into()),
                ]
            },
        ),
        server_fn("integration", Table(Area::Integrations, Read), ById, |i| {
            vec![("id", i.integration.to_string())]
        }),
        server_fn(
            "save_integration_mapping",
            Table(Area::Integrations, Change),
            ById,
            |i| {
                vec![
                    ("id", i.integration.to_string()),
                    ("version", "1".into()),
                    ("mapping_json", "{}".into()),
                    ("rate_per_minute", "60".into()),
                ]
            },
        ),
        server_fn(
            "preview_integration_mapping",
            Table(Area::Integrations, Read),
            OwnOnly,
            |_| {
                vec![
                    ("mapping_json", "{}".into()),
                    ("kind", "order".into()),
                    ("payload", "{}".into()),
                ]
            },
        ),
        // Filtered by workspace: another workspace's integration has no deliveries here.
        server_fn(
            "integration_deliveries",
            Table(Area::Integrations, Read),
            Lists,
            |i| {
                vec![
                    ("id", i.integration.to_string()),
                    ("failed_only", "false".into()),
                ]
            },
        ),
        server_fn(
            "integration_delivery_payload",
            Table(Area::Integrations, Read),
            ById,
            |_| vec![("delivery", "0".into())],
        ),
        server_fn(
            "replay_integration_deliveries",
            Table(Area::Integrations, Change),
            ById,
            |i| vec![("id", i.integration.to_string()), ("delivery", "0".into())],
        ),
        server_fn("cdc_status", Table(Area::Integrations, Read), OwnOnly, none),
        // Settings → Users.
        server_fn("list_members", Table(Area::Users, Read), Lists, |_| {
            vec![("page", "1".into())]
        }),
        server_fn("create_member", Table(Area::Users, Change), OwnOnly, |_| {
            vec![
                ("name", "New Member".into()),
                ("email", format!("{}@acme.example", Uuid::new_v4().simple())),
                ("role", "sales_rep".into()),
                ("password", "a long enough password".into()),
            ]
        }),
        server_fn("change_role", Table(Area::Users, Change), ById, |i| {
            vec![
                ("user_id", i.member.to_string()),
                ("role", "sales_rep".into()),
            ]
        }),
        server_fn("set_member_active", Table(Area::Users, Change), ById, |i| {
            vec![("user_id", i.member.to_string()), ("active", "true".into())]
        }),
        // Settings → API tokens.
        server_fn("api_access", Table(Area::ApiTokens, Read), Lists, none),
        server_fn(
            "issue_token",
            Table(Area::ApiTokens, Change),
            OwnOnly,
            |_| vec![("name", "Another".into()), ("write", "false".into())],
        ),
        server_fn("revoke_token", Table(Area::ApiTokens, Change), ById, |i| {
            vec![("id", i.token.to_string())]
        }),
        server_fn(
            "set_reps_rule",
            Table(Area::ApiTokens, Change),
            OwnOnly,
            |_| vec![("own_only", "false".into())],
        ),
        server_fn(
            "set_phone_country",
            Table(Area::ApiTokens, Change),
            OwnOnly,
            |_| vec![("code", "+44".into())],
        ),
        // CRM.
        server_fn("crm_list", crm(Read), Lists, |_| {
            vec![("kind", "customer".into()), ("query", String::new())]
        }),
        server_fn("crm_record", crm(Read), ById, |i| {
            vec![("kind", "customer".into()), ("id", i.customer.to_string())]
        }),
        server_fn("crm_owners", crm(Read), Lists, none),
        server_fn("crm_customer", crm(Read), ById, |i| {
            vec![("id", i.customer.to_string())]
        }),
        json_fn(
            "crm_save_customer",
            crm(Change),
            ById,
            |i| json!({ "id": i.customer, "version": 1, "input": { "first_name": "Edited" } }),
        ),
        server_fn("crm_lead", crm(Read), ById, |i| {
            vec![("id", i.lead.to_string())]
        }),
        json_fn(
            "crm_save_lead",
            crm(Change),
            ById,
            |i| json!({ "id": i.lead, "version": 1, "input": { "first_name": "Edited", "last_name": "Lead" } }),
        ),
        server_fn("crm_conversion_options", crm(Read), ById, |i| {
            vec![("id", i.lead.to_string())]
        }),
        json_fn(
            "crm_convert_lead",
            crm(Change),
            ById,
            |i| json!({ "id": i.lead, "conversion": { "version": 1 } }),
        ),
        server_fn("crm_log_activity", crm(Change), ById, |i| {
            vec![
                ("customer_id", i.customer.to_string()),
                ("kind", "note".into()),
                ("subject", "Called".into()),
                ("body", String::new()),
            ]
        }),
        server_fn("crm_complete_task", crm(Change), ById, |i| {
            vec![("id", i.activity.to_string())]
        }),
        server_fn("crm_my_tasks", crm(Read), Lists, none),
        server_fn("crm_delete", crm(Change), ById, |i| {
            vec![("kind", "account".into()), ("id", i.account.to_string())]
        }),
        server_fn("crm_restore", crm(Change), ById, |i| {
            vec![("kind", "account".into()), ("id", i.account.to_string())]
        }),
        json_fn(
            "crm_import_upload",
            crm(Change),
            OwnOnly,
            |_| json!({ "kind": "customers", "filename": "more.csv", "text": "first_name\nAda\n" }),
        ),
        json_fn(
            "crm_import_validate",
            crm(Change),
            ById,
            |i| json!({ "id": i.import, "mapping": ["first_name"], "duplicate_mode": "update" }),
        ),
        server_fn("crm_import_start", crm(Change), ById, |i| {
            vec![("id", i.import.to_string())]
        }),
        server_fn("crm_import_report", crm(Read), ById, |i| {
            vec![("id", i.import.to_string())]
        }),
        // Labels, the inbox and profiles (checked in the audiences service).
        server_fn("labels", Table(Area::Labels, Read), Lists, none),
        server_fn(
            "save_label",
            Table(Area::Labels, Change),
            OwnOnly,
            label_form,
        ),
        server_fn(
            "backtest_label",
            Table(Area::Labels, Change),
            OwnOnly,
            label_form,
        ),
        // A name no workspace has: whoever may change labels is answered 404, the rest 403.
        server_fn(
            "archive_label",
            Table(Area::Labels, Change),
            OwnOnly,
            |_| vec![("name", "no_such_label".into())],
        ),
        server_fn("inbox", Table(Area::Inbox, Read), Lists, none),
        server_fn("inbox_read", Table(Area::Inbox, Change), ById, |i| {
            vec![("id", i.customer.to_string())]
        }),
        server_fn(
            "profiles_search",
            Table(Area::Profiles, Read),
            Lists,
            |_| {
                vec![
                    ("q", String::new()),
                    ("label", String::new()),
                    ("page", "0".into()),
                ]
            },
        ),
        server_fn("profile_view", Table(Area::Profiles, Read), ById, |i| {
            vec![("id", i.customer.to_string())]
        }),
        server_fn(
            "profile_events_after",
            Table(Area::Profiles, Read),
            Lists,
            |i| vec![("id", i.customer.to_string()), ("after", "0".into())],
        ),
    ];

    // The REST API: every record type has the same routes (one macro, one handler set).
    // Orders, contracts, memberships and tickets have no fixtures; their ids are nil and the
    // other-workspace reach of those shared handlers is proved by the four kinds that do.
    for kind in record_kinds() {
        use domain::crm::RecordKind as K;
        let id: fn(&Ids) -> Uuid = match kind {
            K::Account => |i| i.account,
            K::Customer => |i| i.customer,
            K::Lead => |i| i.lead,
            K::Activity => |i| i.activity,
            K::Order | K::Contract | K::LoyaltyMembership | K::Ticket => nil,
        };
        let edit: JsonArgs = match kind {
            K::Account => |_| json!({ "name": "Edited" }),
            K::Customer => |_| json!({ "first_name": "Edited" }),
            K::Lead => |_| json!({ "first_name": "Edited", "last_name": "Lead" }),
            K::Activity => |_| json!({ "kind": "note", "subject": "Edited" }),
            K::Order | K::Contract | K::LoyaltyMembership | K::Ticket => |_| json!({}),
        };
        let coll = kind.collection();
        let p = |suffix: &str| -> &'static str {
            Box::leak(format!("/api/v1/{coll}{suffix}").into_boxed_str())
        };
        e.extend([
            route("GET", p(""), crm(Read), Lists, nil, None),
            route(
                "POST",
                p(""),
                crm(Change),
                OwnOnly,
                nil,
                Some(|_| json!({})),
            ),
            route("GET", p("/export.csv"), crm(Read), Lists, nil, None),
            route("GET", p("/{id}"), crm(Read), ById, id, None),
            route("PUT", p("/{id}"), crm(Change), ById, id, Some(edit)),
            route("DELETE", p("/{id}"), crm(Change), ById, id, None),
            route("POST", p("/{id}/restore"), crm(Change), ById, id, None),
            // Filtered by workspace: another workspace's record has no history here.
            route("GET", p("/{id}/history"), crm(Read), Lists, id, None),
        ]);
    }
    e.extend([
        route(
            "POST",
            "/api/v1/leads/{id}/convert",
            crm(Change),
            ById,
            |i| i.lead,
            Some(|_| json!({ "version": 1 })),
        ),
        route(
            "GET",
            "/api/v1/loyalty-memberships/{id}/tiers",
            crm(Read),
            ById,
            nil,
            None,
        ),
        route(
            "GET",
            "/api/v1/imports/{id}/rows.csv",
            crm(Read),
            ById,
            |i| i.import,
            None,
        ),
        route(
            "GET",
            "/api/v1/tokens",
            Table(Area::ApiTokens, Read),
            Lists,
            nil,
            None,
        ),
        route(
            "POST",
            "/api/v1/tokens",
            Table(Area::ApiTokens, Change),
            OwnOnly,
            nil,
            Some(|_| json!({ "name": "Via API", "scopes": ["crm:read"] })),
        ),
        route(
            "DELETE",
            "/api/v1/tokens/{id}",
            Table(Area::ApiTokens, Change),
            ById,
            |i| i.token,
            None,
        ),
        route(
            "GET",
            "/api/v1/settings/crm",
            Table(Area::ApiTokens, Read),
            OwnOnly,
            nil,
            None,
        ),
        route(
            "PUT",
            "/api/v1/settings/crm",
            Table(Area::ApiTokens, Change),
            OwnOnly,
            nil,
            Some(|_| json!({ "reps_edit_own_only": false })),
        ),
        route(
            "GET",
            "/api/sources/{id}/live",
            Table(Area::Sources, Read),
            ById,
            |i| i.source,
            None,
        ),
    ]);
    e
}

fn label_form(_: &Ids) -> Vec<(&'static str, String)> {
    vec![
        ("label[name]", "checked_pricing".into()),
        ("label[kind]", "event".into()),
        ("label[event]", "Page Viewed".into()),
    ]
}

/// The demo workspace (every role signed in there) and a second workspace nobody of them is in.
struct World {
    base: String,
    own: Ids,
    other: Ids,
    members: Vec<(Role, reqwest::Client)>,
    tokens: Vec<(&'static str, String)>,
}

async fn fixtures(
    pool: &sqlx::PgPool,
    workspace: Uuid,
    by: Uuid,
    name: &str,
) -> (Ids, Vec<(&'static str, String)>) {
    let actor = crm::Actor::user(workspace, by, Role::Admin);
    let mut c = pool.acquire().await.unwrap();
    let customer = crm::customers::create(
        &mut c,
        &actor,
        serde_json::from_value(json!({ "first_name": name, "last_name": "Customer" })).unwrap(),
    )
    .await
    .unwrap()
    .id;
    let lead = crm::leads::create(
        &mut c,
        &actor,
        serde_json::from_value(
            json!({ "first_name": "Lead", "last_name": name, "company_name": name }),
        )
        .unwrap(),
    )
    .await
    .unwrap()
    .id;
    let account = crm::accounts::create(
        &mut c,
        &actor,
        serde_json::from_value(json!({ "name": name })).unwrap(),
    )
    .await
    .unwrap()
    .id;
    let activity = crm::activities::create(
        &mut c,
        &actor,
        serde_json::from_value(
            json!({ "kind": "task", "subject": name, "customer_id": customer, "owner_id": by }),
        )
        .unwrap(),
    )
    .await
    .unwrap()
    .id;
    let (source, _) = gateway::sources::create(pool, workspace, name, "web")
        .await
        .unwrap();
    let (integration, _) = integrations::create(
        pool,
        &actor,
        name,
        &format!("shop-{}", Uuid::new_v4().simple()),
        "custom",
    )
    .await
    .unwrap();
    let mut tokens = Vec::new();
    for scope in ["crm:read", "crm:write"] {
        let t = crm::tokens::issue(&mut c, &actor, name, &[scope.to_string()])
            .await
            .unwrap();
        tokens.push((scope, t.secret));
    }
    let token = crm::tokens::issue(&mut c, &actor, name, &["crm:read".to_string()])
        .await
        .unwrap()
        .token
        .id;
    let member = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, 'x')")
        .bind(member)
        .bind(format!("{}@example.com", member.simple()))
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'sales_rep')",
    )
    .bind(workspace)
    .bind(member)
    .execute(pool)
    .await
    .unwrap();
    let import = crm::import::upload(
        &mut c,
        &actor,
        domain::import::ImportKind::Customers,
        &format!("{name}.csv"),
        &format!("first_name\n{name}\n"),
    )
    .await
    .unwrap()
    .id;
    let ids = Ids {
        workspace,
        customer,
        lead,
        account,
        activity,
        source: source.id,
        integration,
        token,
        member,
        import,
    };
    (ids, tokens)
}

async fn world() -> World {
    let s = start().await;
    access::seed_demo(&s.pool).await.unwrap();
    let acme: Uuid = sqlx::query_scalar("SELECT id FROM workspaces WHERE slug = 'acme-demo'")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    let admin: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@acme.example'")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    // Row-level rules (reps change only their own records) are the CRM's tests, not this one's.
    sqlx::query("INSERT INTO crm_settings (workspace_id, reps_edit_own_only) VALUES ($1, false)")
        .bind(acme)
        .execute(&s.pool)
        .await
        .unwrap();
    let other = Uuid::new_v4();
    sqlx::query("INSERT INTO workspaces (id, name, slug) VALUES ($1, $2, 'other')")
        .bind(other)
        .bind(MARKER)
        .execute(&s.pool)
        .await
        .unwrap();
    // The other workspace's own admin, so its records have an owner who belongs there.
    let other_admin = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'boss@other.example', $2, 'x')")
        .bind(other_admin)
        .bind(MARKER)
        .execute(&s.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(other)
        .bind(other_admin)
        .execute(&s.pool)
        .await
        .unwrap();
    let (own, tokens) = fixtures(&s.pool, acme, admin, "Owned").await;
    let (other, _) = fixtures(&s.pool, other, other_admin, MARKER).await;
    let mut members = Vec::new();
    for role in Role::ALL {
        members.push((role, signed_in(&s.base, role).await));
    }
    World {
        base: s.base,
        own,
        other,
        members,
        tokens,
    }
}

fn email(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin@acme.example",
        Role::Manager => "manager@acme.example",
        Role::Marketer => "marketer@acme.example",
        Role::SalesRep => "rep@acme.example",
    }
}

async fn signed_in(base: &str, role: Role) -> reqwest::Client {
    let c = client();
    let r = login(&c, base, email(role), access::DEMO_PASSWORD).await;
    assert!(r.status().as_u16() < 400, "{role} signs in: {}", r.status());
    c
}

/// Sends one request as `caller` against the records in `ids`; returns status and body.
async fn send(w: &World, e: &Endpoint, caller: Caller, ids: &Ids) -> (u16, String) {
    let http = match caller {
        Caller::Member(role) if e.own_session => signed_in(&w.base, role).await,
        Caller::Member(role) => w.members.iter().find(|m| m.0 == role).unwrap().1.clone(),
        _ => client(),
    };
    let req = match e.call {
        Call::Form(args) => http
            .post(format!("{}/api/{}", w.base, e.name))
            .header("accept", "application/json")
            .form(&args(ids)),
        Call::Json(args) => http
            .post(format!("{}/api/{}", w.base, e.name))
            .header("accept", "application/json")
            .json(&args(ids)),
        Call::Api(method, path, id, body) => {
            let url = format!("{}{}", w.base, path.replace("{id}", &id(ids).to_string()));
            let mut r = http
                .request(method.parse().unwrap(), url)
                .header("if-match", "\"1\"");
            if let Some(b) = body {
                r = r.json(&b(ids));
            }
            if let Caller::Token(scope) = caller {
                let secret = &w.tokens.iter().find(|t| t.0 == scope).unwrap().1;
                r = r.bearer_auth(secret);
            }
            r
        }
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    // The live feed streams forever once allowed; its status says everything.
    if e.name.ends_with("/live") && status == 200 {
        return (status, String::new());
    }
    (status, res.text().await.unwrap_or_default())
}

fn callers(e: &Endpoint) -> Vec<Caller> {
    let mut out: Vec<Caller> = Role::ALL.into_iter().map(Caller::Member).collect();
    // API tokens speak to the REST API; server functions serve the workbench session only.
    if matches!(e.call, Call::Api(..)) {
        out.extend([Caller::Token("crm:read"), Caller::Token("crm:write")]);
    }
    out.push(Caller::Nobody);
    out
}

/// Runs every selected endpoint for every caller against both workspaces; returns the
/// mismatches, one line each.
async fn check(select: impl Fn(&Endpoint) -> bool) -> Vec<String> {
    let w = world().await;
    let mut wrong = Vec::new();
    for e in endpoints().iter().filter(|&e| select(e)) {
        let method = match e.call {
            Call::Api(m, ..) => m,
            _ => "POST",
        };
        for caller in callers(e) {
            let expect = allowed(caller, e.rule);
            let (status, body) = send(&w, e, caller, &w.own).await;
            let granted = status != 401 && status != 403 && status < 500;
            let refused_right = match caller {
                Caller::Nobody => status == 401,
                Caller::Member(_) => status == 403,
                // The live feed takes no token at all: to it a token is nobody.
                Caller::Token(_) => status == 403 || status == 401,
            };
            if expect != granted || (!expect && !refused_right) {
                wrong.push(format!(
                    "{method} {} as {caller:?}: expected {}, got {status} {}",
                    e.name,
                    if expect { "allowed" } else { "refused" },
                    body.chars().take(160).collect::<String>()
                ));
            }
            if body.contains(MARKER) {
                wrong.push(format!(
                    "{method} {} as {caller:?} answered with the other workspace's records",
                    e.name
                ));
            }
            if e.reach == Reach::ById {
                let (status, body) = send(&w, e, caller, &w.other).await;
                if !(400..500).contains(&status) || body.contains(MARKER) {
                    wrong.push(format!(
                        "{method} {} as {caller:?} reached the other workspace: {status} {}",
                        e.name,
                        body.chars().take(160).collect::<String>()
                    ));
                }
            }
        }
    }
    wrong
}

#[tokio::test]
async fn every_caller_gets_what_the_table_says_from_each_server_function_and_api_route() {
    let wrong = check(|e| !AUDIENCE_FNS.contains(&e.name)).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Labels, the inbox and profiles authorize inside the audiences service.
#[tokio::test]
async fn labels_inbox_and_profiles_follow_the_table() {
    let wrong = check(|e| AUDIENCE_FNS.contains(&e.name)).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_written_table_is_the_one_domain_enforces() {
    assert_eq!(TABLE.len(), Area::ALL.len(), "every area has a row");
    for (area, read, change) in TABLE {
        for role in Role::ALL {
            assert_eq!(
                read.contains(letter(role)),
                role.may(*area, Need::Read),
                "{role} read {area:?}"
            );
            assert_eq!(
                change.contains(letter(role)),
                role.may(*area, Need::Change),
                "{role} change {area:?}"
            );
        }
    }
    for scope in crm::Scope::ALL {
        for area in Area::ALL {
            for need in [Need::Read, Need::Change] {
                assert_eq!(
                    TOKEN_TABLE.contains(&(scope.as_str(), area, need)),
                    scope.grants(area, need),
                    "{} {need:?} {area:?}",
                    scope.as_str()
                );
            }
        }
    }
}

/// Every `#[server(endpoint = "…")]` under `app/src`.
fn declared_server_fns(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            declared_server_fns(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split("#[server(endpoint = \"").skip(1) {
                out.insert(part.split('"').next().unwrap().to_string());
            }
        }
    }
}

/// Every record kind (the match stops compiling when a kind is added and not listed here).
fn record_kinds() -> [domain::crm::RecordKind; 8] {
    use domain::crm::RecordKind::*;
    let all = [
        Account,
        Customer,
        Lead,
        Order,
        Contract,
        LoyaltyMembership,
        Ticket,
        Activity,
    ];
    for k in all {
        match k {
            Account | Customer | Lead | Order | Contract | LoyaltyMembership | Ticket
            | Activity => {}
        }
    }
    all
}

/// Every `METHOD path` the router files declare with `.route(…)`, `{coll}` filled in with each
/// record type's collection.
fn declared_routes() -> BTreeSet<String> {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut out = BTreeSet::new();
    let mut files = vec![http.join("mod.rs")];
    for entry in std::fs::read_dir(http.join("api")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let in_v1 = file.parent().unwrap().ends_with("api");
        for part in text.split(".route(").skip(1) {
            let Some(path) = part.split('"').nth(1) else {
                continue;
            };
            let path = path.replace("{{", "{").replace("}}", "}");
            let path = if in_v1 && !path.starts_with("/api/") {
                format!("/api/v1{path}")
            } else {
                path
            };
            // The handlers of this route: up to the next builder call.
            let handlers = [
                ";",
                ".merge(",
                ".layer(",
                ".nest",
                ".fallback(",
                ".with_state(",
            ]
            .iter()
            .fold(part, |rest, end| rest.split(end).next().unwrap());
            let mut methods = Vec::new();
            for (token, method) in [
                ("get(", "GET"),
                ("g(", "GET"),
                ("post(", "POST"),
                ("put(", "PUT"),
                ("delete(", "DELETE"),
                ("patch(", "PATCH"),
            ] {
                if handlers
                    .match_indices(token)
                    .any(|(i, _)| i == 0 || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric())
                {
                    methods.push(method);
                }
            }
            let paths: Vec<String> = if path.contains("{coll}") {
                record_kinds()
                    .iter()
                    .map(|k| path.replace("{coll}", k.collection()))
                    .collect()
            } else {
                vec![path]
            };
            for p in paths {
                for m in &methods {
                    out.insert(format!("{m} {p}"));
                }
            }
        }
    }
    out
}

#[test]
fn every_server_function_and_api_route_is_in_the_table() {
    let rows = endpoints();
    let mut fns = BTreeSet::new();
    declared_server_fns(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src"),
        &mut fns,
    );
    let in_table: BTreeSet<String> = rows
        .iter()
        .filter(|e| !matches!(e.call, Call::Api(..)))
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(
        fns, in_table,
        "server functions declared in app/src vs rows of the table"
    );

    let routes: BTreeSet<String> = rows
        .iter()
        .filter_map(|e| match e.call {
            Call::Api(m, p, ..) => Some(format!("{m} {p}")),
            _ => None,
        })
        .collect();
    let declared: BTreeSet<String> = declared_routes()
        .into_iter()
        .filter(|r| {
            let path = r.split_once(' ').unwrap().1;
            !NOT_MEMBER_ROUTES.iter().any(|(p, _)| *p == path)
        })
        .collect();
    assert_eq!(
        declared, routes,
        "routes declared under server/src/http vs rows of the table"
    );
}
