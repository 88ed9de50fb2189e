//! A source's tracking plan and consent policy: the row editor, reading the submitted form and
//! saving it.

#[cfg(feature = "ssr")]
use super::server;
use crate::UiError;
#[cfg(feature = "ssr")]
use domain::tracking::{ConsentPolicy, PlanMode, TrackingPlan};
use domain::tracking::{EventRule, PropertyRule, PropertyType};
#[cfg(feature = "ssr")]
use domain::{Area, Need};
use leptos::prelude::*;
use uuid::Uuid;

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
pub(super) fn PlanEditor(initial: Vec<EventRule>) -> impl IntoView {
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

/// The plan's field errors as lines to show under the editor.
pub(super) fn plan_errors(e: &UiError) -> Vec<String> {
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
