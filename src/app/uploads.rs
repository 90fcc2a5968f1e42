//! Uploads: turning received bytes into photos, counted for `/metrics`.
//! The path itself (stage, probe, reserve, store, commit) is
//! [`crate::ingest`]'s.

use super::{AppError, AppResult};
use crate::ingest::Ingest;
pub use crate::ingest::{Describe, Staged, Staging};
use crate::metrics::Metrics;
use crate::model::{Inserted, User};

#[derive(Clone)]
pub struct Uploads {
    ingest: Ingest,
    metrics: Metrics,
}

impl Uploads {
    pub(super) fn new(ingest: Ingest, metrics: Metrics) -> Self {
        Self { ingest, metrics }
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
