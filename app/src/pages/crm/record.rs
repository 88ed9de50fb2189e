//! Record pages: fields, related records in tabs, timeline and audit history; customers and
//! leads are edited in place, leads convert through a wizard, activities are logged inline.

use super::api::*;
use super::model::*;
use super::table::{CellView, SimpleTable};
use crate::components::shell::use_viewer;
use crate::components::ui::{ErrorNotice, FieldError, LoadError, LocalTime};
use crate::UiError;
use domain::crm::{
    ActivityKind, Consent, Customer, CustomerInput, Lead, LeadConversion, LeadInput, LeadSource,
    LeadStatus, LifecycleStage, RecordKind,
};
use domain::Role;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use uuid::Uuid;

/// The page of one record of `kind`, at `/crm/<kind>/:id`.
#[component]
pub fn RecordPage(kind: RecordKind) -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<Uuid>().ok()));
    let refresh = RwSignal::new(0u32);
    // Lives above the record body so that a refresh (after an edit, a logged activity or an undo)
    // keeps the tab the user chose; it is keyed by record so another record opens on its default.
    let tab = RwSignal::new(None::<(Uuid, usize)>);
    let record = Resource::new(
        move || (id(), refresh.get()),
        move |(id, _)| async move {
            match id {
                Some(id) => crm_record(kind, id).await,
                None => Err(UiError::NotFound(
                    "That address does not name a record.".into(),
                )),
            }
        },
    );
    view! {
        <Title text=kind.label() />
        <Transition fallback=|| view! { <div class="loading" aria-busy="true">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match record.await {
                    Ok(r) => view! { <RecordBody record=r refresh=refresh tab=tab /> }.into_any(),
                    Err(e) => view! {
                        <div class="notice notice--error" role="alert">{e.to_string()}</div>
                        <A href=list_href(kind) attr:class="button">{format!("Back to {}", kind.collection().replace('-', " "))}</A>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RecordBody(
    record: RecordView,
    refresh: RwSignal<u32>,
    tab: RwSignal<Option<(Uuid, usize)>>,
) -> impl IntoView {
    let kind = record.kind;
    let id = record.id;
    let delete = ServerAction::<CrmDelete>::new();
    let restore = ServerAction::<CrmRestore>::new();
    let trashed = Signal::derive(move || {
        // Deleted since the last restore: the newest of the two actions decides.
        matches!(delete.value().get(), Some(Ok(())))
            && delete.version().get() > restore.version().get()
    });
    let trash_error = Signal::derive(move || {
        delete
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| restore.value().get().and_then(|r| r.err()))
    });
    Effect::new(move |prev: Option<usize>| {
        let v = restore.version().get();
        if prev.is_some_and(|p| p != v) && matches!(restore.value().get_untracked(), Some(Ok(()))) {
            refresh.update(|n| *n += 1);
        }
        v
    });
    let can_delete = record.can_edit;
    let label = kind.label().to_lowercase();
    view! {
        <ErrorNotice error=trash_error />
        <Show
            when=move || !trashed.get()
            fallback=move || {
                let label = label.clone();
                view! {
                    <div class="notice notice--success trash" role="status" data-testid="trashed">
                        {format!("This {label} is in the trash. ")}
                        <button class="button button--small" data-testid="undo-delete" on:click=move |_| { restore.dispatch(CrmRestore { kind, id }); }>"Undo"</button>
                        " "
                        <A href=list_href(kind)>"Back to the list"</A>
                    </div>
                }
            }
        >
            <RecordMain record=record.clone() refresh=refresh delete=delete can_delete=can_delete chosen_tab=tab />
        </Show>
    }
}

#[component]
fn RecordMain(
    record: RecordView,
    refresh: RwSignal<u32>,
    delete: ServerAction<CrmDelete>,
    can_delete: bool,
    chosen_tab: RwSignal<Option<(Uuid, usize)>>,
) -> impl IntoView {
    let kind = record.kind;
    let editing = RwSignal::new(false);
    let converting = RwSignal::new(false);
    let default_tab = if record.timeline.is_empty() {
        0usize
    } else {
        usize::MAX
    };
    let record_id = record.id;
    let tab = Signal::derive(move || match chosen_tab.get() {
        Some((id, t)) if id == record_id => t,
        _ => default_tab,
    });
    let select = move |t: usize| chosen_tab.set(Some((record_id, t)));
    let on_saved = Callback::new(move |_: ()| {
        editing.set(false);
        refresh.update(|n| *n += 1);
    });
    let tabs: Vec<String> = record.related.iter().map(|r| r.title.clone()).collect();
    let related = record.related.clone();
    let history = record.history.clone();
    let timeline = record.timeline.clone();
    let has_timeline = !timeline.is_empty();
    let can_convert = kind == RecordKind::Lead
        && record.can_edit
        && !record
            .badges
            .iter()
            .any(|(b, _)| b == LeadStatus::Converted.label() || b == LeadStatus::Lost.label());
    let id = record.id;
    let converted = kind == RecordKind::Lead
        && record
            .badges
            .iter()
            .any(|(b, _)| b == LeadStatus::Converted.label());
    view! {
        <div class="page-header">
            <div>
                <nav class="breadcrumbs">
                    <A href="/crm">"CRM"</A>" / "
                    <A href=list_href(kind)>{kind.collection().replace('-', " ")}</A>" / "
                </nav>
                <h1 data-testid="record-title">
                    {record.title.clone()}
                    {record.badges.iter().map(|(b, t)| view! { <span class=t.class()>{b.clone()}</span> }).collect_view()}
                </h1>
                <p class="muted">{record.subtitle.clone()}</p>
            </div>
            <div class="page-header__actions">
                {(record.can_edit && matches!(kind, RecordKind::Customer | RecordKind::Lead) && !converted)
                    .then(|| view! {
                        <button class="button" data-testid="edit-record" on:click=move |_| editing.update(|e| *e = !*e)>
                            {move || if editing.get() { "Cancel edit" } else { "Edit" }}
                        </button>
                    })}
                {(kind == RecordKind::Customer).then(|| view! {
                    <A href=format!("/profiles/crm:{id}") attr:class="button" attr:data-testid="open-profile">"360 profile"</A>
                })}
                {can_delete.then(|| view! {
                    <button class="button button--ghost" data-testid="delete-record" on:click=move |_| { delete.dispatch(CrmDelete { kind, id }); }>"Delete"</button>
                })}
                {can_convert.then(|| view! {
                    <button class="button button--primary" data-testid="convert-lead" on:click=move |_| converting.update(|c| *c = !*c)>
                        "Convert…"
                    </button>
                })}
            </div>
        </div>
        <Show when=move || editing.get()>
            {move || match kind {
                RecordKind::Customer => view! { <CustomerForm id=Some(id) on_saved=on_saved /> }.into_any(),
                _ => view! { <LeadForm id=Some(id) on_saved=on_saved /> }.into_any(),
            }}
        </Show>
        <Show when=move || converting.get()>
            <ConvertWizard id=id on_cancel=Callback::new(move |_| converting.set(false)) />
        </Show>
        <div class="record-grid">
            <section class="panel">
                <h2>"Details"</h2>
                <dl class="fields">
                    {record
                        .fields
                        .iter()
                        .cloned()
                        .map(|(label, cell)| view! { <dt>{label}</dt><dd><CellView cell=cell /></dd> })
                        .collect_view()}
                </dl>
                {(kind == RecordKind::Customer && record.can_edit).then(|| view! { <QuickLog customer_id=id on_logged=Callback::new(move |_| refresh.update(|n| *n += 1)) /> })}
            </section>
            <section class="panel panel--wide">
                <div class="tabs" role="tablist">
                    {has_timeline.then(|| view! {
                        <button role="tab" class="tab" aria-selected=move || (tab.get() == usize::MAX).to_string() on:click=move |_| select(usize::MAX)>"Timeline"</button>
                    })}
                    {tabs
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let testid = format!("tab-{}", t.to_lowercase().replace(' ', "-"));
                            view! {
                                <button role="tab" class="tab" data-testid=testid aria-selected=move || (tab.get() == i).to_string() on:click=move |_| select(i)>{t}</button>
                            }
                        })
                        .collect_view()}
                    <button role="tab" class="tab" data-testid="tab-history" aria-selected=move || (tab.get() == usize::MAX - 1).to_string() on:click=move |_| select(usize::MAX - 1)>"History"</button>
                </div>
                {move || {
                    let t = tab.get();
                    if t == usize::MAX {
                        view! { <Timeline items=timeline.clone() /> }.into_any()
                    } else if t == usize::MAX - 1 {
                        view! { <History entries=history.clone() /> }.into_any()
                    } else {
                        match related.get(t).cloned() {
                            Some(r) => view! { <Related list=r /> }.into_any(),
                            None => view! { <History entries=history.clone() /> }.into_any(),
                        }
                    }
                }}
            </section>
        </div>
    }
}

#[component]
fn Related(list: RelatedList) -> impl IntoView {
    if list.rows.is_empty() {
        return view! { <p class="muted tab-empty">{list.empty}</p> }.into_any();
    }
    view! {
        <SimpleTable columns=list.columns rows=list.rows />
        {list.more_href.map(|h| view! { <p><A href=h>"Open the full list →"</A></p> })}
    }
    .into_any()
}

#[component]
fn Timeline(items: Vec<TimelineItem>) -> impl IntoView {
    view! {
        <ol class="timeline" data-testid="timeline">
            {items
                .into_iter()
                .map(|i| view! {
                    <li class=format!("timeline__item timeline__item--{}", i.kind)>
                        <div class="timeline__when"><LocalTime utc=i.at /></div>
                        <div class="timeline__what">
                            {match i.href {
                                Some(h) => view! { <A href=h>{i.title}</A> }.into_any(),
                                None => view! { <strong>{i.title}</strong> }.into_any(),
                            }}
                            <div class="muted">{i.detail}</div>
                        </div>
                    </li>
                })
                .collect_view()}
        </ol>
    }
}

#[component]
fn History(entries: Vec<HistoryEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted tab-empty">"No recorded changes (records generated as demo data have no history)."</p> }.into_any();
    }
    view! {
        <ol class="history" data-testid="history">
            {entries
                .into_iter()
                .map(|e| view! {
                    <li class="history__entry">
                        <div class="history__head">
                            <strong>{e.actor}</strong>
                            <span class="badge">{e.action}</span>
                            <span class="muted"><LocalTime utc=e.at /></span>
                        </div>
                        {(!e.changes.is_empty()).then(|| view! {
                            <table class="table table--compact">
                                <tbody>
                                    {e.changes
                                        .into_iter()
                                        .map(|c| view! {
                                            <tr><td class="history__field">{c.field}</td><td class="history__before">{c.before}</td><td>"→"</td><td class="history__after">{c.after}</td></tr>
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        })}
                    </li>
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}

#[component]
fn QuickLog(customer_id: Uuid, on_logged: Callback<()>) -> impl IntoView {
    let log = ServerAction::<CrmLogActivity>::new();
    let kind = RwSignal::new(ActivityKind::Call);
    let subject = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let error = Signal::derive(move || log.value().get().and_then(|r| r.err()));
    Effect::new(move |prev: Option<usize>| {
        let v = log.version().get();
        if prev.is_some_and(|p| p != v) && matches!(log.value().get_untracked(), Some(Ok(()))) {
            subject.set(String::new());
            body.set(String::new());
            on_logged.run(());
        }
        v
    });
    view! {
        <form class="quick-log" data-testid="quick-log" on:submit=move |ev| {
            ev.prevent_default();
            log.dispatch(CrmLogActivity { customer_id, kind: kind.get_untracked(), subject: subject.get_untracked(), body: body.get_untracked() });
        }>
            <h3>"Log activity"</h3>
            <div class="segmented" role="radiogroup" aria-label="Kind">
                {[ActivityKind::Call, ActivityKind::Meeting, ActivityKind::Email, ActivityKind::Note, ActivityKind::Task]
                    .into_iter()
                    .map(|k| view! {
                        <button type="button" role="radio" class="segmented__item" aria-checked=move || (kind.get() == k).to_string() on:click=move |_| kind.set(k)>{k.label()}</button>
                    })
                    .collect_view()}
            </div>
            <label class="field">
                <span class="field__label">"Subject"</span>
                <input name="subject" required bind:value=subject placeholder=move || if kind.get() == ActivityKind::Task { "What needs doing (due today)" } else { "What happened" } />
            </label>
            <FieldError error name="subject" />
            <label class="field">
                <span class="field__label">"Notes"</span>
                <textarea name="body" rows="2" bind:value=body></textarea>
            </label>
            <ErrorNotice error=error />
            <button class="button button--primary button--small" type="submit" disabled=move || log.pending().get()>
                {move || if log.pending().get() { "Saving…" } else { "Log it" }}
            </button>
        </form>
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', '\n'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// The first message of a field or of any of its indexed parts (`emails[2]`).
fn field_error(err: &Option<UiError>, name: &str) -> Option<String> {
    match err {
        Some(UiError::Invalid(f)) => {
            f.0.iter()
                .find(|(k, _)| *k == name || k.starts_with(&format!("{name}[")))
                .map(|(_, v)| v.clone())
        }
        _ => None,
    }
}

#[component]
fn FieldMsg(error: Signal<Option<UiError>>, name: &'static str) -> impl IntoView {
    move || {
        field_error(&error.get(), name)
            .map(|m| view! { <p class="field__error" role="alert">{m}</p> })
    }
}

/// Create or edit a customer.
#[component]
pub fn CustomerForm(id: Option<Uuid>, on_saved: Callback<()>) -> impl IntoView {
    let save = ServerAction::<CrmSaveCustomer>::new();
    let owners = Resource::new(|| (), |_| crm_owners());
    let existing = Resource::new(
        move || id,
        |id| async move {
            match id {
                Some(id) => crm_customer(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let viewer = use_viewer();
    let navigate = use_navigate();
    let error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    Effect::new(move |prev: Option<usize>| {
        let v = save.version().get();
        if prev.is_some_and(|p| p != v) {
            if let Some(Ok(c)) = save.value().get_untracked() {
                if id.is_none() {
                    navigate(&record_href(RecordKind::Customer, c.id), Default::default());
                }
                on_saved.run(());
            }
        }
        v
    });
    view! {
        <Suspense fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                let existing: Option<Customer> = existing.await.ok().flatten();
                let owners = owners.await.unwrap_or_default();
                let role = viewer.await.map(|v| v.role).ok();
                let can_reassign = matches!(role, Some(Role::Admin | Role::Manager));
                let version = existing.as_ref().map(|c| c.version);
                let c = existing.clone();
                let first = RwSignal::new(c.as_ref().map(|c| c.first_name.clone()).unwrap_or_default());
                let last = RwSignal::new(c.as_ref().map(|c| c.last_name.clone()).unwrap_or_default());
                let emails = RwSignal::new(c.as_ref().map(|c| c.emails.join(", ")).unwrap_or_default());
                let phones = RwSignal::new(c.as_ref().map(|c| c.phones.join(", ")).unwrap_or_default());
                let tz = RwSignal::new(c.as_ref().and_then(|c| c.time_zone.clone()).unwrap_or_default());
                let stage = RwSignal::new(c.as_ref().map(|c| c.lifecycle_stage).unwrap_or(LifecycleStage::Customer).as_str().to_string());
                let owner = RwSignal::new(c.as_ref().and_then(|c| c.owner_id).map(|o| o.to_string()).unwrap_or_default());
                let ce = RwSignal::new(c.as_ref().map(|c| c.consent.email).unwrap_or(false));
                let cs = RwSignal::new(c.as_ref().map(|c| c.consent.sms).unwrap_or(false));
                let external_ids = c.as_ref().map(|c| c.external_ids.clone()).unwrap_or_default();
                let account_id = c.as_ref().and_then(|c| c.account_id);
                let consent_phone = c.as_ref().map(|c| c.consent.phone).unwrap_or(false);
                let consent_push = c.as_ref().map(|c| c.consent.push).unwrap_or(false);
                let locale = c.as_ref().and_then(|c| c.locale.clone());
                let submit = move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    let input = CustomerInput {
                        account_id,
                        first_name: first.get_untracked(),
                        last_name: last.get_untracked(),
                        emails: split_list(&emails.get_untracked()),
                        phones: split_list(&phones.get_untracked()),
                        external_ids: external_ids.clone(),
                        time_zone: Some(tz.get_untracked()).filter(|s| !s.trim().is_empty()),
                        locale: locale.clone(),
                        lifecycle_stage: stage.get_untracked().parse().unwrap_or(LifecycleStage::Customer),
                        consent: Consent { email: ce.get_untracked(), sms: cs.get_untracked(), phone: consent_phone, push: consent_push },
                        owner_id: owner.get_untracked().parse().ok(),
                    };
                    save.dispatch(CrmSaveCustomer { id, version, input });
                };
                view! {
                    <form class="panel form form--grid" data-testid="customer-form" on:submit=submit>
                        <label class="field">
                            <span class="field__label">"First name"</span>
                            <input name="first_name" bind:value=first autocomplete="off" />
                            <FieldMsg error=error name="first_name" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Last name"</span>
                            <input name="last_name" bind:value=last autocomplete="off" />
                            <FieldMsg error=error name="last_name" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Emails (comma-separated)"</span>
                            <input name="emails" bind:value=emails autocomplete="off" />
                            <FieldMsg error=error name="emails" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Phones, with country code"</span>
                            <input name="phones" bind:value=phones placeholder="+44 20 7946 0958" autocomplete="off" />
                            <FieldMsg error=error name="phones" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Time zone"</span>
                            <input name="time_zone" bind:value=tz placeholder="Europe/Berlin" />
                            <FieldMsg error=error name="time_zone" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Stage"</span>
                            <select name="lifecycle_stage" bind:value=stage>
                                {LifecycleStage::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label class="field">
                            <span class="field__label">"Owner"</span>
                            <select name="owner_id" bind:value=owner disabled=!can_reassign && id.is_some()>
                                <option value="">"Me (default) / nobody"</option>
                                {owners.into_iter().map(|o| view! { <option value=o.id.to_string()>{o.name}</option> }).collect_view()}
                            </select>
                            <FieldMsg error=error name="owner_id" />
                        </label>
                        <fieldset class="field checks">
                            <legend class="field__label">"Marketing consent"</legend>
                            <label><input type="checkbox" bind:checked=ce />" Email"</label>
                            <label><input type="checkbox" bind:checked=cs />" SMS"</label>
                        </fieldset>
                        <div class="form__actions">
                            <ErrorNotice error=error />
                            <button class="button button--primary" type="submit" data-testid="save-customer" disabled=move || save.pending().get()>
                                {move || if save.pending().get() { "Saving…" } else if id.is_some() { "Save changes" } else { "Create customer" }}
                            </button>
                        </div>
                    </form>
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// Create or edit a lead.
#[component]
pub fn LeadForm(id: Option<Uuid>, on_saved: Callback<()>) -> impl IntoView {
    let save = ServerAction::<CrmSaveLead>::new();
    let existing = Resource::new(
        move || id,
        |id| async move {
            match id {
                Some(id) => crm_lead(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let navigate = use_navigate();
    let error = Signal::derive(move || save.value().get().and_then(|r| r.err()));
    Effect::new(move |prev: Option<usize>| {
        let v = save.version().get();
        if prev.is_some_and(|p| p != v) {
            if let Some(Ok(l)) = save.value().get_untracked() {
                if id.is_none() {
                    navigate(&record_href(RecordKind::Lead, l.id), Default::default());
                }
                on_saved.run(());
            }
        }
        v
    });
    view! {
        <Suspense fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                let l: Option<Lead> = existing.await.ok().flatten();
                let version = l.as_ref().map(|l| l.version);
                let first = RwSignal::new(l.as_ref().map(|l| l.first_name.clone()).unwrap_or_default());
                let last = RwSignal::new(l.as_ref().map(|l| l.last_name.clone()).unwrap_or_default());
                let email = RwSignal::new(l.as_ref().and_then(|l| l.email.clone()).unwrap_or_default());
                let phone = RwSignal::new(l.as_ref().and_then(|l| l.phone.clone()).unwrap_or_default());
                let company = RwSignal::new(l.as_ref().and_then(|l| l.company_name.clone()).unwrap_or_default());
                let status = RwSignal::new(l.as_ref().map(|l| l.status).unwrap_or(LeadStatus::New).as_str().to_string());
                let source = RwSignal::new(l.as_ref().map(|l| l.source).unwrap_or(LeadSource::Other).as_str().to_string());
                let lost = RwSignal::new(l.as_ref().and_then(|l| l.lost_reason.clone()).unwrap_or_default());
                let keep = l.clone();
                let submit = move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    let opt = |s: String| Some(s).filter(|s| !s.trim().is_empty());
                    let input = LeadInput {
                        first_name: first.get_untracked(),
                        last_name: last.get_untracked(),
                        email: opt(email.get_untracked()),
                        phone: opt(phone.get_untracked()),
                        company_name: opt(company.get_untracked()),
                        title: keep.as_ref().and_then(|l| l.title.clone()),
                        source: source.get_untracked().parse().unwrap_or(LeadSource::Other),
                        status: status.get_untracked().parse().unwrap_or(LeadStatus::New),
                        lost_reason: opt(lost.get_untracked()),
                        estimated_value_minor: keep.as_ref().and_then(|l| l.estimated_value_minor),
                        currency: keep.as_ref().map(|l| l.currency.clone()).unwrap_or_else(|| "USD".into()),
                        owner_id: keep.as_ref().and_then(|l| l.owner_id),
                    };
                    save.dispatch(CrmSaveLead { id, version, input });
                };
                view! {
                    <form class="panel form form--grid" data-testid="lead-form" on:submit=submit>
                        <label class="field"><span class="field__label">"First name"</span><input name="first_name" bind:value=first /><FieldMsg error=error name="first_name" /></label>
                        <label class="field"><span class="field__label">"Last name"</span><input name="last_name" bind:value=last /></label>
                        <label class="field"><span class="field__label">"Email"</span><input name="email" bind:value=email /><FieldMsg error=error name="email" /></label>
                        <label class="field"><span class="field__label">"Phone"</span><input name="phone" bind:value=phone /><FieldMsg error=error name="phone" /></label>
                        <label class="field"><span class="field__label">"Company"</span><input name="company_name" bind:value=company /></label>
                        <label class="field">
                            <span class="field__label">"Status"</span>
                            <select name="status" bind:value=status>
                                {LeadStatus::ALL.iter().filter(|s| **s != LeadStatus::Converted).map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                            </select>
                            <FieldMsg error=error name="status" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Source"</span>
                            <select name="source" bind:value=source>
                                {LeadSource::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                            </select>
                        </label>
                        <Show when=move || status.get() == "lost">
                            <label class="field"><span class="field__label">"Why was it lost?"</span><input name="lost_reason" bind:value=lost /></label>
                        </Show>
                        <div class="form__actions">
                            <ErrorNotice error=error />
                            <button class="button button--primary" type="submit" data-testid="save-lead" disabled=move || save.pending().get()>
                                {move || if save.pending().get() { "Saving…" } else if id.is_some() { "Save changes" } else { "Create lead" }}
                            </button>
                        </div>
                    </form>
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// Customer choice in the conversion wizard.
#[derive(Clone, Copy, PartialEq)]
enum CustomerChoice {
    New,
    Existing(Uuid),
}

/// The lead conversion wizard: customer, account, review.
#[component]
fn ConvertWizard(id: Uuid, on_cancel: Callback<()>) -> impl IntoView {
    let options = Resource::new(move || id, crm_conversion_options);
    let convert = ServerAction::<CrmConvertLead>::new();
    let navigate = use_navigate();
    let error = Signal::derive(move || convert.value().get().and_then(|r| r.err()));
    Effect::new(move |prev: Option<usize>| {
        let v = convert.version().get();
        if prev.is_some_and(|p| p != v) {
            if let Some(Ok(res)) = convert.value().get_untracked() {
                navigate(
                    &record_href(RecordKind::Customer, res.customer_id),
                    Default::default(),
                );
            }
        }
        v
    });
    view! {
        <section class="panel wizard" data-testid="convert-wizard">
            <Suspense fallback=|| view! { <div class="loading">"Checking for existing customers and accounts…"</div> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                        Ok(o) => {
                            let step = RwSignal::new(1u8);
                            let first_match = o.matching_customers.first().map(|m| m.0);
                            let customer = RwSignal::new(first_match.map(CustomerChoice::Existing).unwrap_or(CustomerChoice::New));
                            let with_account = RwSignal::new(o.lead.company_name.is_some());
                            let company = o.lead.company_name.clone();
                            let account_note = match (&o.matching_account, &company) {
                                (Some((_, n)), _) => format!("Link to the existing account “{n}”"),
                                (None, Some(c)) => format!("Create the account “{c}”"),
                                (None, None) => "The lead has no company".to_string(),
                            };
                            let version = o.lead.version;
                            let matches = o.matching_customers.clone();
                            let name = o.lead.display_name();
                            view! {
                                <ol class="wizard__steps">
                                    <li class:active=move || step.get() == 1>"1. Customer"</li>
                                    <li class:active=move || step.get() == 2>"2. Account"</li>
                                    <li class:active=move || step.get() == 3>"3. Review"</li>
                                </ol>
                                <Show when=move || step.get() == 1>
                                    <fieldset class="choices">
                                        <legend>"Who does this lead become?"</legend>
                                        {matches
                                            .iter()
                                            .cloned()
                                            .map(|(cid, label)| view! {
                                                <label><input type="radio" name="customer" checked=move || customer.get() == CustomerChoice::Existing(cid) on:change=move |_| customer.set(CustomerChoice::Existing(cid)) />" Existing customer: " {label}</label>
                                            })
                                            .collect_view()}
                                        <label><input type="radio" name="customer" data-testid="new-customer" checked=move || customer.get() == CustomerChoice::New on:change=move |_| customer.set(CustomerChoice::New) />{format!(" A new customer from “{name}”")}</label>
                                    </fieldset>
                                    <button class="button button--primary" data-testid="wizard-next" on:click=move |_| step.set(2)>"Next"</button>
                                </Show>
                                <Show when=move || step.get() == 2>
                                    <fieldset class="choices">
                                        <legend>"Which company?"</legend>
                                        <label><input type="checkbox" data-testid="with-account" prop:checked=move || with_account.get() on:change=move |ev| with_account.set(event_target_checked(&ev)) disabled=company.is_none() />" " {account_note.clone()}</label>
                                    </fieldset>
                                    <button class="button" on:click=move |_| step.set(1)>"Back"</button>
                                    " "
                                    <button class="button button--primary" data-testid="wizard-next" on:click=move |_| step.set(3)>"Next"</button>
                                </Show>
                                <Show when=move || step.get() == 3>
                                    <p>
                                        {move || match customer.get() {
                                            CustomerChoice::New => "A new customer will be created".to_string(),
                                            CustomerChoice::Existing(_) => "The lead will be linked to the existing customer".to_string(),
                                        }}
                                        {move || if with_account.get() { ", with its company account." } else { ", without an account." }}
                                        " The lead is then marked converted."
                                    </p>
                                    <ErrorNotice error=error />
                                    {move || error.get().and_then(|e| match e { UiError::Invalid(f) => Some(f.to_string()), _ => None }).map(|m| view! { <p class="field__error">{m}</p> })}
                                    <button class="button" on:click=move |_| step.set(2)>"Back"</button>
                                    " "
                                    <button class="button button--primary" data-testid="wizard-convert" disabled=move || convert.pending().get() on:click=move |_| {
                                        let customer_id = match customer.get_untracked() { CustomerChoice::Existing(c) => Some(c), CustomerChoice::New => None };
                                        convert.dispatch(CrmConvertLead { id, conversion: LeadConversion { customer_id, account_id: None, create_account: with_account.get_untracked(), version } });
                                    }>
                                        {move || if convert.pending().get() { "Converting…" } else { "Convert lead" }}
                                    </button>
                                </Show>
                                " "
                                <button class="button button--ghost" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                            }
                            .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// `/crm/customers/new`.
#[component]
pub fn NewCustomerPage() -> impl IntoView {
    view! {
        <Title text="New customer" />
        <div class="page-header"><div><nav class="breadcrumbs"><A href="/crm">"CRM"</A>" / "<A href="/crm/customers">"customers"</A>" / "</nav><h1 data-testid="page-title">"New customer"</h1></div></div>
        <CustomerForm id=None on_saved=Callback::new(|_| ()) />
    }
}

/// `/crm/leads/new`.
#[component]
pub fn NewLeadPage() -> impl IntoView {
    view! {
        <Title text="New lead" />
        <div class="page-header"><div><nav class="breadcrumbs"><A href="/crm">"CRM"</A>" / "<A href="/crm/leads">"leads"</A>" / "</nav><h1 data-testid="page-title">"New lead"</h1></div></div>
        <LeadForm id=None on_saved=Callback::new(|_| ()) />
    }
}
