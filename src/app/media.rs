//! Media bytes: small blobs (variants) through the byte cache, large ones
//! (originals) streamed from the store without being held whole — or, with
//! `web.media_redirect = "presigned"`, a presigned URL on the bucket.

use std::ops::Range;
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

#[derive(Clone)]
pub struct Media {
    store: Store,
    caches: Caches,
    redirect: bool,
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
        }
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
