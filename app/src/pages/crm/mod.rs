//! The CRM workbench: lists of every record kind, record pages with related records,
//! editing, lead conversion and the signed-in rep's tasks for today.

mod api;
#[cfg(feature = "ssr")]
mod build;
mod import;
mod list;
pub mod model;
mod record;
mod table;

pub use import::ImportPage;
pub use list::RecordListPage;
pub use record::{NewCustomerPage, NewLeadPage, RecordPage};

use crate::components::ui::LoadError;
use api::{crm_complete_task, crm_my_tasks, CrmCompleteTask};
use domain::crm::RecordKind;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};
use table::CellView;

const TABS: &[(RecordKind, &str)] = &[
    (RecordKind::Customer, "Customers"),
    (RecordKind::Lead, "Leads"),
    (RecordKind::Account, "Accounts"),
    (RecordKind::Order, "Orders"),
    (RecordKind::Contract, "Contracts"),
    (RecordKind::Ticket, "Tickets"),
    (RecordKind::Activity, "Activities"),
    (RecordKind::LoyaltyMembership, "Memberships"),
];

/// The CRM section: its own tab bar above the routed CRM page.
#[component]
pub fn CrmLayout() -> impl IntoView {
    view! {
        <nav class="subnav" aria-label="CRM">
            <A href="/crm" exact=true attr:class="subnav__link">"Today"</A>
            {TABS
                .iter()
                .map(|(k, label)| view! { <A href=model::list_href(*k) attr:class="subnav__link">{*label}</A> })
                .collect_view()}
        </nav>
        <Outlet />
    }
}

/// `/crm`: the signed-in user's tasks due today and the shortcuts of a working day.
#[component]
pub fn CrmHome() -> impl IntoView {
    let done = ServerAction::<CrmCompleteTask>::new();
    let tasks = Resource::new(move || done.version().get(), |_| crm_my_tasks());
    let _ = crm_complete_task;
    view! {
        <Title text="CRM" />
        <div class="page-header">
            <div>
                <h1 data-testid="page-title">"Today"</h1>
                <p class="muted">"Your open tasks due by tonight, and where the work is."</p>
            </div>
            <div class="page-header__actions">
                <A href="/crm/import" attr:class="button">"Import CSV"</A>
                <A href="/crm/customers/new" attr:class="button">"New customer"</A>
                <A href="/crm/leads/new" attr:class="button button--primary">"New lead"</A>
            </div>
        </div>
        <super::Inbox />
        <section class="panel">
            <h2>"Tasks due today or overdue"</h2>
            <Transition fallback=|| view! { <div class="loading">"Loading your tasks…"</div> }>
                {move || Suspend::new(async move {
                    match tasks.await {
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                        Ok(v) if v.rows.is_empty() => view! {
                            <p class="muted" data-testid="no-tasks">"Nothing due today. Tasks you add on a customer appear here on their due day."</p>
                        }
                        .into_any(),
                        Ok(v) => view! {
                            <ul class="tasks" data-testid="my-tasks">
                                {v.rows
                                    .into_iter()
                                    .map(|r| {
                                        let id = r.id;
                                        let mut cells = r.cells.into_iter();
                                        let subject = cells.next().unwrap_or(model::Cell::Empty);
                                        let _kind = cells.next();
                                        let customer = cells.next().unwrap_or(model::Cell::Empty);
                                        let due = cells.next().unwrap_or(model::Cell::Empty);
                                        view! {
                                            <li class="tasks__item">
                                                <button class="button button--small" title="Mark done" on:click=move |_| { done.dispatch(CrmCompleteTask { id }); }>"✓ Done"</button>
                                                <span class="tasks__subject"><CellView cell=subject /></span>
                                                <span><CellView cell=customer /></span>
                                                <span class="muted">"due "<CellView cell=due /></span>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                        .into_any(),
                    }
                })}
            </Transition>
        </section>
        <div class="grid grid--cards">
            <A href="/crm/leads?owner_id=me&status=new,contacted,qualified" attr:class="card card--link"><h3>"My open leads"</h3><p class="muted">"Work the pipeline you own."</p></A>
            <A href="/crm/contracts?status=active&sort=renewal_date" attr:class="card card--link"><h3>"Upcoming renewals"</h3><p class="muted">"Active contracts by renewal date."</p></A>
            <A href="/crm/tickets?status=open,pending&priority=urgent,high&sort=-priority" attr:class="card card--link"><h3>"Urgent tickets"</h3><p class="muted">"Customers waiting on the service team."</p></A>
            <A href="/crm/orders?status=pending" attr:class="card card--link"><h3>"Pending orders"</h3><p class="muted">"Orders not yet paid."</p></A>
        </div>
    }
}
