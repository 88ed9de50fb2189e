//! The analytics store: where the customer model's output lives for reading — the profile wide
//! table (traits, windows, labels, identifiers, CRM join), event detail, the identity map,
//! merge and label history, sessions. One trait, two engines: DuckDB embedded in the server
//! (the default, one file under the data dir) and StarRocks at scale (queries over the MySQL
//! protocol, writes by Stream Load). The pipeline's sink writes [`Batch`]es; the UI and API
//! read profiles through the same trait. What the engines share is written once: the table
//! descriptors ([`tables`]) that make both engines' DDL and rows, the typed query model and
//! its per-engine [`query::Dialect`] ([`query`]), and the reads (`reader`), which each engine
//! runs through a thin executor.

mod batch;
pub mod duck;
pub mod query;
pub mod reader;
pub mod sink;
pub mod starrocks;
pub mod tables;

pub use batch::{Batch, BatchBuilder, EventRow, LabelRow, MergeRow, ProfileRow, SessionRow};
pub use duck::DuckDbStore;
pub use sink::{AnalyticsSink, SinkConfig};
pub use starrocks::{stream_loads, StarRocksConfig, StarRocksStore, StreamLoad};

use async_trait::async_trait;
use domain::profiles::{ProfileDetail, ProfilePage, TimelineEvent};
use query::ProfileFilter;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("DuckDB: {0}")]
    Duck(#[from] duckdb::Error),
    #[error("StarRocks query: {0}")]
    Mysql(#[from] mysql_async::Error),
    #[error("StarRocks Stream Load into {table}: {message}")]
    StreamLoad { table: String, message: String },
    #[error("StarRocks HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the analytics store's worker stopped")]
    Stopped,
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid query: {0}")]
    Query(String),
}

/// What a profile search asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileQuery {
    /// Matches any identifier (email, phone, user id, …), the display name or a trait value;
    /// case-insensitive substring. Empty lists everything.
    pub text: String,
    /// Only profiles carrying this label.
    pub label: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// The analytics store of one deployment.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// The engine's name for status pages (`duckdb`, `starrocks`).
    fn engine(&self) -> &'static str;

    /// How the engine runs a read: the reads below are written once over it ([`reader`]).
    fn executor(&self) -> &dyn reader::Executor;

    /// Creates the tables if they do not exist.
    async fn migrate(&self) -> Result<(), AnalyticsError>;

    /// Writes a batch; writing the same batch again changes nothing (deterministic keys).
    async fn write(&self, batch: Batch) -> Result<(), AnalyticsError>;

    /// Profiles matching a filter, in its order, with the total: the query segments and
    /// dashboards ask.
    async fn find(
        &self,
        workspace: &str,
        filter: &ProfileFilter,
    ) -> Result<ProfilePage, AnalyticsError> {
        reader::find(self.executor(), workspace, filter).await
    }

    /// Profiles matching the query, most recently active first.
    async fn search(
        &self,
        workspace: &str,
        query: &ProfileQuery,
    ) -> Result<ProfilePage, AnalyticsError> {
        self.find(workspace, &ProfileFilter::from(query)).await
    }

    /// The 360 view of a profile with up to `timeline` newest events. A profile that merged
    /// into another is answered with the surviving profile.
    async fn profile(
        &self,
        workspace: &str,
        profile: &str,
        timeline: usize,
    ) -> Result<Option<ProfileDetail>, AnalyticsError> {
        reader::profile(self.executor(), workspace, profile, timeline).await
    }

    /// Events of a profile (and the profiles merged into it) newer than `after` (event time,
    /// ms), oldest first — the live timeline's poll.
    async fn events_after(
        &self,
        workspace: &str,
        profile: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, AnalyticsError> {
        reader::events_after(self.executor(), workspace, profile, after, limit).await
    }

    /// The profile that holds an identifier (`kind:value`, e.g. `crm:<uuid>`).
    async fn resolve(
        &self,
        workspace: &str,
        identifier: &str,
    ) -> Result<Option<String>, AnalyticsError> {
        reader::resolve(self.executor(), workspace, identifier).await
    }
}
