//! Settings → Integrations: third-party systems posting webhooks to the Data Router, their
//! mappings (edited as rules and field rows, with a test-payload preview), recent deliveries
//! with replay of failed ones; and the CRM change-capture status card of the Settings page.

use crate::components::ui::{rfc3339, ErrorNotice, FieldError, LoadError, Loading, LocalTime};
use crate::UiError;
use domain::integrations::{
    CdcStatus, Condition, Delivery, FieldMap, IntegrationDetail, IntegrationSummary, Mapping,
    Preview, Rule, Target, SYSTEMS,
};
#[cfg(feature = "ssr")]
use domain::{Area, Need};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use std::collections::BTreeMap;
use uuid::Uuid;

#[cfg(feature = "ssr")]
mod server {
    use crate::error::set_status as status;
    use crate::UiError;
    use axum::http::StatusCode;

    pub fn err(e: integrations::IntegrationError) -> UiError {
        use integrations::IntegrationError as E;
        match e {
            E::Invalid(f) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                UiError::Invalid(f)
            }
            E::NotFound => {
                status(StatusCode::NOT_FOUND);
                UiError::NotFound(
                    "That integration or delivery does not exist in this workspace.".into(),
                )
            }
            E::Conflict => {
                status(StatusCode::CONFLICT);
                UiError::Conflict(
                    "Someone else saved this mapping meanwhile. Reload the page and edit again."
                        .into(),
                )
            }
            E::Forbidden(m) => {
                status(StatusCode::FORBIDDEN);
                UiError::Forbidden(m)
            }
            E::Bus(e) => {
                status(StatusCode::SERVICE_UNAVAILABLE);
                UiError::Request(format!(
                    "The event bus did not take the events ({e}); nothing was written. Try again."
                ))
            }
            E::Crm(e) => UiError::Request(e.to_string()),
            E::Database(e) => crate::session::internal(&format!("integrations: {e}")),
        }
    }

    pub fn bad_json(what: &str, e: serde_json::Error) -> UiError {
        status(StatusCode::UNPROCESSABLE_ENTITY);
        let mut f = domain::FieldErrors::default();
        f.add(what, format!("This is not valid JSON: {e}"));
        UiError::Invalid(f)
    }
}

/// The workspace's integrations.
#[server(endpoint = "integrations")]
pub async fn list_integrations() -> Result<Vec<IntegrationSummary>, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Read).await?;
    integrations::list(&m.ctx.pool, m.workspace_id())
        .await
        .map_err(server::err)
}

/// Adds an integration from a system's template; returns its id and credential (shown once).
#[server(endpoint = "create_integration")]
pub async fn create_integration(
    name: String,
    slug: String,
    system: String,
) -> Result<(Uuid, String, String), UiError> {
    let m = crate::session::require(Area::Integrations, Need::Change).await?;
    let actor = m.actor();
    let (id, secret) = integrations::create(&m.ctx.pool, &actor, &name, &slug, &system)
        .await
        .map_err(server::err)?;
    Ok((id, secret, slug.trim().to_lowercase()))
}

/// One integration with its mapping and a sample payload.
#[server(endpoint = "integration")]
pub async fn get_integration(id: Uuid) -> Result<IntegrationDetail, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Read).await?;
    integrations::get(&m.ctx.pool, m.workspace_id(), id)
        .await
        .map_err(server::err)
}

/// Saves the mapping (JSON, as edited) and the rate limit; returns the new version.
#[server(endpoint = "save_integration_mapping")]
pub async fn save_mapping(
    id: Uuid,
    version: i32,
    mapping_json: String,
    rate_per_minute: i32,
) -> Result<i32, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Change).await?;
    let actor = m.actor();
    let mapping: Mapping =
        serde_json::from_str(&mapping_json).map_err(|e| server::bad_json("mapping", e))?;
    integrations::save_mapping(&m.ctx.pool, &actor, id, version, &mapping, rate_per_minute)
        .await
        .map_err(server::err)
}

