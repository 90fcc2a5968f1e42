//! `scoot migrate-db --to URL` and `scoot migrate-store --to URL`: a
//! one-box install copied into production engines as it is — ids, keys,
//! tokens, positions and render state — so that no photo is rendered again
//! and no media URL changes.
//!
//! Both refuse a target that already holds data, unless it is an unfinished
//! copy from the same source (marked in the target while the copy runs),
//! which they resume: rows and blobs already there are left as they are.
//! Both verify before they clear the mark: every table's rows are counted
//! on both sides, and every blob is read back from the target and hashed
//! (an original's hash must also be the one its key names). Stop `scoot
//! serve` first: a copy of data that changes meanwhile is not a snapshot.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Config;
use crate::db::copy::{TABLES, key_of};
use crate::db::{self, DbError, Repo};
use crate::domain::ContentHash;
use crate::keys::BlobKey;
use crate::progress::Progress;
use crate::store::{Store, StoreError};

/// Rows read and written at a time.
const BATCH: u32 = 500;
/// The store note that marks an unfinished copy; it holds the source.
const STORE_MARK: &str = "scoot-copy-in-progress";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The target cannot be used: it holds other data, or is the source.
    #[error("{0}")]
    Refused(String),
    /// A setting names something that cannot be opened.
    #[error("{setting}: {message}")]
    Open {
        setting: &'static str,
        message: String,
    },
    /// The copy does not match its source.
    #[error("verification failed: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `migrate-db` did, per table: rows written now, rows in all.
