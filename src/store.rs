//! The object store (S3 of the classic stack): immutable, content-addressed
//! blobs behind one small wrapper over the `object_store` crate.
//!
//! Key layout (docs/architecture.md invariant 2 — a key never changes meaning):
//!
//! ```text
//! originals/<h0h1>/<sha256>.<ext>                         the uploaded bytes
//! variants/<h0h1>/<sha256>/<name>-<edge>-<encoding>-r<rev>.<ext>  a rendered size
//! ```
//!
//! Invariant: this module knows nothing of the database, HTTP or rendering;
//! it stores and fetches bytes by [`BlobKey`].

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

use crate::domain::{ContentHash, ImageFormat, Millis, VariantSpec};

/// The version of the render pipeline baked into variant keys. Bump it when
/// the pipeline's output for the same input changes, so that new renders get
/// new URLs and caches never serve stale bytes.
pub const RENDER_REVISION: u32 = 2;

/// A validated storage key; also the tail of its `/media/` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn original(hash: &ContentHash, format: ImageFormat) -> Self {
        let h = hash.as_str();
        Self(format!("originals/{}/{h}.{}", &h[..2], format.extension()))
    }

    /// `encoding` names the encoder settings (e.g. `q82p`: quality 82,
    /// progressive), so different settings never share a key.
    pub fn variant(
        hash: &ContentHash,
        spec: &VariantSpec,
        encoding: &str,
        format: ImageFormat,
    ) -> Self {
        let h = hash.as_str();
        Self(format!(
            "variants/{}/{h}/{}-{}-{encoding}-r{RENDER_REVISION}.{}",
            &h[..2],
            spec.name,
            spec.long_edge,
            format.extension()
        ))
    }

    /// Accepts only keys of the two shapes above (so a URL cannot name
    /// anything else in the store).
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let hash_ok = |prefix: &str, rest: &str| {
            rest.parse::<ContentHash>().is_ok() && rest.starts_with(prefix) && prefix.len() == 2
        };
        let ok = match parts.as_slice() {
            ["originals", prefix, file] => file.rsplit_once('.').is_some_and(|(hash, ext)| {
                hash_ok(prefix, hash) && ImageFormat::from_extension(ext).is_some()
            }),
            ["variants", prefix, hash, file] => {
                hash_ok(prefix, hash)
                    && file.rsplit_once('.').is_some_and(|(stem, ext)| {
                        ImageFormat::from_extension(ext).is_some()
                            && !stem.is_empty()
                            && stem.bytes().all(|b| {
                                b.is_ascii_lowercase()
                                    || b.is_ascii_digit()
                                    || b == b'-'
                                    || b == b'_'
                            })
                    })
            }
            _ => false,
        };
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The image format named by the key's extension.
    pub fn format(&self) -> Option<ImageFormat> {
        let (_, ext) = self.0.rsplit_once('.')?;
        ImageFormat::from_extension(ext)
    }

    fn path(&self) -> Path {
        Path::from(self.0.as_str())
    }
}

/// A store failure. `NotFound` is permanent; anything else may be transient.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object not found")]
    NotFound,
    #[error("object store error: {0}")]
    Backend(String),
    #[error("bad store url: {0}")]
    Url(String),
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Backend(other.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

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
        match self.inner.head(&key.path()).await {
            Ok(meta) => Ok(Some(BlobMeta {
                size: meta.size,
                last_modified: meta.last_modified.timestamp_millis(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn put(&self, key: &BlobKey, bytes: Bytes) -> StoreResult<()> {
        self.inner.put(&key.path(), bytes.into()).await?;
        Ok(())
    }

    /// Copies a local file into the store in bounded chunks, so a large
    /// original is never held in memory whole.
    pub async fn put_file(&self, key: &BlobKey, file: &FsPath) -> StoreResult<()> {
        const CHUNK: usize = 8 * 1024 * 1024;
        let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", file.display()));
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let len = f.metadata().await.map_err(io)?.len();
        if len <= CHUNK as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf).await.map_err(io)?;
            return self.put(key, buf.into()).await;
        }
        let mut upload = self.inner.put_multipart(&key.path()).await?;
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
        let result = self.inner.get(&key.path()).await?;
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
        let result = self.inner.get_opts(&key.path(), opts).await?;
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
        match self.inner.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_parse() {
        let hash = ContentHash::of(b"photo");
        let original = BlobKey::original(&hash, ImageFormat::Jpeg);
        let variant = BlobKey::variant(
            &hash,
            &VariantSpec::new("thumb", 400),
            "q82p",
            ImageFormat::Png,
        );
        assert_eq!(BlobKey::parse(original.as_str()), Some(original.clone()));
        assert_eq!(BlobKey::parse(variant.as_str()), Some(variant.clone()));
        assert_eq!(variant.format(), Some(ImageFormat::Png));
        assert!(original.as_str().ends_with(".jpg"));
    }

    #[test]
    fn parse_refuses_anything_else() {
        let h = ContentHash::of(b"x");
        let h = h.as_str();
        for bad in [
            "",
            "scoot.db",
            "../scoot.db",
            &format!("originals/{}/{h}.exe", &h[..2]),
            &format!("originals/zz/{h}.jpg"),
            &format!("variants/{}/{h}/../x.jpg", &h[..2]),
            &format!("variants/{}/{h}/A.jpg", &h[..2]),
        ] {
            assert_eq!(BlobKey::parse(bad), None, "{bad}");
        }
    }

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
