//! Settings → Sources: event sources with their write keys, tracking plans, consent policies,
//! volume charts and the live event debugger; and the quarantine, grouped by reason, with
//! replay into `events.raw`.

use crate::components::ui::{rfc3339, ErrorNotice, LocalTime};
use crate::UiError;
#[cfg(feature = "ssr")]
use domain::tracking::{ConsentPolicy, TrackingPlan};
use domain::tracking::{
    DebugEvent, EventRule, PlanMode, PropertyRule, PropertyType, QuarantineGroup, QuarantinedEvent,
    ReplayReport, SourceDetail, SourceSummary, StatPoint,
};
#[cfg(feature = "ssr")]
use domain::{Area, Need};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

#[cfg(feature = "ssr")]
mod server {
    use crate::error::set_status as status;
    use crate::UiError;
    use axum::http::StatusCode;

    pub fn source_err(e: gateway::sources::SourceError) -> UiError {
        use gateway::sources::SourceError as E;
        match e {
            E::Invalid(m) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                let mut f = domain::FieldErrors::default();
                f.add("name", m);
                UiError::Invalid(f)
            }
            E::Fields(f) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                UiError::Invalid(f)
            }
            E::NotFound => {
                status(StatusCode::NOT_FOUND);
                UiError::NotFound("That source does not exist in this workspace.".into())
            }
            E::Database(e) => crate::session::internal(&format!("sources: {e}")),
        }
    }

    pub fn quarantine_err(e: gateway::quarantine::QuarantineError) -> UiError {
        use gateway::quarantine::QuarantineError as E;
        match e {
            E::Invalid(m) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                UiError::Request(m)
            }
            E::Source(e) => source_err(e),
            E::Bus(e) => {
                status(StatusCode::SERVICE_UNAVAILABLE);
                UiError::Request(format!(
                    "The event bus did not take the events ({e}); nothing was replayed. Try again."
                ))
            }
            E::Database(e) => crate::session::internal(&format!("quarantine: {e}")),
        }
    }
}

/// The workspace's sources.
#[server(endpoint = "sources")]
pub async fn list_sources() -> Result<Vec<SourceSummary>, UiError> {
    let m = crate::session::require(Area::Sources, Need::Read).await?;
    gateway::sources::list(&m.ctx.pool, m.workspace_id())
        .await
        .map_err(server::source_err)
}

/// Creates a source; returns its id and write key (shown once).
#[server(endpoint = "create_source")]
pub async fn create_source(name: String, kind: String) -> Result<(Uuid, String), UiError> {
    let m = crate::session::require(Area::Sources, Need::Change).await?;
    let (s, key) = gateway::sources::create(&m.ctx.pool, m.workspace_id(), &name, &kind)
        .await
        .map_err(server::source_err)?;
    Ok((s.id, key))
}

/// One source with its settings, the last hour's per-minute counts and the server's current
/// minute (the chart's right edge; the browser's clock is not consulted).
#[server(endpoint = "source")]
pub async fn get_source(id: Uuid) -> Result<(SourceDetail, Vec<StatPoint>, i64), UiError> {
    let m = crate::session::require(Area::Sources, Need::Read).await?;
    let detail = gateway::sources::get(&m.ctx.pool, m.workspace_id(), id)
        .await
        .map_err(server::source_err)?;
    let now = time::OffsetDateTime::now_utc();
    let stats = gateway::sources::stats(
        &m.ctx.pool,
        m.workspace_id(),
        id,
        now - time::Duration::hours(1),
    )
    .await
    .map_err(server::source_err)?;
    Ok((detail, stats, now.unix_timestamp() / 60))
}

/// Replaces the write key; returns the new key (shown once).
#[server(endpoint = "rotate_source_key")]
pub async fn rotate_key(id: Uuid) -> Result<String, UiError> {
    let m = crate::session::require(Area::Sources, Need::Change).await?;
    gateway::sources::rotate_key(&m.ctx.pool, m.workspace_id(), id)
        .await
        .map_err(server::source_err)
}

