//! `scoot backup DEST` and `scoot restore SRC`: the whole site in a folder
//! — a snapshot of the database and every blob it references — taken
//! while `scoot serve` runs, and put back into empty engines of any kind.
//!
//! - [`manifest`]: the file that makes a backup current, with the SHA-256
//!   of the snapshot and of every blob.
//! - [`files`]: blobs streamed into the folder and hashed.
//! - [`restore`]: the way back, verified before anything is written.
//!
//! A backup folder:
//!
//! ```text
//! DEST/manifest                 the current backup (see manifest)
//! DEST/scoot-<ms>.db            the database as of one moment, as SQLite
//! DEST/blobs/originals/…        every blob that snapshot references,
//! DEST/blobs/variants/…         under its key
//! ```
//!
//! The snapshot is consistent: SQLite's `VACUUM INTO`, or on PostgreSQL
//! every table read in one repeatable-read transaction. The blobs are
//! copied after it. A blob is never rewritten under the same key, so every
//! blob a snapshot references is still in the store unless its photo was
//! deleted since; such a photo is taken out of the snapshot too, as though
//! it had been deleted just before. Backups are incremental by content:
//! a blob the previous manifest lists, whose file is there at its size,
//! is not fetched again. Only when everything is in the folder is the new
//! manifest written (then the old snapshot and unreferenced blobs go), so
//! an interrupted backup leaves the previous one whole.

mod files;
mod manifest;
mod restore;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};

use manifest::Entry;
pub use manifest::Manifest;
pub use restore::{RestoreSummary, restore};

use crate::config::Config;
use crate::db::check::PhotoBlobs;
use crate::db::sqlite::{self, SqliteRepo};
use crate::db::{BlobRepo, CheckRepo, DbError, PhotoRepo, Repo};
use crate::domain::{PhotoId, PhotoStatus, human_bytes, now_millis};
use crate::keys::BlobKey;
use crate::migrate::MigrateError;
use crate::progress::Progress;
use crate::store::{Store, StoreError};
use crate::{StartError, open_backends};

