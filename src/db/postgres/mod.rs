//! [`Repo`] on PostgreSQL, through tokio-postgres and a deadpool pool.
//!
//! The same migration files as SQLite, applied under a session-level
//! advisory lock so that nodes starting together never race. Every method
//! is one transaction (or one statement) on a pooled connection, with the
//! same statements' shape as the SQLite engine: in particular the blob
//! protocol writes the blob's row first (`INSERT … ON CONFLICT DO UPDATE`),
//! which takes its row lock until commit (docs/architecture.md, "Shared
//! blobs"), and render jobs are claimed with `FOR UPDATE SKIP LOCKED`, so
//! several nodes can claim at once without taking the same job.
//! Transactions that change rows of several tables lock them in one order
//! — the blob, then the photo, then its job — so that they wait for each
//! other rather than deadlock; a deadlock or serialization failure that
//! happens all the same is reported as [`DbError::Unavailable`]: nothing
//! changed, and the same request may pass when tried again.
//!
//! Nodes hear of each other through `LISTEN`/`NOTIFY` ([`listen`]): jobs
//! queued and changes announced. Those are hints that make things quick;
//! correctness never waits on them (an idle node still polls for jobs, and
//! a listener that reconnects tells its node to drop what it cached).
//!
//! - [`rows`]: turning rows into records.
//! - [`accounts`], [`photos`], [`albums`], [`blobs`], [`jobs`], [`site`]:
//!   one aggregate's queries each.
//! - [`listen`]: the connection that listens for notices.

mod accounts;
mod albums;
mod blobs;
mod check;
mod copy;
mod jobs;
mod listen;
mod people;
mod photos;
mod rows;
mod site;
mod trash;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio::sync::broadcast;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{DbError, DbResult, MIGRATIONS, MIGRATIONS_TABLE, Notice, Repo};

/// Connections per node; PostgreSQL's default allows 100 in all.
const POOL_SIZE: usize = 16;
/// How long to wait for a connection to be made, or for a free one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_WAIT: Duration = Duration::from_secs(10);
/// The advisory lock key migrations run under ("scoot" in ASCII).
const MIGRATION_LOCK: i64 = 0x73_63_6f_6f_74;

/// The PostgreSQL engine.
pub struct PostgresRepo {
    pool: Pool,
    config: tokio_postgres::Config,
    /// Started by the first [`SiteRepo::listen`](super::SiteRepo::listen).
    notices: OnceLock<Arc<broadcast::Sender<Notice>>>,
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => DbError::Conflict(
                e.as_db_error()
                    .map(|d| d.message().to_owned())
                    .unwrap_or_else(|| e.to_string()),
            ),
            _ if is_unavailable(&e) => DbError::Unavailable(Box::new(e)),
            _ => DbError::Backend(Box::new(e)),
        }
    }
}

/// Whether `e` says the server cannot be reached or talked to right now,
/// rather than that a statement failed.
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        // 08: connection exception; 57P01–03: shutting down, cannot
        // connect now; 53300: too many connections; 40001 and 40P01: a
        // serialization failure or deadlock, which the same request may
        // well pass when tried again.
        let code = db.code().code();
        return code.starts_with("08")
            || code.starts_with("57P")
            || code == "53300"
            || code == "40001"
            || code == "40P01";
    }
    // No answer from a server: the connection failed or timed out.
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    e.to_string().contains("timed out") || e.to_string().starts_with("error connecting")
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) | PoolError::Closed => DbError::Unavailable(Box::new(e)),
            other => DbError::Backend(Box::new(other)),
        }
    }
}

impl PostgresRepo {
    /// Connects to `url` (`postgres://user[:pw]@host[:port]/db`) and applies
    /// pending migrations.
    pub async fn open(url: &str) -> DbResult<Self> {
        let bad_url =
            |e: &dyn std::fmt::Display| DbError::Url(format!("{}: {e}", super::redacted(url)));
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| bad_url(&e))?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("scoot");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| bad_url(&e))?;
        let repo = Self {
            pool,
            config,
            notices: OnceLock::new(),
        };
        repo.migrate().await.map_err(|e| match e {
            DbError::Backend(source) | DbError::Unavailable(source) => DbError::Open {
                path: super::redacted(url).into(),
                source,
            },
            other => other,
        })?;
        Ok(repo)
    }

    /// A pooled connection.
    async fn client(&self) -> DbResult<Object> {
        Ok(self.pool.get().await?)
    }

    async fn migrate(&self) -> DbResult<()> {
        let mut client = self.client().await?;
        // Held by this session until unlocked: a second node starting now
        // waits here, then finds everything applied.
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let applied = apply_migrations(&mut client).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        applied
    }
}

async fn apply_migrations(client: &mut Object) -> DbResult<()> {
    // `CREATE TABLE IF NOT EXISTS` would say NOTICE at every start.
    client
        .batch_execute("SET client_min_messages TO WARNING")
        .await?;
    client.batch_execute(MIGRATIONS_TABLE).await?;
    for &(version, name, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await?
            .is_some();
        if !done {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&version, &name, &crate::domain::now_millis()],
            )
            .await?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit().await?;
    }
    Ok(())
}

#[async_trait]
impl Repo for PostgresRepo {
    async fn ping(&self) -> DbResult<()> {
        self.client().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }
}
