//! One module per page; each page's server functions live beside it.

mod auth;
pub mod crm;
mod inbox;
mod integrations;
mod labels;
mod profiles;
mod sections;
mod sources;
mod tokens;
mod users;

pub use auth::{LoginPage, SetupPage};
pub use crm::{
    CrmHome, CrmLayout, ImportPage, NewCustomerPage, NewLeadPage, RecordListPage, RecordPage,
};
pub use inbox::Inbox;
pub use integrations::{CdcCard, IntegrationPage, IntegrationsPage};
pub use labels::LabelsPage;
pub use profiles::{ProfilePage, ProfilesPage};
pub use sections::{DashboardsPage, JourneysPage, NotFoundPage, SegmentsPage, SettingsPage};
pub use sources::{QuarantinePage, SourcePage, SourcesPage};
pub use tokens::ApiAccessPage;
pub use users::UsersPage;
