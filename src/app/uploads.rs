//! Uploads: turning received bytes into photos, counted for `/metrics`.
//! The path itself (stage, probe, reserve, store, commit) is
//! [`crate::ingest`]'s.

use super::albums::Albums;
use super::{AppError, AppResult};
use crate::domain::AlbumId;
use crate::ingest::Ingest;
pub use crate::ingest::{Describe, Staged, Staging};
use crate::metrics::Metrics;
use crate::model::{Album, Inserted, User};

#[derive(Clone)]
pub struct Uploads {
    ingest: Ingest,
    metrics: Metrics,
    albums: Albums,
}

impl Uploads {
    pub(super) fn new(ingest: Ingest, metrics: Metrics, albums: Albums) -> Self {
        Self {
            ingest,
            metrics,
            albums,
        }
    }

    /// The album an upload goes into, when it names one: it must be the
    /// uploader's, checked before any file is kept.
    pub async fn destination(
        &self,
        owner: &User,
        id: Option<&AlbumId>,
    ) -> AppResult<Option<Album>> {
        match id {
            Some(id) => Ok(Some(self.albums.owned(owner, id).await?)),
            None => Ok(None),
        }
    }

    /// [`Uploads::accept`], then into `album` (a [`Uploads::destination`]).
    pub async fn accept_into(
        &self,
        staged: &Staged,
        owner: &User,
        describe: Describe,
        album: Option<&Album>,
    ) -> AppResult<Inserted> {
        let inserted = self.accept(staged, owner, describe).await?;
        if let Some(album) = album {
            let photo = &inserted.photo().id;
            self.albums.add_photo(owner, &album.id, photo).await?;
        }
        Ok(inserted)
    }

    /// The most bytes one file may have.
    pub fn max_bytes(&self) -> u64 {
        self.ingest.max_bytes
    }

    /// A temp file to stream one received file into, under the limit.
    pub async fn staging(&self) -> AppResult<Staging> {
        Ok(self.ingest.staging().await?)
    }

    /// Accepts a received file for `owner`: a new photo, or the one they
    /// uploaded with these bytes before.
    pub async fn accept(
        &self,
        staged: &Staged,
        owner: &User,
        describe: Describe,
    ) -> AppResult<Inserted> {
        let result = self
            .ingest
            .accept(staged, owner, describe)
            .await
            .map_err(AppError::from);
        let outcome = match &result {
            Ok(Inserted::New(_)) => "new",
            Ok(Inserted::Duplicate(_)) => "duplicate",
            Err(AppError::TooLarge { .. } | AppError::Unsupported(_)) => "refused",
            Err(_) => "error",
        };
        self.metrics.uploads.with_label_values(&[outcome]).inc();
        result
    }
}
