//! Live audiences as a service: label definitions (list, save, archive) with their live counts
//! and bounded backtests, and the sales inbox of alerts their triggers raise. Callers pass the
//! [`Member`] asking and the Postgres pool; every function checks the member's rights against
//! `domain::access` before touching data. Out come domain types (`LabelSummary`, `Backtest`,
//! `Alert`) and one error type, [`AudienceError`]. Every save or archive also writes the
//! workspace's definitions as a new version; the server's runner publishes the versions to the
//! customer model's log ([`labels::unpublished`]) and records live counts
//! ([`labels::record_live_counts`]) here too, so the label tables have one owner.

pub mod backtest;
mod error;
pub mod inbox;
pub mod labels;

pub use error::AudienceError;

use domain::Role;
use uuid::Uuid;

/// Who is asking: a member of a workspace with their role there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
}

impl Member {
    /// The signed-in viewer as the member a service checks.
    pub fn of(viewer: &domain::Viewer) -> Self {
        Member {
            workspace_id: viewer.workspace.id,
            user_id: viewer.user_id,
            role: viewer.role,
        }
    }
}
