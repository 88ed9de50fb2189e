//! Golden SQL: the exact text and parameters each dialect renders for the same queries, so a
//! change to either engine's SQL is a visible diff here.

use analytics::query::{
    profile_count, profile_page, reads, Cmp, Column, Cond, Datum, Dialect, DuckDb, Order,
    ProfileFilter, Sql, StarRocks, TextOp, Window,
};
use analytics::tables::{EVENTS, PROFILES, SESSIONS};
use analytics::{AnalyticsError, ProfileQuery};

const DUCK: &dyn Dialect = &DuckDb;

fn starrocks() -> StarRocks {
    StarRocks::default()
}

fn text(v: &str) -> Datum {
    Datum::Text(v.into())
}

/// Top-level AND, a nested OR with a trait, NOT, an event count in a window, a number.
fn segment() -> ProfileFilter {
    ProfileFilter {
        cond: Cond::All(vec![
            Cond::Any(vec![
                Cond::Label("vip".into()),
                Cond::Trait {
                    key: "plan".into(),
                    op: TextOp::Equals,
                    value: "Pro".into(),
                },
            ]),
            Cond::Not(Box::new(Cond::Missing(Column::Email))),
            Cond::Events {
                name: "Order Completed".into(),
                window: Window {
                    from: 1_000,
                    to: 2_000,
                },
                cmp: Cmp::Ge,
                count: 2,
            },
            Cond::Column {
                column: Column::Revenue30d,
                cmp: Cmp::Gt,
                value: Datum::Float(100.0),
            },
        ]),
        order: vec![Order {
            column: Column::Revenue30d,
            descending: true,
        }],
        offset: 0,
        limit: 50,
    }
}

const EVENTS_SUBQUERY: &str = "(SELECT count(DISTINCT e.message_id) FROM events e \
    WHERE e.workspace = profiles.workspace AND e.profile = profiles.profile \
    AND e.name = ? AND e.ts >= ? AND e.ts < ?) >= ?";

#[test]
fn the_profile_search_renders_text_and_label_as_parameters_in_both_dialects() {
    let q = ProfileQuery {
        text: " Ada@X ".into(),
        label: Some("vip".into()),
        offset: 25,
        limit: 25,
    };
    let f = ProfileFilter::from(&q);
    let duck = profile_page(DUCK, "w", &f).unwrap();
    assert_eq!(
        duck.text,
        "SELECT profile, display, email, crm_customer, labels, events_total, last_seen, \
         count(*) OVER () AS total FROM profiles WHERE workspace = ? \
         AND contains(search, ?) AND contains(labels, ?) \
         ORDER BY last_seen DESC NULLS LAST, profile LIMIT 25 OFFSET 25"
    );
    assert_eq!(duck.params, [text("w"), text("ada@x"), text("\"vip\"")]);
    let sr = profile_page(&starrocks(), "w", &f).unwrap();
    assert_eq!(
        sr.text,
        "SELECT profile, display, email, crm_customer, labels, events_total, last_seen, \
         count(*) OVER () AS total FROM profiles WHERE workspace = ? \
         AND instr(search, ?) > 0 AND instr(labels, ?) > 0 \
         ORDER BY last_seen IS NULL, last_seen DESC, profile LIMIT 25 OFFSET 25"
    );
    assert_eq!(sr.params, duck.params);
}

#[test]
fn an_empty_search_filters_by_workspace_only_and_pages_are_bounded() {
    let f = ProfileFilter::from(&ProfileQuery {
        limit: 10_000,
        ..ProfileQuery::default()
    });
    let count = profile_count(DUCK, "w", &f).unwrap();
    assert_eq!(
        count.text,
        "SELECT count(*) FROM profiles WHERE workspace = ?"
    );
    assert_eq!(count.params, [text("w")]);
    let page = profile_page(&starrocks(), "w", &f).unwrap();
    assert!(page.text.ends_with(" LIMIT 200 OFFSET 0"), "{}", page.text);
}

