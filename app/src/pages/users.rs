//! Settings → Users & roles: list members, add people, change roles, deactivate.

use crate::components::ui::{ErrorNotice, FieldError, LocalTime};
use crate::UiError;
use domain::{MemberSummary, Role};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Members per page.
#[cfg(feature = "ssr")]
const PAGE_SIZE: u32 = 25;

/// One page of members as the page renders it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberSummary>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
    pub viewer_id: Uuid,
}

/// Lists the workspace's members (admins only).
#[server(endpoint = "list_members")]
pub async fn list_members(page: u32) -> Result<MembersView, UiError> {
    let crate::session::Member { viewer, ctx } =
        crate::session::require(domain::Area::Users, domain::Need::Read).await?;
    let p = access::list_members(&ctx.pool, &viewer, page, PAGE_SIZE).await?;
    Ok(MembersView {
        members: p.members,
        total: p.total,
        page: p.page,
        page_size: p.page_size,
        viewer_id: viewer.user_id,
    })
}

/// Adds a person to the workspace with a role and an initial password.
#[server(endpoint = "create_member")]
pub async fn create_member(
    name: String,
    email: String,
    role: Role,
    password: String,
) -> Result<MemberSummary, UiError> {
    let crate::session::Member { viewer, ctx } =
        crate::session::require(domain::Area::Users, domain::Need::Change).await?;
    let input = access::NewMember {
        email,
        name,
        role,
        password,
    };
    Ok(access::create_member(&ctx.pool, &viewer, &input).await?)
}

/// Changes a member's role.
#[server(endpoint = "change_role")]
pub async fn change_role(user_id: Uuid, role: Role) -> Result<MemberSummary, UiError> {
    let crate::session::Member { viewer, ctx } =
        crate::session::require(domain::Area::Users, domain::Need::Change).await?;
    Ok(access::change_role(&ctx.pool, &viewer, user_id, role).await?)
}

/// Deactivates (`active = false`) or reactivates a member.
#[server(endpoint = "set_member_active")]
pub async fn set_member_active(user_id: Uuid, active: bool) -> Result<MemberSummary, UiError> {
    let crate::session::Member { viewer, ctx } =
        crate::session::require(domain::Area::Users, domain::Need::Change).await?;
    Ok(access::set_active(&ctx.pool, &viewer, user_id, active).await?)
}

