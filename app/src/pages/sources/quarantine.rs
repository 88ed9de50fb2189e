//! Settings → Quarantine: refused and flagged events grouped by reason, and their replay.

use super::fmt_count;
#[cfg(feature = "ssr")]
use super::server;
use crate::components::ui::{rfc3339, ErrorNotice, LoadError, Loading, LocalTime};
use crate::UiError;
use domain::tracking::{QuarantineGroup, QuarantinedEvent, ReplayReport};
#[cfg(feature = "ssr")]
use domain::{Area, Need};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use uuid::Uuid;

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
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match groups.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
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
