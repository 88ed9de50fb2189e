//! The live event debugger: a source's events as the gateway handles them, over server-sent
//! events.

use crate::components::ui::LocalTime;
use domain::tracking::DebugEvent;
use leptos::prelude::*;
use uuid::Uuid;

/// The last events of a source as they arrive (server-sent events), with their payloads.
#[component]
pub(super) fn LiveDebugger(source: Uuid) -> impl IntoView {
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