#[derive(Debug, Default)]
pub struct DbSummary {
    pub resumed: bool,
    pub tables: Vec<(&'static str, u64, u64)>,
    pub elapsed: Duration,
}

impl DbSummary {
    pub fn report(&self) -> String {
        let mut out = format!(
            "{} in {:.1} s; row counts verified:",
            if self.resumed {
                "copy resumed and finished"
            } else {
                "copied"
            },
            self.elapsed.as_secs_f64()
        );
        for (table, written, total) in &self.tables {
            let _ = write!(
                out,
                "\n  {table:<14} {total:>9} rows ({written} written now)"
            );
        }
        out
    }
}

/// What `migrate-store` did.
#[derive(Debug, Default)]
pub struct StoreSummary {
    pub resumed: bool,
    /// Blobs written now, and blobs found already copied.
    pub copied: u64,
    pub present: u64,
    pub bytes: u64,
    /// Objects in the source that Scoot did not write (left alone).
    pub skipped: Vec<String>,
    pub elapsed: Duration,
}

impl StoreSummary {
    pub fn report(&self) -> String {
        let mut out = format!(
            "{} {} blobs ({} written now, {} already there, {:.1} MB) in {:.1} s; every blob read back and its SHA-256 verified",
            if self.resumed {
                "copy resumed and finished:"
            } else {
                "copied"
            },
            self.copied + self.present,
            self.copied,
            self.present,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64()
        );
        if !self.skipped.is_empty() {
            let _ = write!(
                out,
                "\n{} objects that Scoot does not write were left behind, e.g. {}",
                self.skipped.len(),
                self.skipped[0]
            );
        }
        out
    }
}

/// Copies the configured database into the one `to` names.
pub async fn migrate_db(config: &Config, to: &str) -> Result<DbSummary, MigrateError> {
    let started = Instant::now();
    let from = config.database_url();
    if from == to {
        return Err(MigrateError::Refused(
            "--to names the database Scoot is configured with".into(),
        ));
    }
    let open = |setting, url: String| async move {
        db::open(&url).await.map_err(|e| MigrateError::Open {
            setting,
            message: e.to_string(),
        })
    };
    let source = open("database_url", from.clone()).await?;
    let target = open("--to", to.to_owned()).await?;
    let label = db::redacted(&from);
    let resumed = match target.copy_marker().await? {
        Some(mark) if mark == label => true,
        Some(mark) => {
            return Err(MigrateError::Refused(format!(
                "{} is being filled from {mark}, not from {label}",
                db::redacted(to)
            )));
        }
        None => {
            if let Some(table) = first_non_empty(target.as_ref()).await? {
                return Err(MigrateError::Refused(format!(
                    "{} already holds data ({table} has rows): copy into an empty database",
                    db::redacted(to)
                )));
            }
            false
        }
    };
    target.set_copy_marker(Some(&label)).await?;

    let mut totals = Vec::new();
    for (table, _) in TABLES {
        totals.push(source.count_rows(table).await?);
    }
    let mut progress = Progress::new("migrate-db", totals.iter().sum());
    let mut summary = DbSummary {
        resumed,
        ..DbSummary::default()
    };
    let mut done = 0;
    for ((table, key), total) in TABLES.iter().zip(totals) {
        let columns = source.columns(table).await?;
        let mut written = 0;
        let mut after = None;
        loop {
            let rows = source
                .read_rows(table, &columns, key, after.as_deref(), BATCH)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(key_of(&columns, key, last));
            written += target.write_rows(table, &columns, &rows).await?;
            done += rows.len() as u64;
            progress.update(done, format!("{table}: {written} rows written"));
        }
        summary.tables.push((table, written, total));
    }
    progress.finish();

    for (table, _, total) in &summary.tables {
        let copied = target.count_rows(table).await?;
        if copied != *total {
            return Err(MigrateError::Mismatch(format!(
                "{table}: {total} rows in the source, {copied} in the target"
            )));
        }
    }
    // Pages must never look older than they did: the target's data
    // version starts past the source's.
    let version = source.data_version().await?;
    target.announce("migrate-db started", version).await?;
    target.set_copy_marker(None).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The first table of [`TABLES`] that holds a row, if any.
pub(crate) async fn first_non_empty(db: &dyn Repo) -> Result<Option<&'static str>, DbError> {
    for (table, _) in TABLES {
        if db.count_rows(table).await? > 0 {
            return Ok(Some(table));
        }
    }
    Ok(None)
}

/// Copies every blob of the configured store into the one `to` names.
pub async fn migrate_store(config: &Config, to: &str) -> Result<StoreSummary, MigrateError> {
    let started = Instant::now();
    let from = config.store_url();
    if from == to {
        return Err(MigrateError::Refused(
            "--to names the store Scoot is configured with".into(),
        ));
    }
    let source = open_store("store_url", &from).await?;
    let target = open_store("--to", to).await?;

    let mut summary = StoreSummary::default();
    let mut blobs = Vec::new();
    for (key, size) in source.list_sizes(None).await? {
        match BlobKey::parse(&key) {
            Some(blob) => blobs.push((blob, size)),
            None => summary.skipped.push(key),
        }
    }
    blobs.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let present: HashMap<String, u64> = target
        .list_sizes(None)
        .await?
        .into_iter()
        .filter(|(key, _)| key != STORE_MARK)
        .collect();
    let mark = target.note(STORE_MARK).await?;
    summary.resumed = match mark {
        Some(source) if source[..] == *from.as_bytes() => true,
        Some(source) => {
            return Err(MigrateError::Refused(format!(
                "{to} is being filled from {}, not from {from}",
                String::from_utf8_lossy(&source)
            )));
        }
        None if !present.is_empty() => {
            return Err(MigrateError::Refused(format!(
                "{to} already holds {} objects: copy into an empty bucket or prefix",
                present.len()
            )));
        }
        None => false,
    };
    target
        .set_note(STORE_MARK, Some(Bytes::from(from.clone())))
        .await?;

    let total = blobs.len() as u64;
    let mut progress = Progress::new("migrate-store", total * 2);
    let mut hashes: HashMap<String, ContentHash> = HashMap::new();
    for (i, (key, size)) in blobs.iter().enumerate() {
        if present.get(key.as_str()) == Some(size) {
            summary.present += 1;
        } else {
            let (bytes, _) = source.get(key).await?;
            let hash = verified(key, &bytes)?;
            if key.original_hash().is_some() {
                target.put_original(key, bytes.clone()).await?;
            } else {
                target.put(key, bytes.clone()).await?;
            }
            summary.copied += 1;
            summary.bytes += bytes.len() as u64;
            hashes.insert(key.as_str().to_owned(), hash);
        }
        progress.update(
            i as u64 + 1,
            format!(
                "{} copied · {} already there",
                summary.copied, summary.present
            ),
        );
    }
    // Read everything back: what the target holds must be what the source
    // holds, byte for byte.
    for (i, (key, _)) in blobs.iter().enumerate() {
        let expected = match hashes.remove(key.as_str()) {
            Some(hash) => hash,
            None => verified(key, &source.get(key).await?.0)?,
        };
        let (copied, _) = target.get(key).await?;
        if ContentHash::of(&copied) != expected {
            return Err(MigrateError::Mismatch(format!(
                "{}: the target's bytes differ from the source's",
                key.as_str()
            )));
        }
        progress.update(total + i as u64 + 1, "verifying".into());
    }
    progress.finish();
    target.set_note(STORE_MARK, None).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A store that answers, or why not, naming the setting.
async fn open_store(setting: &'static str, url: &str) -> Result<Store, MigrateError> {
    let opened = async {
        let store = Store::open(url)?;
        store.ping().await?;
        Ok::<_, StoreError>(store)
    };
    opened.await.map_err(|e| MigrateError::Open {
        setting,
        message: format!("{url}: {e}"),
    })
}

/// The SHA-256 of a blob's bytes, which for an original must be the one
/// its key names.
fn verified(key: &BlobKey, bytes: &[u8]) -> Result<ContentHash, MigrateError> {
    let hash = ContentHash::of(bytes);
    match key.original_hash() {
        Some(named) if named != hash => Err(MigrateError::Mismatch(format!(
            "{}: the source's bytes do not have the SHA-256 their key names",
            key.as_str()
        ))),
        _ => Ok(hash),
    }
}
