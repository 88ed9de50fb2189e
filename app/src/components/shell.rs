//! The workbench frame: sidebar navigation for the viewer's role, top bar, user menu.

use crate::components::ui::EmptyState;
use crate::UiError;
use domain::{Section, Viewer};
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::use_location;
use uuid::Uuid;

/// The signed-in viewer, for the current request or session.
#[server(endpoint = "current_viewer")]
pub async fn current_viewer() -> Result<Viewer, UiError> {
    crate::session::require_viewer().await.map(|(v, _)| v)
}

/// Signs out and returns to the sign-in page.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), UiError> {
    let session = crate::session::session().await?;
    crate::session::sign_out(&session).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Switches the session to another workspace the viewer is an active member of.
#[server(endpoint = "switch_workspace")]
pub async fn switch_workspace(workspace_id: Uuid) -> Result<(), UiError> {
    let (viewer, _) = crate::session::require_viewer().await?;
    if !viewer.workspaces.iter().any(|w| w.id == workspace_id) {
        crate::error::set_status(axum::http::StatusCode::FORBIDDEN);
        return Err(UiError::Forbidden(
            "You are not a member of that workspace.".into(),
        ));
    }
    let session = crate::session::session().await?;
    crate::session::set_workspace(&session, workspace_id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// The viewer resource the shell loads once; pages read it through [`use_viewer`].
#[derive(Clone, Copy)]
pub struct ViewerResource(pub Resource<Result<Viewer, UiError>>);

/// The viewer resource provided by the shell.
pub fn use_viewer() -> Resource<Result<Viewer, UiError>> {
    expect_context::<ViewerResource>().0
}

/// Sidebar, top bar and the routed page; pages the role may not open show a no-access state.
#[component]
pub fn Shell() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| current_viewer());
    provide_context(ViewerResource(viewer));
    view! {
        <Suspense fallback=|| view! { <div class="boot">"Loading your workspace…"</div> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(v) => view! { <Frame viewer=v /> }.into_any(),
                    Err(e) => view! { <SignedOut error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SignedOut(error: UiError) -> impl IntoView {
    view! {
        <div class="boot">
            <p>{error.to_string()}</p>
            <a class="button button--primary" href="/login" rel="external">
                "Sign in"
            </a>
        </div>
    }
}

#[component]
fn Frame(viewer: Viewer) -> AnyView {
    let location = use_location();
    let role = viewer.role;
    let nav_open = RwSignal::new(false);
    let allowed =
        move || Section::of_path(&location.pathname.get()).is_none_or(|s| role.can_open(s));
    view! {
        <div class="app" class:app--nav-open=move || nav_open.get()>
            <aside class="sidebar">
                <a class="brand" href="/">
                    <span class="brand__mark" aria-hidden="true"></span>
                    <span class="brand__name">"Pulse"</span>
                </a>
                <nav class="nav" aria-label="Main">
                    {role
                        .sections()
                        .into_iter()
                        .map(|s| {
                            view! {
                                <A href=s.path() exact=matches!(s, Section::Dashboards) attr:class="nav__link" attr:data-section=s.label()>
                                    <span class=format!("nav__icon nav__icon--{}", s.label().to_lowercase()) aria-hidden="true"></span>
                                    {s.label()}
                                </A>
                            }
                        })
                        .collect_view()}
                </nav>
                <div class="sidebar__footer">
                    <span class="sidebar__workspace-label">"Workspace"</span>
                    <span class="sidebar__workspace" data-testid="workspace-name">{viewer.workspace.name.clone()}</span>
                </div>
            </aside>
            <div class="main">
                <header class="topbar">
                    <button class="topbar__menu-toggle" aria-label="Toggle navigation" on:click=move |_| nav_open.update(|o| *o = !*o)>
                        "☰"
                    </button>
                    <div class="topbar__spacer"></div>
                    <span class="role-badge" data-testid="role-badge">{viewer.role.label()}</span>
                    <UserMenu viewer=viewer.clone() />
                </header>
                <main class="content" on:click=move |_| nav_open.set(false)>
                    <Show
                        when=allowed
                        fallback=|| {
                            view! {
                                <EmptyState
                                    title="You don't have access to this area"
                                    body="Your role in this workspace does not include it. Ask a workspace admin if you need it."
                                />
                            }
                        }
                    >
                        <Outlet />
                    </Show>
                </main>
            </div>
        </div>
    }
    .into_any()
}

#[component]
fn UserMenu(viewer: Viewer) -> AnyView {
    let open = RwSignal::new(false);
    let logout = ServerAction::<Logout>::new();
    let switch = ServerAction::<SwitchWorkspace>::new();
    let current = viewer.workspace.id;
    let others: Vec<_> = viewer
        .workspaces
        .iter()
        .filter(|w| w.id != current)
        .cloned()
        .collect();
    view! {
        <div class="user-menu">
            <button
                class="user-menu__button"
                aria-haspopup="menu"
                aria-expanded=move || open.get().to_string()
                data-testid="user-menu-button"
                on:click=move |_| open.update(|o| *o = !*o)
            >
                <span class="avatar" aria-hidden="true">{viewer.initials()}</span>
                <span class="user-menu__name">{viewer.name.clone()}</span>
            </button>
            <Show when=move || open.get()>
                <div class="user-menu__panel" role="menu" data-testid="user-menu">
                    <div class="user-menu__who">
                        <strong>{viewer.name.clone()}</strong>
                        <span>{viewer.email.clone()}</span>
                        <span class="muted">{format!("{} in {}", viewer.role.label(), viewer.workspace.name)}</span>
                    </div>
                    {(!others.is_empty())
                        .then(|| {
                            let others = others.clone();
                            view! {
                                <div class="user-menu__section">
                                    <span class="user-menu__heading">"Switch workspace"</span>
                                    {others
                                        .into_iter()
                                        .map(|w| {
                                            view! {
                                                <ActionForm action=switch>
                                                    <input type="hidden" name="workspace_id" value=w.id.to_string() />
                                                    <button class="user-menu__item" type="submit" role="menuitem">
                                                        {w.name}
                                                    </button>
                                                </ActionForm>
                                            }
                                        })
                                        .collect_view()}
                                </div>
                            }
                        })}
                    <ActionForm action=logout>
                        <button class="user-menu__item user-menu__item--danger" type="submit" role="menuitem" data-testid="sign-out">
                            "Sign out"
                        </button>
                    </ActionForm>
                </div>
            </Show>
        </div>
    }
    .into_any()
}
