//! The Postgres Pulse uses: the configured server, or a managed cluster under the data dir.

use crate::config::Config;
use managed_pg::{Cluster, ClusterOptions, PgError};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

/// The product's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Why the database could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("managed Postgres: {0}")]
    Managed(#[from] PgError),
    #[error("cannot connect to Postgres: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A ready database: the pool, and the managed cluster when Pulse runs its own.
pub struct Database {
    pub pool: PgPool,
    /// The connection URL (CDC opens its own replication connection with it).
    pub url: String,
    pub cluster: Option<Cluster>,
}

/// Connects to the configured Postgres or starts the managed one, then migrates.
pub async fn open(config: &Config) -> Result<Database, DatabaseError> {
    let (url, cluster) = match &config.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let mut opts = ClusterOptions::new(config.data_dir.join("postgres"));
            opts.bin_dir = config.pg_bin_dir.clone();
            let cluster = Cluster::start(opts).await?;
            let url = cluster.ensure_database("pulse").await?;
            (url, Some(cluster))
        }
    };
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .map_err(DatabaseError::Connect)?;
    MIGRATOR.run(&pool).await?;
    Ok(Database { pool, url, cluster })
}

impl Database {
    /// Closes the pool, then stops the managed cluster if there is one.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            if let Err(e) = cluster.stop().await {
                tracing::error!(error = %e, "stopping managed Postgres failed");
            }
        }
    }
}
