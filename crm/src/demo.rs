//! The demo data generator: a believable CRM (accounts, customers, leads, orders with lines,
//! contracts, loyalty memberships, tickets, activities) spread over the last 18 months,
//! deterministic for a given seed and day. Rows go in with batched `unnest` inserts, not one
//! service call per row, so the run command seeds ~10k customers and ~50k orders in seconds.

use crate::error::CrmError;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::{PgConnection, PgPool};
use std::time::Instant;
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

/// How much to generate.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub accounts: usize,
    pub customers: usize,
    pub leads: usize,
    pub orders: usize,
    pub contracts: usize,
    pub memberships: usize,
    pub tickets: usize,
    pub activities: usize,
}

impl Scale {
    /// The demo: ~10k customers and ~50k orders.
    pub const DEMO: Scale = Scale {
        accounts: 800,
        customers: 10_000,
        leads: 1_500,
        orders: 50_000,
        contracts: 600,
        memberships: 3_000,
        tickets: 4_000,
        activities: 12_000,
    };

    /// Customers only (for list and search benchmarks).
    pub fn customers_only(n: usize) -> Scale {
        Scale {
            accounts: n / 12,
            customers: n,
            leads: 0,
            orders: 0,
            contracts: 0,
            memberships: 0,
            tickets: 0,
            activities: 0,
        }
    }
}

/// What was generated and how long it took.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub accounts: usize,
    pub customers: usize,
    pub leads: usize,
    pub orders: usize,
    pub order_lines: usize,
    pub contracts: usize,
    pub memberships: usize,
    pub tickets: usize,
    pub activities: usize,
    pub seconds: f64,
}

