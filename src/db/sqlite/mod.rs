//! [`Repo`] on a bundled SQLite file in WAL mode.
//!
//! One writer connection (SQLite allows one writer at a time anyway) and a
//! few reader connections that WAL lets run alongside it. Every call crosses
//! into the blocking pool through [`SqliteRepo::read`] or
//! [`SqliteRepo::write`], the one seam between async code and SQLite
//! (docs/architecture.md invariant 5). A call first waits, on the runtime,
//! for a free connection (a semaphore with one permit per connection), and
//! only then takes a blocking thread: however many requests arrive, at most
//! one thread per connection is ever blocked on SQLite.
//!
//! - [`rows`]: turning rows into records, shared by the queries.
//! - [`accounts`], [`photos`], [`albums`], [`blobs`], [`jobs`], [`site`]:
//!   one aggregate's queries each.

mod accounts;
mod albums;
mod blobs;
mod check;
mod copy;
mod jobs;
mod people;
mod photos;
mod rows;
mod site;
mod trash;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, Transaction, params};
use tokio::sync::Semaphore;

use super::{DbError, DbResult, MIGRATIONS, Repo};

const READERS: usize = 4;

/// The SQLite engine. Clones share the connections.
#[derive(Clone)]
pub struct SqliteRepo {
    writer: Arc<Mutex<Connection>>,
    /// Idle reader connections; a permit of `read_slots` guarantees one.
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Arc<Semaphore>,
    write_slot: Arc<Semaphore>,
    /// What tells this process of changes other processes made (`scoot
    /// user`, `scoot import`): see `site.rs`.
    watch: site::Watch,
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(code, ref msg)
                if code.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                DbError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()))
            }
            other => DbError::Backend(Box::new(other)),
        }
    }
}

fn joined(e: tokio::task::JoinError) -> DbError {
    DbError::Backend(Box::new(e))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed upload survives power loss, not just a killed process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> DbResult<()> {
    migrate_to(conn, i64::MAX)
}

/// Applies the migrations up to version `last` that are not applied yet.
fn migrate_to(conn: &mut Connection, last: i64) -> DbResult<()> {
    conn.execute_batch(super::MIGRATIONS_TABLE)?;
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 <= last) {
        let tx = conn.transaction()?;
        let applied: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM schema_migrations WHERE version = ?1",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, crate::domain::now_millis()],
            )?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit()?;
    }
    Ok(())
}

/// Leaves the database file at `path` whole on its own, with no write-ahead
/// log beside it (for a file that is copied or hashed, such as a backup's
/// snapshot). Call it once no [`SqliteRepo`] has the file open.
pub async fn seal(path: PathBuf) -> DbResult<()> {
    tokio::task::spawn_blocking(move || {
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        Ok(())
    })
    .await
    .map_err(joined)?
}

impl SqliteRepo {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: PathBuf) -> DbResult<Self> {
        tokio::task::spawn_blocking(move || {
            let opening = |source: super::BoxError| DbError::Open {
                path: path.clone(),
                source,
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| opening(Box::new(e)))?;
            }
            let connect = || -> DbResult<Connection> {
                let conn = Connection::open(&path).map_err(|e| opening(Box::new(e)))?;
                configure(&conn).map_err(|e| opening(Box::new(e)))?;
                Ok(conn)
            };
            let mut writer = connect()?;
            migrate(&mut writer)?;
            let readers = (0..READERS).map(|_| connect()).collect::<DbResult<_>>()?;
            Ok(Self {
                writer: Arc::new(Mutex::new(writer)),
                readers: Arc::new(Mutex::new(readers)),
                read_slots: Arc::new(Semaphore::new(READERS)),
                write_slot: Arc::new(Semaphore::new(1)),
                watch: site::Watch::default(),
            })
        })
        .await
        .map_err(joined)?
    }

    /// Runs `f` on a reader connection in the blocking pool, once one is free.
    async fn read<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let slot = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DbError::Backend(Box::new(e)))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let reader = Reader::take(readers);
            let out = f(reader.conn());
            drop((reader, slot));
            out
        })
        .await
        .map_err(joined)?
    }

    /// Runs `f` inside one write transaction in the blocking pool; commits if
    /// `f` succeeds, durably (synced to disk before it returns).
    async fn write<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
    {
        self.write_with(Sync::Full, f).await
    }

    /// A write whose loss on power failure (not on a crash: the WAL has it)
    /// only means redoing work: render-job bookkeeping. Skips the fsync.
    async fn write_relaxed<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
    {
        self.write_with(Sync::Normal, f).await
    }

    async fn write_with<T, F>(&self, sync: Sync, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
    {
        let slot = self
            .write_slot
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DbError::Backend(Box::new(e)))?;
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&writer);
            let level = match sync {
                Sync::Full => "FULL",
                Sync::Normal => "NORMAL",
            };
            conn.pragma_update(None, "synchronous", level)?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            drop(slot);
            Ok(out)
        })
        .await
        .map_err(joined)?
    }
}

/// A reader connection taken from the idle set, put back when dropped, so
/// a query that panics does not lose it.
struct Reader {
    conn: Option<Connection>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Reader {
    fn take(idle: Arc<Mutex<Vec<Connection>>>) -> Self {
        let conn = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Self {
            conn: Some(conn.expect("a read slot guarantees an idle reader")),
            idle,
        }
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

/// How hard a commit waits for the disk.
#[derive(Clone, Copy)]
enum Sync {
    /// fsync on every commit: survives power loss.
    Full,
    /// fsync at checkpoints: survives a killed process, may lose the last
    /// commits on power loss.
    Normal,
}

/// A poisoned lock only means another call panicked mid-use; the connection
/// itself is still sound (SQLite rolled back the transaction).
fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Repo for SqliteRepo {
    async fn ping(&self) -> DbResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 12 counts the storage of a library made before it: each
    /// original once, each variant key once, whoever shares them.
    #[test]
    fn upgrading_counts_the_storage_already_used() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 11).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, name, created_at) VALUES ('u1', 'ann', 0), ('u2', 'bo', 0);
             INSERT INTO photos (id, owner_id, original_hash, original_format, original_size,
                 width, height, status, created_at, updated_at)
             VALUES ('p1', 'u1', 'a1', 'jpeg', 1000, 4, 3, 'ready', 0, 0),
                    ('p2', 'u2', 'a1', 'jpeg', 1000, 4, 3, 'ready', 0, 0),
                    ('p3', 'u2', 'b2', 'jpeg', 500, 4, 3, 'pending', 0, 0);
             INSERT INTO variants (photo_id, name, format, width, height, byte_size, storage_key)
             VALUES ('p1', 'thumb', 'jpeg', 4, 3, 10, 'variants/a1/t'),
                    ('p1', 'display', 'jpeg', 4, 3, 20, 'variants/a1/d'),
                    ('p2', 'thumb', 'jpeg', 4, 3, 10, 'variants/a1/t');
             INSERT INTO blobs (hash, format, state, changed_at)
             VALUES ('a1', 'jpeg', 'live', 0), ('b2', 'jpeg', 'live', 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let bytes = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(bytes("SELECT bytes FROM blobs WHERE hash = 'a1'"), 1030);
        assert_eq!(bytes("SELECT bytes FROM blobs WHERE hash = 'b2'"), 500);
        assert_eq!(bytes("SELECT SUM(bytes) FROM storage_use"), 1530);
        assert_eq!(
            bytes("SELECT COUNT(*) FROM storage_use"),
            2,
            "one row per shard used"
        );
    }
}
