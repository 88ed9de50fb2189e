//! One module per page; each page's server functions live beside it.

mod auth;
mod sections;
mod users;

pub use auth::{LoginPage, SetupPage};
pub use sections::{
    CrmPage, DashboardsPage, JourneysPage, NotFoundPage, ProfilesPage, SegmentsPage, SettingsPage,
};
pub use users::UsersPage;