/// Saves the tracking plan (JSON, as edited) and the consent categories (comma-separated).
#[server(endpoint = "save_source_policy")]
pub async fn save_policy(
    id: Uuid,
    mode: String,
    events_json: String,
    consent: String,
) -> Result<(), UiError> {
    let m = crate::session::require(Area::Sources, Need::Change).await?;
    let (plan, consent) = parse_policy(&mode, &events_json, &consent)?;
    gateway::sources::update_policy(&m.ctx.pool, m.workspace_id(), id, &plan, &consent)
        .await
        .map_err(server::source_err)
}

/// Reads the policy form: mode, the planned events as JSON, consent categories.
#[cfg(feature = "ssr")]
fn parse_policy(
    mode: &str,
    events_json: &str,
    consent: &str,
) -> Result<(TrackingPlan, ConsentPolicy), UiError> {
    let mut errors = domain::FieldErrors::default();
    let mode: PlanMode = mode.parse().unwrap_or_else(|e: String| {
        errors.add("mode", e);
        PlanMode::Allow
    });
    let events = if events_json.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(events_json).unwrap_or_else(|e| {
            errors.add(
                "events",
                format!(
                    "The planned events are not valid: {e}. Expected a JSON list like \
                     [{{\"name\": \"Order Completed\", \"properties\": [{{\"name\": \"total\", \
                     \"type\": \"number\", \"required\": true}}]}}]"
                ),
            );
            Vec::new()
        })
    };
    errors.into_result().map_err(UiError::Invalid)?;
    let consent = ConsentPolicy {
        activation: consent
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
    };
    Ok((TrackingPlan { mode, events }, consent))
}

/// The quarantine grouped by reason.
#[server(endpoint = "quarantine_groups")]
pub async fn quarantine_groups(include_replayed: bool) -> Result<Vec<QuarantineGroup>, UiError> {
    let m = crate::session::require(Area::Quarantine, Need::Read).await?;
    gateway::quarantine::groups(&m.ctx.pool, m.workspace_id(), !include_replayed)
        .await
        .map_err(server::quarantine_err)
}

/// The events of one quarantine group, 50 at a time below `before`.
#[server(endpoint = "quarantine_events")]
pub async fn quarantine_events(
    source_id: Uuid,
    reason: String,
    before: Option<i64>,
) -> Result<Vec<QuarantinedEvent>, UiError> {
    let m = crate::session::require(Area::Quarantine, Need::Read).await?;
    gateway::quarantine::events(
        &m.ctx.pool,
        m.workspace_id(),
        source_id,
        &reason,
        before,
        50,
    )
    .await
    .map_err(server::quarantine_err)
}

/// Replays a group after the plan was fixed, optionally renaming its event on the way.
#[server(endpoint = "replay_quarantine")]
pub async fn replay_group(
    source_id: Uuid,
    reason: String,
    rename_from: Option<String>,
    rename_to: Option<String>,
) -> Result<ReplayReport, UiError> {
    let m = crate::session::require(Area::Quarantine, Need::Change).await?;
    let mapping = gateway::quarantine::Mapping {
        rename_event: match (rename_from, rename_to) {
            (Some(f), Some(t)) if !t.trim().is_empty() => Some((f, t.trim().to_string())),
            _ => None,
        },
    };
    gateway::quarantine::replay(
        &m.ctx.pool,
        m.ctx.bus.as_ref(),
        m.workspace_id(),
        source_id,
        &reason,
        &mapping,
    )
    .await
    .map_err(server::quarantine_err)
}

