//! Integrations in Postgres: create (with their credential), list, read, save mappings, and the
//! delivery log.

use crate::templates;
use crate::IntegrationError;
use crm::{Actor, Principal};
use domain::integrations::{
    Delivery, DeliveryError, IntegrationDetail, IntegrationSummary, Mapping,
};
use domain::{FieldErrors, Role};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// What the delivery path needs to know about an authenticated integration.
#[derive(Debug, Clone)]
pub struct Integration {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub slug: String,
    pub token_id: Uuid,
    pub mapping: Mapping,
    pub rate_per_minute: i32,
    pub disabled: bool,
}

impl Integration {
    /// The CRM actor its state writes run as: its own token, so the audit log names it.
    pub fn actor(&self) -> Actor {
        Actor {
            workspace_id: self.workspace_id,
            principal: Principal::Token {
                id: self.token_id,
                scopes: vec![crm::Scope::CrmWrite],
            },
        }
    }
}

fn require_admin(actor: &Actor) -> Result<(), IntegrationError> {
    match actor.principal {
        Principal::User {
            role: Role::Admin, ..
        } => Ok(()),
        _ => Err(IntegrationError::Forbidden(
            "Only admins add and change integrations.".into(),
        )),
    }
}

fn field(name: &str, message: &str) -> IntegrationError {
    let mut f = FieldErrors::default();
    f.add(name, message);
    IntegrationError::Invalid(f)
}

/// Checks a slug: lower-case letters, digits and dashes, starting with a letter or digit.
pub fn check_slug(slug: &str) -> Result<(), IntegrationError> {
    let ok = (1..=48).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(field(
            "slug",
            "Use 1–48 lower-case letters, digits and dashes, e.g. shopify-main.",
        ))
    }
}

/// Creates an integration from a system's template; returns it and its credential (shown once).
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    slug: &str,
    system: &str,
) -> Result<(Uuid, String), IntegrationError> {
    require_admin(actor)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(field(
            "name",
            "Name the integration (at most 100 characters).",
        ));
    }
    let slug = slug.trim().to_lowercase();
    check_slug(&slug)?;
    let template = templates::template(system)
        .ok_or_else(|| field("system", "Choose one of the listed systems."))?;
    let mut tx = pool.begin().await?;
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = $1 AND slug = $2)",
    )
    .bind(actor.workspace_id)
    .bind(&slug)
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Err(field(
            "slug",
            "Another integration already uses this address.",
        ));
    }
    let issued = crm::tokens::issue(
        &mut tx,
        actor,
        &format!("Integration: {name}"),
        &["crm:write".to_string()],
    )
    .await
    .map_err(IntegrationError::Crm)?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO integrations (id, workspace_id, slug, name, system, token_id, mapping)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(actor.workspace_id)
    .bind(&slug)
    .bind(name)
    .bind(template.system)
    .bind(issued.token.id)
    .bind(sqlx::types::Json((template.mapping)()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((id, issued.secret))
}

const SUMMARY: &str = "SELECT i.id, i.slug, i.name, i.system, i.disabled_at IS NOT NULL AS disabled,
        coalesce(s.ok, 0) AS ok_24h, coalesce(s.failed, 0) AS failed_24h, s.last_at, i.created_at
   FROM integrations i
   LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE status = 'ok') AS ok, count(*) FILTER (WHERE status = 'failed') AS failed,
               max(updated_at) AS last_at
          FROM integration_deliveries d
         WHERE d.integration_id = i.id AND d.updated_at > now() - interval '24 hours') s ON true";

type SummaryRow = (
    Uuid,
    String,
    String,
    String,
    bool,
    i64,
    i64,
    Option<OffsetDateTime>,
    OffsetDateTime,
);

fn summary(r: SummaryRow) -> IntegrationSummary {
    IntegrationSummary {
        id: r.0,
        slug: r.1,
        name: r.2,
        system: r.3,
        disabled: r.4,
        ok_24h: r.5,
        failed_24h: r.6,
        last_delivery_at: r.7,
        created_at: r.8,
    }
}

/// The workspace's integrations with their last day's delivery counts.
pub async fn list(
    pool: &PgPool,
    workspace_id: Uuid,
) -> Result<Vec<IntegrationSummary>, IntegrationError> {
    let rows: Vec<SummaryRow> = sqlx::query_as(&format!(
        "{SUMMARY} WHERE i.workspace_id = $1 ORDER BY i.name, i.id"
    ))
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(summary).collect())
}

