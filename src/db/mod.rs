//! The database: the truth about what exists (docs/architecture.md invariant 1).
//!
//! [`Repo`] speaks in domain terms and is split by aggregate, one trait
//! each; every engine implements all of them. Today that is SQLite
//! ([`sqlite`]); Postgres runs the same migrations (`migrations/NNNN_name.sql`,
//! in the SQL subset both engines share) and gets its own implementation
//! later. `tests/repo_contract.rs` holds any implementation to the same
//! behaviour.
//!
//! - [`AccountRepo`]: users, sessions and API tokens.
//! - [`PhotoRepo`]: photos and their variants.
//! - [`AlbumRepo`]: albums and the photos in them.
//! - [`BlobRepo`]: who uses an original's blobs (docs/architecture.md,
//!   "Shared blobs").
//! - [`JobRepo`]: render jobs, the durable queue.
//!
//! Invariants: this module knows nothing of HTTP, rendering or the object
//! store. Every multi-row change is one transaction: a photo is never visible
//! without its render job, and never `ready` without its variants.

mod accounts;
mod albums;
mod blobs;
mod jobs;
mod photos;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use accounts::AccountRepo;
pub use albums::AlbumRepo;
pub use blobs::{BlobRepo, Released, Reservation, Reserve};
pub use jobs::{ClaimedJob, JobRepo};
pub use photos::{Deleted, PhotoRepo};

/// Any error an engine's driver reports, with its cause chain intact.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Creates the table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = include_str!("schema_migrations.sql");

/// The migrations, in order. Applied at start-up by every engine.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "shot_facts",
        include_str!("migrations/0002_shot_facts.sql"),
    ),
    (3, "sharing", include_str!("migrations/0003_sharing.sql")),
    (4, "albums", include_str!("migrations/0004_albums.sql")),
    (5, "failures", include_str!("migrations/0005_failures.sql")),
    (6, "blobs", include_str!("migrations/0006_blobs.sql")),
];

/// A database failure. Expected outcomes (a duplicate photo, a missing row)
/// are values in the `Ok` side, not errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule was broken, e.g. a user name that is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine failed or is unreachable.
    #[error("database error: {0}")]
    Backend(#[source] BoxError),
    /// The database file (or its folder) could not be opened or created.
    #[error("cannot open the database at {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    /// A row holds something the code cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("bad database url: {0}")]
    Url(String),
}

pub type DbResult<T> = Result<T, DbError>;

/// Opens the database named by `url` and applies pending migrations.
pub async fn open(url: &str) -> DbResult<Arc<dyn Repo>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let repo = sqlite::SqliteRepo::open(path.into()).await?;
        Ok(Arc::new(repo))
    } else {
        Err(DbError::Url(format!(
            "{url}: expected sqlite://PATH (postgres:// is not supported yet)"
        )))
    }
}

/// Everything Scoot asks of a database, in domain terms: one trait per
/// aggregate. `Arc<dyn Repo>` is how the rest of Scoot holds one.
#[async_trait]
pub trait Repo: AccountRepo + PhotoRepo + AlbumRepo + BlobRepo + JobRepo + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> DbResult<()>;
}