fn fmt_count(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Settings → Sources.
#[component]
pub fn SourcesPage() -> impl IntoView {
    let create = ServerAction::<CreateSource>::new();
    let data = Resource::new(move || create.version().get(), |_| list_sources());
    let error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let created = Signal::derive(move || create.value().get().and_then(|r| r.ok()));
    view! {
        <Title text="Sources" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "</nav>
                <h1 data-testid="page-title">"Sources"</h1>
                <p class="muted">"Websites, apps and servers that send events. Each has a write key for the Segment-compatible API ("<code>"POST /v1/batch"</code>") and the web SDK ("<code>"/sdk/pulse.js"</code>"). "<A href="/settings/quarantine">"Quarantine"</A></p>
            </div>
        </div>
        <ErrorNotice error=error />
        {move || created.get().map(|(id, key)| view! {
            <div class="notice notice--success" role="status" data-testid="write-key">
                "Source created. Copy its write key now; it is not shown again: "<code>{key}</code>" · "
                <A href=format!("/settings/sources/{id}")>"Open the source"</A>
            </div>
        })}
        <section class="panel">
            <h2>"New source"</h2>
            <ActionForm action=create attr:class="form form--grid">
                <label class="field">
                    <span class="field__label">"Name"</span>
                    <input name="name" required maxlength="100" placeholder="Marketing website" />
                    {move || error.get().and_then(|e| e.field("name")).map(|m| view! { <p class="field__error">{m}</p> })}
                </label>
                <label class="field">
                    <span class="field__label">"Kind"</span>
                    <select name="kind">
                        <option value="web">"Website (web SDK)"</option>
                        <option value="mobile">"Mobile app"</option>
                        <option value="server">"Server"</option>
                    </select>
                </label>
                <div class="form__actions"><button class="button button--primary" type="submit">"Create source"</button></div>
            </ActionForm>
        </section>
        <Transition fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <div class="notice notice--error">{e.to_string()}</div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel"><p class="muted">"No sources yet. Create one above, then send events with its write key."</p></section>
                    }.into_any(),
                    Ok(list) => view! {
                        <section class="panel">
                            <div class="table-wrap">
                                <table class="table" data-testid="sources-table">
                                    <thead><tr>
                                        <th>"Name"</th><th>"Kind"</th><th>"Write key"</th><th>"Tracking plan"</th>
                                        <th class="num">"Accepted (24 h)"</th><th class="num">"Flagged"</th><th class="num">"Quarantined"</th><th class="num">"Not activatable"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|s| view! {
                                            <tr class:row--inactive=s.disabled>
                                                <td><A href=format!("/settings/sources/{}", s.id)>{s.name.clone()}</A></td>
                                                <td>{s.kind.clone()}</td>
                                                <td><code>{format!("{}…", s.key_prefix)}</code></td>
                                                <td>{format!("{} · {} events", s.plan_mode.as_str(), s.planned_events)}</td>
                                                <td class="num">{fmt_count(s.last_day.accepted)}</td>
                                                <td class="num">{fmt_count(s.last_day.flagged)}</td>
                                                <td class="num">{fmt_count(s.last_day.quarantined)}</td>
                                                <td class="num">{fmt_count(s.last_day.not_activatable)}</td>
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

/// Per-minute volume of the last hour as stacked bars (accepted, flagged, quarantined).
#[component]
fn VolumeChart(points: Vec<StatPoint>, now_min: i64) -> impl IntoView {
    let mut bins = [(0i64, 0i64, 0i64); 60];
    for p in &points {
        let age = now_min - p.minute.unix_timestamp() / 60;
        if (0..60).contains(&age) {
            let b = &mut bins[59 - age as usize];
            b.0 += p.counts.accepted - p.counts.flagged;
            b.1 += p.counts.flagged;
            b.2 += p.counts.quarantined;
        }
    }
    let max = bins
        .iter()
        .map(|b| b.0 + b.1 + b.2)
        .max()
        .unwrap_or(0)
        .max(1);
    let total: i64 = bins.iter().map(|b| b.0 + b.1 + b.2).sum();
    let (w, h) = (600.0_f64, 120.0_f64);
    let bw = w / 60.0;
    let scale = |v: i64| v as f64 / max as f64 * (h - 10.0);
    let bars = bins
        .iter()
        .enumerate()
        .flat_map(|(i, (ok, flag, bad))| {
            let x = i as f64 * bw + 1.0;
            let mut y = h;
            let mut out = Vec::new();
            for (v, class) in [(*ok, "bar--ok"), (*flag, "bar--warn"), (*bad, "bar--bad")] {
                if v > 0 {
                    let hh = scale(v).max(1.0);
                    y -= hh;
                    out.push(view! {
                        <rect class=class x=x y=y width=bw - 2.0 height=hh>
                            <title>{format!("{} min ago: {v}", 59 - i)}</title>
                        </rect>
                    });
                }
            }
            out
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="volume-chart">
            <svg viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img" aria-label=format!("{total} events in the last hour")>
                <line class="chart__axis" x1="0" y1=h x2=w y2=h />
                {bars}
            </svg>
            <figcaption class="muted">
                {format!("Last 60 minutes, peak {} events/min · ", fmt_count(max))}
                <span class="legend legend--ok">"accepted"</span>" "
                <span class="legend legend--warn">"flagged"</span>" "
                <span class="legend legend--bad">"quarantined"</span>
            </figcaption>
        </figure>
    }
}

/// One source: counters, key rotation, tracking plan and consent, live debugger.
#[component]
pub fn SourcePage() -> impl IntoView {
    let params = use_params_map();
    let id = Signal::derive(move || params.read().get("id").and_then(|s| s.parse::<Uuid>().ok()));
    let rotate = ServerAction::<RotateKey>::new();
    let save = ServerAction::<SavePolicy>::new();
    // Reload only after a successful save: a refused one keeps the form as the person left it.
    let saves = RwSignal::new(0u32);
    Effect::new(move |_| {
        if save.value().get().is_some_and(|r| r.is_ok()) {
            saves.update(|n| *n += 1);
        }
    });
    let data = Resource::new(
        move || (id.get(), saves.get(), rotate.version().get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => get_source(id).await,
                None => Err(UiError::NotFound("That source does not exist.".into())),
            }
        },
    );
    let error = Signal::derive(move || {
        rotate
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| save.value().get().and_then(|r| r.err()))
    });
    let saved = Signal::derive(move || save.value().get().is_some_and(|r| r.is_ok()));
    let new_key = Signal::derive(move || rotate.value().get().and_then(|r| r.ok()));
    view! {
        <Title text="Source" />
        <Transition fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <div class="notice notice--error">{e.to_string()}</div> }.into_any(),
                    Ok((d, stats, now_min)) => {
                        let sid = d.summary.id;
                        let planned = d.plan.events.clone();
                        let consent = d.consent.activation.join(", ");
                        let mode = d.plan.mode;
                        view! {
                            <div class="page-header">
                                <div>
                                    <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "<A href="/settings/sources">"Sources"</A>" / "</nav>
                                    <h1 data-testid="page-title">{d.summary.name.clone()}</h1>
                                    <p class="muted">
                                        {format!("{} source · write key ", d.summary.kind)}<code>{format!("{}…", d.summary.key_prefix)}</code>
                                        " · created "<LocalTime utc=rfc3339(d.summary.created_at) />
                                        {d.summary.key_rotated_at.map(|t| view! { " · key rotated "<LocalTime utc=rfc3339(t) /> })}
                                    </p>
                                </div>
                                <div class="page-header__actions">
                                    <a class="button" href=format!("/sdk/demo") rel="external" target="_blank">"SDK demo page"</a>
                                    <button class="button button--danger" data-testid="rotate-key"
                                        on:click=move |_| {
                                            if confirm("Rotate the write key? Senders using the old key are refused from now on.") {
                                                rotate.dispatch(RotateKey { id: sid });
                                            }
                                        }>"Rotate write key"</button>
                                </div>
                            </div>
                            <ErrorNotice error=error />
                            {move || new_key.get().map(|k| view! {
                                <div class="notice notice--success" role="status" data-testid="write-key">
                                    "New write key (copy it now; it is not shown again): "<code>{k}</code>
                                </div>
                            })}
                            <div class="stats">
                                <div class="stat"><span class="stat__value">{fmt_count(d.summary.last_day.accepted)}</span><span class="stat__label">"accepted, 24 h"</span></div>
                                <div class="stat"><span class="stat__value">{fmt_count(d.summary.last_day.flagged)}</span><span class="stat__label">"flagged"</span></div>
                                <div class="stat"><span class="stat__value">{fmt_count(d.summary.last_day.quarantined)}</span><span class="stat__label">"quarantined"</span></div>
                                <div class="stat"><span class="stat__value">{fmt_count(d.summary.last_day.not_activatable)}</span><span class="stat__label">"without activation consent"</span></div>
                                <div class="stat" data-testid="future-clamped" title="Events stamped more than the tolerance (10 minutes by default) after they arrived; their time was set to when they arrived, the claimed time is kept in the event's _pulse.futureTimestamp.">
                                    <span class="stat__value">{fmt_count(d.summary.last_day.future_clamped)}</span><span class="stat__label">"future times corrected"</span>
                                </div>
                            </div>
                            <section class="panel"><h2>"Volume"</h2><VolumeChart points=stats now_min /></section>
                            <LiveDebugger source=sid />
                            <section class="panel">
                                <h2>"Tracking plan and consent"</h2>
                                {move || saved.get().then(|| view! { <div class="notice notice--success" role="status">"Saved. Gateways apply it within 5 seconds."</div> })}
                                <ActionForm action=save attr:class="form">
                                    <input type="hidden" name="id" value=sid.to_string() />
                                    <label class="field">
                                        <span class="field__label">"When an event breaks the plan"</span>
                                        <select name="mode" data-testid="plan-mode">
                                            {PlanMode::ALL.into_iter().map(|m| view! {
                                                <option value=m.as_str() selected=m == mode>{m.describe()}</option>
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <PlanEditor initial=planned />
                                    {move || error.get().map(|e| plan_errors(&e)).filter(|v| !v.is_empty()).map(|v| view! {
                                        <ul class="field__error" data-testid="plan-errors">{v.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                                    })}
                                    <label class="field">
                                        <span class="field__label">"Consent categories required for activation (comma-separated, as your consent manager names them)"</span>
                                        <input name="consent" value=consent placeholder="marketing, advertising" data-testid="consent-categories" />
                                        {move || error.get().and_then(|e| e.field("activation")).map(|m| view! { <p class="field__error">{m}</p> })}
                                    </label>
                                    <div class="form__actions"><button class="button button--primary" type="submit" data-testid="save-plan">"Save plan"</button></div>
                                </ActionForm>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// A planned property while it is edited.
#[derive(Clone, Copy)]
struct PropDraft {
    id: u64,
    name: RwSignal<String>,
    kind: RwSignal<PropertyType>,
    required: RwSignal<bool>,
    /// Allowed values, comma-separated (strings only).
    allowed: RwSignal<String>,
}

/// A planned event while it is edited.
#[derive(Clone, Copy)]
struct EventDraft {
    id: u64,
    name: RwSignal<String>,
    strict: RwSignal<bool>,
    props: RwSignal<Vec<PropDraft>>,
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn prop_draft(p: &PropertyRule) -> PropDraft {
    PropDraft {
        id: next_id(),
        name: RwSignal::new(p.name.clone()),
        kind: RwSignal::new(p.kind),
        required: RwSignal::new(p.required),
        allowed: RwSignal::new(p.allowed.join(", ")),
    }
}

fn event_draft(e: &EventRule) -> EventDraft {
    EventDraft {
        id: next_id(),
        name: RwSignal::new(e.name.clone()),
        strict: RwSignal::new(e.strict),
        props: RwSignal::new(e.properties.iter().map(prop_draft).collect()),
    }
}

fn draft_rules(events: &[EventDraft]) -> Vec<EventRule> {
    events
        .iter()
        .map(|e| EventRule {
            name: e.name.get(),
            description: None,
            strict: e.strict.get(),
            properties: e
                .props
                .get()
                .iter()
                .map(|p| PropertyRule {
                    name: p.name.get(),
                    kind: p.kind.get(),
                    required: p.required.get(),
                    allowed: p
                        .allowed
                        .get()
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// Edits the planned `track` events as rows; submits them as `events_json`.
#[component]
fn PlanEditor(initial: Vec<EventRule>) -> impl IntoView {
    let events = RwSignal::new(initial.iter().map(event_draft).collect::<Vec<_>>());
    let json = move || serde_json::to_string(&draft_rules(&events.get())).unwrap_or_default();
    let add_event = move |_| {
        events.update(|v| {
            v.push(event_draft(&EventRule {
                name: String::new(),
                description: None,
                strict: false,
                properties: Vec::new(),
            }))
        })
    };
    view! {
        <fieldset class="plan-editor" data-testid="plan-editor">
            <legend class="field__label">"Planned track events"</legend>
            <input type="hidden" name="events_json" prop:value=json />
            {move || events.with(|v| v.is_empty()).then(|| view! {
                <p class="muted">"No events planned: in flag and block mode every track event breaks the plan. Add the events this source may send."</p>
            })}
            <For each=move || events.get() key=|e| e.id let:e>
                <div class="plan-event" data-testid="plan-event">
                    <div class="plan-event__head">
                        <input class="plan-event__name" placeholder="Event name, e.g. Order Completed" aria-label="Event name"
                            prop:value=e.name on:input=move |ev| e.name.set(event_target_value(&ev)) />
                        <label class="check"><input type="checkbox" prop:checked=e.strict on:change=move |ev| e.strict.set(event_target_checked(&ev)) />" only listed properties"</label>
                        <button type="button" class="button button--ghost button--small"
                            on:click=move |_| e.props.update(|p| p.push(prop_draft(&PropertyRule { name: String::new(), kind: PropertyType::String, required: false, allowed: Vec::new() })))>"Add property"</button>
                        <button type="button" class="button button--ghost button--small" aria-label="Remove event"
                            on:click=move |_| events.update(|v| v.retain(|x| x.id != e.id))>"Remove"</button>
                    </div>
                    <table class="table table--compact">
                        <tbody>
                            <For each=move || e.props.get() key=|p| p.id let:p>
                                <tr>
                                    <td><input placeholder="property" aria-label="Property name" prop:value=p.name on:input=move |ev| p.name.set(event_target_value(&ev)) /></td>
                                    <td>
                                        <select aria-label="Type" on:change=move |ev| { if let Ok(k) = event_target_value(&ev).parse() { p.kind.set(k) } }>
                                            {PropertyType::ALL.into_iter().map(|k| view! {
                                                <option value=k.as_str() selected=move || p.kind.get() == k>{k.as_str()}</option>
                                            }).collect_view()}
                                        </select>
                                    </td>
                                    <td><label class="check"><input type="checkbox" prop:checked=p.required on:change=move |ev| p.required.set(event_target_checked(&ev)) />" required"</label></td>
                                    <td><input placeholder="allowed values, comma-separated" aria-label="Allowed values" prop:value=p.allowed on:input=move |ev| p.allowed.set(event_target_value(&ev)) /></td>
                                    <td><button type="button" class="button button--ghost button--small" aria-label="Remove property"
                                        on:click=move |_| e.props.update(|v| v.retain(|x| x.id != p.id))>"×"</button></td>
                                </tr>
                            </For>
                        </tbody>
                    </table>
                </div>
            </For>
            <button type="button" class="button button--small" data-testid="add-event" on:click=add_event>"Add event"</button>
        </fieldset>
    }
}

/// `events[1].properties[0].name` → `Event 2, property 1` (people count from one).
fn field_label(key: &str) -> String {
    let numbers: Vec<usize> = key
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers.as_slice() {
        [e, p] => format!("Event {}, property {}", e + 1, p + 1),
        [e] => format!("Event {}", e + 1),
        _ => "Plan".to_string(),
    }
}

fn plan_errors(e: &UiError) -> Vec<String> {
    match e {
        UiError::Invalid(f) => {
            f.0.iter()
                .filter(|(k, _)| k.starts_with("events") || k.as_str() == "mode")
                .map(|(k, v)| format!("{}: {v}", field_label(k)))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn confirm(message: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window()
            .confirm_with_message(message)
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = message;
        false
    }
}

/// The last events of a source as they arrive (server-sent events), with their payloads.
#[component]
fn LiveDebugger(source: Uuid) -> impl IntoView {
    let events = RwSignal::new(Vec::<DebugEvent>::new());
    let selected = RwSignal::new(None::<DebugEvent>);
    let connected = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        Effect::new(move |_| {
            let url = format!("/api/sources/{source}/live");
            let Ok(es) = web_sys::EventSource::new(&url) else {
                return;
            };
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |m: web_sys::MessageEvent| {
                    if let Some(text) = m.data().as_string() {
                        if let Ok(e) = serde_json::from_str::<DebugEvent>(&text) {
                            events.update(|v| {
                                v.insert(0, e);
                                v.truncate(100);
                            });
                        }
                    }
                },
            );
            es.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
            let on_open = Closure::<dyn FnMut()>::new(move || connected.set(true));
            es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            on_open.forget();
            let on_error = Closure::<dyn FnMut()>::new(move || connected.set(false));
            es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            on_error.forget();
            let es = send_wrapper::SendWrapper::new(es);
            on_cleanup(move || es.close());
        });
    }
    let _ = source;
    view! {
        <section class="panel" data-testid="debugger">
            <h2>"Live events "
                {move || if connected.get() {
                    view! { <span class="status status--active" data-testid="debugger-status">"live"</span> }.into_any()
                } else {
                    view! { <span class="status status--inactive" data-testid="debugger-status">"connecting…"</span> }.into_any()
                }}
            </h2>
            <p class="muted">"Events this source sends appear here as the gateway handles them (the last 100), accepted, flagged or quarantined. Click one for its payload."</p>
            <div class="debugger">
                <div class="table-wrap debugger__list">
                    <table class="table table--compact" data-testid="debugger-events">
                        <thead><tr><th>"Time"</th><th>"Outcome"</th><th>"Call"</th><th>"Event"</th><th>"Reason"</th></tr></thead>
                        <tbody>
                            {move || {
                                let list = events.get();
                                if list.is_empty() {
                                    view! { <tr><td colspan="5" class="muted">"Waiting for events…"</td></tr> }.into_any()
                                } else {
                                    list.into_iter().map(|e| {
                                        let row = e.clone();
                                        let outcome_class = format!("status status--{}", e.outcome);
                                        view! {
                                            <tr class="clickable" on:click=move |_| selected.set(Some(row.clone()))>
                                                <td><LocalTime utc=e.received_at.clone() /></td>
                                                <td><span class=outcome_class>{e.outcome.clone()}</span>{(!e.activatable).then(|| view! { " "<span class="status status--inactive" title="The consent needed for activation is missing">"no consent"</span> })}</td>
                                                <td>{e.call.clone()}</td>
                                                <td>{e.label.clone()}</td>
                                                <td class="muted">{e.reason.clone().unwrap_or_default()}</td>
                                            </tr>
                                        }
                                    }).collect_view().into_any()
                                }
                            }}
                        </tbody>
                    </table>
                </div>
                {move || selected.get().map(|e| view! {
                    <pre class="code debugger__payload" data-testid="debugger-payload">{serde_json::to_string_pretty(&e.payload).unwrap_or_default()}</pre>
                })}
            </div>
        </section>
    }
}

/// Settings → Quarantine: refused and flagged events grouped by reason, with replay.
#[component]
pub fn QuarantinePage() -> impl IntoView {
    let include_replayed = RwSignal::new(false);
    let replay = ServerAction::<ReplayGroup>::new();
    let groups = Resource::new(
        move || (include_replayed.get(), replay.version().get()),
        |(all, _)| quarantine_groups(all),
    );
    let open = RwSignal::new(None::<(Uuid, String, Option<String>)>);
    let error = Signal::derive(move || replay.value().get().and_then(|r| r.err()));
    let report = Signal::derive(move || replay.value().get().and_then(|r| r.ok()));
    view! {
        <Title text="Quarantine" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "<A href="/settings/sources">"Sources"</A>" / "</nav>
                <h1 data-testid="page-title">"Quarantine"</h1>
                <p class="muted">"Every event the gateway refused (malformed, or blocked by a tracking plan) or flagged, with the exact reason and the original payload. Fix the plan or map the event name, then replay a group into events.raw."</p>
            </div>
            <label class="check"><input type="checkbox" prop:checked=include_replayed on:change=move |ev| include_replayed.set(event_target_checked(&ev)) />" Show replayed"</label>
        </div>
        <ErrorNotice error=error />
        {move || report.get().map(|r| view! {
            <div class="notice notice--success" role="status" data-testid="replay-report">
                {format!("Replayed {} event(s) into events.raw; {} still break the plan and stay quarantined.", r.replayed, r.still_refused)}
            </div>
        })}
        <Transition fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match groups.await {
                    Err(e) => view! { <div class="notice notice--error">{e.to_string()}</div> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel"><p class="muted" data-testid="quarantine-empty">"The quarantine is empty: every event so far followed its source's rules."</p></section>
                    }.into_any(),
                    Ok(list) => view! {
                        <section class="panel">
                            <div class="table-wrap">
                                <table class="table" data-testid="quarantine-groups">
                                    <thead><tr><th>"Reason"</th><th>"Source"</th><th>"Kind"</th><th class="num">"Events"</th><th>"Last"</th><th></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|g| {
                                            let key = (g.source_id, g.reason.clone(), g.event_name.clone());
                                            let blocked = g.disposition == "blocked";
                                            view! {
                                                <tr>
                                                    <td class="reason">{g.reason.clone()}</td>
                                                    <td>{g.source_name.clone()}</td>
                                                    <td><span class=format!("status status--{}", if blocked { "quarantined" } else { "flagged" })>{g.disposition.clone()}</span></td>
                                                    <td class="num">{fmt_count(g.count)}</td>
                                                    <td><LocalTime utc=rfc3339(g.last_at) /></td>
                                                    <td class="table__actions"><button class="button button--small" on:click=move |_| open.set(Some(key.clone()))>"Open"</button></td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
        {move || open.get().map(|(source_id, reason, event_name)| view! {
            <QuarantineGroupView source_id reason event_name replay />
        })}
    }
}

/// The events of one group, paged, with the replay form.
#[component]
fn QuarantineGroupView(
    source_id: Uuid,
    reason: String,
    event_name: Option<String>,
    replay: ServerAction<ReplayGroup>,
) -> impl IntoView {
    let before = RwSignal::new(None::<i64>);
    let loaded = RwSignal::new(Vec::<QuarantinedEvent>::new());
    let more = RwSignal::new(true);
    let selected = RwSignal::new(None::<i64>);
    let page = {
        let reason = reason.clone();
        Resource::new(
            move || before.get(),
            move |b| quarantine_events(source_id, reason.clone(), b),
        )
    };
    Effect::new(move |_| {
        if let Some(Ok(list)) = page.get() {
            more.set(list.len() == 50);
            loaded.update(|v| {
                for e in list {
                    if !v.iter().any(|x| x.id == e.id) {
                        v.push(e);
                    }
                }
            });
        }
    });
    let rename_to = RwSignal::new(String::new());
    let title = reason.clone();
    view! {
        <section class="panel" data-testid="quarantine-group">
            <h2>{title}</h2>
            <div class="form form--inline">
                {event_name.clone().map(|n| view! {
                    <label class="field">
                        <span class="field__label">{format!("Rename event `{n}` to (optional)")}</span>
                        <input data-testid="rename-to" prop:value=rename_to on:input=move |ev| rename_to.set(event_target_value(&ev)) placeholder="Canonical event name" />
                    </label>
                })}
                <button class="button button--primary" data-testid="replay" on:click={
                    let reason = reason.clone();
                    let event_name = event_name.clone();
                    move |_| {
                        let to = rename_to.get_untracked();
                        replay.dispatch(ReplayGroup {
                            source_id,
                            reason: reason.clone(),
                            rename_from: event_name.clone().filter(|_| !to.trim().is_empty()),
                            rename_to: Some(to).filter(|t| !t.trim().is_empty()),
                        });
                    }
                }>{move || if replay.pending().get() { "Replaying…" } else { "Check again and replay" }}</button>
            </div>
            <div class="table-wrap">
                <table class="table table--compact" data-testid="quarantine-events">
                    <thead><tr><th>"Received"</th><th>"Message id"</th><th>"Event"</th><th>"Status"</th></tr></thead>
                    <tbody>
                        {move || loaded.get().into_iter().map(|e| {
                            let id = e.id;
                            let payload = serde_json::to_string_pretty(&e.payload).unwrap_or_default();
                            view! {
                                <tr class="clickable" on:click=move |_| selected.set(Some(id))>
                                    <td><LocalTime utc=rfc3339(e.received_at) /></td>
                                    <td><code>{e.message_id.clone().unwrap_or_else(|| "—".into())}</code></td>
                                    <td>{e.event_name.clone().unwrap_or_default()}</td>
                                    <td>{e.status.clone()}</td>
                                </tr>
                                {move || (selected.get() == Some(id)).then(|| view! {
                                    <tr><td colspan="4"><pre class="code">{payload.clone()}</pre></td></tr>
                                })}
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {move || more.get().then(|| view! {
                <button class="button button--ghost" on:click=move |_| before.set(loaded.get_untracked().last().map(|e| e.id))>"Load more"</button>
            })}
        </section>
    }
}
