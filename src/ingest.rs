//! Accepting an original: the path every upload takes, from a staged file to
//! a committed photo with its render job.
//!
//! Order matters (no row without its blob; no accepted upload lost): the
//! bytes are staged to a temp file while hashed, probed (format, size
//! limits) from the header and decoded to the end (so damaged files are
//! refused, not accepted and then failed; cheaply, or the render's way with
//! the result kept for it: [`crate::render::predecoded`]), the original's
//! blobs are reserved so no
//! deletion of the same bytes can run meanwhile (see [`crate::blobs`]), the
//! bytes are put in the store under their hash unless a photo already
//! proves they are there, and only then are the photo row and its job
//! committed in one transaction. A crash before the commit leaves at most
//! an unused blob and a reservation that the sweep releases; after it, the
//! job is durable.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::blobs::{self, BlobError};
use crate::changes::Changes;
use crate::db::{DbError, Repo};
use crate::disk::{LowSpace, SpaceFloor};
use crate::domain::{ContentHash, ImageFormat, PhotoId, PhotoStatus, Visibility, now_millis};
use crate::model::{Inserted, NewPhoto, User};
use crate::render::RenderQueue;
use crate::render::probe::{PixelLimits, ProbeError, probe_bytes};
use crate::store::{BlobKey, Store, StoreError};

