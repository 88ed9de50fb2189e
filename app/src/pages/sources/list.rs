//! The list of sources and the form that creates one.

use super::fmt_count;
#[cfg(feature = "ssr")]
use super::server;
use crate::components::ui::{ErrorNotice, FieldError, LoadError, Loading};
use crate::UiError;
use domain::tracking::SourceSummary;
#[cfg(feature = "ssr")]
use domain::{Area, Need};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use uuid::Uuid;

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
                    <FieldError error name="name" />
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
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
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