/// The users & roles page.
#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let page = move || {
        query
            .with(|q| q.get("page").and_then(|p| p.parse::<u32>().ok()))
            .unwrap_or(1)
            .max(1)
    };
    let create = ServerAction::<CreateMember>::new();
    let role_change = ServerAction::<ChangeRole>::new();
    let activity = ServerAction::<SetMemberActive>::new();
    let members = Resource::new(
        move || {
            (
                page(),
                create.version().get(),
                role_change.version().get(),
                activity.version().get(),
            )
        },
        |(p, ..)| list_members(p),
    );
    let adding = RwSignal::new(false);
    let create_error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let row_error = Signal::derive(move || {
        let a = role_change.value().get().and_then(|r| r.err());
        a.or_else(|| activity.value().get().and_then(|r| r.err()))
    });
    let added = Signal::derive(move || create.value().get().and_then(|r| r.ok()));
    // Close the form after a successful add.
    Effect::new(move |_| {
        if added.get().is_some() {
            adding.set(false);
        }
    });

    view! {
        <Title text="Users & roles" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "</nav>
                <h1 data-testid="page-title">"Users & roles"</h1>
                <p class="muted">"People in this workspace and what they can do."</p>
            </div>
            <button class="button button--primary" data-testid="add-user" on:click=move |_| adding.update(|a| *a = !*a)>
                {move || if adding.get() { "Cancel" } else { "Add user" }}
            </button>
        </div>
        {move || added.get().map(|m| view! { <div class="notice notice--success" role="status">{format!("Added {} as {}.", m.name, m.role.label())}</div> })}
        <ErrorNotice error=row_error />
        <Show when=move || adding.get()>
            <div class="panel" data-testid="add-user-panel">
                <h2>"Add a user"</h2>
                <p class="muted">"They sign in with this email and the initial password you set; share it with them securely. An existing Pulse account keeps its password."</p>
                <ActionForm action=create attr:class="form form--grid">
                    <ErrorNotice error=create_error />
                    <label class="field">
                        <span class="field__label">"Name"</span>
                        <input name="name" required autocomplete="off" />
                        <FieldError error=create_error name="name" />
                    </label>
                    <label class="field">
                        <span class="field__label">"Email"</span>
                        <input type="email" name="email" required autocomplete="off" />
                        <FieldError error=create_error name="email" />
                    </label>
                    <label class="field">
                        <span class="field__label">"Role"</span>
                        <select name="role">
                            {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == Role::SalesRep>{r.label()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label class="field">
                        <span class="field__label">"Initial password"</span>
                        <input type="password" name="password" autocomplete="new-password" />
                        <FieldError error=create_error name="password" />
                    </label>
                    <div class="form__actions">
                        <button class="button button--primary" type="submit" disabled=move || create.pending().get()>
                            {move || if create.pending().get() { "Adding…" } else { "Add user" }}
                        </button>
                    </div>
                </ActionForm>
            </div>
        </Show>
        <Transition fallback=|| view! { <div class="loading" aria-busy="true">"Loading members…"</div> }>
            {move || Suspend::new(async move {
                match members.await {
                    Ok(view) => view! { <MemberTable data=view role_change activity /> }.into_any(),
                    Err(e) => view! { <div class="notice notice--error" role="alert">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MemberTable(
    data: MembersView,
    role_change: ServerAction<ChangeRole>,
    activity: ServerAction<SetMemberActive>,
) -> impl IntoView {
    let pages = ((data.total.max(1) as u32).div_ceil(data.page_size)).max(1);
    let page = data.page;
    let viewer_id = data.viewer_id;
    let total = data.total;
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="members-table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Role"</th>
                        <th>"Status"</th>
                        <th>"Last sign-in"</th>
                        <th class="table__actions"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {data
                        .members
                        .into_iter()
                        .map(|m| view! { <MemberRow member=m is_self=m_is_self(viewer_id) role_change activity /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <div class="pagination">
            <span class="muted">{format!("{total} member{}", if total == 1 { "" } else { "s" })}</span>
            <div class="pagination__links">
                {(page > 1).then(|| view! { <A href=format!("?page={}", page - 1) attr:class="button button--ghost">"← Previous"</A> })}
                <span class="muted">{format!("Page {page} of {pages}")}</span>
                {(page < pages).then(|| view! { <A href=format!("?page={}", page + 1) attr:class="button button--ghost">"Next →"</A> })}
            </div>
        </div>
    }
}

fn m_is_self(viewer_id: Uuid) -> impl Fn(&MemberSummary) -> bool {
    move |m| m.user_id == viewer_id
}

#[component]
fn MemberRow(
    member: MemberSummary,
    is_self: impl Fn(&MemberSummary) -> bool,
    role_change: ServerAction<ChangeRole>,
    activity: ServerAction<SetMemberActive>,
) -> impl IntoView {
    let me = is_self(&member);
    let user_id = member.user_id;
    let active = member.active;
    let current_role = member.role;
    let on_role = move |ev: leptos::ev::Event| {
        if let Ok(role) = event_target_value(&ev).parse::<Role>() {
            role_change.dispatch(ChangeRole { user_id, role });
        }
    };
    view! {
        <tr class:row--inactive=!active data-email=member.email.clone()>
            <td>
                <div class="person">
                    <span class="avatar avatar--small" aria-hidden="true">{initials(&member.name)}</span>
                    <div>
                        <div class="person__name">{member.name.clone()}{me.then(|| view! { <span class="tag">"you"</span> })}</div>
                        <div class="muted">{member.email.clone()}</div>
                    </div>
                </div>
            </td>
            <td>
                <select class="select--inline" aria-label=format!("Role of {}", member.name) on:change=on_role data-testid="role-select">
                    {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == current_role>{r.label()}</option> }).collect_view()}
                </select>
            </td>
            <td>
                {if active {
                    view! { <span class="status status--active">"Active"</span> }.into_any()
                } else {
                    view! { <span class="status status--inactive">"Deactivated"</span> }.into_any()
                }}
            </td>
            <td>
                {match member.last_login_at.clone() {
                    Some(t) => view! { <LocalTime utc=t /> }.into_any(),
                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
            </td>
            <td class="table__actions">
                {(!me).then(|| {
                    view! {
                        <button
                            class="button button--ghost button--small"
                            data-testid="toggle-active"
                            on:click=move |_| { activity.dispatch(SetMemberActive { user_id, active: !active }); }
                        >
                            {if active { "Deactivate" } else { "Reactivate" }}
                        </button>
                    }
                })}
            </td>
        </tr>
    }
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase()
}
