//! The object store (S3 of the classic stack): immutable, content-addressed
//! blobs behind one small wrapper over the `object_store` crate.
//!
//! Keys are [`BlobKey`]s (`crate::keys`: their layout is the content
//! address, docs/architecture.md invariant 2).
//!
//! Invariant: this module knows nothing of the database, HTTP or rendering;
//! it stores and fetches bytes by key.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};
use tokio::io::AsyncReadExt;

use crate::domain::{ContentHash, Millis};
pub use crate::keys::{BlobKey, RENDER_REVISION};

/// A store failure. `NotFound` is permanent; anything else may be transient.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object not found")]
    NotFound,
    #[error("object store error: {0}")]
    Backend(#[source] object_store::Error),
    /// A local file being copied into the store could not be read.
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad store url: {0}")]
    Url(String),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Backend(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Where `key` lives in the backend.
fn path(key: &BlobKey) -> Path {
    Path::from(key.as_str())
}

/// Size and modification time of a stored blob.
#[derive(Debug, Clone, Copy)]
pub struct BlobMeta {
    pub size: u64,
    pub last_modified: Millis,
}

/// Cheap to clone; all clones share the backend.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
}

impl Store {
    /// `file://PATH` (created if missing; writes are fsynced) or `memory://`.
    pub fn open(url: &str) -> StoreResult<Self> {
        let inner: Arc<dyn ObjectStore> = if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path).map_err(|e| StoreError::Url(format!("{path}: {e}")))?;
            let fs = LocalFileSystem::new_with_prefix(path)
                .map_err(|e| StoreError::Url(e.to_string()))?
                .with_fsync(true)
                .with_automatic_cleanup(true);
            Arc::new(fs)
        } else if url == "memory://" {
            Arc::new(InMemory::new())
        } else {
            return Err(StoreError::Url(format!(
                "{url}: expected file://PATH or memory:// (s3:// is not supported yet)"
            )));
        };
        Ok(Self { inner })
    }

    /// Succeeds when the backend answers (a missing object is an answer).
    pub async fn ping(&self) -> StoreResult<()> {
        match self.inner.head(&Path::from("readyz-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn head(&self, key: &BlobKey) -> StoreResult<Option<BlobMeta>> {
        match self.inner.head(&path(key)).await {
            Ok(meta) => Ok(Some(BlobMeta {
                size: meta.size,
                last_modified: meta.last_modified.timestamp_millis(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn put(&self, key: &BlobKey, bytes: Bytes) -> StoreResult<()> {
        self.inner.put(&path(key), bytes.into()).await?;
        Ok(())
    }

    /// Copies a local file into the store in bounded chunks, so a large
    /// original is never held in memory whole.
    pub async fn put_file(&self, key: &BlobKey, file: &FsPath) -> StoreResult<()> {
        const CHUNK: usize = 8 * 1024 * 1024;
        let io = |source| StoreError::File {
            path: file.to_path_buf(),
            source,
        };
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let len = f.metadata().await.map_err(io)?.len();
        if len <= CHUNK as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf).await.map_err(io)?;
            return self.put(key, buf.into()).await;
        }
        let mut upload = self.inner.put_multipart(&path(key)).await?;
        loop {
            let mut buf = Vec::with_capacity(CHUNK);
            (&mut f)
                .take(CHUNK as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(io)?;
            if buf.is_empty() {
                break;
            }
            if let Err(e) = upload.put_part(Bytes::from(buf).into()).await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
        }
        upload.complete().await?;
        Ok(())
    }

    /// The whole blob in memory; use for objects of bounded size.
    pub async fn get(&self, key: &BlobKey) -> StoreResult<(Bytes, BlobMeta)> {
        let result = self.inner.get(&path(key)).await?;
        let meta = BlobMeta {
            size: result.meta.size,
            last_modified: result.meta.last_modified.timestamp_millis(),
        };
        Ok((result.bytes().await?, meta))
    }

    /// A byte range (or all) of a blob as a stream, for large objects.
    pub async fn stream(
        &self,
        key: &BlobKey,
        range: Option<Range<u64>>,
    ) -> StoreResult<BoxStream<'static, Result<Bytes, std::io::Error>>> {
        let opts = GetOptions::new().with_range(range);
        let result = self.inner.get_opts(&path(key), opts).await?;
        Ok(result
            .into_stream()
            .map(|r| r.map_err(std::io::Error::other))
            .boxed())
    }

    /// Every variant stored for original `hash`, whatever its spec, format
    /// or render revision (a render may have stored some that no row names).
    pub async fn variants_of(&self, hash: &ContentHash) -> StoreResult<Vec<BlobKey>> {
        let h = hash.as_str();
        let prefix = Path::from(format!("variants/{}/{h}", &h[..2]));
        let mut keys = Vec::new();
        let mut listing = self.inner.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            match BlobKey::parse(meta?.location.as_ref()) {
                Some(key) => keys.push(key),
                // Not a key Scoot writes: leave it alone.
                None => continue,
            }
        }
        Ok(keys)
    }

    /// Removes a blob; a blob that is already gone is not an error.
    pub async fn delete(&self, key: &BlobKey) -> StoreResult<()> {
        match self.inner.delete(&path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImageFormat;

    #[tokio::test]
    async fn memory_store_puts_and_gets() {
        let store = Store::open("memory://").unwrap();
        let key = BlobKey::original(&ContentHash::of(b"abc"), ImageFormat::Png);
        assert!(store.head(&key).await.unwrap().is_none());
        store.put(&key, Bytes::from_static(b"abc")).await.unwrap();
        let (bytes, meta) = store.get(&key).await.unwrap();
        assert_eq!(&bytes[..], b"abc");
        assert_eq!(meta.size, 3);
        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        assert!(matches!(store.get(&key).await, Err(StoreError::NotFound)));
    }
}