const FIRST: &[&str] = &[
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Levi",
    "Harper",
    "Ethan",
    "Evelyn",
    "James",
    "Aria",
    "Leo",
    "Chloe",
    "Henry",
    "Nora",
    "Jack",
    "Zoe",
    "Owen",
    "Hannah",
    "Theo",
    "Lea",
    "Jonas",
    "Marie",
    "Felix",
    "Sofia",
    "Paul",
    "Clara",
    "Luis",
    "Ines",
    "Hugo",
    "Lina",
    "Arthur",
    "Julia",
    "Max",
    "Aiko",
    "Haruto",
    "Yuna",
    "Ren",
    "Priya",
    "Arjun",
    "Ananya",
    "Rohan",
    "Fatima",
    "Omar",
    "Layla",
    "Yusuf",
    "Chen",
    "Wei",
    "Mei",
    "Jun",
    "Santiago",
    "Valentina",
    "Diego",
    "Camila",
    "Kwame",
    "Amara",
    "Kofi",
    "Zara",
    "Lars",
    "Ingrid",
    "Sven",
    "Astrid",
    "Mateus",
    "Beatriz",
    "Ivan",
    "Olga",
    "Nikolai",
    "Anya",
    "Tomasz",
    "Zofia",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Dubois",
    "Laurent",
    "Moreau",
    "Rossi",
    "Russo",
    "Bianchi",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Watanabe",
    "Patel",
    "Sharma",
    "Singh",
    "Kumar",
    "Khan",
    "Haddad",
    "Nakamura",
    "Kim",
    "Park",
    "Nguyen",
    "Tran",
    "Silva",
    "Santos",
    "Oliveira",
    "Pereira",
    "Andersson",
    "Johansson",
    "Nielsen",
    "Hansen",
    "Kowalski",
    "Nowak",
    "Ivanova",
    "Petrov",
    "Okafor",
    "Mensah",
    "Boateng",
    "O'Brien",
    "Murphy",
];
const COMPANY_A: &[&str] = &[
    "Northwind",
    "Blue",
    "Bright",
    "Cedar",
    "Summit",
    "Harbor",
    "Silver",
    "Granite",
    "Aurora",
    "Pioneer",
    "Atlas",
    "Evergreen",
    "Lumen",
    "Nimbus",
    "Vertex",
    "Quantum",
    "Crescent",
    "Redwood",
    "Sterling",
    "Orbit",
    "Beacon",
    "Falcon",
    "Juniper",
    "Meridian",
    "Nova",
    "Polar",
    "Riverstone",
    "Sapphire",
    "Tidal",
    "Zenith",
];
const COMPANY_B: &[&str] = &[
    "Logistics",
    "Foods",
    "Health",
    "Labs",
    "Outfitters",
    "Media",
    "Robotics",
    "Energy",
    "Retail",
    "Analytics",
    "Studios",
    "Systems",
    "Partners",
    "Apparel",
    "Motors",
    "Pharma",
    "Travel",
    "Capital",
    "Software",
    "Goods",
];
const INDUSTRY: &[&str] = &[
    "Retail",
    "Logistics",
    "Healthcare",
    "Manufacturing",
    "Software",
    "Media",
    "Financial services",
    "Hospitality",
    "Education",
    "Energy",
];
const ZONES: &[(&str, &str, &str)] = &[
    ("America/New_York", "+1212", "en-US"),
    ("America/Los_Angeles", "+1415", "en-US"),
    ("America/Chicago", "+1312", "en-US"),
    ("Europe/London", "+4420", "en-GB"),
    ("Europe/Berlin", "+4930", "de-DE"),
    ("Europe/Paris", "+331", "fr-FR"),
    ("Europe/Madrid", "+3491", "es-ES"),
    ("Asia/Tokyo", "+813", "ja-JP"),
    ("Asia/Kolkata", "+9122", "en-IN"),
    ("Australia/Sydney", "+612", "en-AU"),
    ("America/Sao_Paulo", "+5511", "pt-BR"),
];
const PRODUCTS: &[(&str, i64)] = &[
    ("Trail running shoes", 12900),
    ("Merino base layer", 7900),
    ("Rain shell jacket", 21900),
    ("Insulated bottle", 3400),
    ("Daypack 24L", 8900),
    ("Headlamp", 4500),
    ("Wool socks (3-pack)", 2400),
    ("Trekking poles", 11900),
    ("Camp stove", 6900),
    ("Sleeping bag -5°C", 27900),
    ("Sunglasses", 9900),
    ("Gift card", 5000),
];
const TICKET_SUBJECTS: &[&str] = &[
    "Where is my order?",
    "Wrong size delivered",
    "Refund not received",
    "Item arrived damaged",
    "Change delivery address",
    "Discount code not working",
    "Cannot log in to my account",
    "Invoice request",
    "Loyalty points missing",
    "Product question: waterproofing",
    "Cancel my order",
    "Warranty claim",
];
const ACTIVITY_SUBJECTS: &[(&str, &str)] = &[
    ("call", "Discovery call"),
    ("call", "Follow-up on quote"),
    ("meeting", "Quarterly business review"),
    ("meeting", "Product demo"),
    ("email", "Sent pricing sheet"),
    ("email", "Renewal reminder"),
    ("note", "Prefers contact by email"),
    ("note", "Budget approved for Q3"),
    ("task", "Send contract draft"),
    ("task", "Call back about renewal"),
    ("task", "Prepare proposal"),
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("non-empty list")
}

fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

