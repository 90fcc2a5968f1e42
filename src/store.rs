//! The object store (S3 of the classic stack): immutable, content-addressed
//! blobs behind one small wrapper over the `object_store` crate, on local
//! disk (`file://`), in memory (`memory://`) or in an S3 bucket (`s3://`).
//!
//! Keys are [`BlobKey`]s (`crate::keys`: their layout is the content
//! address, docs/architecture.md invariant 2). Originals are written
//! create-only: a key that exists already holds the same bytes, and is
//! never written over. Variants are deterministic, so writing one again is
//! harmless. Bodies over 8 MiB go up in parts; large reads stream.
//!
//! Invariant: this module knows nothing of the database, HTTP or rendering;
//! it stores and fetches bytes by key.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    BackoffConfig, ClientConfigKey, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    RetryConfig,
};
use tokio::io::AsyncReadExt;

use crate::domain::{ContentHash, Millis};
pub use crate::keys::{BlobKey, RENDER_REVISION};

/// A store failure. `NotFound` is permanent; anything else may be transient.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object not found")]
    NotFound,
    /// The store failed or could not be reached.
    #[error("object store error: {0}")]
    Backend(#[source] object_store::Error),
    /// A local file being copied into the store could not be read.
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A blob's bytes stopped coming part-way.
    #[error("reading {key}: {source}")]
    Read {
        key: String,
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

/// Bodies up to this size go up in one request; larger ones in parts of it.
const PART: usize = 8 * 1024 * 1024;

/// Cheap to clone; all clones share the backend.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// On S3: the bucket, to sign URLs with, and the prefix keys live under.
    signer: Option<(AmazonS3, String)>,
    /// On a local directory: the directory.
    root: Option<Arc<FsPath>>,
}

impl Store {
    /// `file://PATH` (created if missing; writes are fsynced), `memory://`,
    /// or `s3://BUCKET[/PREFIX]` with credentials, region and endpoint from
    /// the standard `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP`). Nothing is contacted yet: [`ping`](Self::ping)
    /// tells whether the store answers.
    pub fn open(url: &str) -> StoreResult<Self> {
        let mut signer = None;
        let mut root = None;
        let inner: Arc<dyn ObjectStore> = if let Some(path) = url.strip_prefix("file://") {
            std::fs::create_dir_all(path).map_err(|e| StoreError::Url(format!("{path}: {e}")))?;
            let fs = LocalFileSystem::new_with_prefix(path)
                .map_err(|e| StoreError::Url(e.to_string()))?
                .with_fsync(true)
                .with_automatic_cleanup(true);
            root = Some(Arc::from(FsPath::new(path)));
            Arc::new(fs)
        } else if url == "memory://" {
            Arc::new(InMemory::new())
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Url(format!("{url}: no bucket named")));
            }
            // A store that is away answers within seconds, so that a request
            // waiting on it gets its 503 instead of hanging for minutes.
            let retry = RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(5),
            };
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    "3s",
                )
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "60s")
                .build()
                .map_err(|e| StoreError::Url(format!("{url}: {e}")))?;
            let prefix = prefix.trim_matches('/');
            signer = Some((s3.clone(), prefix.to_owned()));
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            }
        } else {
            return Err(StoreError::Url(format!(
                "{url}: expected file://PATH, s3://BUCKET[/PREFIX] or memory://"
            )));
        };
        Ok(Self {
            inner,
            signer,
            root,
        })
    }

    /// A store on any `object_store` backend (one that injects faults, in
    /// tests). It signs no URLs.
    pub fn from_backend(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            signer: None,
            root: None,
        }
    }

    /// Whether blobs are files in a local directory ([`Self::local_file`]).
    pub fn is_local(&self) -> bool {
        self.root.is_some()
    }

    /// The file holding `key`, open for reading, when the store is a local
    /// directory and it is there. Blocks (briefly: no bytes are read).
    pub fn local_file(&self, key: &BlobKey) -> Option<std::fs::File> {
        let root = self.root.as_ref()?;
        std::fs::File::open(root.join(key.as_str())).ok()
    }

    /// The backend this store writes to.
    pub fn backend(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// Whether the store can hand out [`signed_get`](Self::signed_get) URLs.
    pub fn signs_urls(&self) -> bool {
        self.signer.is_some()
    }

    /// A URL that lets anyone fetch `key` straight from the bucket for
    /// `expires_in`, answering with `disposition` as `Content-Disposition`
    /// if given. `None` for a store that is not a bucket.
    pub async fn signed_get(
        &self,
        key: &BlobKey,
        expires_in: Duration,
        disposition: Option<&str>,
    ) -> StoreResult<Option<String>> {
        let Some((s3, prefix)) = &self.signer else {
            return Ok(None);
        };
        let path = if prefix.is_empty() {
            path(key)
        } else {
            Path::from(format!("{prefix}/{}", key.as_str()))
        };
        let mut options = SignedUrlOptions::new();
        if let Some(disposition) = disposition {
            options = options.with_query([("response-content-disposition", disposition)]);
        }
        let url = s3
            .signed_url_opts(Method::GET, &path, expires_in, &options)
            .await?;
        Ok(Some(url.to_string()))
    }

    /// Succeeds when the backend answers: a listing, which (unlike reading
    /// a missing object) fails when the bucket is missing or the
    /// credentials are refused.
    pub async fn ping(&self) -> StoreResult<()> {
        self.inner
            .list_with_delimiter(Some(&Path::from("originals")))
            .await
            .map_err(StoreError::Backend)?;
        Ok(())
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

    /// Writes a blob that may be written again (a variant: renders are
    /// deterministic, so the bytes are the same).
    pub async fn put(&self, key: &BlobKey, bytes: Bytes) -> StoreResult<()> {
        self.inner.put(&path(key), bytes.into()).await?;
        Ok(())
    }

    /// Writes an original, create-only: if the key exists, it holds these
    /// bytes already (its name is their hash), and it is left as it is.
    pub async fn put_original(&self, key: &BlobKey, bytes: Bytes) -> StoreResult<()> {
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.inner.put_opts(&path(key), bytes.into(), create).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// [`put_original`](Self::put_original) from a local file, in parts of
    /// 8 MiB when it is larger than that, so a large original is never held
    /// in memory whole. A part upload cannot be create-only, so it starts
    /// only if the key does not exist; two uploads of the same bytes at
    /// once write the same bytes.
    pub async fn put_original_file(&self, key: &BlobKey, file: &FsPath) -> StoreResult<()> {
        let io = |source| StoreError::File {
            path: file.to_path_buf(),
            source,
        };
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let len = f.metadata().await.map_err(io)?.len();
        if len <= PART as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            f.read_to_end(&mut buf).await.map_err(io)?;
            return self.put_original(key, buf.into()).await;
        }
        if self.head(key).await?.is_some() {
            return Ok(());
        }
        let mut upload = self.inner.put_multipart(&path(key)).await?;
        let sent = async {
            loop {
                let mut buf = Vec::with_capacity(PART);
                (&mut f)
                    .take(PART as u64)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(io)?;
                if buf.is_empty() {
                    break;
                }
                upload.put_part(Bytes::from(buf).into()).await?;
            }
            upload.complete().await?;
            Ok(())
        }
        .await;
        // Whatever failed (a read, a part, the completion), the parts
        // sent so far must not stay behind.
        if sent.is_err() {
            let _ = upload.abort().await;
        }
        sent
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

    /// All of a blob's bytes, in chunks, for reading it whole (a backup, a
    /// re-hash); `None` if there is no such blob. A failure part-way is
    /// [`StoreError::Read`], naming the key.
    pub async fn chunks(
        &self,
        key: &BlobKey,
    ) -> StoreResult<Option<BoxStream<'static, StoreResult<Bytes>>>> {
        let stream = match self.stream(key, None).await {
            Ok(stream) => stream,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let key = key.as_str().to_owned();
        Ok(Some(
            stream
                .map(move |chunk| {
                    chunk.map_err(|source| StoreError::Read {
                        key: key.clone(),
                        source,
                    })
                })
                .boxed(),
        ))
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

    /// Every key under `prefix` (all of them with `None`), whether Scoot
    /// wrote it or not.
    pub async fn list_keys(&self, prefix: Option<&str>) -> StoreResult<Vec<String>> {
        Ok(self
            .list_sizes(prefix)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// [`list_keys`](Self::list_keys), with each object's size.
    pub async fn list_sizes(&self, prefix: Option<&str>) -> StoreResult<Vec<(String, u64)>> {
        Ok(self
            .list_meta(prefix)
            .await?
            .into_iter()
            .map(|(key, meta)| (key, meta.size))
            .collect())
    }

    /// [`list_keys`](Self::list_keys), with each object's size and time.
    pub async fn list_meta(&self, prefix: Option<&str>) -> StoreResult<Vec<(String, BlobMeta)>> {
        let prefix = prefix.map(Path::from);
        let mut keys = Vec::new();
        let mut listing = self.inner.list(prefix.as_ref());
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let blob = BlobMeta {
                size: meta.size,
                last_modified: meta.last_modified.timestamp_millis(),
            };
            keys.push((meta.location.to_string(), blob));
        }
        Ok(keys)
    }

    /// Whether anything is stored under `prefix` (reads one listing page).
    pub async fn holds_any(&self, prefix: &str) -> StoreResult<bool> {
        let prefix = Path::from(prefix);
        match self.inner.list(Some(&prefix)).next().await {
            Some(meta) => meta.map(|_| true).map_err(Into::into),
            None => Ok(false),
        }
    }

    /// A small object of Scoot's own beside the blobs (`name` has no
    /// slash), such as the mark of an unfinished copy.
    pub async fn note(&self, name: &str) -> StoreResult<Option<Bytes>> {
        match self.inner.get(&Path::from(name)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes (`Some`) or removes (`None`) the note `name`.
    pub async fn set_note(&self, name: &str, text: Option<Bytes>) -> StoreResult<()> {
        let path = Path::from(name);
        match text {
            Some(text) => self.inner.put(&path, text.into()).await.map(drop)?,
            None => match self.inner.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
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
