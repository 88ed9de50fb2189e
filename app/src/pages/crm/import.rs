//! `/crm/import`: the CSV import wizard — upload, map columns with a preview, dry run with a
//! report of every bad row and duplicate, then the import with a progress bar.

use crate::components::ui::ErrorNotice;
use crate::UiError;
use domain::import::{DuplicateMode, ImportKind, ImportReport, ImportStatus};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_meta::Title;
use leptos_router::components::A;
use uuid::Uuid;

/// Stores an uploaded CSV file.
#[server(endpoint = "crm_import_upload", input = Json)]
pub async fn crm_import_upload(
    kind: ImportKind,
    filename: String,
    text: String,
) -> Result<ImportReport, UiError> {
    let m = crate::session::require(domain::Area::Crm, domain::Need::Change).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok(crm::import::upload(&mut c, &actor, kind, &filename, &text).await?)
}

/// Applies a mapping and runs the dry run.
#[server(endpoint = "crm_import_validate", input = Json)]
pub async fn crm_import_validate(
    id: Uuid,
    mapping: Vec<Option<String>>,
    duplicate_mode: DuplicateMode,
) -> Result<ImportReport, UiError> {
    let m = crate::session::require(domain::Area::Crm, domain::Need::Change).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok(crm::import::validate(&mut c, &actor, id, mapping, duplicate_mode).await?)
}

/// Starts the import.
#[server(endpoint = "crm_import_start")]
pub async fn crm_import_start(id: Uuid) -> Result<ImportReport, UiError> {
    let m = crate::session::require(domain::Area::Crm, domain::Need::Change).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    Ok(crm::import::start(&ctx.pool, &actor, id).await?)
}

/// The state of an import (polled while it runs).
#[server(endpoint = "crm_import_report")]
pub async fn crm_import_report(id: Uuid) -> Result<ImportReport, UiError> {
    let m = crate::session::require(domain::Area::Crm, domain::Need::Read).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok(crm::import::report(&mut c, &actor, id).await?)
}