/// What a test payload would write under the edited mapping; nothing is written.
#[server(endpoint = "preview_integration_mapping")]
pub async fn preview_mapping(
    mapping_json: String,
    kind: String,
    payload: String,
) -> Result<Preview, UiError> {
    crate::session::require(Area::Integrations, Need::Read).await?;
    let mapping: Mapping =
        serde_json::from_str(&mapping_json).map_err(|e| server::bad_json("mapping", e))?;
    let payload: serde_json::Value =
        serde_json::from_str(&payload).map_err(|e| server::bad_json("payload", e))?;
    let errors = mapping.validate();
    if !errors.is_empty() {
        crate::error::set_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        return Err(UiError::Invalid(errors));
    }
    Ok(integrations::preview(&mapping, kind.trim(), &payload))
}

/// A page of deliveries, newest first.
#[server(endpoint = "integration_deliveries")]
pub async fn list_deliveries(
    id: Uuid,
    failed_only: bool,
    before: Option<i64>,
) -> Result<Vec<Delivery>, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Read).await?;
    integrations::deliveries(&m.ctx.pool, m.workspace_id(), id, failed_only, before, PAGE)
        .await
        .map_err(server::err)
}

/// The stored body of a delivery, pretty-printed.
#[server(endpoint = "integration_delivery_payload")]
pub async fn delivery_payload(delivery: i64) -> Result<String, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Read).await?;
    let v = integrations::delivery_payload(&m.ctx.pool, m.workspace_id(), delivery)
        .await
        .map_err(server::err)?;
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// Runs stored deliveries again with the current mapping: one (`delivery`) or every failed one.
#[server(endpoint = "replay_integration_deliveries")]
pub async fn replay(id: Uuid, delivery: Option<i64>) -> Result<String, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Change).await?;
    let ws = m.workspace_id();
    match delivery {
        Some(d) => match integrations::replay(&m.ctx.pool, m.ctx.bus.as_ref(), ws, id, d)
            .await
            .map_err(server::err)?
        {
            integrations::Outcome::Done { .. } => Ok(format!("Delivery {d} is now written.")),
            integrations::Outcome::Failed { error, .. } => {
                Ok(format!("Delivery {d} failed again: {}", error.message))
            }
        },
        None => {
            let (ok, failed) =
                integrations::replay_failed(&m.ctx.pool, m.ctx.bus.as_ref(), ws, id, 1000)
                    .await
                    .map_err(server::err)?;
            Ok(format!(
                "Replayed {} failed deliveries: {ok} written, {failed} still failing.",
                ok + failed
            ))
        }
    }
}

/// Change capture's replication lag for the Settings page.
#[server(endpoint = "cdc_status")]
pub async fn get_cdc_status() -> Result<CdcStatus, UiError> {
    let m = crate::session::require(Area::Integrations, Need::Read).await?;
    let config = cdc::CdcConfig::new(String::new());
    let lag = cdc::lag(&m.ctx.pool, &config)
        .await
        .map_err(|e| crate::session::internal(&format!("cdc lag: {e}")))?;
    Ok(match lag {
        Some(l) => CdcStatus {
            enabled: true,
            lag_bytes: Some(l.bytes),
            lag_seconds: l.seconds,
            active: l.active,
            alert: l.alert(cdc::LAG_ALERT_BYTES),
            wal_status: l.wal_status,
        },
        None => CdcStatus {
            enabled: false,
            lag_bytes: None,
            lag_seconds: None,
            active: false,
            wal_status: String::new(),
            alert: None,
        },
    })
}

/// Deliveries per page.
const PAGE: i64 = 50;

fn system_label(system: &str) -> &'static str {
    SYSTEMS
        .iter()
        .find(|(s, _)| *s == system)
        .map(|(_, l)| *l)
        .unwrap_or("Custom")
}

/// The webhook address of an integration, relative to this Pulse.
fn webhook_path(slug: &str) -> String {
    format!("/api/v1/integrations/{slug}/")
}

