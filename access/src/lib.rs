//! Who can use Pulse and what they may do: users, workspaces, memberships with roles,
//! password sign-in with throttling, member administration and the audit trail of it.
//!
//! Every function that reads or changes workspace data takes the [`Viewer`] it acts for and
//! scopes its queries to that viewer's workspace; authorization is decided here, not in the UI.
//! The HTTP edge (server functions, handlers) only parses input and maps [`AccessError`].

mod audit;
mod error;
mod login;
mod members;
mod password;
mod workspaces;

pub use audit::{record as record_audit, AuditEntry};
pub use error::AccessError;
pub use login::{authenticate, LoginPolicy, SignedIn};
pub use members::{change_role, create_member, list_members, set_active, MemberPage, NewMember};
pub use password::{hash_password, verify_password};
pub use workspaces::{
    bootstrap_admin, demo_logins, has_users, load_viewer, seed_demo, BootstrapAdmin, DemoLogin,
    DEMO_PASSWORD,
};

pub use domain::{Role, Viewer};
