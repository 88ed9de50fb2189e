//! One source's page: counters, write-key rotation, volume, the live debugger and the
//! tracking-plan form.

use super::debugger::LiveDebugger;
use super::fmt_count;
use super::plan::{plan_errors, PlanEditor, SavePolicy};
#[cfg(feature = "ssr")]
use super::server;
use super::volume::VolumeChart;
use crate::components::ui::{rfc3339, ErrorNotice, FieldError, LoadError, Loading, LocalTime};
use crate::UiError;
use domain::tracking::{PlanMode, SourceDetail, StatPoint};
#[cfg(feature = "ssr")]
use domain::{Area, Need};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

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
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
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
                                        <FieldError error name="activation" />
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

/// Asks the browser to confirm; always `false` while rendering on the server.
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