/// One integration with its mapping and a sample payload of its system's format.
pub async fn get(
    pool: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<IntegrationDetail, IntegrationError> {
    let row: Option<SummaryRow> = sqlx::query_as(&format!(
        "{SUMMARY} WHERE i.workspace_id = $1 AND i.id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let s = summary(row.ok_or(IntegrationError::NotFound)?);
    let (mapping, version, rate, prefix): (sqlx::types::Json<Mapping>, i32, i32, String) =
        sqlx::query_as(
            "SELECT i.mapping, i.mapping_version, i.rate_per_minute, t.prefix
           FROM integrations i JOIN api_tokens t ON t.id = i.token_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
    let template = templates::template(&s.system).or_else(|| templates::template("custom"));
    let (sample_kind, sample_payload) = template
        .map(|t| (t.sample_kind.to_string(), t.sample.to_string()))
        .unwrap_or_default();
    Ok(IntegrationDetail {
        summary: s,
        mapping: mapping.0,
        mapping_version: version,
        rate_per_minute: rate,
        token_prefix: prefix,
        sample_kind,
        sample_payload,
    })
}

/// Saves a mapping edited from version `expected_version`; returns the new version.
pub async fn save_mapping(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    expected_version: i32,
    mapping: &Mapping,
    rate_per_minute: i32,
) -> Result<i32, IntegrationError> {
    require_admin(actor)?;
    let mut errors = mapping.validate();
    if !(1..=100_000).contains(&rate_per_minute) {
        errors.add("rate_per_minute", "Allow 1 to 100000 requests per minute.");
    }
    if !errors.is_empty() {
        return Err(IntegrationError::Invalid(errors));
    }
    let updated: Option<i32> = sqlx::query_scalar(
        "UPDATE integrations SET mapping = $3, mapping_version = mapping_version + 1, rate_per_minute = $5
          WHERE workspace_id = $1 AND id = $2 AND mapping_version = $4 RETURNING mapping_version",
    )
    .bind(actor.workspace_id)
    .bind(id)
    .bind(sqlx::types::Json(mapping))
    .bind(expected_version)
    .bind(rate_per_minute)
    .fetch_optional(pool)
    .await?;
    match updated {
        Some(v) => Ok(v),
        None => {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = $1 AND id = $2)",
            )
            .bind(actor.workspace_id)
            .bind(id)
            .fetch_one(pool)
            .await?;
            Err(if exists {
                IntegrationError::Conflict
            } else {
                IntegrationError::NotFound
            })
        }
    }
}

/// The integration a credential belongs to (revoked tokens and unknown secrets give `None`).
pub async fn authenticate(
    pool: &PgPool,
    secret: &str,
) -> Result<Option<Integration>, IntegrationError> {
    let mut conn = pool.acquire().await?;
    let Some(actor) = crm::tokens::authenticate(&mut conn, secret)
        .await
        .map_err(IntegrationError::Crm)?
    else {
        return Ok(None);
    };
    let Some(token_id) = actor.token_id() else {
        return Ok(None);
    };
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE token_id = $1"))
        .bind(token_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(Row::into_integration))
}

const SELECT: &str = "SELECT id, workspace_id, slug, token_id, mapping, rate_per_minute,
        disabled_at IS NOT NULL AS disabled FROM integrations";

/// An `integrations` row as the delivery path reads it.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    workspace_id: Uuid,
    slug: String,
    token_id: Uuid,
    mapping: sqlx::types::Json<Mapping>,
    rate_per_minute: i32,
    disabled: bool,
}

impl Row {
    fn into_integration(self) -> Integration {
        Integration {
            id: self.id,
            workspace_id: self.workspace_id,
            slug: self.slug,
            token_id: self.token_id,
            mapping: self.mapping.0,
            rate_per_minute: self.rate_per_minute,
            disabled: self.disabled,
        }
    }
}

/// Loads an integration of the workspace for replays.
pub(crate) async fn load(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Integration, IntegrationError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE workspace_id = $1 AND id = $2"))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.ok_or(IntegrationError::NotFound)?.into_integration())
}

type DeliveryRow = (
    i64,
    String,
    String,
    String,
    Option<sqlx::types::Json<DeliveryError>>,
    sqlx::types::Json<Vec<String>>,
    i32,
    OffsetDateTime,
    OffsetDateTime,
);

/// Recent deliveries, newest first; `failed_only` narrows to failures; `before` pages by id.
pub async fn deliveries(
    pool: &PgPool,
    workspace_id: Uuid,
    integration_id: Uuid,
    failed_only: bool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Delivery>, IntegrationError> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT d.id, d.idempotency_key, d.kind, d.status, d.error, d.written, d.attempts, d.received_at, d.updated_at
           FROM integration_deliveries d JOIN integrations i ON i.id = d.integration_id
          WHERE i.workspace_id = $1 AND d.integration_id = $2 AND (NOT $3 OR d.status = 'failed')
            AND ($4::bigint IS NULL OR d.id < $4)
          ORDER BY d.id DESC LIMIT $5",
    )
    .bind(workspace_id)
    .bind(integration_id)
    .bind(failed_only)
    .bind(before)
    .bind(limit.clamp(1, 200))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Delivery {
            id: r.0,
            idempotency_key: r.1,
            kind: r.2,
            status: r.3,
            error: r.4.map(|e| e.0),
            written: r.5 .0,
            attempts: r.6,
            received_at: r.7,
            updated_at: r.8,
        })
        .collect())
}

/// The stored payload of one delivery (for the UI's payload view).
pub async fn delivery_payload(
    pool: &PgPool,
    workspace_id: Uuid,
    delivery_id: i64,
) -> Result<serde_json::Value, IntegrationError> {
    let row: Option<sqlx::types::Json<serde_json::Value>> = sqlx::query_scalar(
        "SELECT d.payload FROM integration_deliveries d JOIN integrations i ON i.id = d.integration_id
          WHERE i.workspace_id = $1 AND d.id = $2",
    )
    .bind(workspace_id)
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    row.map(|j| j.0).ok_or(IntegrationError::NotFound)
}