/// Blobs fetched at once.
const FETCHING: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The folder or the target cannot be used as asked.
    #[error("{0}")]
    Refused(String),
    /// Bytes are not what they must be.
    #[error("{0}")]
    Corrupt(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `scoot backup` did.
#[derive(Debug, Default)]
pub struct BackupSummary {
    pub photos: u64,
    pub blobs: u64,
    pub bytes: u64,
    /// Blobs fetched from the store this time, and their bytes.
    pub fetched: (u64, u64),
    /// Blobs removed from the folder: no photo references them any more.
    pub pruned: u64,
    /// Photos deleted while the backup ran, left out of it.
    pub dropped: Vec<PhotoId>,
    /// Variants the store had lost (a render makes them again).
    pub missing_variants: u64,
    pub elapsed: Duration,
}

impl BackupSummary {
    pub fn report(&self, dest: &Path) -> String {
        let mut out = format!(
            "backed up {} photos and {} blobs ({}) to {} in {:.1} s",
            self.photos,
            self.blobs,
            human_bytes(self.bytes),
            dest.display(),
            self.elapsed.as_secs_f64()
        );
        out.push_str(&format!(
            "\n  {} blobs fetched ({}), {} already in the backup, {} no longer needed removed",
            self.fetched.0,
            human_bytes(self.fetched.1),
            self.blobs - self.fetched.0,
            self.pruned
        ));
        if self.missing_variants > 0 {
            out.push_str(&format!(
                "\n  {} variant(s) missing from the store were left out: \
                 `scoot check --repair` renders them again",
                self.missing_variants
            ));
        }
        if !self.dropped.is_empty() {
            out.push_str(&format!(
                "\n  {} photo(s) deleted while the backup ran are not in it",
                self.dropped.len()
            ));
        }
        out
    }
}

/// Backs up the database and store `config` names into `dest`.
pub async fn backup(config: &Config, dest: &Path) -> Result<BackupSummary, BackupError> {
    let started = Instant::now();
    let (db, store) = open_backends(config).await?;
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let previous = Manifest::read(dest).map_err(BackupError::Corrupt)?;
    // An earlier backup, or one interrupted before its first manifest.
    let ours =
        |name: &str| name == "blobs" || name.starts_with("scoot-") || name.starts_with("manifest");
    let foreign = std::fs::read_dir(dest)
        .map_err(io(dest))?
        .flatten()
        .any(|e| !ours(&e.file_name().to_string_lossy()));
    if previous.is_none() && foreign {
        return Err(BackupError::Refused(format!(
            "{} holds files but no backup: back up into an empty folder, or into an earlier backup",
            dest.display()
        )));
    }
    let created = now_millis();
    let database = format!("scoot-{created}.db");
    let snapshot_path = dest.join(&database);
    db.snapshot_to(&snapshot_path).await?;

    let copier = Copier {
        live: db.as_ref(),
        store: &store,
        blobs: dest.join("blobs"),
        previous: previous.map(|m| m.blobs).unwrap_or_default(),
    };
    let mut summary = BackupSummary::default();
    let snapshot = SqliteRepo::open(snapshot_path.clone()).await?;
    let mut entries = BTreeMap::new();
    let mut progress = Progress::new("backup", 256);
    for n in 0..256u32 {
        let prefix = format!("{n:02x}");
        let rows = snapshot.shard_rows(&prefix).await?;
        for photo in &rows.photos {
            match copier.photo(photo, &mut summary).await? {
                Some(blobs) => {
                    entries.extend(blobs);
                    summary.photos += 1;
                }
                None => {
                    // Deleted since the snapshot: as though just before it.
                    if let Some(deleted) = snapshot.delete_photo(&photo.id, created).await? {
                        if let Some(released) = deleted.released {
                            snapshot.forget_blob(&released).await?;
                        }
                    }
                    summary.dropped.push(photo.id.clone());
                }
            }
        }
        progress.update(
            u64::from(n) + 1,
            format!("{} blobs fetched", summary.fetched.0),
        );
    }
    progress.finish();
    drop(snapshot);
    sqlite::seal(snapshot_path.clone()).await?;

    let manifest = Manifest {
        created,
        database,
        database_entry: files::hash_file(&snapshot_path).await?,
        blobs: entries,
    };
    manifest.commit(dest).map_err(io(dest))?;
    summary.blobs = manifest.blobs.len() as u64;
    summary.bytes = manifest.blobs.values().map(|e| e.bytes).sum();
    summary.pruned = prune(dest, &manifest);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Fetches blobs into the backup's folder.
struct Copier<'a> {
    live: &'a dyn Repo,
    store: &'a Store,
    blobs: PathBuf,
    previous: BTreeMap<String, Entry>,
}

impl Copier<'_> {
    /// Every blob `photo` references, in the folder; `None` if the photo
    /// was deleted since the snapshot (and so its blobs may be gone).
    async fn photo(
        &self,
        photo: &PhotoBlobs,
        summary: &mut BackupSummary,
    ) -> Result<Option<Vec<(String, Entry)>>, BackupError> {
        let original = BlobKey::original(&photo.hash, photo.format);
        let mut keys = vec![original.clone()];
        keys.extend(photo.variants.iter().filter_map(|(k, _)| BlobKey::parse(k)));
        let fetched: Vec<(BlobKey, Option<(Entry, bool)>)> = futures_util::stream::iter(keys)
            .map(|key| async move {
                let entry = self.blob(&key).await?;
                Ok::<_, BackupError>((key, entry))
            })
            .buffered(FETCHING)
            .try_collect()
            .await?;
        let mut blobs = Vec::with_capacity(fetched.len());
        for (key, entry) in fetched {
            match entry {
                Some((entry, new)) => {
                    if new {
                        summary.fetched.0 += 1;
                        summary.fetched.1 += entry.bytes;
                    }
                    blobs.push((key.as_str().to_owned(), entry));
                }
                None if self.live.photo(&photo.id).await?.is_none() => return Ok(None),
                // A photo that failed may never have had its original
                // stored (a failed upload of it is tried again in full).
                None if photo.status == PhotoStatus::Failed && key == original => {}
                // A render makes it again (`scoot check --repair`).
                None if key != original => summary.missing_variants += 1,
                None => {
                    return Err(BackupError::Corrupt(format!(
                        "the original of photo {} ({}) is missing from the store \
                         (see `scoot check`)",
                        photo.id,
                        key.as_str()
                    )));
                }
            }
        }
        Ok(Some(blobs))
    }

    /// Blob `key` in the folder, and whether it was fetched now; `None`
    /// if the store does not have it.
    async fn blob(&self, key: &BlobKey) -> Result<Option<(Entry, bool)>, BackupError> {
        let path = files::blob_path(&self.blobs, key);
        if let Some(entry) = self.previous.get(key.as_str()) {
            let len = tokio::fs::metadata(&path).await.map(|m| m.len()).ok();
            if len == Some(entry.bytes) {
                return Ok(Some((entry.clone(), false)));
            }
        }
        Ok(files::fetch(self.store, key, &path)
            .await?
            .map(|entry| (entry, true)))
    }
}

/// Removes what the committed `manifest` does not name: older snapshots,
/// unreferenced blobs and what an interrupted backup left. Returns how
/// many blobs went.
fn prune(dest: &Path, manifest: &Manifest) -> u64 {
    let mut pruned = 0;
    let blobs = dest.join("blobs");
    for rel in files::walk(&blobs) {
        let key = rel.to_string_lossy();
        if !manifest.blobs.contains_key(key.as_ref())
            && std::fs::remove_file(blobs.join(&rel)).is_ok()
        {
            pruned += u64::from(!key.ends_with(".part"));
        }
    }
    let Ok(entries) = std::fs::read_dir(dest) else {
        return pruned;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("scoot-") && name != manifest.database {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    pruned
}