/// Midnight UTC of the generation day, the anchor of every timestamp.
fn anchor(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

/// A time within the last `days` days, weighted to recent days (growth over time).
fn recent(rng: &mut StdRng, now: OffsetDateTime, days: i64) -> OffsetDateTime {
    let x: f64 = rng.gen::<f64>().sqrt();
    let back = ((1.0 - x) * days as f64 * 86_400.0) as i64;
    now - Duration::seconds(back + 1)
}

/// Generates demo CRM data into `workspace_id` unless it already has customers. Owners are
/// the workspace's sales reps and managers. Returns `None` when data already exists.
pub async fn generate(
    pool: &PgPool,
    workspace_id: Uuid,
    seed: u64,
    day: Date,
    scale: Scale,
) -> Result<Option<Generated>, CrmError> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let has: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customers WHERE workspace_id = $1)")
            .bind(workspace_id)
            .fetch_one(&mut *conn)
            .await?;
    if has {
        return Ok(None);
    }
    let owners: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM memberships WHERE workspace_id = $1 AND active AND role IN ('sales_rep', 'manager')
          ORDER BY user_id",
    )
    .bind(workspace_id)
    .fetch_all(&mut *conn)
    .await?;
    // Mixing in the workspace keeps generated ids unique when two workspaces use one seed.
    let mut rng = StdRng::seed_from_u64(seed ^ (workspace_id.as_u128() as u64));
    let now = anchor(day);
    let mut out = Generated::default();
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let owner = |rng: &mut StdRng| -> Option<Uuid> { owners.choose(rng).copied() };

    // Accounts.
    let mut account_ids = Vec::with_capacity(scale.accounts);
    let mut account_domains = Vec::with_capacity(scale.accounts);
    {
        let (mut id, mut name, mut domain, mut industry, mut emp, mut rev, mut own, mut created) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for i in 0..scale.accounts {
            let a = pick(&mut rng, COMPANY_A);
            let b = pick(&mut rng, COMPANY_B);
            let n = format!(
                "{a} {b}{}",
                if i >= 600 {
                    format!(" {}", i / 600 + 1)
                } else {
                    String::new()
                }
            );
            let d = format!("{}{}.example", a.to_lowercase(), i);
            let aid = uuid(&mut rng);
            account_ids.push(aid);
            account_domains.push(d.clone());
            id.push(aid);
            name.push(n);
            domain.push(d);
            industry.push(pick(&mut rng, INDUSTRY).to_string());
            let e: i32 = rng.gen_range(5..5000);
            emp.push(e);
            rev.push(i64::from(e) * rng.gen_range(8_000_000..30_000_000));
            own.push(owner(&mut rng));
            created.push(recent(&mut rng, now, 540));
        }
        sqlx::query(
            "INSERT INTO accounts (id, workspace_id, name, domain, industry, employees, annual_revenue_minor, currency,
                    owner_id, created_at, updated_at)
             SELECT u.id, $1, u.name, u.domain, u.industry, u.emp, u.rev, 'USD', u.own, u.created, u.created
               FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int8[], $8::uuid[], $9::timestamptz[])
                    AS u(id, name, domain, industry, emp, rev, own, created)",
        )
        .bind(workspace_id)
        .bind(&id)
        .bind(&name)
        .bind(&domain)
        .bind(&industry)
        .bind(&emp)
        .bind(&rev)
        .bind(&own)
        .bind(&created)
        .execute(&mut *tx)
        .await?;
        out.accounts = scale.accounts;
    }

    // Customers with identifiers, in chunks to bound statement size.
    let mut customers: Vec<(Uuid, Option<Uuid>, Option<Uuid>, OffsetDateTime)> =
        Vec::with_capacity(scale.customers);
    for chunk_start in (0..scale.customers).step_by(5_000) {
        let end = (chunk_start + 5_000).min(scale.customers);
        let mut c = CustomerCols::default();
        let mut idf = IdentCols::default();
        for i in chunk_start..end {
            let first = *pick(&mut rng, FIRST);
            let last = *pick(&mut rng, LAST);
            let cid = uuid(&mut rng);
            let account = if !account_ids.is_empty() && rng.gen_bool(0.4) {
                let k = rng.gen_range(0..account_ids.len());
                Some((account_ids[k], account_domains[k].clone()))
            } else {
                None
            };
            let ascii_last: String = last
                .chars()
                .filter(|ch| ch.is_ascii_alphabetic())
                .collect::<String>()
                .to_lowercase();
            let email = match &account {
                Some((_, d)) => format!("{}.{}{}@{}", first.to_lowercase(), ascii_last, i, d),
                None => format!("{}.{}{}@mail.example", first.to_lowercase(), ascii_last, i),
            };
            let (tz, prefix, locale) = *pick(&mut rng, ZONES);
            let phone = rng
                .gen_bool(0.6)
                .then(|| format!("{prefix}{:07}", rng.gen_range(1_000_000..9_999_999)));
            let created = recent(&mut rng, now, 540);
            let own = owner(&mut rng);
            let stage = match rng.gen_range(0..100) {
                0..=14 => "prospect",
                15..=89 => "customer",
                _ => "churned",
            };
            let consent = [
                rng.gen_bool(0.62),
                rng.gen_bool(0.3),
                rng.gen_bool(0.2),
                rng.gen_bool(0.4),
            ];
            let mut search = format!("{} {} {}", first, last, email);
            idf.push(cid, "email", "", &email, 0);
            if let Some(p) = &phone {
                search.push(' ');
                search.push_str(p);
                idf.push(cid, "phone", "", p, 0);
            }
            if rng.gen_bool(0.3) {
                let ext = format!("{}", 4_000_000_000u64 + i as u64);
                search.push(' ');
                search.push_str(&ext);
                idf.push(cid, "external_id", "shopify", &ext, 0);
            }
            c.id.push(cid);
            c.account.push(account.as_ref().map(|a| a.0));
            c.first.push(first.to_string());
            c.last.push(last.to_string());
            c.email.push(email);
            c.phone.push(phone);
            c.tz.push(tz.to_string());
            c.locale.push(locale.to_string());
            c.stage.push(stage.to_string());
            c.consent_email.push(consent[0]);
            c.consent_sms.push(consent[1]);
            c.consent_phone.push(consent[2]);
            c.consent_push.push(consent[3]);
            c.owner.push(own);
            c.search.push(search.to_lowercase());
            c.created.push(created);
            customers.push((cid, account.map(|a| a.0), own, created));
        }
        c.insert(&mut tx, workspace_id).await?;
        idf.insert(&mut tx, workspace_id).await?;
        out.customers += end - chunk_start;
    }

    // Leads.
    if scale.leads > 0 {
        let mut l = LeadCols::default();
        for i in 0..scale.leads {
            let first = *pick(&mut rng, FIRST);
            let last = *pick(&mut rng, LAST);
            let company = format!(
                "{} {}",
                pick(&mut rng, COMPANY_A),
                pick(&mut rng, COMPANY_B)
            );
            let status = match rng.gen_range(0..100) {
                0..=34 => "new",
                35..=59 => "contacted",
                60..=79 => "qualified",
                _ => "lost",
            };
            let email = format!(
                "{}.{}.lead{}@prospect.example",
                first.to_lowercase(),
                i,
                rng.gen_range(10..99)
            );
            l.search
                .push(format!("{first} {last} {email} {company}").to_lowercase());
            l.id.push(uuid(&mut rng));
            l.first.push(first.to_string());
            l.last.push(last.to_string());
            l.email.push(email);
            l.company.push(company);
            l.source.push(
                pick(
                    &mut rng,
                    &["web", "referral", "event", "outbound", "partner", "ads"],
                )
                .to_string(),
            );
            l.status.push(status.to_string());
            l.lost_reason.push((status == "lost").then(|| {
                pick(
                    &mut rng,
                    &["No budget", "Chose a competitor", "No response", "Timing"],
                )
                .to_string()
            }));
            l.value.push(rng.gen_range(50_000..5_000_000i64));
            l.owner.push(owner(&mut rng));
            l.created.push(recent(&mut rng, now, 240));
        }
        l.insert(&mut tx, workspace_id).await?;
        out.leads = scale.leads;
    }

    // Orders with lines.
    if scale.orders > 0 && !customers.is_empty() {
        for chunk_start in (0..scale.orders).step_by(5_000) {
            let end = (chunk_start + 5_000).min(scale.orders);
            let mut o = OrderCols::default();
            let mut ln = LineCols::default();
            for i in chunk_start..end {
                // A few customers buy a lot: pick with a skew towards the first customers.
                let k = ((rng.gen::<f64>().powf(1.6)) * customers.len() as f64) as usize;
                let (cid, account, own, since) = customers[k.min(customers.len() - 1)];
                // Never after `now`: customers created in the last hour get orders up to now.
                let span = (now - since).whole_seconds().max(1);
                let ordered = (since + Duration::seconds(rng.gen_range(0..span))).min(now);
                let oid = uuid(&mut rng);
                let mut total = 0i64;
                for line_no in 1..=rng.gen_range(1..=4i16) {
                    let (name, price) = *pick(&mut rng, PRODUCTS);
                    let qty = if rng.gen_bool(0.8) {
                        1
                    } else {
                        rng.gen_range(2..4)
                    };
                    let discount = if rng.gen_bool(0.15) {
                        price * i64::from(qty) / 10
                    } else {
                        0
                    };
                    total += price * i64::from(qty) - discount;
                    ln.order.push(oid);
                    ln.line_no.push(line_no);
                    ln.sku.push(format!(
                        "SKU-{:03}",
                        PRODUCTS.iter().position(|p| p.0 == name).unwrap_or(0) + 100
                    ));
                    ln.desc.push(name.to_string());
                    ln.qty.push(qty);
                    ln.price.push(price);
                    ln.discount.push(discount);
                }
                let age_days = (now - ordered).whole_days();
                let status = match (age_days, rng.gen_range(0..100)) {
                    (0..=2, 0..=59) => "pending",
                    (0..=2, _) => "paid",
                    (_, 0..=3) => "cancelled",
                    (_, 4..=6) => "refunded",
                    (0..=7, _) => "paid",
                    _ => "fulfilled",
                };
                o.id.push(oid);
                o.number.push(format!("PO-{:07}", 1_000_000 + i));
                o.customer.push(cid);
                o.account.push(account);
                o.status.push(status.to_string());
                o.channel.push(
                    pick(
                        &mut rng,
                        &[
                            "web",
                            "web",
                            "web",
                            "app",
                            "app",
                            "store",
                            "phone",
                            "marketplace",
                        ],
                    )
                    .to_string(),
                );
                o.total.push(total);
                o.ordered.push(ordered);
                o.owner.push(own);
            }
            out.order_lines += ln.order.len();
            o.insert(&mut tx, workspace_id).await?;
            ln.insert(&mut tx, workspace_id).await?;
            out.orders += end - chunk_start;
        }
    }

    // Contracts with accounts (or their customers).
    if scale.contracts > 0 && !account_ids.is_empty() {
        let (
            mut id,
            mut title,
            mut acc,
            mut status,
            mut start,
            mut endd,
            mut renew,
            mut auto,
            mut value,
            mut own,
        ) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for _ in 0..scale.contracts {
            let s = day - Duration::days(rng.gen_range(0..700));
            let e = s + Duration::days(*pick(&mut rng, &[180i64, 365, 365, 730]));
            let st = if e < day {
                *pick(&mut rng, &["expired", "renewed"])
            } else if rng.gen_bool(0.1) {
                "draft"
            } else {
                "active"
            };
            id.push(uuid(&mut rng));
            title.push(
                pick(
                    &mut rng,
                    &[
                        "Enterprise subscription",
                        "Support plan",
                        "Wholesale agreement",
                        "Service level agreement",
                    ],
                )
                .to_string(),
            );
            acc.push(*pick(&mut rng, &account_ids));
            status.push(st.to_string());
            start.push(s);
            endd.push(e);
            renew.push(e - Duration::days(30));
            auto.push(rng.gen_bool(0.5));
            value.push(rng.gen_range(500_000..50_000_000i64));
            own.push(owner(&mut rng));
        }
        sqlx::query(
            "INSERT INTO contracts (id, workspace_id, title, account_id, status, start_date, end_date, renewal_date,
                    auto_renew, value_minor, currency, owner_id, created_at, updated_at)
             SELECT u.id, $1, u.title, u.acc, u.status, u.s, u.e, u.r, u.auto, u.v, 'USD', u.own,
                    u.s::timestamptz, u.s::timestamptz
               FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::date[], $7::date[], $8::date[],
                           $9::bool[], $10::int8[], $11::uuid[]) AS u(id, title, acc, status, s, e, r, auto, v, own)",
        )
        .bind(workspace_id)
        .bind(&id)
        .bind(&title)
        .bind(&acc)
        .bind(&status)
        .bind(&start)
        .bind(&endd)
        .bind(&renew)
        .bind(&auto)
        .bind(&value)
        .bind(&own)
        .execute(&mut *tx)
        .await?;
        out.contracts = scale.contracts;
    }

    // Loyalty memberships for distinct customers, with their tier history.
    if scale.memberships > 0 && !customers.is_empty() {
        let mut picked: Vec<usize> = (0..customers.len()).collect();
        picked.shuffle(&mut rng);
        picked.truncate(scale.memberships.min(customers.len()));
        let (mut id, mut cust, mut tier, mut points, mut status, mut joined, mut created) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for k in picked {
            let (cid, _, _, since) = customers[k];
            let p: i32 = rng.gen_range(0..20_000);
            let t = match p {
                0..=2_999 => "bronze",
                3_000..=8_999 => "silver",
                9_000..=15_999 => "gold",
                _ => "platinum",
            };
            id.push(uuid(&mut rng));
            cust.push(cid);
            tier.push(t.to_string());
            points.push(p);
            status.push(
                if rng.gen_bool(0.92) {
                    "active"
                } else {
                    "paused"
                }
                .to_string(),
            );
            joined.push(since.date());
            created.push(since);
        }
        sqlx::query(
            "INSERT INTO loyalty_memberships (id, workspace_id, customer_id, tier, points, status, joined_on, created_at, updated_at)
             SELECT u.id, $1, u.c, u.t, u.p, u.s, u.j, u.cr, u.cr
               FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::int4[], $6::text[], $7::date[], $8::timestamptz[])
                    AS u(id, c, t, p, s, j, cr)",
        )
        .bind(workspace_id)
        .bind(&id)
        .bind(&cust)
        .bind(&tier)
        .bind(&points)
        .bind(&status)
        .bind(&joined)
        .bind(&created)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO loyalty_tier_changes (workspace_id, membership_id, from_tier, to_tier, reason, changed_at)
             SELECT workspace_id, id, NULL, tier, 'Enrolled', created_at FROM loyalty_memberships WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
        out.memberships = id.len();
    }

    // Tickets.
    if scale.tickets > 0 && !customers.is_empty() {
        let (
            mut id,
            mut cust,
            mut subj,
            mut status,
            mut prio,
            mut chan,
            mut sat,
            mut own,
            mut opened,
            mut solved,
            mut search,
        ) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for _ in 0..scale.tickets {
            let (cid, _, _, since) = *pick(&mut rng, &customers);
            let span = (now - since).whole_seconds().max(1);
            // Opened no later than now, so a solved time (capped at now) is never before it.
            let o = (since + Duration::seconds(rng.gen_range(0..span))).min(now);
            let age_days = (now - o).whole_days();
            let st = if age_days < 3 {
                *pick(&mut rng, &["open", "pending", "solved"])
            } else if rng.gen_bool(0.95) {
                "closed"
            } else {
                "open"
            };
            let s = *pick(&mut rng, TICKET_SUBJECTS);
            let done = matches!(st, "solved" | "closed");
            id.push(uuid(&mut rng));
            cust.push(cid);
            subj.push(s.to_string());
            search.push(s.to_lowercase());
            status.push(st.to_string());
            prio.push(
                pick(
                    &mut rng,
                    &["low", "normal", "normal", "normal", "high", "urgent"],
                )
                .to_string(),
            );
            chan.push(
                pick(
                    &mut rng,
                    &["email", "email", "chat", "phone", "web", "social"],
                )
                .to_string(),
            );
            sat.push(
                (done && rng.gen_bool(0.4)).then(|| *pick(&mut rng, &[5i16, 5, 4, 4, 3, 2, 1])),
            );
            own.push(owner(&mut rng));
            opened.push(o);
            solved.push(done.then(|| (o + Duration::minutes(rng.gen_range(10..4320))).min(now)));
        }
        sqlx::query(
            "INSERT INTO tickets (id, workspace_id, customer_id, subject, status, priority, channel, satisfaction, owner_id,
                    opened_at, solved_at, search_text, created_at, updated_at)
             SELECT u.id, $1, u.c, u.s, u.st, u.p, u.ch, u.sat, u.own, u.o, u.so, u.se, u.o, coalesce(u.so, u.o)
               FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int2[], $9::uuid[],
                           $10::timestamptz[], $11::timestamptz[], $12::text[]) AS u(id, c, s, st, p, ch, sat, own, o, so, se)",
        )
        .bind(workspace_id)
        .bind(&id)
        .bind(&cust)
        .bind(&subj)
        .bind(&status)
        .bind(&prio)
        .bind(&chan)
        .bind(&sat)
        .bind(&own)
        .bind(&opened)
        .bind(&solved)
        .bind(&search)
        .execute(&mut *tx)
        .await?;
        out.tickets = scale.tickets;
    }

    // Activities; open tasks cluster around today so "due today" lists are never empty.
    if scale.activities > 0 && !customers.is_empty() {
        let (
            mut id,
            mut kind,
            mut subj,
            mut cust,
            mut occurred,
            mut dur,
            mut due,
            mut done,
            mut own,
        ) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for _ in 0..scale.activities {
            let (cid, _, cown, _) = *pick(&mut rng, &customers);
            let (k, s) = *pick(&mut rng, ACTIVITY_SUBJECTS);
            let occ = recent(&mut rng, now, 540);
            let is_task = k == "task";
            let due_at = is_task.then(|| now + Duration::hours(rng.gen_range(-72..120)));
            let done_at = match due_at {
                Some(d) if d < now - Duration::hours(24) && rng.gen_bool(0.8) => Some(d),
                _ => None,
            };
            id.push(uuid(&mut rng));
            kind.push(k.to_string());
            subj.push(s.to_string());
            cust.push(cid);
            occurred.push(occ);
            dur.push(matches!(k, "call" | "meeting").then(|| rng.gen_range(5..90)));
            due.push(due_at);
            done.push(done_at);
            own.push(cown.or_else(|| owner(&mut rng)));
        }
        sqlx::query(
            "INSERT INTO activities (id, workspace_id, kind, subject, customer_id, occurred_at, duration_minutes, due_at,
                    done_at, owner_id, created_at, updated_at)
             SELECT u.id, $1, u.k, u.s, u.c, u.o, u.d, u.due, u.done, u.own, u.o, u.o
               FROM unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[], $7::int4[],
                           $8::timestamptz[], $9::timestamptz[], $10::uuid[]) AS u(id, k, s, c, o, d, due, done, own)",
        )
        .bind(workspace_id)
        .bind(&id)
        .bind(&kind)
        .bind(&subj)
        .bind(&cust)
        .bind(&occurred)
        .bind(&dur)
        .bind(&due)
        .bind(&done)
        .bind(&own)
        .execute(&mut *tx)
        .await?;
        out.activities = scale.activities;
    }

    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    out.seconds = started.elapsed().as_secs_f64();
    Ok(Some(out))
}

