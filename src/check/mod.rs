//! `scoot check [--repair]`: sets the database against the object store
//! and reports what does not agree; with `--repair`, mends what is safe
//! to mend. Safe while `scoot serve` runs, on one node or many.
//!
//! - [`shard`]: one shard of hashes (`originals/<ab>/`, `variants/<ab>/`
//!   and the rows whose hash starts `ab`), judged without side effects.
//! - [`leftovers`]: files a killed process left on local disk.
//! - [`report`]: the tallies and the printed summary.
//!
//! The scan goes shard by shard, so memory stays bounded by the largest
//! shard, not the library. A running server changes rows and blobs as the
//! scan reads them, so a suspect is confirmed by reading its rows again
//! after the store was listed: a photo that exists in both reads existed
//! throughout (ids never come back), so what its rows named and the store
//! lacked is really lost. Mending never bypasses the rules the server
//! follows: unused blobs are claimed for deletion by the same transaction
//! a delete uses ([`crate::blobs`]), so an upload of the same bytes that
//! starts meanwhile waits for them, or wins and keeps them.
//!
//! What `--repair` does: deletes unused blobs and finishes deletions a
//! dead process left; removes leftover files; queues renders that were
//! abandoned, never queued, or whose variants went missing, and renders
//! photos rendered under other settings again; marks photos whose
//! original is missing as failed, with the reason; deletes variants no
//! row names that the current settings would never write, once they are
//! a day old. It cannot mend a corrupt original or a damaged database
//! file: those need a backup.

mod leftovers;
mod report;
mod shard;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

pub use report::{Kind, Report, Tally};
use shard::{Findings, Judge, Listing, Written};

use crate::blobs::{self, BlobError, DELETION_LEASE_MS, UPLOAD_LEASE_MS};
use crate::cache::Caches;
use crate::changes::Changes;
use crate::config::Config;
use crate::db::{self, DbError, Release, Repo};
use crate::domain::{ContentHash, ImageFormat, PhotoId, PhotoStatus, now_millis};
use crate::ingest;
use crate::keys::BlobKey;
use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::render::{PixelLimits, RenderSettings};
use crate::store::{Store, StoreError};
use crate::{StartError, open_backends};

/// Variants no row names are taken back only after this long, so a node
/// still on older settings has long finished with them.
const STALE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// A render lease must have run out this long ago to count as abandoned:
/// a running server reclaims its own within seconds.
const EXPIRED_GRACE_MS: i64 = 60 * 1000;
/// Originals read and hashed at once.
const HASHING: usize = 4;

/// The reason a photo whose original is gone is marked failed with.
pub const MISSING_ORIGINAL: &str = "the original is missing from the store";

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// What to check, and whether to mend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub repair: bool,
}

