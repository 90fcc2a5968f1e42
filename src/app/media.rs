//! Media bytes: small blobs (variants) through the byte cache, large ones
//! (originals) streamed from the store without being held whole — or, with
//! `web.media_redirect = "presigned"`, a presigned URL on the bucket. On a
//! local store, the files of the most requested cached blobs are kept open
//! too, so that they can be sent by `sendfile` ([`Media::file`]).

use std::fs::File;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;

use super::{AppError, AppResult};
use crate::cache::{CachedBlob, Caches};
use crate::domain::Millis;
use crate::keys::BlobKey;
use crate::store::{Store, StoreError};

/// Where a response's bytes come from.
pub enum Body {
    /// All of it, in memory.
    Cached(CachedBlob),
    /// In the store, to be streamed by [`Media::stream`].
    Stored { size: u64, last_modified: Millis },
}

impl Body {
    pub fn size(&self) -> u64 {
        match self {
            Self::Cached(b) => b.bytes.len() as u64,
            Self::Stored { size, .. } => *size,
        }
    }

    pub fn last_modified(&self) -> Millis {
        match self {
            Self::Cached(b) => b.last_modified,
            Self::Stored { last_modified, .. } => *last_modified,
        }
    }
}

/// How long a presigned media URL lets its holder fetch the blob.
pub const SIGNED_URL_LIFETIME: Duration = Duration::from_secs(3600);

/// How many files [`Media::file`] keeps open: the descriptors it may take
/// from the connections' share.
const OPEN_FILES: u64 = 64;

#[derive(Clone)]
pub struct Media {
    store: Store,
    caches: Caches,
    redirect: bool,
    files: moka::sync::Cache<String, Arc<File>>,
}

fn missing(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::NotFound("media"),
        other => other.into(),
    }
}

impl Media {
    pub(super) fn new(store: Store, caches: Caches, redirect: bool) -> Self {
        Self {
            store,
            caches,
            redirect,
            files: moka::sync::Cache::new(OPEN_FILES),
        }
    }

    /// The open file of a cached blob of `len` bytes under `key`, when the
    /// store is a local directory and the file is that long. Only the
    /// [`OPEN_FILES`] most recently asked for stay open: a caller keeps a
    /// weak reference, which is good while the file is one of them.
    pub async fn file(&self, key: &BlobKey, len: usize) -> Option<Arc<File>> {
        if !self.store.is_local() {
            return None;
        }
        if let Some(file) = self.files.get(key.as_str()) {
            return Some(file);
        }
        let (store, at) = (self.store.clone(), key.clone());
        let opened = tokio::task::spawn_blocking(move || {
            let file = store.local_file(&at)?;
            let found = file.metadata().ok()?.len();
            (found == len as u64).then_some(file)
        });
        let file = Arc::new(opened.await.ok()??);
        self.files.insert(key.as_str().to_owned(), file.clone());
        Some(file)
    }

    /// Where to send a request for `key` instead of answering it: a
    /// presigned bucket URL valid for [`SIGNED_URL_LIFETIME`], when media
    /// are served by redirect. An original is fetched as an attachment,
    /// as when Scoot serves it.
    pub async fn redirect(&self, key: &BlobKey) -> AppResult<Option<String>> {
        if !self.redirect {
            return Ok(None);
        }
        let disposition = key.as_str().strip_prefix("originals/").map(|rest| {
            let name = rest.rsplit('/').next().unwrap_or("original");
            format!("attachment; filename=\"{name}\"")
        });
        Ok(self
            .store
            .signed_get(key, SIGNED_URL_LIFETIME, disposition.as_deref())
            .await?)
    }

    /// Read before a blob's bytes, to keep them beyond this service: they
    /// are good while the generation has not moved on (see
    /// [`Caches::media_generation`]).
    pub fn generation(&self) -> u64 {
        self.caches.media_generation()
    }

    /// The blob under `key`: from the byte cache, or read into it if it is
    /// small enough (unless only its headers are wanted), else left in the
    /// store to stream.
    pub async fn open(&self, key: &BlobKey, headers_only: bool) -> AppResult<Body> {
        if let Some(blob) = self.caches.media(key.as_str()).await {
            return Ok(Body::Cached(blob));
        }
        let meta = self
            .store
            .head(key)
            .await?
            .ok_or(AppError::NotFound("media"))?;
        if !self.caches.media_fits(meta.size) || headers_only {
            return Ok(Body::Stored {
                size: meta.size,
                last_modified: meta.last_modified,
            });
        }
        let (bytes, meta) = self.store.get(key).await.map_err(missing)?;
        let blob = CachedBlob {
            bytes,
            last_modified: meta.last_modified,
        };
        self.caches
            .put_media(key.as_str().to_owned(), blob.clone())
            .await;
        Ok(Body::Cached(blob))
    }

    /// Bytes `range` of a stored blob, as a stream.
    pub async fn stream(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> AppResult<BoxStream<'static, Result<Bytes, std::io::Error>>> {
        self.store.stream(key, Some(range)).await.map_err(missing)
    }
}