#[test]
fn a_segment_renders_groups_traits_and_event_counts_in_each_dialect() {
    let f = segment();
    let duck = profile_count(DUCK, "w", &f).unwrap();
    assert_eq!(
        duck.text,
        format!(
            "SELECT count(*) FROM profiles WHERE workspace = ? AND (contains(labels, ?) OR \
             CASE WHEN regexp_matches(traits, ?) THEN regexp_extract(traits, ?, 1) END = ?) \
             AND NOT (email IS NULL) AND {EVENTS_SUBQUERY} AND revenue_30d > ?"
        )
    );
    let pattern = text(r#""plan":"((?:[^"\\]|\\.)*)""#);
    let tail = [
        text("Order Completed"),
        Datum::Int(1_000),
        Datum::Int(2_000),
        Datum::Int(2),
        Datum::Float(100.0),
    ];
    let mut want = vec![
        text("w"),
        text("\"vip\""),
        pattern.clone(),
        pattern,
        text("Pro"),
    ];
    want.extend(tail.clone());
    assert_eq!(duck.params, want);

    let sr = profile_count(&starrocks(), "w", &f).unwrap();
    assert_eq!(
        sr.text,
        format!(
            "SELECT count(*) FROM profiles WHERE workspace = ? AND (instr(labels, ?) > 0 OR \
             get_json_string(traits, ?) = ?) AND NOT (email IS NULL) AND {EVENTS_SUBQUERY} \
             AND revenue_30d > ?"
        )
    );
    let mut want = vec![text("w"), text("\"vip\""), text("$.plan"), text("Pro")];
    want.extend(tail);
    assert_eq!(sr.params, want);

    let page = profile_page(&starrocks(), "w", &f).unwrap();
    assert!(
        page.text.ends_with(
            " ORDER BY revenue_30d IS NULL, revenue_30d DESC, profile LIMIT 50 OFFSET 0"
        ),
        "{}",
        page.text
    );
}

#[test]
fn a_trait_substring_and_an_empty_or_render_per_dialect() {
    let f = ProfileFilter::recent_first(
        Cond::All(vec![
            Cond::Trait {
                key: "company".into(),
                op: TextOp::Contains,
                value: "Acme \"East\"".into(),
            },
            Cond::Any(Vec::new()),
        ]),
        0,
        10,
    );
    let duck = profile_count(DUCK, "w", &f).unwrap();
    assert_eq!(
        duck.text,
        "SELECT count(*) FROM profiles WHERE workspace = ? AND contains(CASE WHEN \
         regexp_matches(traits, ?) THEN regexp_extract(traits, ?, 1) END, ?) AND 1 = 0"
    );
    assert_eq!(
        duck.params[3],
        text(r#"Acme \"East\""#),
        "DuckDB compares with the JSON-escaped text it extracts"
    );
    let sr = profile_count(&starrocks(), "w", &f).unwrap();
    assert_eq!(
        sr.text,
        "SELECT count(*) FROM profiles WHERE workspace = ? \
         AND instr(get_json_string(traits, ?), ?) > 0 AND 1 = 0"
    );
    assert_eq!(sr.params[1..], [text("$.company"), text("Acme \"East\"")]);
}

#[test]
fn a_trait_key_outside_the_safe_alphabet_is_refused_not_rendered() {
    let f = ProfileFilter::recent_first(
        Cond::Trait {
            key: "plan') OR 1=1 --".into(),
            op: TextOp::Equals,
            value: "x".into(),
        },
        0,
        10,
    );
    for d in [DUCK, &starrocks() as &dyn Dialect] {
        let err = profile_page(d, "w", &f).unwrap_err();
        assert!(matches!(err, AnalyticsError::Query(_)), "{err}");
    }
}

fn both(render: impl Fn(&dyn Dialect) -> Sql) -> (Sql, Sql) {
    (render(DUCK), render(&starrocks()))
}

#[test]
fn the_fixed_reads_render_the_same_in_both_dialects() {
    let set = vec!["p".to_string(), "q".to_string()];
    let (duck, sr) = both(|d| reads::timeline(d, "w", &set, Some(5), 10));
    assert_eq!(
        duck.text,
        "SELECT message_id, name, ts, properties FROM events WHERE workspace = ? \
         AND profile IN (?, ?) AND ts > ? ORDER BY ts ASC, message_id LIMIT 10"
    );
    assert_eq!(
        duck.params,
        [text("w"), text("p"), text("q"), Datum::Int(5)]
    );
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::timeline(d, "w", &set, None, 5_000));
    assert_eq!(
        duck.text,
        "SELECT message_id, name, ts, properties FROM events WHERE workspace = ? \
         AND profile IN (?, ?) ORDER BY ts DESC, message_id LIMIT 1000"
    );
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::merges_into(d, "w", &set));
    assert_eq!(
        duck.text,
        "SELECT from_profile, via, ts FROM merges WHERE workspace = ? AND into_profile IN (?, ?)"
    );
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::merged_into(d, "w", "p"));
    assert_eq!(
        duck.text,
        "SELECT into_profile FROM merges WHERE workspace = ? AND from_profile = ?"
    );
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::identity(d, "w", "email:a@x.example"));
    assert_eq!(
        duck.text,
        "SELECT profile FROM identities WHERE workspace = ? AND identifier = ?"
    );
    assert_eq!(duck.params, [text("w"), text("email:a@x.example")]);
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::profile_row(d, "w", "p"));
    assert_eq!(
        duck.text,
        "SELECT display, identifiers, labels, traits, first_seen, last_seen, events_total, \
         sessions_total, events_today, events_7d, events_30d, orders_30d, revenue_30d, \
         distinct_pages_7d FROM profiles WHERE workspace = ? AND profile = ?"
    );
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::label_history(d, "w", &set));
    assert_eq!(
        duck.text,
        "SELECT label, is_set, ts, reason FROM label_history WHERE workspace = ? \
         AND profile IN (?, ?) ORDER BY ts DESC, id LIMIT 200"
    );
    assert_eq!(sr, duck);
    let (duck, sr) = both(|d| reads::sessions(d, "w", &set));
    assert_eq!(
        duck.text,
        "SELECT session, started_at, ended_at, duration_ms, events FROM sessions \
         WHERE workspace = ? AND profile IN (?, ?) ORDER BY started_at DESC LIMIT 50"
    );
    assert_eq!(sr, duck);
}

