//! The database: the truth about what exists (docs/architecture.md invariant 1).
//!
//! [`Repo`] speaks in domain terms and is split by aggregate, one trait
//! each; every engine implements all of them: SQLite ([`sqlite`], one node,
//! the default) and PostgreSQL ([`postgres`], shared by several nodes).
//! Both run the same migrations (`migrations/NNNN_name.sql`, in the SQL
//! subset both engines share), and `tests/repo_contract.rs` holds both to
//! the same behaviour.
//!
//! - [`AccountRepo`]: users, sessions and API tokens.
//! - [`PhotoRepo`]: photos and their variants.
//! - [`AlbumRepo`]: albums and the photos in them.
//! - [`BlobRepo`]: who uses an original's blobs (docs/architecture.md,
//!   "Shared blobs").
//! - [`JobRepo`]: render jobs, the durable queue.
//! - [`SiteRepo`]: the data version every node agrees on, and notices
//!   between the nodes that share a database.
//! - [`CopyRepo`]: whole tables, for copying one database into another.
//! - [`CheckRepo`]: what `scoot check` compares with the store, and mends.
//!
//! Invariants: this module knows nothing of HTTP, rendering or the object
//! store. Every multi-row change is one transaction: a photo is never visible
//! without its render job, and never `ready` without its variants.

mod accounts;
mod albums;
mod blobs;
pub mod check;
pub mod copy;
mod jobs;
pub(crate) mod people;
mod photos;
pub mod postgres;
mod site;
pub mod sqlite;
mod trash;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use accounts::AccountRepo;
pub use albums::AlbumRepo;
pub use blobs::{BlobRepo, Release, Released, Reservation, Reserve};
pub use check::CheckRepo;
pub use copy::CopyRepo;
pub use jobs::{CRASH_BACKOFF_MS, ClaimedJob, JobRepo};
pub use people::{PeopleRepo, Retired};
pub use photos::{Deleted, PhotoRepo};
pub use site::{Notice, SiteRepo};
pub use trash::TrashRepo;

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
    (7, "nodes", include_str!("migrations/0007_nodes.sql")),
    (8, "copy", include_str!("migrations/0008_copy.sql")),
    (
        9,
        "node_samples",
        include_str!("migrations/0009_node_samples.sql"),
    ),
    (
        10,
        "setup_tokens",
        include_str!("migrations/0010_setup_tokens.sql"),
    ),
    (
        11,
        "token_use",
        include_str!("migrations/0011_token_use.sql"),
    ),
    (
        12,
        "storage_use",
        include_str!("migrations/0012_storage_use.sql"),
    ),
    (
        13,
        "filenames",
        include_str!("migrations/0013_filenames.sql"),
    ),
    (14, "trash", include_str!("migrations/0014_trash.sql")),
    (15, "dated", include_str!("migrations/0015_dated.sql")),
    (16, "people", include_str!("migrations/0016_people.sql")),
];

/// A database failure. Expected outcomes (a duplicate photo, a missing row)
/// are values in the `Ok` side, not errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule was broken, e.g. a user name that is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine failed.
    #[error("database error: {0}")]
    Backend(#[source] BoxError),
    /// The engine cannot be reached right now (refused, timed out, the
    /// connection dropped): worth trying again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The database (its file, or its server) could not be opened.
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

/// Opens the database named by `url` (`sqlite://PATH` or
/// `postgres://user[:pw]@host[:port]/db`) and applies pending migrations.
pub async fn open(url: &str) -> DbResult<Arc<dyn Repo>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(sqlite::SqliteRepo::open(path.into()).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresRepo::open(url).await?))
    } else {
        Err(DbError::Url(format!(
            "{url}: expected sqlite://PATH or postgres://user[:password]@host[:port]/database"
        )))
    }
}

/// `url` with any password replaced, for messages and logs.
pub fn redacted(url: &str) -> String {
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

impl DbError {
    /// Whether trying again later may succeed without anyone fixing
    /// anything (the engine was unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Everything Scoot asks of a database, in domain terms: one trait per
/// aggregate. `Arc<dyn Repo>` is how the rest of Scoot holds one.
#[async_trait]
pub trait Repo:
    AccountRepo
    + PeopleRepo
    + PhotoRepo
    + TrashRepo
    + AlbumRepo
    + BlobRepo
    + JobRepo
    + SiteRepo
    + CopyRepo
    + CheckRepo
    + 'static
{
    /// Succeeds when the database answers.
    async fn ping(&self) -> DbResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgres://scoot:secret@db:5432/scoot"),
            "postgres://scoot:***@db:5432/scoot"
        );
        assert_eq!(redacted("postgres://db/scoot"), "postgres://db/scoot");
        assert_eq!(redacted("sqlite://data/scoot.db"), "sqlite://data/scoot.db");
    }
}