/// The import wizard.
#[component]
pub fn ImportPage() -> impl IntoView {
    let kind = RwSignal::new(ImportKind::Customers);
    let report: RwSignal<Option<ImportReport>> = RwSignal::new(None);
    let upload = ServerAction::<CrmImportUpload>::new();
    let validate = ServerAction::<CrmImportValidate>::new();
    let start = ServerAction::<CrmImportStart>::new();
    let reading = RwSignal::new(false);
    let read_error: RwSignal<Option<UiError>> = RwSignal::new(None);
    // Every action's answer replaces the report the wizard shows.
    let answers: [Signal<Option<Result<ImportReport, UiError>>>; 3] = [
        upload.value().into(),
        validate.value().into(),
        start.value().into(),
    ];
    for action in answers {
        Effect::new(move |_| {
            if let Some(Ok(r)) = action.get() {
                report.set(Some(r));
            }
        });
    }
    let error = Signal::derive(move || {
        read_error
            .get()
            .or_else(|| upload.value().get().and_then(|r| r.err()))
            .or_else(|| validate.value().get().and_then(|r| r.err()))
            .or_else(|| start.value().get().and_then(|r| r.err()))
    });

    // Poll while the import runs.
    #[cfg(feature = "hydrate")]
    {
        use std::time::Duration;
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if let Some(r) = report.get_untracked() {
                    if r.status == ImportStatus::Running {
                        leptos::task::spawn_local(async move {
                            if let Ok(next) = crm_import_report(r.id).await {
                                report.set(Some(next));
                            }
                        });
                    }
                }
            },
            Duration::from_millis(700),
        ) {
            on_cleanup(move || handle.clear());
        }
    }

    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast;
            let input: leptos::web_sys::HtmlInputElement =
                ev.target().expect("input event target").unchecked_into();
            if let Some(file) = input.files().and_then(|f| f.get(0)) {
                reading.set(true);
                read_error.set(None);
                let name = file.name();
                leptos::task::spawn_local(async move {
                    let text = wasm_bindgen_futures::JsFuture::from(file.text()).await;
                    reading.set(false);
                    match text.ok().and_then(|t| t.as_string()) {
                        Some(text) => {
                            upload.dispatch(CrmImportUpload {
                                kind: kind.get_untracked(),
                                filename: name,
                                text,
                            });
                        }
                        None => read_error.set(Some(UiError::Request(
                            "The file could not be read as text (is it a CSV file?).".into(),
                        ))),
                    }
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    view! {
        <Title text="Import" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/crm">"CRM"</A>" / "</nav>
                <h1 data-testid="page-title">"Import from CSV"</h1>
                <p class="muted">"Upload a file, map its columns, check it with a dry run, then import. Every row gets an outcome; nothing is dropped silently."</p>
            </div>
        </div>
        <ErrorNotice error=error />
        {move || match report.get() {
            None => view! {
                <section class="panel import-start">
                    <label class="field">
                        <span class="field__label">"What does the file hold?"</span>
                        <select data-testid="import-kind" on:change=move |ev| { if let Ok(k) = event_target_value(&ev).parse() { kind.set(k) } }>
                            {ImportKind::ALL.iter().map(|k| view! { <option value=k.as_str() selected=move || kind.get() == *k>{k.label()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="field">
                        <span class="field__label">"CSV file (UTF-8, first row = column names, up to 100,000 rows)"</span>
                        <input type="file" accept=".csv,text/csv" data-testid="import-file" on:change=on_file />
                    </label>
                    <Show when=move || reading.get() || upload.pending().get()>
                        <div class="loading" aria-busy="true">"Reading the file…"</div>
                    </Show>
                </section>
            }
            .into_any(),
            Some(r) => view! { <ImportSteps report=r validate=validate start=start on_restart=Callback::new(move |_| report.set(None)) /> }.into_any(),
        }}
    }
}

#[component]
fn ImportSteps(
    report: ImportReport,
    validate: ServerAction<CrmImportValidate>,
    start: ServerAction<CrmImportStart>,
    on_restart: Callback<()>,
) -> impl IntoView {
    let id = report.id;
    let fields = report.kind.fields();
    let mapping: Vec<RwSignal<String>> = report
        .mapping
        .iter()
        .map(|m| RwSignal::new(m.clone().unwrap_or_default()))
        .collect();
    let mode = RwSignal::new(report.duplicate_mode);
    let status = report.status;
    let valid = report.to_create + report.duplicates;
    let mapping_for_submit = mapping.clone();
    let check = move |_| {
        let m: Vec<Option<String>> = mapping_for_submit
            .iter()
            .map(|s| Some(s.get_untracked()).filter(|v| !v.is_empty()))
            .collect();
        validate.dispatch(CrmImportValidate {
            id,
            mapping: m,
            duplicate_mode: mode.get_untracked(),
        });
    };
    let pct = if report.total_rows > 0 {
        report.processed * 100 / report.total_rows
    } else {
        0
    };
    let mapping_error = move || {
        validate
            .value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| match e {
                UiError::Invalid(f) => Some(f.0.values().cloned().collect::<Vec<_>>().join(" ")),
                _ => None,
            })
    };
    view! {
        <section class="panel" data-testid="import-mapping">
            <div class="import-head">
                <h2>{format!("{} · {} rows · {}", report.filename, report.total_rows, report.kind.label())}</h2>
                <button class="button button--ghost button--small" on:click=move |_| on_restart.run(())>"Start over"</button>
            </div>
            <div class="table-wrap">
                <table class="table table--compact">
                    <thead><tr><th>"Column in the file"</th><th>"Sample values"</th><th>"Import as"</th></tr></thead>
                    <tbody>
                        {report
                            .headers
                            .iter()
                            .enumerate()
                            .map(|(i, h)| {
                                let sig = mapping[i];
                                let samples: Vec<String> = report.sample.iter().filter_map(|r| r.get(i).cloned()).filter(|s| !s.is_empty()).take(3).collect();
                                view! {
                                    <tr>
                                        <td><strong>{h.clone()}</strong></td>
                                        <td class="muted">{samples.join(" · ")}</td>
                                        <td>
                                            <select class="select--inline" data-testid=format!("map-{i}") prop:value=move || sig.get() on:change=move |ev| sig.set(event_target_value(&ev)) disabled=status == ImportStatus::Running || status == ImportStatus::Done>
                                                <option value="">"— ignore —"</option>
                                                {fields.iter().map(|f| view! { <option value=f.name selected=move || sig.get() == f.name>{f.label}{if f.required { " *" } else { "" }}</option> }).collect_view()}
                                            </select>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
            <fieldset class="choices">
                <legend>"Rows that match an existing record (same email, or same order number)"</legend>
                <label><input type="radio" name="dup" checked=move || mode.get() == DuplicateMode::Update on:change=move |_| mode.set(DuplicateMode::Update) />" Update the existing record"</label>
                <label><input type="radio" name="dup" checked=move || mode.get() == DuplicateMode::Skip on:change=move |_| mode.set(DuplicateMode::Skip) />" Leave it alone and report the row as skipped"</label>
            </fieldset>
            {move || mapping_error().map(|m| view! { <p class="field__error">{m}</p> })}
            <Show when=move || !matches!(status, ImportStatus::Running | ImportStatus::Done)>
                <button class="button button--primary" data-testid="import-check" disabled=move || validate.pending().get() on:click=check.clone()>
                    {move || if validate.pending().get() { "Checking every row…" } else { "Check the file (dry run)" }}
                </button>
            </Show>
        </section>
        {(status != ImportStatus::Uploaded).then(|| view! {
            <section class="panel" data-testid="import-report">
                <h2>{if status == ImportStatus::Validated { "Dry run" } else { "Import" }}</h2>
                <div class="stats">
                    <div class="stat"><span class="stat__value" data-testid="count-create">{report.to_create}</span><span class="stat__label">{if report.kind == ImportKind::Orders { "orders to create" } else { "rows to create" }}</span></div>
                    <div class="stat"><span class="stat__value" data-testid="count-duplicates">{report.duplicates}</span><span class="stat__label">"match existing records"</span></div>
                    <div class="stat stat--bad"><span class="stat__value" data-testid="count-invalid">{report.invalid}</span><span class="stat__label">{if report.kind == ImportKind::Orders { "orders with problems" } else { "rows with problems" }}</span></div>
                </div>
                {(!report.problems.is_empty()).then(|| view! {
                    <h3>"Problems (these rows will not be imported; they are recorded as failed)"</h3>
                    <div class="table-wrap">
                        <table class="table table--compact" data-testid="import-problems">
                            <thead><tr><th>"Row"</th><th>"Column"</th><th>"Problem"</th></tr></thead>
                            <tbody>
                                {report.problems.iter().map(|p| view! { <tr><td>{p.row}</td><td>{p.column.clone().unwrap_or_default()}</td><td>{p.message.clone()}</td></tr> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })}
                {(status == ImportStatus::Validated).then(|| view! {
                    <button class="button button--primary" data-testid="import-run" disabled=move || valid == 0 || start.pending().get() on:click=move |_| { start.dispatch(CrmImportStart { id }); }>
                        {format!("Import {valid} {}", if report.kind == ImportKind::Orders { "orders" } else { "rows" })}
                    </button>
                })}
                {matches!(status, ImportStatus::Running | ImportStatus::Done | ImportStatus::Failed).then(|| view! {
                    <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct>
                        <div class="progress__bar" style=format!("width: {pct}%")></div>
                    </div>
                    <p data-testid="import-progress">
                        {format!("{} of {} rows processed · {} created · {} updated · {} skipped · {} failed", report.processed, report.total_rows, report.created, report.updated, report.skipped, report.failed)}
                    </p>
                })}
                {(status == ImportStatus::Done).then(|| view! {
                    <p class="notice notice--success" data-testid="import-done">"Import finished. "<a href=format!("/api/v1/imports/{id}/rows.csv") rel="external" download>"Download every row with its outcome (CSV)"</a></p>
                })}
                {report.error.clone().map(|e| view! { <p class="notice notice--error">{format!("The import stopped: {e}")}</p> })}
            </section>
        })}
    }
}