/// Runs the check over the database and store `config` names.
pub async fn check(config: &Config, options: Options) -> Result<Report, CheckError> {
    let started = Instant::now();
    let (db, store) = open_backends(config).await?;
    let caches = Caches::new(&config.cache, &Metrics::new().cache_lookups);
    let changes = Changes::new(caches, db.clone(), &Changes::new_node_name());
    let checker = Checker {
        db,
        store,
        changes,
        settings: RenderSettings::from_config(
            &config.render,
            PixelLimits::of_upload(&config.upload),
        ),
        repair: options.repair,
    };
    let mut report = Report::new(
        db::redacted(&config.database_url()),
        config.store_url(),
        options.repair,
    );
    for problem in checker.db.integrity_problems().await? {
        report.found(Kind::Integrity, problem, 0);
    }
    if options.repair {
        checker.finish_deletions(&mut report).await?;
    }
    let to_hash = checker.scan(&mut report).await?;
    let store_root = config.store_url().strip_prefix("file://").map(Into::into);
    checker.leftovers(&mut report, store_root, &ingest::staging_dir(config));
    checker.queue(&mut report).await?;
    checker.rehash(&mut report, to_hash).await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

struct Checker {
    db: Arc<dyn Repo>,
    store: Store,
    changes: Changes,
    settings: RenderSettings,
    repair: bool,
}

impl Checker {
    /// Every shard in turn; returns the originals in use, to hash.
    async fn scan(&self, report: &mut Report) -> Result<Vec<(BlobKey, u64)>, CheckError> {
        let now = now_millis();
        let current = |hash: &ContentHash| self.current_variants(hash);
        let judge = Judge {
            current: &current,
            deletions_before: now - DELETION_LEASE_MS,
            stale_before: now - STALE_AFTER_MS,
        };
        let mut progress = Progress::new("check", 256);
        let mut to_hash = Vec::new();
        for n in 0..256u32 {
            let prefix = format!("{n:02x}");
            let found = self.shard(&prefix, &judge).await?;
            for (status, count) in &found.photos {
                *report.photos.entry(*status).or_default() += count;
            }
            report.originals.0 += found.originals.0;
            report.originals.1 += found.originals.1;
            report.variants.0 += found.variants.0;
            report.variants.1 += found.variants.1;
            self.mend_shard(report, &found).await?;
            to_hash.extend(found.to_hash);
            progress.update(u64::from(n) + 1, format!("shard {prefix}"));
        }
        progress.finish();
        Ok(to_hash)
    }

    /// One shard: rows, then the store, then the rows again for suspects.
    async fn shard(&self, prefix: &str, judge: &Judge<'_>) -> Result<Findings, CheckError> {
        let rows = self.db.shard_rows(prefix).await?;
        let mut keys = self
            .store
            .list_meta(Some(&format!("originals/{prefix}")))
            .await?;
        keys.extend(
            self.store
                .list_meta(Some(&format!("variants/{prefix}")))
                .await?,
        );
        let mut found = shard::judge(&Listing::new(keys), &rows, judge);
        if found.missing_originals.is_empty()
            && found.missing_variants.is_empty()
            && found.orphans.is_empty()
        {
            return Ok(found);
        }
        let again = self.db.shard_rows(prefix).await?;
        let photo = |id: &PhotoId| again.photos.iter().find(|p| &p.id == id);
        found
            .missing_originals
            .retain(|(id, _)| photo(id).is_some_and(|p| p.status != PhotoStatus::Failed));
        found.missing_variants.retain(|(id, key)| {
            photo(id).is_some_and(|p| {
                p.status == PhotoStatus::Ready && p.variants.iter().any(|(k, _)| k == key)
            })
        });
        found.orphans.retain(|o| {
            !again.photos.iter().any(|p| p.hash == o.hash)
                && !again
                    .holds
                    .iter()
                    .any(|h| h.hash == o.hash && (h.reserved || h.deleting_since.is_some()))
        });
        Ok(found)
    }

    /// The keys of the variants the current settings write for a hash:
    /// never taken back, since a render may be about to name them.
    fn current_variants(&self, hash: &ContentHash) -> Written {
        let key = |spec, format| {
            let tag = self.settings.encoding_tag(format);
            BlobKey::variant(hash, spec, &tag, format)
                .as_str()
                .to_owned()
        };
        self.settings
            .variants
            .iter()
            .flat_map(|spec| {
                self.settings.formats.iter().map(move |output| {
                    output
                        .written_as()
                        .iter()
                        .map(|&format| key(spec, format))
                        .collect()
                })
            })
            .collect()
    }

    async fn mend_shard(&self, report: &mut Report, found: &Findings) -> Result<(), CheckError> {
        let now = now_millis();
        for (id, key) in &found.missing_originals {
            report.found(
                Kind::MissingOriginal,
                format!("photo {id}: {}", key.as_str()),
                0,
            );
            if self.repair && self.db.fail_photo(id, MISSING_ORIGINAL, now).await? {
                self.changes.photo_settled(id, PhotoStatus::Failed).await;
                report.repaired(Kind::MissingOriginal, 1);
            }
        }
        for (id, key) in &found.missing_variants {
            report.found(Kind::MissingVariant, format!("photo {id}: {key}"), 0);
            if self.repair && self.db.queue_render(id, now).await? {
                report.repaired(Kind::MissingVariant, 1);
            }
        }
        for id in &found.outdated {
            report.found(Kind::Outdated, format!("photo {id}"), 0);
            if self.repair && self.db.queue_render(id, now).await? {
                report.repaired(Kind::Outdated, 1);
            }
        }
        for orphan in &found.orphans {
            let what = format!("{} ({} blobs)", orphan.hash, orphan.blobs);
            report.found(Kind::Orphan, what, orphan.bytes);
            if self.repair && self.release(&orphan.hash, orphan.format).await? {
                report.repaired(Kind::Orphan, 1);
            }
        }
        for hash in &found.stuck_deletions {
            report.found(Kind::StuckDeletion, hash, 0);
        }
        for (key, bytes) in &found.stale_variants {
            report.found(Kind::StaleVariant, key.as_str(), *bytes);
            if self.repair {
                self.store.delete(key).await?;
                self.changes
                    .blobs_deleted(vec![key.as_str().to_owned()])
                    .await;
                report.repaired(Kind::StaleVariant, 1);
            }
        }
        Ok(())
    }

    /// Claims unused blobs for deletion the way a delete does, and deletes
    /// them; `false` if something uses them now.
    async fn release(&self, hash: &ContentHash, format: ImageFormat) -> Result<bool, CheckError> {
        match self.db.release_blob(hash, format, now_millis()).await? {
            Release::Claimed(released) => {
                blobs::delete(self.db.as_ref(), &self.store, &self.changes, &released).await?;
                Ok(true)
            }
            Release::InUse | Release::Deleting => Ok(false),
        }
    }

    /// Finishes the deletions, and ends the upload reservations, that
    /// processes which died mid-way left (what the server's sweep does
    /// every minute).
    async fn finish_deletions(&self, report: &mut Report) -> Result<(), CheckError> {
        let now = now_millis();
        let stale = self
            .db
            .stale_blobs(now - UPLOAD_LEASE_MS, now - DELETION_LEASE_MS, now)
            .await?;
        for released in &stale {
            report.found(Kind::StuckDeletion, &released.hash, 0);
            blobs::delete(self.db.as_ref(), &self.store, &self.changes, released).await?;
            report.repaired(Kind::StuckDeletion, 1);
        }
        Ok(())
    }

    fn leftovers(
        &self,
        report: &mut Report,
        store_root: Option<std::path::PathBuf>,
        staging: &std::path::Path,
    ) {
        let before = SystemTime::now() - Duration::from_millis(UPLOAD_LEASE_MS.unsigned_abs());
        for left in leftovers::find(store_root.as_deref(), staging, before) {
            report.found(Kind::Leftover, left.path.display(), left.bytes);
            if self.repair {
                match std::fs::remove_file(&left.path) {
                    Ok(()) => report.repaired(Kind::Leftover, 1),
                    Err(e) => {
                        tracing::warn!(path = %left.path.display(), error = %e, "cannot remove")
                    }
                }
            }
        }
    }

    async fn queue(&self, report: &mut Report) -> Result<(), CheckError> {
        let now = now_millis();
        let expired_before = now - EXPIRED_GRACE_MS;
        let health = self.db.queue_health(expired_before).await?;
        for job in &health.expired {
            report.found(Kind::ExpiredRender, format!("job {job}"), 0);
        }
        if self.repair && !health.expired.is_empty() {
            let requeued = self.db.requeue_expired(expired_before).await?;
            report.repaired(
                Kind::ExpiredRender,
                requeued.min(health.expired.len() as u64),
            );
        }
        for id in &health.unqueued {
            report.found(Kind::Unqueued, format!("photo {id}"), 0);
            if self.repair && self.db.queue_render(id, now).await? {
                report.repaired(Kind::Unqueued, 1);
            }
        }
        Ok(())
    }

    /// Reads every original in use back and hashes it: its key names the
    /// SHA-256 its bytes must have.
    async fn rehash(
        &self,
        report: &mut Report,
        originals: Vec<(BlobKey, u64)>,
    ) -> Result<(), CheckError> {
        let mut progress = Progress::new("re-hash", originals.len() as u64);
        let mut hashed = futures_util::stream::iter(originals)
            .map(|(key, size)| async move {
                let actual = self.hash_of(&key).await?;
                Ok::<_, CheckError>((key, size, actual))
            })
            .buffer_unordered(HASHING);
        let mut done = 0;
        while let Some((key, size, actual)) = hashed.try_next().await? {
            done += 1;
            progress.update(done, key.as_str().to_owned());
            let Some(actual) = actual else { continue };
            report.hashed += 1;
            if Some(&actual) != key.hash().as_ref() {
                report.found(
                    Kind::CorruptOriginal,
                    format!("{}: its bytes hash to {actual}", key.as_str()),
                    size,
                );
            }
        }
        progress.finish();
        Ok(())
    }

    /// The SHA-256 of a stored blob; `None` if it was deleted meanwhile.
    async fn hash_of(&self, key: &BlobKey) -> Result<Option<ContentHash>, CheckError> {
        let Some(mut stream) = self.store.chunks(key).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(Some(ContentHash::from_digest(hasher)))
    }
}