/// Settings → Integrations.
#[component]
pub fn IntegrationsPage() -> impl IntoView {
    let create = ServerAction::<CreateIntegration>::new();
    let data = Resource::new(move || create.version().get(), |_| list_integrations());
    let error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let created = Signal::derive(move || create.value().get().and_then(|r| r.ok()));
    view! {
        <Title text="Integrations" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "</nav>
                <h1 data-testid="page-title">"Integrations"</h1>
                <p class="muted">"Third-party systems that post webhooks to Pulse. Each payload is routed by its meaning: state (orders, tickets, customers) is written to the CRM — and flows on by change capture — and behaviour becomes events on "<code>"events.raw"</code>"."</p>
            </div>
        </div>
        <ErrorNotice error=error />
        {move || created.get().map(|(id, secret, slug)| view! {
            <div class="notice notice--success" role="status" data-testid="integration-credential">
                <p>"Integration added. Copy its credential now; it is not shown again: "<code>{secret.clone()}</code></p>
                <p>"Point the system's webhooks at "<code>{format!("{}<kind>", webhook_path(&slug))}</code>
                   " with the header "<code>"Authorization: Bearer …"</code>" (or "<code>"?token=…"</code>" where headers cannot be set). "
                   <A href=format!("/settings/integrations/{id}")>"Open the integration"</A></p>
            </div>
        })}
        <section class="panel">
            <h2>"Add an integration"</h2>
            <ActionForm action=create attr:class="form form--grid">
                <label class="field">
                    <span class="field__label">"Name"</span>
                    <input name="name" required maxlength="100" placeholder="Shopify store" />
                    <FieldError error name="name" />
                </label>
                <label class="field">
                    <span class="field__label">"Address (in the webhook URL)"</span>
                    <input name="slug" required maxlength="48" pattern="[a-z0-9][a-z0-9-]*" placeholder="shopify-main" data-testid="integration-slug" />
                    <FieldError error name="slug" />
                </label>
                <label class="field">
                    <span class="field__label">"System"</span>
                    <select name="system" data-testid="integration-system">
                        {SYSTEMS.iter().map(|(s, l)| view! { <option value=*s>{*l}</option> }).collect_view()}
                    </select>
                </label>
                <div class="form__actions"><button class="button button--primary" type="submit">"Add integration"</button></div>
            </ActionForm>
        </section>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel"><p class="muted">"No integrations yet. Add one above: Shopify, Zendesk and SendGrid come with a ready mapping for their webhook formats."</p></section>
                    }.into_any(),
                    Ok(list) => view! {
                        <section class="panel">
                            <div class="table-wrap">
                                <table class="table" data-testid="integrations-table">
                                    <thead><tr>
                                        <th>"Name"</th><th>"System"</th><th>"Webhook address"</th>
                                        <th class="num">"Written (24 h)"</th><th class="num">"Failed (24 h)"</th><th>"Last delivery"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|i| view! {
                                            <tr class:row--inactive=i.disabled>
                                                <td><A href=format!("/settings/integrations/{}", i.id)>{i.name.clone()}</A></td>
                                                <td>{system_label(&i.system)}</td>
                                                <td><code>{webhook_path(&i.slug)}</code></td>
                                                <td class="num">{i.ok_24h}</td>
                                                <td class="num">{i.failed_24h}</td>
                                                <td>{match i.last_delivery_at {
                                                    Some(t) => view! { <LocalTime utc=rfc3339(t) /> }.into_any(),
                                                    None => view! { <span class="muted">"none yet"</span> }.into_any(),
                                                }}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A field row while it is edited.
#[derive(Clone, Copy)]
struct FieldDraft {
    id: u64,
    to: RwSignal<String>,
    from: RwSignal<String>,
    /// `from=to` pairs, comma-separated.
    map: RwSignal<String>,
    default: RwSignal<String>,
}

/// A rule while it is edited.
#[derive(Clone, Copy)]
struct RuleDraft {
    id: u64,
    name: RwSignal<String>,
    kinds: RwSignal<String>,
    each: RwSignal<String>,
    when_path: RwSignal<String>,
    when_values: RwSignal<String>,
    target: RwSignal<Target>,
    namespace: RwSignal<String>,
    lines: RwSignal<String>,
    fields: RwSignal<Vec<FieldDraft>>,
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn field_draft(f: &FieldMap) -> FieldDraft {
    FieldDraft {
        id: next_id(),
        to: RwSignal::new(f.to.clone()),
        from: RwSignal::new(f.from.clone()),
        map: RwSignal::new(
            f.map
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        default: RwSignal::new(f.default.clone().unwrap_or_default()),
    }
}

fn rule_draft(r: &Rule) -> RuleDraft {
    RuleDraft {
        id: next_id(),
        name: RwSignal::new(r.name.clone()),
        kinds: RwSignal::new(r.kinds.join(", ")),
        each: RwSignal::new(r.each.clone()),
        when_path: RwSignal::new(r.when.as_ref().map(|w| w.path.clone()).unwrap_or_default()),
        when_values: RwSignal::new(
            r.when
                .as_ref()
                .map(|w| w.equals.join(", "))
                .unwrap_or_default(),
        ),
        target: RwSignal::new(r.target),
        namespace: RwSignal::new(r.namespace.clone()),
        lines: RwSignal::new(r.lines.clone()),
        fields: RwSignal::new(r.fields.iter().map(field_draft).collect()),
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

fn draft_mapping(rules: &[RuleDraft]) -> Mapping {
    Mapping {
        rules: rules
            .iter()
            .map(|r| Rule {
                name: r.name.get(),
                kinds: split_list(&r.kinds.get()),
                each: r.each.get().trim().to_string(),
                when: Some(r.when_path.get().trim().to_string())
                    .filter(|p| !p.is_empty())
                    .map(|path| Condition {
                        path,
                        equals: split_list(&r.when_values.get()),
                    }),
                target: r.target.get(),
                namespace: r.namespace.get().trim().to_string(),
                lines: r.lines.get().trim().to_string(),
                fields: r
                    .fields
                    .get()
                    .iter()
                    .map(|f| FieldMap {
                        to: f.to.get().trim().to_string(),
                        from: f.from.get().trim().to_string(),
                        map: f
                            .map
                            .get()
                            .split(',')
                            .filter_map(|pair| pair.split_once('='))
                            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                            .filter(|(k, _)| !k.is_empty())
                            .collect::<BTreeMap<_, _>>(),
                        default: Some(f.default.get()).filter(|d| !d.is_empty()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `rules.1.fields.2.to` → `Rule 2, field 3` (people count from one).
fn mapping_error_label(key: &str) -> String {
    let numbers: Vec<usize> = key.split('.').filter_map(|n| n.parse().ok()).collect();
    match numbers.as_slice() {
        [r, f] => format!("Rule {}, field {}", r + 1, f + 1),
        [r] => format!("Rule {}", r + 1),
        _ => match key {
            "rate_per_minute" => "Rate limit".into(),
            "payload" => "Test payload".into(),
            _ => "Mapping".into(),
        },
    }
}

fn error_lines(e: &UiError) -> Vec<String> {
    match e {
        UiError::Invalid(f) => {
            f.0.iter()
                .map(|(k, v)| format!("{}: {v}", mapping_error_label(k)))
                .collect()
        }
        other => vec![other.to_string()],
    }
}

/// One integration: mapping editor with preview, and its deliveries.
#[component]
pub fn IntegrationPage() -> impl IntoView {
    let params = use_params_map();
    let id = Signal::derive(move || params.read().get("id").and_then(|s| s.parse::<Uuid>().ok()));
    let data = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_integration(id).await,
                None => Err(UiError::NotFound("That integration does not exist.".into())),
            }
        },
    );
    // The deliveries' resource lives here, outside the page's Suspend: resources created inside
    // an already-suspended subtree do not hydrate.
    let replay = ServerAction::<Replay>::new();
    let failed_only = RwSignal::new(false);
    let first = Resource::new(
        move || (id.get(), failed_only.get(), replay.version().get()),
        |(id, f, _)| async move {
            match id {
                Some(id) => list_deliveries(id, f, None).await,
                None => Ok(Vec::new()),
            }
        },
    );
    view! {
        <Title text="Integration" />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(d) => view! { <IntegrationView detail=d /> }.into_any(),
                }
            })}
        </Transition>
        {move || id.get().map(|integration| view! { <Deliveries integration replay first failed_only /> })}
    }
}

#[component]
fn IntegrationView(detail: IntegrationDetail) -> impl IntoView {
    let iid = detail.summary.id;
    let rules = RwSignal::new(
        detail
            .mapping
            .rules
            .iter()
            .map(rule_draft)
            .collect::<Vec<_>>(),
    );
    let version = RwSignal::new(detail.mapping_version);
    let rate = RwSignal::new(detail.rate_per_minute.to_string());
    let mapping_json =
        move || serde_json::to_string(&draft_mapping(&rules.get())).unwrap_or_default();
    let save = ServerAction::<SaveMapping>::new();
    Effect::new(move |_| {
        if let Some(Ok(v)) = save.value().get() {
            version.set(v);
        }
    });
    let save_errors = Signal::derive(move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| error_lines(&e))
    });
    let saved = Signal::derive(move || save.value().get().is_some_and(|r| r.is_ok()));

    let kind = RwSignal::new(detail.sample_kind.clone());
    let payload = RwSignal::new(detail.sample_payload.clone());
    let preview = ServerAction::<PreviewMapping>::new();
    let add_rule = move |_| {
        rules.update(|v| {
            v.push(rule_draft(&Rule {
                name: String::new(),
                kinds: vec!["*".into()],
                each: String::new(),
                when: None,
                target: Target::Event,
                namespace: String::new(),
                lines: String::new(),
                fields: vec![],
            }))
        })
    };
    let s = detail.summary.clone();
    view! {
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "<A href="/settings/integrations">"Integrations"</A>" / "</nav>
                <h1 data-testid="page-title">{s.name.clone()}</h1>
                <p class="muted">
                    {system_label(&s.system)}" · webhooks to "<code>{format!("{}<kind>", webhook_path(&s.slug))}</code>
                    " · credential "<code>{format!("{}…", detail.token_prefix)}</code>
                    " · added "<LocalTime utc=rfc3339(s.created_at) />
                </p>
            </div>
        </div>
        <div class="stats">
            <div class="stat"><span class="stat__value">{s.ok_24h}</span><span class="stat__label">"written, 24 h"</span></div>
            <div class="stat"><span class="stat__value">{s.failed_24h}</span><span class="stat__label">"failed, 24 h"</span></div>
        </div>
        <section class="panel">
            <h2>"Mapping"</h2>
            <p class="muted">"Each rule handles payloads of the listed kinds (the URL segment after the address, or Shopify's topic header) and writes one target per item. Paths are dotted, e.g. "<code>"customer.email"</code>" or "<code>"line_items.0.sku"</code>"; "<code>"$"</code>" is a payload that is itself a list."</p>
            {Target::ALL.into_iter().map(|t| view! {
                <datalist id=format!("fields-{}", t.as_str())>
                    {t.fields().into_iter().map(|(f, d)| view! { <option value=f>{d}</option> }).collect_view()}
                </datalist>
            }).collect_view()}
            <div data-testid="mapping-editor">
                <For each=move || rules.get() key=|r| r.id let:r>
                    <RuleEditor rule=r on_remove=move || rules.update(|v| v.retain(|x| x.id != r.id)) />
                </For>
            </div>
            <button type="button" class="button button--small" data-testid="add-rule" on:click=add_rule>"Add rule"</button>
            <div class="form form--inline">
                <label class="field">
                    <span class="field__label">"Rate limit (requests per minute)"</span>
                    <input type="number" min="1" max="100000" prop:value=rate on:input=move |ev| rate.set(event_target_value(&ev)) />
                </label>
                <button class="button button--primary" data-testid="save-mapping" disabled=move || save.pending().get()
                    on:click=move |_| {
                        save.dispatch(SaveMapping {
                            id: iid,
                            version: version.get_untracked(),
                            mapping_json: mapping_json(),
                            rate_per_minute: rate.get_untracked().trim().parse().unwrap_or(0),
                        });
                    }>{move || if save.pending().get() { "Saving…" } else { "Save mapping" }}</button>
            </div>
            {move || saved.get().then(|| view! { <div class="notice notice--success" role="status">"Saved. New deliveries use it at once; replay failed ones below."</div> })}
            {move || save_errors.get().map(|v| view! {
                <ul class="notice notice--error" data-testid="mapping-errors">{v.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
            })}
        </section>
        <section class="panel">
            <h2>"Test payload"</h2>
            <p class="muted">"Paste a payload (a sample of this system's format is filled in) and preview what the edited mapping would write. Nothing is written."</p>
            <div class="form">
                <label class="field">
                    <span class="field__label">"Kind"</span>
                    <input data-testid="preview-kind" prop:value=kind on:input=move |ev| kind.set(event_target_value(&ev)) />
                </label>
                <label class="field">
                    <span class="field__label">"Payload (JSON)"</span>
                    <textarea class="code" rows="12" data-testid="preview-payload" prop:value=payload on:input=move |ev| payload.set(event_target_value(&ev))></textarea>
                </label>
                <div class="form__actions">
                    <button class="button" data-testid="preview" on:click=move |_| {
                        preview.dispatch(PreviewMapping { mapping_json: mapping_json(), kind: kind.get_untracked(), payload: payload.get_untracked() });
                    }>{move || if preview.pending().get() { "Previewing…" } else { "Preview" }}</button>
                </div>
            </div>
            {move || preview.value().get().map(|r| match r {
                Err(e) => view! {
                    <ul class="notice notice--error" data-testid="preview-error">{error_lines(&e).into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                }.into_any(),
                Ok(p) => view! { <PreviewView preview=p /> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn RuleEditor(rule: RuleDraft, on_remove: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let r = rule;
    let add_field = move |_| {
        r.fields.update(|v| {
            v.push(field_draft(&FieldMap {
                to: String::new(),
                from: String::new(),
                map: BTreeMap::new(),
                default: None,
            }))
        })
    };
    view! {
        <div class="mapping-rule" data-testid="mapping-rule">
            <div class="form form--grid">
                <label class="field"><span class="field__label">"Rule"</span>
                    <input prop:value=r.name on:input=move |ev| r.name.set(event_target_value(&ev)) placeholder="What it does" /></label>
                <label class="field"><span class="field__label">"Payload kinds (comma-separated; * for all)"</span>
                    <input prop:value=r.kinds on:input=move |ev| r.kinds.set(event_target_value(&ev)) /></label>
                <label class="field"><span class="field__label">"Writes"</span>
                    <select data-testid="rule-target" on:change=move |ev| { if let Some(t) = Target::parse(&event_target_value(&ev)) { r.target.set(t) } }>
                        {Target::ALL.into_iter().map(|t| view! { <option value=t.as_str() selected=move || r.target.get() == t>{t.label()}</option> }).collect_view()}
                    </select></label>
                <label class="field"><span class="field__label">"For each item of (optional)"</span>
                    <input prop:value=r.each on:input=move |ev| r.each.set(event_target_value(&ev)) placeholder="$ or a list path" /></label>
                <label class="field"><span class="field__label">"Only when path (optional)"</span>
                    <input prop:value=r.when_path on:input=move |ev| r.when_path.set(event_target_value(&ev)) placeholder="e.g. event" /></label>
                <label class="field"><span class="field__label">"… is one of"</span>
                    <input prop:value=r.when_values on:input=move |ev| r.when_values.set(event_target_value(&ev)) placeholder="open, click" /></label>
                {move || (r.target.get() != Target::Event).then(|| view! {
                    <label class="field"><span class="field__label">"External id namespace"</span>
                        <input prop:value=r.namespace on:input=move |ev| r.namespace.set(event_target_value(&ev)) placeholder="e.g. shopify" /></label>
                })}
                {move || (r.target.get() == Target::Order).then(|| view! {
                    <label class="field"><span class="field__label">"Order lines at"</span>
                        <input prop:value=r.lines on:input=move |ev| r.lines.set(event_target_value(&ev)) placeholder="line_items" /></label>
                })}
            </div>
            <table class="table table--compact">
                <thead><tr><th>"Target field"</th><th>"From payload path"</th><th>"Value map (from=to, …)"</th><th>"Default"</th><th></th></tr></thead>
                <tbody>
                    <For each=move || r.fields.get() key=|f| f.id let:f>
                        <tr>
                            <td><input list=move || format!("fields-{}", r.target.get().as_str()) aria-label="Target field" prop:value=f.to on:input=move |ev| f.to.set(event_target_value(&ev)) /></td>
                            <td><input aria-label="From payload path" prop:value=f.from on:input=move |ev| f.from.set(event_target_value(&ev)) /></td>
                            <td><input aria-label="Value map" prop:value=f.map on:input=move |ev| f.map.set(event_target_value(&ev)) /></td>
                            <td><input aria-label="Default" prop:value=f.default on:input=move |ev| f.default.set(event_target_value(&ev)) /></td>
                            <td><button type="button" class="button button--ghost button--small" aria-label="Remove field"
                                on:click=move |_| r.fields.update(|v| v.retain(|x| x.id != f.id))>"×"</button></td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <div class="mapping-rule__actions">
                <button type="button" class="button button--ghost button--small" on:click=add_field>"Add field"</button>
                <button type="button" class="button button--ghost button--small" on:click=move |_| on_remove()>"Remove rule"</button>
            </div>
        </div>
    }
}

#[component]
fn PreviewView(preview: Preview) -> impl IntoView {
    match preview.error {
        Some(e) => view! {
            <div class="notice notice--error" data-testid="preview-error">
                <p>{e.message}</p>
                {(!e.fields.is_empty()).then(|| view! {
                    <table class="table table--compact">
                        <thead><tr><th>"Payload field"</th><th>"Problem"</th></tr></thead>
                        <tbody>{e.fields.into_iter().map(|(k, v)| view! { <tr><td><code>{k}</code></td><td>{v}</td></tr> }).collect_view()}</tbody>
                    </table>
                })}
            </div>
        }.into_any(),
        None if preview.writes.is_empty() => view! {
            <p class="muted" data-testid="preview-result">"The mapping handles this payload but writes nothing (no item matched a rule's condition)."</p>
        }.into_any(),
        None => view! {
            <div class="table-wrap">
                <table class="table" data-testid="preview-result">
                    <thead><tr><th>"Rule"</th><th>"Writes"</th><th>"What"</th></tr></thead>
                    <tbody>
                        {preview.writes.into_iter().map(|w| {
                            let values = serde_json::to_string_pretty(&w.values).unwrap_or_default();
                            view! {
                                <tr>
                                    <td>{w.rule}</td>
                                    <td>{w.target.label()}</td>
                                    <td>
                                        <div>{w.summary}</div>
                                        <details><summary>"values"</summary><pre class="code">{values}</pre></details>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }.into_any(),
    }
}

/// Recent deliveries with their outcome, paged, with replay of failed ones.
#[component]
fn Deliveries(
    integration: Uuid,
    replay: ServerAction<Replay>,
    /// The first page: it follows the filter and every replay; older pages are appended here.
    first: Resource<Result<Vec<Delivery>, UiError>>,
    failed_only: RwSignal<bool>,
) -> impl IntoView {
    let older = RwSignal::new(Vec::<Delivery>::new());
    let more = RwSignal::new(None::<bool>);
    let open = RwSignal::new(None::<i64>);
    let reset = move || {
        older.set(Vec::new());
        more.set(None);
    };
    let load_older = move |last: Option<i64>| {
        leptos::task::spawn_local(async move {
            if let Ok(list) = list_deliveries(integration, failed_only.get_untracked(), last).await
            {
                more.set(Some(list.len() as i64 == PAGE));
                older.update(|o| o.extend(list));
            }
        });
    };
    let message = Signal::derive(move || replay.value().get());
    view! {
        <section class="panel" data-testid="deliveries">
            <div class="panel__head">
                <h2>"Recent deliveries"</h2>
                <label class="check"><input type="checkbox" prop:checked=failed_only
                    on:change=move |ev| { reset(); failed_only.set(event_target_checked(&ev)); } />" failed only"</label>
                <button class="button button--small" data-testid="replay-failed" disabled=move || replay.pending().get()
                    on:click=move |_| { reset(); replay.dispatch(Replay { id: integration, delivery: None }); }>
                    {move || if replay.pending().get() { "Replaying…" } else { "Replay all failed" }}</button>
            </div>
            {move || message.get().map(|r| match r {
                Ok(m) => view! { <div class="notice notice--success" role="status" data-testid="replay-result">{m}</div> }.into_any(),
                Err(e) => view! { <div class="notice notice--error" role="alert">{e.to_string()}</div> }.into_any(),
            })}
            <Transition fallback=|| view! { <div class="loading">"Loading deliveries…"</div> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="muted" data-testid="deliveries-table">{move || if failed_only.get() { "No failed deliveries." } else { "No deliveries yet. Point the system's webhooks at the address above." }}</p>
                        }.into_any(),
                        Ok(list) => {
                            let full = list.len() as i64 == PAGE;
                            let last_of_first = list.last().map(|d| d.id);
                            view! {
                                <div class="table-wrap">
                                    <table class="table table--compact" data-testid="deliveries-table">
                                        <thead><tr><th>"Received"</th><th>"Kind"</th><th>"Status"</th><th class="num">"Attempts"</th><th>"Result"</th><th></th></tr></thead>
                                        <tbody>
                                            {list.into_iter().map(|d| view! { <DeliveryRow d integration open replay /> }).collect_view()}
                                            {move || older.get().into_iter().map(|d| view! { <DeliveryRow d integration open replay /> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {move || more.get().unwrap_or(full).then(|| view! {
                                    <button class="button button--ghost" on:click=move |_| {
                                        load_older(older.with_untracked(|o| o.last().map(|d| d.id)).or(last_of_first))
                                    }>"Load older"</button>
                                })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// One delivery; a click opens its field errors and payload.
#[component]
fn DeliveryRow(
    d: Delivery,
    integration: Uuid,
    open: RwSignal<Option<i64>>,
    replay: ServerAction<Replay>,
) -> impl IntoView {
    let id = d.id;
    let failed = d.status == "failed";
    let result = match &d.error {
        Some(e) => e.message.clone(),
        None => d.written.join(" · "),
    };
    let fields = d
        .error
        .as_ref()
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    view! {
        <tr class="clickable" on:click=move |_| open.update(|o| *o = if *o == Some(id) { None } else { Some(id) })>
            <td><LocalTime utc=rfc3339(d.received_at) /></td>
            <td><code>{d.kind.clone()}</code></td>
            <td><span class=if failed { "badge badge--bad" } else { "badge badge--good" }>{d.status.clone()}</span></td>
            <td class="num">{d.attempts}</td>
            <td class="cell--wrap">{result}</td>
            <td>{failed.then(|| view! {
                <button class="button button--small" data-testid="replay-one"
                    on:click=move |ev| { ev.stop_propagation(); replay.dispatch(Replay { id: integration, delivery: Some(id) }); }>"Replay"</button>
            })}</td>
        </tr>
        {move || (open.get() == Some(id)).then(|| {
            let fields = fields.clone();
            view! {
                <tr><td colspan="6">
                    {(!fields.is_empty()).then(|| view! {
                        <table class="table table--compact" data-testid="delivery-fields">
                            <thead><tr><th>"Payload field"</th><th>"Problem"</th></tr></thead>
                            <tbody>{fields.into_iter().map(|(k, v)| view! { <tr><td><code>{k}</code></td><td>{v}</td></tr> }).collect_view()}</tbody>
                        </table>
                    })}
                    <DeliveryPayload delivery=id />
                </td></tr>
            }
        })}
    }
}

#[component]
fn DeliveryPayload(delivery: i64) -> impl IntoView {
    let body = Resource::new(move || delivery, delivery_payload);
    view! {
        <Suspense fallback=|| view! { <div class="loading">"Loading payload…"</div> }>
            {move || Suspend::new(async move {
                match body.await {
                    Ok(text) => view! { <pre class="code">{text}</pre> }.into_any(),
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Settings card: how far CRM change capture trails the database, with its alert.
#[component]
pub fn CdcCard() -> impl IntoView {
    let status = Resource::new(|| (), |_| get_cdc_status());
    view! {
        <Transition fallback=|| view! { <div class="card"><h3>"CRM change capture"</h3><p class="muted">"Loading…"</p></div> }>
            {move || Suspend::new(async move {
                match status.await {
                    // People who may not see operations simply do not get the card.
                    Err(UiError::Forbidden(_)) => ().into_any(),
                    Err(e) => view! { <div class="card"><h3>"CRM change capture"</h3><p class="notice notice--error">{e.to_string()}</p></div> }.into_any(),
                    Ok(s) => view! {
                        <div class="card" data-testid="cdc-card">
                            <h3>"CRM change capture"</h3>
                            {match (s.enabled, s.alert.clone()) {
                                (false, _) => view! { <p class="muted">"Not running: no replication slot yet (CDC is off, or starting)."</p> }.into_any(),
                                (true, Some(a)) => view! { <p class="notice notice--error" role="alert" data-testid="cdc-alert">{a}</p> }.into_any(),
                                (true, None) => view! {
                                    <p class="muted">{if s.active { "Streaming CRM changes to crm.changes." } else { "The slot exists but no Pulse process is streaming from it." }}</p>
                                }.into_any(),
                            }}
                            {s.enabled.then(|| view! {
                                <p data-testid="cdc-lag">
                                    {format!("Lag: {} ", fmt_bytes(s.lag_bytes.unwrap_or(0)))}
                                    {s.lag_seconds.map(|x| format!("· {x:.2} s ")).unwrap_or_default()}
                                    {format!("· WAL {}", s.wal_status)}
                                </p>
                            })}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn fmt_bytes(n: i64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