#[derive(Default)]
struct CustomerCols {
    id: Vec<Uuid>,
    account: Vec<Option<Uuid>>,
    first: Vec<String>,
    last: Vec<String>,
    email: Vec<String>,
    phone: Vec<Option<String>>,
    tz: Vec<String>,
    locale: Vec<String>,
    stage: Vec<String>,
    consent_email: Vec<bool>,
    consent_sms: Vec<bool>,
    consent_phone: Vec<bool>,
    consent_push: Vec<bool>,
    owner: Vec<Option<Uuid>>,
    search: Vec<String>,
    created: Vec<OffsetDateTime>,
}

impl CustomerCols {
    async fn insert(&self, conn: &mut PgConnection, ws: Uuid) -> Result<(), CrmError> {
        sqlx::query(
            "INSERT INTO customers (id, workspace_id, account_id, first_name, last_name, primary_email, primary_phone,
                    time_zone, locale, lifecycle_stage, consent_email, consent_sms, consent_phone, consent_push,
                    consent_updated_at, owner_id, search_text, created_at, updated_at)
             SELECT u.id, $1, u.a, u.f, u.l, u.e, u.p, u.tz, u.lo, u.st, u.ce, u.cs, u.cp, u.cpu,
                    CASE WHEN u.ce OR u.cs OR u.cp OR u.cpu THEN u.cr END, u.o, u.se, u.cr, u.cr
               FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                           $10::text[], $11::bool[], $12::bool[], $13::bool[], $14::bool[], $15::uuid[], $16::text[],
                           $17::timestamptz[]) AS u(id, a, f, l, e, p, tz, lo, st, ce, cs, cp, cpu, o, se, cr)",
        )
        .bind(ws)
        .bind(&self.id)
        .bind(&self.account)
        .bind(&self.first)
        .bind(&self.last)
        .bind(&self.email)
        .bind(&self.phone)
        .bind(&self.tz)
        .bind(&self.locale)
        .bind(&self.stage)
        .bind(&self.consent_email)
        .bind(&self.consent_sms)
        .bind(&self.consent_phone)
        .bind(&self.consent_push)
        .bind(&self.owner)
        .bind(&self.search)
        .bind(&self.created)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct IdentCols {
    customer: Vec<Uuid>,
    kind: Vec<&'static str>,
    namespace: Vec<&'static str>,
    value: Vec<String>,
    position: Vec<i16>,
}

