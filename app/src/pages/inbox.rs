//! The sales inbox on the CRM home page: alerts from label triggers (e.g. a customer who viewed
//! pricing and did not get in touch), for the customer's owner; managers and admins see all.

use crate::components::ui::{rfc3339, LoadError, LocalTime};
use crate::UiError;
use domain::labels::Alert;
use leptos::prelude::*;
use leptos_router::components::A;

/// The viewer's alerts, newest first (reps: their own; managers and admins: the workspace's).
#[server(endpoint = "inbox")]
pub async fn inbox() -> Result<Vec<Alert>, UiError> {
    let (viewer, ctx) = crate::session::require_viewer().await?;
    Ok(audiences::inbox::list(&ctx.pool, &audiences::Member::of(&viewer)).await?)
}

/// Marks an alert read (its owner, a manager or an admin).
#[server(endpoint = "inbox_read")]
pub async fn mark_read(id: String) -> Result<(), UiError> {
    let (viewer, ctx) = crate::session::require_viewer().await?;
    Ok(audiences::inbox::mark_read(&ctx.pool, &audiences::Member::of(&viewer), &id).await?)
}

/// The inbox panel.
#[component]
pub fn Inbox() -> impl IntoView {
    let read = ServerAction::<MarkRead>::new();
    let alerts = Resource::new(move || read.version().get(), |_| inbox());
    view! {
        <section class="panel" data-testid="inbox">
            <h2>"Inbox"</h2>
            <Transition fallback=|| view! { <div class="loading">"Loading alerts…"</div> }>
                {move || Suspend::new(async move {
                    match alerts.await {
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                        Ok(v) if v.is_empty() => view! {
                            <p class="muted">"No alerts. When a customer does something a trigger label watches for — say, views pricing and does not get in touch — it shows up here."</p>
                        }.into_any(),
                        Ok(v) => view! {
                            <ul class="tasks" data-testid="alerts">
                                {v.into_iter().map(|a| {
                                    let id = a.id.clone();
                                    view! {
                                        <li class="tasks__item" class:muted=a.read>
                                            <span class="badge badge--warn">{a.label.clone()}</span>
                                            {match (a.customer_id, a.customer_name.clone()) {
                                                (Some(c), name) => view! { <A href=format!("/crm/customers/{c}")>{name.unwrap_or_else(|| "Customer".into())}</A> }.into_any(),
                                                (None, _) => view! { <span>"Unknown visitor"</span> }.into_any(),
                                            }}
                                            <span class="muted">{a.reason.clone()}</span>
                                            <LocalTime utc=rfc3339(a.at) />
                                            {(!a.read).then(|| view! {
                                                <button class="button button--ghost button--small" on:click=move |_| { read.dispatch(MarkRead { id: id.clone() }); }>"Mark read"</button>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
