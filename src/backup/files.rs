//! Files in a backup folder: blobs streamed in from the store (hashed on
//! the way, synced, then renamed into place) and files hashed on the way
//! out. Memory stays bounded by a chunk whatever a blob's size.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BackupError;
use super::manifest::Entry;
use crate::domain::ContentHash;
use crate::keys::BlobKey;
use crate::store::Store;

/// Where blob `key` lives under a backup's `blobs/` folder. Keys are
/// validated ([`BlobKey`]), so this never leaves the folder.
pub fn blob_path(blobs: &Path, key: &BlobKey) -> PathBuf {
    blobs.join(key.as_str())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies `key` from `store` to `path`; `None` if the store has no such
/// blob. An original's bytes must hash to its key.
pub async fn fetch(
    store: &Store,
    key: &BlobKey,
    path: &Path,
) -> Result<Option<Entry>, BackupError> {
    let Some(mut stream) = store.chunks(key).await? else {
        return Ok(None);
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    }
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let mut file = tokio::fs::File::create(&part).await.map_err(io(&part))?;
    let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io(&part))?;
    }
    file.sync_all().await.map_err(io(&part))?;
    drop(file);
    let hash = ContentHash::from_digest(hasher);
    if key.original_hash().is_some_and(|named| named != hash) {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(BackupError::Corrupt(format!(
            "{} in the store does not hash to its key (run `scoot check`)",
            key.as_str()
        )));
    }
    tokio::fs::rename(&part, path).await.map_err(io(path))?;
    Ok(Some(Entry { hash, bytes }))
}

/// The SHA-256 and size of the file at `path`.
pub async fn hash_file(path: &Path) -> Result<Entry, BackupError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
    let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await.map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(Entry {
        hash: ContentHash::from_digest(hasher),
        bytes,
    })
}

/// Checks the file at `path` against what the manifest says it is.
pub async fn verify(path: &Path, expected: &Entry, what: &str) -> Result<(), BackupError> {
    let found = match hash_file(path).await {
        Ok(found) => found,
        Err(BackupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::Corrupt(format!(
                "{what} is missing from the backup"
            )));
        }
        Err(e) => return Err(e),
    };
    if found != *expected {
        return Err(BackupError::Corrupt(format!(
            "{what} in the backup is not what the manifest says: {} bytes hashing to {}, \
             not {} bytes hashing to {}",
            found.bytes, found.hash, expected.bytes, expected.hash
        )));
    }
    Ok(())
}

/// Every file under `dir`, as paths relative to it.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| Some(e.path().strip_prefix(dir).ok()?.to_path_buf()))
        .collect()
}
