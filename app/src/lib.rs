//! The Pulse web app: the workbench shell, its pages and the server functions behind them.
//!
//! Compiled twice: with `ssr` into the server (rendering HTML and running server functions) and
//! with `hydrate` into the wasm bundle (making the rendered HTML interactive). Server-only code
//! sits behind `#[cfg(feature = "ssr")]`, mostly in [`session`] and inside server functions.

#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod session;

use components::shell::Shell;
use domain::crm::RecordKind;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use pages::*;

pub use error::UiError;
#[cfg(feature = "ssr")]
pub use session::ServerContext;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: document metadata and the route table.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="pulse-css" href="/pkg/pulse.css" />
        <Link rel="icon" type_="image/svg+xml" href="/pkg/favicon.svg" />
        <Meta name="color-scheme" content="light" />
        <Title formatter=|t: String| if t.is_empty() { "Pulse".to_string() } else { format!("{t} · Pulse") } />
        <Router>
            <Routes fallback=|| view! { <NotFoundPage /> }>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/setup") view=SetupPage />
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view=DashboardsPage />
                    <ParentRoute path=path!("crm") view=CrmLayout>
                        <Route path=path!("") view=CrmHome />
                        <Route path=path!("import") view=ImportPage />
                        <Route path=path!("customers") view=|| view! { <RecordListPage kind=RecordKind::Customer /> } />
                        <Route path=path!("customers/new") view=NewCustomerPage />
                        <Route path=path!("customers/:id") view=|| view! { <RecordPage kind=RecordKind::Customer /> } />
                        <Route path=path!("leads") view=|| view! { <RecordListPage kind=RecordKind::Lead /> } />
                        <Route path=path!("leads/new") view=NewLeadPage />
                        <Route path=path!("leads/:id") view=|| view! { <RecordPage kind=RecordKind::Lead /> } />
                        <Route path=path!("accounts") view=|| view! { <RecordListPage kind=RecordKind::Account /> } />
                        <Route path=path!("accounts/:id") view=|| view! { <RecordPage kind=RecordKind::Account /> } />
                        <Route path=path!("orders") view=|| view! { <RecordListPage kind=RecordKind::Order /> } />
                        <Route path=path!("orders/:id") view=|| view! { <RecordPage kind=RecordKind::Order /> } />
                        <Route path=path!("contracts") view=|| view! { <RecordListPage kind=RecordKind::Contract /> } />
                        <Route path=path!("contracts/:id") view=|| view! { <RecordPage kind=RecordKind::Contract /> } />
                        <Route path=path!("tickets") view=|| view! { <RecordListPage kind=RecordKind::Ticket /> } />
                        <Route path=path!("tickets/:id") view=|| view! { <RecordPage kind=RecordKind::Ticket /> } />
                        <Route path=path!("activities") view=|| view! { <RecordListPage kind=RecordKind::Activity /> } />
                        <Route path=path!("activities/:id") view=|| view! { <RecordPage kind=RecordKind::Activity /> } />
                        <Route path=path!("loyalty-memberships") view=|| view! { <RecordListPage kind=RecordKind::LoyaltyMembership /> } />
                        <Route path=path!("loyalty-memberships/:id") view=|| view! { <RecordPage kind=RecordKind::LoyaltyMembership /> } />
                    </ParentRoute>
                    <Route path=path!("profiles") view=ProfilesPage />
                    <Route path=path!("profiles/labels") view=LabelsPage />
                    <Route path=path!("profiles/:id") view=ProfilePage />
                    <Route path=path!("segments") view=SegmentsPage />
                    <Route path=path!("journeys") view=JourneysPage />
                    <Route path=path!("settings") view=SettingsPage />
                    <Route path=path!("settings/users") view=UsersPage />
                    <Route path=path!("settings/api") view=ApiAccessPage />
                    <Route path=path!("settings/sources") view=SourcesPage />
                    <Route path=path!("settings/sources/:id") view=SourcePage />
                    <Route path=path!("settings/quarantine") view=QuarantinePage />
                    <Route path=path!("settings/integrations") view=IntegrationsPage />
                    <Route path=path!("settings/integrations/:id") view=IntegrationPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