#[test]
fn one_descriptor_renders_each_engines_ddl() {
    assert_eq!(
        DUCK.create_table(&EVENTS),
        "CREATE TABLE IF NOT EXISTS events (workspace VARCHAR NOT NULL, \
         profile VARCHAR NOT NULL, ts BIGINT NOT NULL, message_id VARCHAR NOT NULL, \
         name VARCHAR NOT NULL, properties VARCHAR)"
    );
    assert_eq!(
        starrocks().create_table(&EVENTS),
        "CREATE TABLE IF NOT EXISTS events (workspace VARCHAR(64) NOT NULL, \
         profile VARCHAR(128) NOT NULL, ts BIGINT NOT NULL, message_id VARCHAR(256) NOT NULL, \
         name VARCHAR(256) NOT NULL, properties STRING) DUPLICATE KEY(workspace, profile, ts) \
         DISTRIBUTED BY HASH(profile) BUCKETS 8 PROPERTIES (\"replication_num\" = \"1\")"
    );
    assert_eq!(
        DUCK.create_table(&SESSIONS),
        "CREATE TABLE IF NOT EXISTS sessions (workspace VARCHAR NOT NULL, \
         session VARCHAR NOT NULL, profile VARCHAR NOT NULL, started_at BIGINT NOT NULL, \
         ended_at BIGINT, duration_ms BIGINT NOT NULL, events BIGINT NOT NULL, \
         PRIMARY KEY (workspace, session))"
    );
    assert_eq!(
        starrocks().create_table(&SESSIONS),
        "CREATE TABLE IF NOT EXISTS sessions (workspace VARCHAR(64) NOT NULL, \
         session VARCHAR(256) NOT NULL, profile VARCHAR(128) NOT NULL, \
         started_at BIGINT NOT NULL, ended_at BIGINT, duration_ms BIGINT NOT NULL, \
         events BIGINT NOT NULL, phase TINYINT NOT NULL) PRIMARY KEY(workspace, session) \
         DISTRIBUTED BY HASH(session) BUCKETS 8 PROPERTIES (\"replication_num\" = \"1\")"
    );
    let profiles = starrocks().create_table(&PROFILES);
    assert!(
        profiles.starts_with(
            "CREATE TABLE IF NOT EXISTS profiles (workspace VARCHAR(64) NOT NULL, \
             profile VARCHAR(128) NOT NULL, revision BIGINT NOT NULL, \
             display VARCHAR(512) NOT NULL, email VARCHAR(320), crm_customer VARCHAR(64), \
             identifiers STRING NOT NULL,"
        ),
        "{profiles}"
    );
    assert!(profiles.contains(
        " search STRING NOT NULL) PRIMARY KEY(workspace, profile) DISTRIBUTED BY HASH(profile)"
    ));
}
