//! Section landing pages. Areas that later work fills show an honest empty state that says
//! what will appear and what makes it appear.

use crate::components::shell::use_viewer;
use crate::components::ui::EmptyState;
use domain::{Role, Section};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Home: the viewer's dashboards.
#[component]
pub fn DashboardsPage() -> impl IntoView {
    let viewer = use_viewer();
    view! {
        <Title text="Dashboards" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                viewer.await.ok().map(|v| {
                    let first = v.name.split_whitespace().next().unwrap_or("").to_string();
                    let shortcuts: Vec<Section> = v.role.sections().into_iter().filter(|s| *s != Section::Dashboards).collect();
                    view! {
                        <div class="page-header">
                            <div>
                                <h1 data-testid="page-title">"Dashboards"</h1>
                                <p class="muted">{format!("Welcome back, {first}. Here is {}.", v.workspace.name)}</p>
                            </div>
                        </div>
                        <div class="grid grid--cards">
                            {shortcuts
                                .into_iter()
                                .map(|s| {
                                    view! {
                                        <A href=s.path() attr:class="card card--link">
                                            <span class=format!("card__icon nav__icon nav__icon--{}", s.label().to_lowercase()) aria-hidden="true"></span>
                                            <h3>{s.label()}</h3>
                                            <p class="muted">{section_blurb(s, v.role)}</p>
                                        </A>
                                    }
                                })
                                .collect_view()}
                        </div>
                        <EmptyState
                            title="No dashboards yet"
                            body="Dashboards chart your live customer model — pipeline, revenue, funnels, segment sizes. They fill in once CRM records and customer events flow into Pulse."
                            upcoming=&["Pipeline and revenue by owner", "Conversion funnels and retention", "Segment sizes over time"]
                        />
                    }
                })
            })}
        </Suspense>
    }
}

fn section_blurb(section: Section, role: Role) -> &'static str {
    match (section, role) {
        (Section::Crm, Role::SalesRep) => "Your customers, leads and tasks.",
        (Section::Crm, _) => "Customers, leads, accounts, orders and activities.",
        (Section::Profiles, _) => "360° profiles that merge CRM records and behaviour.",
        (Section::Segments, _) => "Audiences from traits, labels and behaviour.",
        (Section::Journeys, _) => "Automated, real-time customer journeys.",
        (Section::Settings, _) => "Users and roles, sources and destinations.",
        (Section::Dashboards, _) => "Charts of your customer model.",
    }
}

/// The segments landing page.
#[component]
pub fn SegmentsPage() -> impl IntoView {
    view! {
        <Title text="Segments" />
        <div class="page-header"><h1 data-testid="page-title">"Segments"</h1></div>
        <EmptyState
            title="No segments yet"
            body="Segments group customers by traits, labels and behaviour and update in real time. The segment builder is not built yet."
        />
    }
}

/// The journeys landing page.
#[component]
pub fn JourneysPage() -> impl IntoView {
    view! {
        <Title text="Journeys" />
        <div class="page-header"><h1 data-testid="page-title">"Journeys"</h1></div>
        <EmptyState
            title="No journeys yet"
            body="Journeys react to what customers do — a label set, a segment entered — with emails, webhooks and sales alerts. The journey designer is not built yet."
        />
    }
}

/// Settings overview.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings" />
        <div class="page-header"><h1 data-testid="page-title">"Settings"</h1></div>
        <div class="grid grid--cards">
            <A href="/settings/users" attr:class="card card--link">
                <h3>"Users & roles"</h3>
                <p class="muted">"Add people to this workspace, change their role or deactivate them."</p>
            </A>
            <A href="/settings/api" attr:class="card card--link">
                <h3>"API access"</h3>
                <p class="muted">"API tokens for systems that read or write CRM records, and who may edit records."</p>
            </A>
            <A href="/settings/sources" attr:class="card card--link">
                <h3>"Sources"</h3>
                <p class="muted">"Write keys, tracking plans, consent rules and the live event debugger for your sites and apps."</p>
            </A>
            <A href="/settings/quarantine" attr:class="card card--link">
                <h3>"Quarantine"</h3>
                <p class="muted">"Events refused or flagged by the gateway, grouped by reason, ready to replay once fixed."</p>
            </A>
            <A href="/settings/integrations" attr:class="card card--link">
                <h3>"Integrations"</h3>
                <p class="muted">"Webhooks from Shopify, Zendesk, SendGrid and others, mapped to CRM records and events, with their deliveries."</p>
            </A>
            <super::CdcCard />
            <div class="card card--disabled" aria-disabled="true">
                <h3>"Destinations"</h3>
                <p class="muted">"Email, SMS, webhooks and ad audiences. Not available yet."</p>
            </div>
        </div>
    }
}

/// Shown for any path that matches no page.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <div class="auth">
            <div class="auth__card">
                <h1>"Page not found"</h1>
                <p class="muted">"There is nothing at this address."</p>
                <a class="button button--primary" href="/">"Go to Pulse"</a>
            </div>
        </div>
    }
}
