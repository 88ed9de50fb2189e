//! Profiles: search by any identifier or trait, and the 360 page — identities with merge
//! history, the CRM record, traits and rolling windows, labels with when and why, sessions and
//! a live timeline. Everything but the CRM record comes from the analytics store.

use crate::components::ui::{EmptyState, LocalTime};
use crate::UiError;
use domain::profiles::{Profile360, ProfileSearch, TimelineEvent};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

/// Rows per search page.
#[cfg(feature = "ssr")]
const PAGE_SIZE: u64 = 25;
/// Events the 360 page opens with.
#[cfg(feature = "ssr")]
const TIMELINE: usize = 50;

#[cfg(feature = "ssr")]
fn store_error(e: analytics::AnalyticsError) -> UiError {
    crate::session::internal(&format!("analytics store: {e}"))
}

/// A page of profiles matching `q` (any identifier, name or trait value) and `label`.
#[server(endpoint = "profiles_search")]
pub async fn profiles_search(
    q: String,
    label: String,
    page: u64,
) -> Result<ProfileSearch, UiError> {
    let crate::session::Member { viewer, ctx } =
        crate::session::require(domain::Area::Profiles, domain::Need::Read).await?;
    if q.chars().count() > 200 {
        let mut errors = domain::FieldErrors::default();
        errors.add("q", "Search for at most 200 characters.");
        return Err(UiError::Invalid(errors));
    }
    let query = analytics::ProfileQuery {
        text: q,
        label: Some(label.trim().to_string()).filter(|l| !l.is_empty()),
        offset: page.min(10_000) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let ws = viewer.workspace.id.to_string();
    let result = ctx
        .analytics
        .search(&ws, &query)
        .await
        .map_err(store_error)?;
    let labels = audiences::labels::names(&ctx.pool, &audiences::Member::of(&viewer)).await?;
    Ok(ProfileSearch {
        page: result,
        page_size: PAGE_SIZE,
        offset: query.offset,
        labels,
        engine: ctx.analytics.engine().to_string(),
    })
}

/// The 360 view of a profile, by profile id or by an identifier (`email:…`, `crm:<uuid>`).
#[server(endpoint = "profile_view")]
pub async fn profile_view(id: String) -> Result<Profile360, UiError> {
    use domain::profiles::CrmSummary;
    let member = crate::session::require(domain::Area::Profiles, domain::Need::Read).await?;
    let actor = member.actor();
    let crate::session::Member { viewer, ctx } = member;
    let ws = viewer.workspace.id.to_string();
    let id = id.trim().to_string();
    let mut detail = ctx
        .analytics
        .profile(&ws, &id, TIMELINE)
        .await
        .map_err(store_error)?;
    if detail.is_none() && id.contains(':') {
        if let Some(p) = ctx.analytics.resolve(&ws, &id).await.map_err(store_error)? {
            detail = ctx
                .analytics
                .profile(&ws, &p, TIMELINE)
                .await
                .map_err(store_error)?;
        }
    }
    let Some(detail) = detail else {
        crate::error::set_status(axum::http::StatusCode::NOT_FOUND);
        return Err(UiError::NotFound(
            "No profile has that id or identifier (yet: new events take a moment to arrive)."
                .into(),
        ));
    };
    let mut crm = None;
    let mut crm_note = None;
    if let Some(cid) = detail
        .identifiers
        .iter()
        .find(|i| i.kind == domain::IdKind::Crm)
        .and_then(|i| uuid::Uuid::parse_str(&i.value).ok())
    {
        let mut conn = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
        match crm::customers::get(&mut conn, &actor, cid).await {
            Ok(c) => {
                let owner = match c.owner_id {
                    Some(o) => crm::names::member(&mut conn, actor.workspace_id, o).await?,
                    None => None,
                };
                crm = Some(CrmSummary {
                    customer_id: c.id.to_string(),
                    name: c.display_name(),
                    lifecycle: c.lifecycle_stage.label().to_string(),
                    emails: c.emails,
                    phones: c.phones,
                    owner,
                });
            }
            Err(crm::CrmError::NotFound(_)) => {
                crm_note = Some("The CRM customer this profile was joined to is deleted.".into())
            }
            Err(crm::CrmError::Forbidden(_)) => {
                crm_note = Some("You cannot open this profile's CRM record.".into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Profile360 {
        detail,
        crm,
        crm_note,
    })
}

/// Events of a profile newer than `after` (ms), oldest first: the live timeline's poll.
#[server(endpoint = "profile_events_after")]
pub async fn profile_events_after(id: String, after: i64) -> Result<Vec<TimelineEvent>, UiError> {
    let crate::session::Member { viewer, ctx } =
        crate::session::require(domain::Area::Profiles, domain::Need::Read).await?;
    ctx.analytics
        .events_after(&viewer.workspace.id.to_string(), &id, after, 100)
        .await
        .map_err(store_error)
}

/// RFC 3339 text of an event time, for `LocalTime`.
fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn duration_text(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Profiles → search.
#[component]
pub fn ProfilesPage() -> impl IntoView {
    let query = use_query_map();
    let args = move || {
        query.with(|q| {
            (
                q.get("q").unwrap_or_default(),
                q.get("label").unwrap_or_default(),
                q.get("page")
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(0),
            )
        })
    };
    let results = Resource::new(args, |(q, label, page)| profiles_search(q, label, page));
    view! {
        <Title text="Profiles" />
        <div class="page-header">
            <div>
                <h1 data-testid="page-title">"Profiles"</h1>
                <p class="muted">"One profile per person: behaviour from your sites and apps joined with CRM records, live."</p>
            </div>
            <div class="page-header__actions"><A href="/profiles/labels" attr:class="button">"Labels"</A></div>
        </div>
        <Transition fallback=|| view! { <div class="loading" aria-busy="true">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match results.await {
                    Ok(r) => view! { <SearchBody result=r /> }.into_any(),
                    Err(e) => view! { <div class="notice notice--error" role="alert">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SearchBody(result: ProfileSearch) -> impl IntoView {
    let query = use_query_map();
    let params = query.get_untracked();
    let q = params.get("q").unwrap_or_default();
    let label = params.get("label").unwrap_or_default();
    let page = result.offset / result.page_size.max(1);
    let total = result.page.total;
    let shown = result.page.rows.len() as u64;
    let filtered = !q.is_empty() || !label.is_empty();
    let link = {
        let (q, label) = (q.clone(), label.clone());
        move |p: u64| {
            let mut parts = Vec::new();
            if !q.is_empty() {
                parts.push(format!("q={}", urlencode(&q)));
            }
            if !label.is_empty() {
                parts.push(format!("label={}", urlencode(&label)));
            }
            if p > 0 {
                parts.push(format!("page={p}"));
            }
            if parts.is_empty() {
                "/profiles".to_string()
            } else {
                format!("/profiles?{}", parts.join("&"))
            }
        }
    };
    let (prev, next) = (link(page.saturating_sub(1)), link(page + 1));
    let has_next = result.offset + shown < total;
    view! {
        <Form method="GET" action="/profiles" attr:class="toolbar">
            <label class="toolbar__search">
                <span class="visually-hidden">"Search profiles"</span>
                <input type="search" name="q" value=q.clone() data-testid="profile-search"
                    placeholder="Email, phone, user id, name or trait value" />
            </label>
            <label class="toolbar__filter">
                <span class="toolbar__label">"Label"</span>
                <select name="label" class="select--inline" onchange="this.form.requestSubmit()" data-testid="profile-label-filter">
                    <option value="" selected=label.is_empty()>"Any"</option>
                    {result.labels.iter().map(|l| view! { <option value=l.clone() selected=*l == label>{l.clone()}</option> }).collect_view()}
                </select>
            </label>
            <button class="button" type="submit">"Search"</button>
        </Form>
        {if result.page.rows.is_empty() {
            view! {
                <EmptyState
                    title=if filtered { "No profile matches" } else { "No profiles yet" }
                    body=if filtered {
                        "Nothing in the customer model matches this search. Identifiers match in part (\"ada@\"), names and trait values too."
                    } else {
                        "Profiles appear as soon as the pipeline sees a customer: from your sites' and apps' events (Settings → Sources) or from CRM customers."
                    }
                >
                    {filtered.then(|| view! { <A href="/profiles" attr:class="button">"Clear the search"</A> })}
                </EmptyState>
            }
            .into_any()
        } else {
            view! {
                <p class="muted" data-testid="profile-count">
                    {format!("{}–{} of {} profiles", result.offset + 1, result.offset + shown, total)}
                    <span class="muted">{format!(" · analytics store: {}", result.engine)}</span>
                </p>
                <div class="table-wrap">
                    <table class="table" data-testid="profile-table" aria-label="Profiles">
                        <thead><tr><th>"Profile"</th><th>"Email"</th><th>"Labels"</th><th class="num">"Events"</th><th>"Last seen"</th><th>"CRM"</th></tr></thead>
                        <tbody>
                            {result.page.rows.into_iter().map(|r| {
                                let href = format!("/profiles/{}", r.profile);
                                view! {
                                    <tr>
                                        <td><A href=href>{r.display.clone()}</A></td>
                                        <td>{r.email.clone().unwrap_or_default()}</td>
                                        <td>{r.labels.iter().map(|l| view! { <span class="badge badge--info">{l.clone()}</span>" " }).collect_view()}</td>
                                        <td class="num">{r.events_total}</td>
                                        <td>{r.last_seen.map(|t| view! { <LocalTime utc=iso(t) /> })}</td>
                                        <td>{r.crm_customer.clone().map(|c| view! { <A href=format!("/crm/customers/{c}")>"Customer"</A> })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <nav class="pager" aria-label="Pages">
                    {(page > 0).then(|| view! { <A href=prev.clone() attr:class="button">"← Previous"</A> })}
                    {has_next.then(|| view! { <A href=next.clone() attr:class="button" attr:data-testid="next-page">"Next →"</A> })}
                </nav>
            }
            .into_any()
        }}
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The 360 profile page, at `/profiles/:id` (a profile id, or an identifier like `crm:<uuid>`).
#[component]
pub fn ProfilePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let profile = Resource::new(id, profile_view);
    view! {
        <Title text="Profile" />
        <Transition fallback=|| view! { <div class="loading" aria-busy="true">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match profile.await {
                    Ok(p) => view! { <Profile360View p=p /> }.into_any(),
                    Err(e) => view! {
                        <div class="notice notice--error" role="alert">{e.to_string()}</div>
                        <A href="/profiles" attr:class="button">"Back to profiles"</A>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Profile360View(p: Profile360) -> impl IntoView {
    let d = p.detail;
    let t = d.traits.clone();
    let stats = [
        ("Events, 7 days", t.events_7d.to_string()),
        ("Events, 30 days", t.events_30d.to_string()),
        ("Sessions", t.sessions_total.to_string()),
        ("Orders, 30 days", t.orders_30d.to_string()),
        ("Revenue, 30 days", format!("{:.2}", t.revenue_30d)),
        ("Pages seen, 7 days", t.distinct_pages_7d.to_string()),
    ];
    let current_labels = d.labels.clone();
    view! {
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/profiles">"Profiles"</A>" / "</nav>
                <h1 data-testid="profile-title">
                    {d.display.clone()}
                    {current_labels.iter().map(|l| view! { " "<span class="badge badge--warn" data-testid="profile-label">{l.clone()}</span> }).collect_view()}
                </h1>
                <p class="muted">
                    {t.first_seen.map(|f| view! { "First seen " <LocalTime utc=iso(f) /> })}
                    {t.last_seen.map(|l| view! { " · last seen " <LocalTime utc=iso(l) /> })}
                    {format!(" · {} events in all", t.events_total)}
                </p>
            </div>
            <div class="page-header__actions">
                {p.crm.as_ref().map(|c| view! { <A href=format!("/crm/customers/{}", c.customer_id) attr:class="button">"Open CRM record"</A> })}
            </div>
        </div>
        <div class="stats" data-testid="profile-stats">
            {stats.into_iter().map(|(k, v)| view! { <div class="stat"><div class="stat__value">{v}</div><div class="stat__label">{k}</div></div> }).collect_view()}
        </div>
        <div class="record-grid">
            <div>
                <section class="panel" data-testid="profile-identities">
                    <h2>"Identities"</h2>
                    <dl class="fields">
                        {d.identifiers.iter().map(|i| view! { <dt>{i.kind.label()}</dt><dd>{i.value.clone()}</dd> }).collect_view()}
                    </dl>
                    <h3>"Merge history"</h3>
                    {if d.merges.is_empty() {
                        view! { <p class="muted">"No other profile merged into this one."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="plain-list" data-testid="profile-merges">
                                {d.merges.iter().map(|m| view! {
                                    <li><LocalTime utc=iso(m.at) />{format!(" — profile {} merged in, same {}", m.from_profile, m.via)}</li>
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    }}
                </section>
                <section class="panel" data-testid="profile-crm">
                    <h2>"CRM record"</h2>
                    {match (p.crm.clone(), p.crm_note.clone()) {
                        (Some(c), _) => view! {
                            <dl class="fields">
                                <dt>"Customer"</dt><dd><A href=format!("/crm/customers/{}", c.customer_id)>{c.name.clone()}</A></dd>
                                <dt>"Lifecycle"</dt><dd>{c.lifecycle.clone()}</dd>
                                <dt>"Owner"</dt><dd>{c.owner.clone().unwrap_or_else(|| "Nobody".into())}</dd>
                                <dt>"Emails"</dt><dd>{c.emails.join(", ")}</dd>
                                <dt>"Phones"</dt><dd>{c.phones.join(", ")}</dd>
                            </dl>
                        }.into_any(),
                        (None, Some(note)) => view! { <p class="muted">{note}</p> }.into_any(),
                        (None, None) => view! { <p class="muted">"Not joined to a CRM customer: no email, phone or external id of this profile is on one."</p> }.into_any(),
                    }}
                </section>
                <section class="panel" data-testid="profile-traits">
                    <h2>"Traits"</h2>
                    {if t.traits.is_empty() {
                        view! { <p class="muted">"No identify call has described this person yet."</p> }.into_any()
                    } else {
                        view! {
                            <dl class="fields">
                                {t.traits.iter().map(|(k, v)| view! {
                                    <dt>{k.clone()}</dt>
                                    <dd>{v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())}</dd>
                                }).collect_view()}
                            </dl>
                        }
                        .into_any()
                    }}
                </section>
                <section class="panel">
                    <h2>"Segments and journeys"</h2>
                    <p class="muted">"The segments this person is in and the journeys they are on will show here once segments and journeys exist."</p>
                </section>
            </div>
            <div>
                <section class="panel" data-testid="profile-labels">
                    <h2>"Labels"</h2>
                    {if d.label_history.is_empty() {
                        view! { <p class="muted">"No label has been set on this profile."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="plain-list">
                                {d.label_history.iter().map(|l| view! {
                                    <li>
                                        <span class=if l.set { "badge badge--warn" } else { "badge" }>{format!("{} {}", l.label, if l.set { "set" } else { "cleared" })}</span>
                                        " " <LocalTime utc=iso(l.at) />
                                        <div class="muted">{l.reason.clone()}</div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    }}
                </section>
                <LiveTimeline profile=d.profile.clone() initial=d.timeline.clone() />
                <section class="panel" data-testid="profile-sessions">
                    <h2>"Sessions"</h2>
                    {if d.sessions.is_empty() {
                        view! { <p class="muted">"No sessions yet."</p> }.into_any()
                    } else {
                        view! {
                            <table class="table">
                                <thead><tr><th>"Started"</th><th>"Duration"</th><th class="num">"Events"</th><th>"State"</th></tr></thead>
                                <tbody>
                                    {d.sessions.iter().map(|s| view! {
                                        <tr>
                                            <td><LocalTime utc=iso(s.started_at) /></td>
                                            <td>{if s.ended_at.is_some() { duration_text(s.duration_ms) } else { "—".into() }}</td>
                                            <td class="num">{s.events}</td>
                                            <td>{if s.ended_at.is_some() { "Ended" } else { "Open" }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
                        .into_any()
                    }}
                </section>
            </div>
        </div>
    }
}

fn event_summary(e: &TimelineEvent) -> String {
    let p = &e.properties;
    let text = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
    match e.name.as_str() {
        "Page Viewed" => text("path").or(text("url")).unwrap_or_default(),
        "Identified" => text("email").or(text("name")).unwrap_or_default(),
        _ => text("name")
            .or(text("path"))
            .or_else(|| p.get("revenue").map(|v| v.to_string()))
            .unwrap_or_default(),
    }
}

/// The timeline, newest first; while the page is open it asks for newer events every 3 s.
#[component]
fn LiveTimeline(profile: String, initial: Vec<TimelineEvent>) -> impl IntoView {
    let events = RwSignal::new(initial);
    let live = RwSignal::new(0usize);
    #[cfg(feature = "hydrate")]
    {
        use std::time::Duration;
        let profile = profile.clone();
        if let Ok(handle) = set_interval_with_handle(
            move || {
                let after = events.with_untracked(|e| e.first().map(|e| e.at).unwrap_or(0));
                let profile = profile.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(mut newer) = profile_events_after(profile, after).await {
                        if !newer.is_empty() {
                            live.update(|n| *n += newer.len());
                            newer.reverse();
                            events.update(|e| {
                                newer.retain(|n| !e.iter().any(|x| x.message_id == n.message_id));
                                newer.append(e);
                                newer.truncate(200);
                                *e = newer;
                            });
                        }
                    }
                });
            },
            Duration::from_secs(3),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    let _ = &profile;
    view! {
        <section class="panel" data-testid="profile-timeline">
            <h2>"Timeline " <span class="badge badge--good" title="New events appear without reloading">"Live"</span></h2>
            {move || (live.get() > 0).then(|| view! { <p class="muted" role="status">{format!("{} new since you opened the page", live.get())}</p> })}
            {move || {
                let list = events.get();
                if list.is_empty() {
                    view! { <p class="muted">"No events yet."</p> }.into_any()
                } else {
                    view! {
                        <ol class="timeline">
                            {list.into_iter().map(|e| {
                                let summary = event_summary(&e);
                                view! {
                                    <li class=format!("timeline__item{}", if e.name == "Order Completed" { " timeline__item--order" } else { "" }) data-testid="timeline-event">
                                        <span class="timeline__when"><LocalTime utc=iso(e.at) /></span>
                                        <div><strong>{e.name.clone()}</strong> " " <span class="muted">{summary}</span></div>
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}
