//! `scoot restore SRC`: a backup put back into the configured database and
//! store, which must be empty, whatever their engines (a backup of SQLite
//! and the local disk restores into PostgreSQL and S3 as well).
//!
//! Nothing is written until every file of the backup has been read and
//! found to be what its manifest says. Then the blobs go in first and the
//! rows last (a row never names a blob that is not there yet), the rows
//! copied from a working copy of the snapshot, so the backup stays as it
//! was.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::manifest::Manifest;
use super::{BackupError, files, io};
use crate::config::Config;
use crate::db;
use crate::domain::human_bytes;
use crate::keys::BlobKey;
use crate::migrate;
use crate::open_backends;
use crate::progress::Progress;

/// What `scoot restore` did.
#[derive(Debug, Default)]
pub struct RestoreSummary {
    pub photos: u64,
    pub rows: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl RestoreSummary {
    pub fn report(&self, database: &str, store: &str) -> String {
        format!(
            "restored {} photos ({} rows) into {database} and {} blobs ({}) into {store} \
             in {:.1} s; every file verified against the manifest",
            self.photos,
            self.rows,
            self.blobs,
            human_bytes(self.bytes),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Restores the backup in `src` into the database and store `config`
/// names.
pub async fn restore(config: &Config, src: &Path) -> Result<RestoreSummary, BackupError> {
    let started = Instant::now();
    let manifest = Manifest::read(src)
        .map_err(BackupError::Corrupt)?
        .ok_or_else(|| {
            BackupError::Refused(format!(
                "{} is not a backup (it has no manifest)",
                src.display()
            ))
        })?;
    let (db, store) = open_backends(config).await?;
    let database = db::redacted(&config.database_url());
    if let Some(table) = migrate::first_non_empty(db.as_ref()).await? {
        return Err(BackupError::Refused(format!(
            "{database} already holds data ({table} has rows): restore into an empty database"
        )));
    }
    for prefix in ["originals", "variants"] {
        if store.holds_any(prefix).await? {
            return Err(BackupError::Refused(format!(
                "{} already holds blobs: restore into an empty store",
                config.store_url()
            )));
        }
    }
    drop(db);

    let snapshot = src.join(&manifest.database);
    files::verify(&snapshot, &manifest.database_entry, "the database snapshot").await?;
    let blobs = src.join("blobs");
    let keys: Vec<(BlobKey, &super::manifest::Entry)> = manifest
        .blobs
        .iter()
        .filter_map(|(key, entry)| Some((BlobKey::parse(key)?, entry)))
        .collect();
    let mut progress = Progress::new("restore", 2 * keys.len() as u64);
    for (n, (key, entry)) in keys.iter().enumerate() {
        if key.original_hash().is_some_and(|named| named != entry.hash) {
            return Err(BackupError::Corrupt(format!(
                "the manifest gives {} a hash other than its key",
                key.as_str()
            )));
        }
        files::verify(&files::blob_path(&blobs, key), entry, key.as_str()).await?;
        progress.update(n as u64 + 1, "verifying".into());
    }

    let mut summary = RestoreSummary::default();
    for (n, (key, entry)) in keys.iter().enumerate() {
        let path = files::blob_path(&blobs, key);
        if key.original_hash().is_some() {
            store.put_original_file(key, &path).await?;
        } else {
            let bytes = tokio::fs::read(&path).await.map_err(io(&path))?;
            store.put(key, Bytes::from(bytes)).await?;
        }
        summary.blobs += 1;
        summary.bytes += entry.bytes;
        progress.update((keys.len() + n) as u64 + 1, key.as_str().to_owned());
    }
    progress.finish();

    // The rows, from a working copy (opening it may migrate it to this
    // version's schema).
    std::fs::create_dir_all(&config.data_dir).map_err(io(&config.data_dir))?;
    let work = tempfile::Builder::new()
        .prefix("restore-")
        .suffix(".db")
        .tempfile_in(&config.data_dir)
        .map_err(io(&config.data_dir))?
        .into_temp_path();
    std::fs::copy(&snapshot, &work).map_err(io(&work))?;
    let mut source = config.clone();
    source.database_url = format!("sqlite://{}", work.display());
    let copied = migrate::migrate_db(&source, &config.database_url()).await?;
    for suffix in ["-wal", "-shm"] {
        let mut side = work.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    for (table, _, total) in &copied.tables {
        summary.rows += total;
        if *table == "photos" {
            summary.photos = *total;
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}