impl IdentCols {
    fn push(
        &mut self,
        customer: Uuid,
        kind: &'static str,
        namespace: &'static str,
        value: &str,
        position: i16,
    ) {
        self.customer.push(customer);
        self.kind.push(kind);
        self.namespace.push(namespace);
        self.value.push(value.to_string());
        self.position.push(position);
    }

    async fn insert(&self, conn: &mut PgConnection, ws: Uuid) -> Result<(), CrmError> {
        sqlx::query(
            "INSERT INTO customer_identifiers (workspace_id, customer_id, kind, namespace, value, position)
             SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int2[])",
        )
        .bind(ws)
        .bind(&self.customer)
        .bind(&self.kind)
        .bind(&self.namespace)
        .bind(&self.value)
        .bind(&self.position)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct LeadCols {
    id: Vec<Uuid>,
    first: Vec<String>,
    last: Vec<String>,
    email: Vec<String>,
    company: Vec<String>,
    source: Vec<String>,
    status: Vec<String>,
    lost_reason: Vec<Option<String>>,
    value: Vec<i64>,
    owner: Vec<Option<Uuid>>,
    search: Vec<String>,
    created: Vec<OffsetDateTime>,
}

impl LeadCols {
    async fn insert(&self, conn: &mut PgConnection, ws: Uuid) -> Result<(), CrmError> {
        sqlx::query(
            "INSERT INTO leads (id, workspace_id, first_name, last_name, email, company_name, source, status, lost_reason,
                    estimated_value_minor, currency, owner_id, search_text, created_at, updated_at)
             SELECT u.id, $1, u.f, u.l, u.e, u.c, u.so, u.st, u.lr, u.v, 'USD', u.o, u.se, u.cr, u.cr
               FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                           $10::int8[], $11::uuid[], $12::text[], $13::timestamptz[])
                    AS u(id, f, l, e, c, so, st, lr, v, o, se, cr)",
        )
        .bind(ws)
        .bind(&self.id)
        .bind(&self.first)
        .bind(&self.last)
        .bind(&self.email)
        .bind(&self.company)
        .bind(&self.source)
        .bind(&self.status)
        .bind(&self.lost_reason)
        .bind(&self.value)
        .bind(&self.owner)
        .bind(&self.search)
        .bind(&self.created)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct OrderCols {
    id: Vec<Uuid>,
    number: Vec<String>,
    customer: Vec<Uuid>,
    account: Vec<Option<Uuid>>,
    status: Vec<String>,
    channel: Vec<String>,
    total: Vec<i64>,
    ordered: Vec<OffsetDateTime>,
    owner: Vec<Option<Uuid>>,
}

impl OrderCols {
    async fn insert(&self, conn: &mut PgConnection, ws: Uuid) -> Result<(), CrmError> {
        sqlx::query(
            "INSERT INTO orders (id, workspace_id, number, customer_id, account_id, status, channel, currency, total_minor,
                    ordered_at, owner_id, created_at, updated_at)
             SELECT u.id, $1, u.n, u.c, u.a, u.s, u.ch, 'USD', u.t, u.o, u.own, u.o, u.o
               FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::int8[],
                           $9::timestamptz[], $10::uuid[]) AS u(id, n, c, a, s, ch, t, o, own)",
        )
        .bind(ws)
        .bind(&self.id)
        .bind(&self.number)
        .bind(&self.customer)
        .bind(&self.account)
        .bind(&self.status)
        .bind(&self.channel)
        .bind(&self.total)
        .bind(&self.ordered)
        .bind(&self.owner)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct LineCols {
    order: Vec<Uuid>,
    line_no: Vec<i16>,
    sku: Vec<String>,
    desc: Vec<String>,
    qty: Vec<i32>,
    price: Vec<i64>,
    discount: Vec<i64>,
}

impl LineCols {
    async fn insert(&self, conn: &mut PgConnection, ws: Uuid) -> Result<(), CrmError> {
        sqlx::query(
            "INSERT INTO order_lines (workspace_id, order_id, line_no, sku, description, quantity, unit_price_minor, discount_minor)
             SELECT $1, * FROM unnest($2::uuid[], $3::int2[], $4::text[], $5::text[], $6::int4[], $7::int8[], $8::int8[])",
        )
        .bind(ws)
        .bind(&self.order)
        .bind(&self.line_no)
        .bind(&self.sku)
        .bind(&self.desc)
        .bind(&self.qty)
        .bind(&self.price)
        .bind(&self.discount)
        .execute(conn)
        .await?;
        Ok(())
    }
}