/// Why an upload was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is over the byte limit.
    #[error("upload is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    /// The bytes are not an acceptable image.
    #[error("{0}")]
    Refused(#[from] ProbeError),
    /// The original's blobs could not be reserved (see [`blobs`]).
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("staging upload: {0}")]
    Io(#[from] std::io::Error),
    /// A local disk is below the free-space floor: nothing was stored.
    #[error("{0}")]
    LowSpace(#[from] LowSpace),
}

/// An upload being written to a temp file and hashed as it arrives.
pub struct Staging {
    path: TempPath,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

/// A fully received original: an upload waiting in a temp file (removed on
/// drop), or a file being imported where it lies.
pub struct Staged {
    path: PathBuf,
    _temp: Option<TempPath>,
    /// The whole file, when it was read into memory to be hashed: then it
    /// is probed and stored from here instead of being read again.
    bytes: Option<Bytes>,
    pub hash: ContentHash,
    pub size: u64,
}

/// Imported files up to this size are read once, into memory; larger ones
/// are hashed in chunks and copied into the store from disk.
const READ_WHOLE: u64 = 64 << 20;

impl Staged {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file already on disk (`scoot import`), hashed where it lies and
    /// never removed.
    pub async fn existing(path: PathBuf) -> std::io::Result<Self> {
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut file = std::fs::File::open(&path)?;
            let len = file.metadata()?.len();
            if len <= READ_WHOLE {
                let mut bytes = Vec::with_capacity(len as usize);
                file.read_to_end(&mut bytes)?;
                return Ok(Self {
                    path,
                    _temp: None,
                    hash: ContentHash::from_digest(Sha256::new_with_prefix(&bytes)),
                    size: bytes.len() as u64,
                    bytes: Some(bytes.into()),
                });
            }
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Ok(Self {
                path,
                _temp: None,
                bytes: None,
                hash: ContentHash::from_digest(hasher),
                size,
            })
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl Staging {
    /// Starts a temp file in `dir`, refusing more than `limit` bytes.
    pub async fn new(dir: &Path, limit: u64) -> Result<Self, IngestError> {
        let dir = dir.to_path_buf();
        let (path, file) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            std::fs::create_dir_all(&dir)?;
            let tmp = tempfile::Builder::new()
                .prefix(STAGED_PREFIX)
                .tempfile_in(&dir)?;
            let file = tmp.reopen()?;
            Ok((tmp.into_temp_path(), file))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Self {
            path,
            file: tokio::fs::File::from_std(file),
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), IngestError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(IngestError::TooLarge { limit: self.limit });
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    pub async fn finish(mut self) -> Result<Staged, IngestError> {
        self.file.flush().await?;
        Ok(Staged {
            path: self.path.to_path_buf(),
            _temp: Some(self.path),
            bytes: None,
            hash: ContentHash::from_digest(self.hasher),
            size: self.size,
        })
    }
}

/// How a staged upload's temp file is named: `upload-<random>`.
pub const STAGED_PREFIX: &str = "upload-";

/// Where uploads are staged: `tmp/` under the data dir.
pub fn staging_dir(config: &crate::config::Config) -> std::path::PathBuf {
    config.data_dir.join("tmp")
}

/// Removes temp files a killed process left behind.
pub fn clear_staging_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGED_PREFIX)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What the uploader said about a file: its title and caption, who may
/// see it, and the name it had ([`crate::domain::upload_file_name`]).
#[derive(Debug, Clone, Default)]
pub struct Describe {
    pub title: String,
    pub caption: String,
    pub visibility: Visibility,
    pub filename: String,
}

/// Everything needed to turn a staged file into a photo.
#[derive(Clone)]
pub struct Ingest {
    pub db: Arc<dyn Repo>,
    pub store: Store,
    pub changes: Changes,
    pub queue: RenderQueue,
    pub limits: PixelLimits,
    pub staging_dir: PathBuf,
    pub max_bytes: u64,
    /// Turns at checking that an original decodes (one per core).
    pub checking: Arc<tokio::sync::Semaphore>,
    /// How long those checks take.
    pub check_duration: prometheus::Histogram,
    /// Uploads start only while the local disks keep this much room.
    pub floor: SpaceFloor,
}

impl Ingest {
    /// A place for an upload's bytes, if the disks have room for it.
    pub async fn staging(&self) -> Result<Staging, IngestError> {
        self.floor.check()?;
        Staging::new(&self.staging_dir, self.max_bytes).await
    }

    /// Probes, stores and records a staged upload for `owner`.
    pub async fn accept(
        &self,
        staged: &Staged,
        owner: &User,
        describe: Describe,
    ) -> Result<Inserted, IngestError> {
        self.floor.check()?;
        // Already here (and not failed): nothing to probe, store or queue.
        let existing = self.db.photo_by_hash(&owner.id, &staged.hash).await?;
        if let Some(photo) = existing
            .as_ref()
            .filter(|p| p.status != PhotoStatus::Failed)
        {
            if photo.trashed_at.is_none() {
                return Ok(Inserted::Duplicate(photo.clone()));
            }
            // Uploading a photo in the trash again takes it out.
            if let Some(restored) = self.db.restore_photo(&photo.id, now_millis()).await? {
                self.changes.photo(&photo.id).await;
                return Ok(Inserted::Duplicate(restored));
            }
        }
        let limits = self.limits;
        let (path, bytes) = (staged.path().to_path_buf(), staged.bytes.clone());
        // Decoding takes a core and the image's memory: a few at a time.
        let turn = self
            .checking
            .acquire()
            .await
            .map_err(std::io::Error::other)?;
        let timer = self.check_duration.clone();
        let (hash, predecoded) = (staged.hash.clone(), self.queue.predecoded().clone());
        let probed = tokio::task::spawn_blocking(move || -> Result<_, IngestError> {
            let _timer = timer.start_timer();
            let bytes = match bytes {
                Some(bytes) => bytes,
                None => Bytes::from(std::fs::read(path)?),
            };
            let probed = probe_bytes(&bytes, &limits)?;
            // The render takes what this decodes, if it can keep it.
            predecoded.verify(&hash, &bytes, &probed, &limits)?;
            Ok(probed)
        })
        .await
        .map_err(std::io::Error::other)??;
        drop(turn);
        // While the original is stored and the job committed, an idle
        // machine may as well be rendering it.
        self.queue.render_ahead(&staged.hash);

        let photo = NewPhoto {
            id: PhotoId::generate(),
            owner: owner.id.clone(),
            hash: staged.hash.clone(),
            format: probed.format,
            byte_size: staged.size,
            width: probed.width,
            height: probed.height,
            title: describe.title,
            caption: describe.caption,
            filename: describe.filename,
            visibility: describe.visibility,
            shot: probed.shot,
        };
        // A failed photo of these bytes may have failed for want of them:
        // store them again rather than trust that they are there.
        let refresh = existing.is_some();
        for _ in 0..3 {
            let reservation = blobs::reserve(self.db.as_ref(), &staged.hash, probed.format).await?;
            if refresh || !reservation.stored {
                if let Err(e) = self.store_original(staged, probed.format).await {
                    blobs::abandon(&self.db, &self.store, &self.changes, &reservation).await;
                    return Err(e.into());
                }
            }
            let inserted = match self
                .db
                .insert_photo(photo.clone(), &reservation.id, now_millis())
                .await
            {
                Ok(Some(inserted)) => inserted,
                Ok(None) => {
                    tracing::warn!(hash = %staged.hash, "an upload outlived its reservation; starting over");
                    continue;
                }
                Err(e) => {
                    blobs::abandon(&self.db, &self.store, &self.changes, &reservation).await;
                    return Err(e.into());
                }
            };
            self.changes.photo(&inserted.photo().id).await;
            self.queue.wake();
            return Ok(inserted);
        }
        Err(IngestError::Blob(BlobError::Busy))
    }

    async fn store_original(&self, staged: &Staged, format: ImageFormat) -> Result<(), StoreError> {
        let key = BlobKey::original(&staged.hash, format);
        match &staged.bytes {
            Some(bytes) => self.store.put_original(&key, bytes.clone()).await,
            None => self.store.put_original_file(&key, staged.path()).await,
        }
    }
}
