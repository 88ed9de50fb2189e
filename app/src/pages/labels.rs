//! Profiles → Labels: declare labels with a form (no code), see how many profiles carry each
//! now, and backtest a definition over the last 7 days of events before saving it.

use crate::components::ui::LoadError;
use crate::UiError;
use domain::labels::{Backtest, LabelSummary};
#[cfg(feature = "ssr")]
use domain::labels::{Comparison, EventMatch, LabelDefinition, LabelRule};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The workspace's labels with their live counts.
#[server(endpoint = "labels")]
pub async fn list_labels() -> Result<Vec<LabelSummary>, UiError> {
    let (viewer, ctx) = crate::session::require_viewer().await?;
    Ok(audiences::labels::list(&ctx.pool, &audiences::Member::of(&viewer)).await?)
}

/// The label form's fields (one struct for saving and backtesting).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabelForm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: String,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub property: String,
    /// The second event of absence ("then no") and sequence ("then") rules.
    #[serde(default)]
    pub then: String,
    #[serde(default)]
    pub count: String,
    #[serde(default)]
    pub minutes: String,
    /// Threshold rules: the field, the comparison and the value.
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub trigger: Option<String>,
}

/// Builds a definition from the form's fields, with errors per field.
#[cfg(feature = "ssr")]
fn definition(f: &LabelForm) -> Result<LabelDefinition, UiError> {
    let mut matching = EventMatch::named(f.event.trim());
    if let Some((k, v)) = f.property.split_once('=') {
        if !k.trim().is_empty() {
            matching
                .properties
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let mut errors = domain::FieldErrors::default();
    let number = |errors: &mut domain::FieldErrors, key: &str, text: &str, what: &str| {
        text.trim().parse::<i64>().unwrap_or_else(|_| {
            errors.add(key, format!("Give {what} as a whole number."));
            0
        })
    };
    let window_ms = if f.kind == "threshold" {
        0
    } else {
        number(&mut errors, "window", &f.minutes, "the minutes").saturating_mul(60_000)
    };
    let rule = match f.kind.as_str() {
        "count" => LabelRule::Count {
            matching,
            count: number(&mut errors, "count", &f.count, "the count").clamp(0, u32::MAX as i64)
                as u32,
            window_ms,
        },
        "absence" => LabelRule::Absence {
            first: matching,
            then_not: EventMatch::named(f.then.trim()),
            within_ms: window_ms,
        },
        "sequence" => LabelRule::Sequence {
            first: matching,
            then: EventMatch::named(f.then.trim()),
            within_ms: window_ms,
        },
        "threshold" => LabelRule::Threshold {
            field: f.field.trim().to_string(),
            op: Comparison::parse(&f.op).unwrap_or_else(|| {
                errors.add("op", "Choose how to compare.");
                Comparison::Eq
            }),
            value: f.value.trim().to_string(),
        },
        _ => LabelRule::Recency {
            matching,
            within_ms: window_ms,
        },
    };
    let def = LabelDefinition {
        name: f.name.trim().to_string(),
        description: f.description.trim().to_string(),
        rule,
        trigger: f.trigger.is_some(),
    };
    if errors.is_empty() {
        errors = def.validate();
    }
    if errors.is_empty() {
        Ok(def)
    } else {
        crate::error::set_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        Err(UiError::Invalid(errors))
    }
}

/// Saves a label (created, or replaced by name); the pipeline applies it within 5 seconds.
#[server(endpoint = "save_label")]
pub async fn save_label(label: LabelForm) -> Result<(), UiError> {
    // Refused before the form is read: who may not change labels learns nothing from it.
    let m = crate::session::require(domain::Area::Labels, domain::Need::Change).await?;
    let def = definition(&label)?;
    let member = audiences::Member::of(&m.viewer);
    Ok(audiences::labels::save(&m.ctx.pool, &member, &def).await?)
}

/// Archives a label: the pipeline stops evaluating it and it leaves the list.
#[server(endpoint = "archive_label")]
pub async fn archive_label(name: String) -> Result<(), UiError> {
    let (viewer, ctx) = crate::session::require_viewer().await?;
    Ok(audiences::labels::archive(&ctx.pool, &audiences::Member::of(&viewer), &name).await?)
}

/// Runs a definition over the last 7 days of events on the bus with the pipeline's own engine
/// (at most 2,000,000 events, one backtest per workspace at a time); nothing is written.
#[server(endpoint = "backtest_label")]
pub async fn backtest_label(label: LabelForm) -> Result<Backtest, UiError> {
    let m = crate::session::require(domain::Area::Labels, domain::Need::Change).await?;
    let (viewer, ctx) = (m.viewer, m.ctx);
    let def = definition(&label)?;
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    Ok(audiences::backtest::run(
        &ctx.pool,
        ctx.bus.as_ref(),
        &audiences::Member::of(&viewer),
        def,
        audiences::backtest::Window::last_days(now_ms, 7),
        audiences::backtest::Limits::default(),
    )
    .await?)
}

/// Profiles → Labels.
#[component]
pub fn LabelsPage() -> impl IntoView {
    let save = ServerAction::<SaveLabel>::new();
    let backtest = ServerAction::<BacktestLabel>::new();
    let archive = ServerAction::<ArchiveLabel>::new();
    let labels = Resource::new(
        move || (save.version().get(), archive.version().get()),
        |_| list_labels(),
    );
    let kind = RwSignal::new("absence".to_string());
    let error = Signal::derive(move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| backtest.value().get().and_then(|r| r.err()))
            .or_else(|| archive.value().get().and_then(|r| r.err()))
    });
    let field_error = move |f: &'static str| {
        move || {
            error
                .get()
                .and_then(|e| e.field(f))
                .map(|m| view! { <p class="field__error">{m}</p> })
        }
    };
    view! {
        <Title text="Labels" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/profiles">"Profiles"</A>" / "</nav>
                <h1 data-testid="page-title">"Labels"</h1>
                <p class="muted">"Labels are set and cleared on customer profiles by the live pipeline, on event time, with the reason. Trigger labels alert the customer's sales rep."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <div class="loading">"Loading labels…"</div> }>
            {move || Suspend::new(async move {
                match labels.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="panel"><p class="muted">"No labels yet. Define one below."</p></section>
                    }.into_any(),
                    Ok(list) => view! {
                        <section class="panel">
                            <table class="table" data-testid="labels-table">
                                <thead><tr><th>"Label"</th><th>"Rule"</th><th>"Trigger"</th><th class="num">"Profiles now"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|l| {
                                        let name = l.definition.name.clone();
                                        view! {
                                        <tr>
                                            <td><code>{l.definition.name.clone()}</code><div class="muted">{l.definition.description.clone()}</div></td>
                                            <td>{l.definition.rule.describe()}</td>
                                            <td>{if l.definition.trigger { "alerts the owner" } else { "" }}</td>
                                            <td class="num">{l.live_count.map(|n| n.to_string()).unwrap_or_else(|| "counting…".into())}</td>
                                            <td><button class="button button--ghost button--small" data-testid="archive-label"
                                                on:click=move |_| { archive.dispatch(ArchiveLabel { name: name.clone() }); }>"Archive"</button></td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
        <section class="panel">
            <h2>"Define a label"</h2>
            <ActionForm action=save attr:class="form form--grid" attr:id="label-form">
                <label class="field"><span class="field__label">"Name"</span>
                    <input name="label[name]" required placeholder="high_intent_unresolved" data-testid="label-name" />
                    {field_error("name")}</label>
                <label class="field"><span class="field__label">"Description"</span>
                    <input name="label[description]" placeholder="What it means for sales or marketing" /></label>
                <label class="field"><span class="field__label">"Rule"</span>
                    <select name="label[kind]" data-testid="label-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="absence" selected>"An event, then no other event within a time"</option>
                        <option value="sequence">"An event, then another event within a time"</option>
                        <option value="count">"An event at least N times within a window"</option>
                        <option value="recency">"An event within the last …"</option>
                        <option value="threshold">"A trait or CRM field compared with a value"</option>
                    </select></label>
                <label class="field" class:hidden=move || kind.get() == "threshold"><span class="field__label">"Event"</span>
                    <input name="label[event]" placeholder="Page Viewed" data-testid="label-event" />
                    {field_error("event")}</label>
                <label class="field" class:hidden=move || kind.get() == "threshold"><span class="field__label">"Where property = value (optional)"</span>
                    <input name="label[property]" placeholder="path=/pricing" data-testid="label-property" /></label>
                <label class="field" class:hidden=move || !matches!(kind.get().as_str(), "absence" | "sequence")>
                    <span class="field__label">{move || if kind.get() == "sequence" { "Then" } else { "Then no" }}</span>
                    <input name="label[then]" placeholder="form_submit" data-testid="label-then-not" />
                    {field_error("then_not")}</label>
                <label class="field" class:hidden=move || kind.get() != "count"><span class="field__label">"At least (times)"</span>
                    <input name="label[count]" type="number" min="1" value="3" />
                    {field_error("count")}</label>
                <label class="field" class:hidden=move || kind.get() == "threshold"><span class="field__label">"Within (minutes)"</span>
                    <input name="label[minutes]" type="number" min="1" value="10" data-testid="label-minutes" />
                    {field_error("window")}</label>
                <label class="field" class:hidden=move || kind.get() != "threshold"><span class="field__label">"Field"</span>
                    <input name="label[field]" list="threshold-fields" placeholder="revenue_30d" data-testid="label-field" />
                    <datalist id="threshold-fields">
                        {domain::labels::THRESHOLD_FIELDS.iter().map(|f| view! { <option value=*f /> }).collect_view()}
                        <option value="crm.lifecycle_stage" />
                        <option value="crm.locale" />
                        <option value="crm.consent_email" />
                        <option value="traits.plan" />
                    </datalist>
                    {field_error("field")}</label>
                <label class="field" class:hidden=move || kind.get() != "threshold"><span class="field__label">"Is"</span>
                    <select name="label[op]" data-testid="label-op">
                        <option value="gte">"at least (≥)"</option>
                        <option value="lte">"at most (≤)"</option>
                        <option value="eq">"equal to (=)"</option>
                        <option value="neq">"not equal to (≠)"</option>
                    </select>
                    {field_error("op")}</label>
                <label class="field" class:hidden=move || kind.get() != "threshold"><span class="field__label">"Value"</span>
                    <input name="label[value]" placeholder="100" data-testid="label-value" />
                    {field_error("value")}</label>
                <label class="check"><input type="checkbox" name="label[trigger]" value="on" />" Trigger: alert the customer's sales rep when set"</label>
                <div class="form__actions">
                    <button class="button button--primary" type="submit" data-testid="save-label">"Save label"</button>
                    <button class="button" type="button" data-testid="backtest" disabled=move || backtest.pending().get()
                        on:click=move |_| {
                            #[cfg(feature = "hydrate")]
                            {
                                use wasm_bindgen::JsCast;
                                let form = leptos::prelude::document()
                                    .get_element_by_id("label-form")
                                    .and_then(|f| f.dyn_into::<web_sys::HtmlFormElement>().ok());
                                if let Some(form) = form {
                                    let data = web_sys::FormData::new_with_form(&form).ok();
                                    let get = |k: &str| data.as_ref().and_then(|d| d.get(k).as_string()).unwrap_or_default();
                                    let get = |k: &str| get(&format!("label[{k}]"));
                                    backtest.dispatch(BacktestLabel {
                                        label: LabelForm {
                                            name: get("name"),
                                            description: get("description"),
                                            kind: get("kind"),
                                            event: get("event"),
                                            property: get("property"),
                                            then: get("then"),
                                            count: get("count"),
                                            minutes: get("minutes"),
                                            field: get("field"),
                                            op: get("op"),
                                            value: get("value"),
                                            trigger: Some(get("trigger")).filter(|t| !t.is_empty()),
                                        },
                                    });
                                }
                            }
                        }>{move || if backtest.pending().get() { "Backtesting… (reading 7 days of events)" } else { "Backtest over 7 days" }}</button>
                </div>
            </ActionForm>
            {move || save.value().get().and_then(|r| r.ok()).map(|_| view! {
                <div class="notice notice--success" role="status">"Saved. The pipeline applies it to new events within 5 seconds."</div>
            })}
            {move || backtest.value().get().and_then(|r| r.ok()).map(|b| view! {
                <div class="notice" role="status" data-testid="backtest-result">
                    {format!(
                        "Over the last 7 days ({} events, {} profiles): set on {} profile(s); {} would carry it now.{}",
                        b.events, b.profiles, b.ever_set, b.carrying_now,
                        if b.truncated { " Stopped at 2,000,000 events." } else { "" }
                    )}
                </div>
            })}
            {move || error.get().filter(|e| !matches!(e, UiError::Invalid(_))).map(|e| view! { <div class="notice notice--error">{e.to_string()}</div> })}
        </section>
    }
}
