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
//!
//! - [`rows`]: turning rows into records.
//! - [`accounts`], [`photos`], [`albums`], [`blobs`], [`jobs`]: one
//!   aggregate's queries each.

mod accounts;
mod albums;
mod blobs;
mod jobs;
mod photos;
mod rows;

use std::str::FromStr;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{DbError, DbResult, MIGRATIONS, MIGRATIONS_TABLE, Repo};

/// Connections per node; PostgreSQL's default allows 100 in all.
const POOL_SIZE: usize = 16;
/// The advisory lock key migrations run under ("scoot" in ASCII).
const MIGRATION_LOCK: i64 = 0x73_63_6f_6f_74;

/// The PostgreSQL engine.
pub struct PostgresRepo {
    pool: Pool,
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => DbError::Conflict(
                e.as_db_error()
                    .map(|d| d.message().to_owned())
                    .unwrap_or_else(|| e.to_string()),
            ),
            _ => DbError::Backend(Box::new(e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DbError::Backend(Box::new(e))
    }
}

impl PostgresRepo {
    /// Connects to `url` (`postgres://user[:pw]@host[:port]/db`) and applies
    /// pending migrations.
    pub async fn open(url: &str) -> DbResult<Self> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| DbError::Url(format!("{url}: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| DbError::Url(format!("{url}: {e}")))?;
        let repo = Self { pool };
        repo.migrate().await.map_err(|e| match e {
            DbError::Backend(source) => DbError::Open {
                path: url_without_password(url).into(),
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

/// `url` with any password replaced, for messages.
fn url_without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[async_trait]
impl Repo for PostgresRepo {
    async fn ping(&self) -> DbResult<()> {
        self.client().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            url_without_password("postgres://scoot:secret@db:5432/scoot"),
            "postgres://scoot:***@db:5432/scoot"
        );
        assert_eq!(url_without_password("postgres://db/scoot"), "postgres://db/scoot");
    }
}
