//! `scoot import DIR…`: bulk import through the same path uploads take.
//!
//! Walks the folders, and for every supported image: hashes it in place,
//! skips it if the owner already has these bytes (so an interrupted import
//! can simply be run again), otherwise probes, stores and records it like an
//! upload, and lets the render pool render it, keeping only a few photos
//! ahead of the renders. Then waits for the renders and reports imported /
//! duplicates / failed (with reasons).
//!
//! Interrupting (Ctrl-C) stops taking new files and lets running renders
//! finish; anything accepted but not yet rendered stays queued in the
//! database and is finished by the next `scoot serve` or `scoot import`.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::broadcast::error::RecvError;

use crate::app::AppError;
use crate::app::uploads::{Describe, Staged};
use crate::changes::Change;
use crate::config::Config;
use crate::domain::{PhotoId, PhotoStatus, Visibility, upload_file_name};
use crate::model::{Inserted, User};
use crate::progress::Progress;
use crate::{Core, StartError, start_core};

/// A render of one of this run's photos reached its end.
struct Settled {
    photo: PhotoId,
    status: PhotoStatus,
}

/// Extensions worth opening; the content is still sniffed.
const EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "png", "webp", "gif"];

/// A photo of this run that is still rendering.
struct Pending {
    path: PathBuf,
    /// Counted as imported (else as a duplicate).
    new: bool,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub imported: usize,
    pub duplicates: usize,
    pub failed: Vec<(PathBuf, String)>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl ImportSummary {
    /// What the progress line says besides the count.
    fn progress(&self, rendering: usize) -> String {
        format!(
            "imported {} · duplicates {} · failed {} · rendering {rendering}",
            self.imported,
            self.duplicates,
            self.failed.len()
        )
    }

    /// The closing report, one line per failure.
    pub fn report(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let done = self.imported + self.duplicates + self.failed.len();
        let mut out = format!(
            "{}imported {}, duplicates {}, failed {} ({done} files in {secs:.1} s, {:.1} files/s)\n",
            if self.interrupted {
                "interrupted: "
            } else {
                ""
            },
            self.imported,
            self.duplicates,
            self.failed.len(),
            done as f64 / secs.max(1e-9),
        );
        for (path, reason) in &self.failed {
            out.push_str(&format!("failed: {}: {reason}\n", path.display()));
        }
        out
    }
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("{0}")]
    Setup(String),
}

/// Every supported image under `paths` (files are taken as given), sorted
/// so that runs are repeatable.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for root in paths {
        if !root.exists() {
            return Err(ImportError::Setup(format!(
                "{}: no such file or directory",
                root.display()
            )));
        }
        for entry in walkdir::WalkDir::new(root).follow_links(true) {
            let entry = entry.map_err(|e| ImportError::Setup(e.to_string()))?;
            if entry.file_type().is_file() && (supported(entry.path()) || entry.depth() == 0) {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn supported(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Whose the imported photos are and who may see them.
#[derive(Debug, Clone, Default)]
pub struct ImportAs {
    /// The owner's name; `None` for the first administrator.
    pub user: Option<String>,
    pub visibility: Visibility,
}

/// Imports `paths` as `who` says until done or until `interrupt` resolves.
pub async fn import(
    config: &Config,
    paths: &[PathBuf],
    who: &ImportAs,
    interrupt: impl Future<Output = ()>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let files = collect_files(paths)?;
    let core = start_core(config).await?;
    let owner = owner(&core, who.user.as_deref()).await?;
    let describe = Describe {
        visibility: who.visibility,
        ..Describe::default()
    };
    let mut events = core.app.changes().subscribe();
    let mut summary = ImportSummary::default();
    let mut rendering: HashMap<PhotoId, Pending> = HashMap::new();
    let mut progress = Progress::new("import", files.len() as u64);
    let mut interrupt = std::pin::pin!(interrupt);

    // Accept only a few photos ahead of the renders: each then finds the
    // planes its check decoded still kept for it (`render::predecoded`),
    // and an interrupted run leaves little queued.
    let ahead = config.render.effective_threads() * 2 + 2;
    let mut resync = tokio::time::interval(Duration::from_secs(2));
    for path in files {
        Waiting {
            core: &core,
            events: &mut events,
            resync: &mut resync,
            progress: &mut progress,
        }
        .until(ahead - 1, interrupt.as_mut(), &mut rendering, &mut summary)
        .await?;
        // Between files only: a file is either fully accepted or untouched.
        if summary.interrupted || (&mut interrupt).now_or_never().is_some() {
            summary.interrupted = true;
            break;
        }
        ingest_one(&core, &owner, &describe, path, &mut summary, &mut rendering).await;
        drain_events(&mut events, &core, &mut rendering, &mut summary).await?;
        progress.update(
            done(&summary, &rendering),
            summary.progress(rendering.len()),
        );
    }

    // Wait for what this run queued (and pending duplicates from an
    // interrupted earlier run).
    Waiting {
        core: &core,
        events: &mut events,
        resync: &mut resync,
        progress: &mut progress,
    }
    .until(0, interrupt.as_mut(), &mut rendering, &mut summary)
    .await?;
    progress.finish();
    core.render.shutdown(Duration::from_secs(60)).await;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Files finished with: accepted and rendered, duplicates, or failed.
fn done(summary: &ImportSummary, rendering: &HashMap<PhotoId, Pending>) -> u64 {
    (summary.imported + summary.duplicates + summary.failed.len() - rendering.len()) as u64
}

/// What waiting for this run's renders listens to, and tells.
struct Waiting<'a> {
    core: &'a Core,
    events: &'a mut tokio::sync::broadcast::Receiver<Change>,
    /// Now and then the pending photos are looked up, in case a notice was
    /// missed.
    resync: &'a mut tokio::time::Interval,
    progress: &'a mut Progress,
}

impl Waiting<'_> {
    /// Waits until at most `left` of this run's photos are still rendering,
    /// the run is interrupted (which marks `summary` so), or no more
    /// notices can come.
    async fn until(
        self,
        left: usize,
        mut interrupt: Pin<&mut impl Future<Output = ()>>,
        rendering: &mut HashMap<PhotoId, Pending>,
        summary: &mut ImportSummary,
    ) -> Result<(), ImportError> {
        let core = self.core;
        while rendering.len() > left && !summary.interrupted {
            tokio::select! {
                biased;
                () = interrupt.as_mut() => summary.interrupted = true,
                event = self.events.recv() => match event {
                    Ok(change) => {
                        if let Some(e) = settled(change) {
                            settle(core, e, rendering, summary).await?;
                        }
                    }
                    Err(RecvError::Lagged(_)) => resync_pending(core, rendering, summary).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = self.resync.tick() => resync_pending(core, rendering, summary).await?,
            }
            self.progress
                .update(done(summary, rendering), summary.progress(rendering.len()));
        }
        Ok(())
    }
}

/// The render outcome a change announces, if it is one.
fn settled(change: Change) -> Option<Settled> {
    let (photo, status) = change.settled()?;
    Some(Settled {
        photo: photo.clone(),
        status,
    })
}

async fn owner(core: &Core, name: Option<&str>) -> Result<User, ImportError> {
    let accounts = &core.app.accounts;
    match name {
        Some(name) => accounts
            .named(name)
            .await?
            .ok_or_else(|| ImportError::Setup(format!("no such user: {name}"))),
        None => accounts.first_admin().await?.ok_or_else(|| {
            ImportError::Setup(
                "no administrator to import for: create one with `scoot user add NAME --admin`, or pass --user".into(),
            )
        }),
    }
}

async fn ingest_one(
    core: &Core,
    owner: &User,
    describe: &Describe,
    path: PathBuf,
    summary: &mut ImportSummary,
    rendering: &mut HashMap<PhotoId, Pending>,
) {
    let staged = match Staged::existing(path.clone()).await {
        Ok(s) => s,
        Err(e) => return summary.failed.push((path, e.to_string())),
    };
    let uploads = &core.app.uploads;
    if staged.size > uploads.max_bytes() {
        let e = AppError::TooLarge {
            limit: uploads.max_bytes(),
        };
        return summary.failed.push((path, e.to_string()));
    }
    let describe = Describe {
        filename: path
            .file_name()
            .map(|name| upload_file_name(&name.to_string_lossy()))
            .unwrap_or_default(),
        ..describe.clone()
    };
    match uploads.accept(&staged, owner, describe).await {
        Ok(Inserted::New(photo)) => {
            summary.imported += 1;
            rendering.insert(photo.id, Pending { path, new: true });
        }
        Ok(Inserted::Duplicate(photo)) => {
            summary.duplicates += 1;
            if photo.status == PhotoStatus::Pending {
                rendering.insert(photo.id, Pending { path, new: false });
            }
        }
        Err(e) => summary.failed.push((path, e.to_string())),
    }
}

async fn drain_events(
    events: &mut tokio::sync::broadcast::Receiver<Change>,
    core: &Core,
    rendering: &mut HashMap<PhotoId, Pending>,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    loop {
        match events.try_recv() {
            Ok(change) => {
                if let Some(e) = settled(change) {
                    settle(core, e, rendering, summary).await?;
                }
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                resync_pending(core, rendering, summary).await?
            }
            Err(_) => return Ok(()),
        }
    }
}

/// Records a finished render of one of ours.
async fn settle(
    core: &Core,
    event: Settled,
    rendering: &mut HashMap<PhotoId, Pending>,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    let Some(pending) = rendering.remove(&event.photo) else {
        return Ok(());
    };
    if event.status == PhotoStatus::Failed {
        let reason = core
            .app
            .photos
            .reload(&event.photo)
            .await?
            .and_then(|p| p.error.clone())
            .unwrap_or_else(|| "render failed".into());
        summary.failed.push((pending.path, reason));
        // It was counted when accepted; it is a failure after all.
        if pending.new {
            summary.imported -= 1;
        } else {
            summary.duplicates -= 1;
        }
    }
    Ok(())
}

/// Asks the database about every photo still rendering (after missed events).
async fn resync_pending(
    core: &Core,
    rendering: &mut HashMap<PhotoId, Pending>,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    let ids: Vec<PhotoId> = rendering.keys().cloned().collect();
    for id in ids {
        // From the database: `scoot serve` on the same data may be the one
        // rendering it, and its changes never reach this process's cache.
        let status = core.app.photos.reload(&id).await?.map(|p| p.status);
        match status {
            Some(PhotoStatus::Pending) => {}
            Some(status) => settle(core, Settled { photo: id, status }, rendering, summary).await?,
            None => {
                if let Some(p) = rendering.remove(&id) {
                    summary
                        .failed
                        .push((p.path, "deleted while importing".into()));
                    if p.new {
                        summary.imported -= 1;
                    } else {
                        summary.duplicates -= 1;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_supported_files_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        for f in [
            "z.JPG",
            "a/b/x.png",
            "a/notes.txt",
            "a/y.webp",
            "a/b/.hidden.gif",
        ] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        let files = collect_files(&[d.to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a/b/.hidden.gif", "a/b/x.png", "a/y.webp", "z.JPG"]);
        assert!(collect_files(&[d.join("missing")]).is_err());
        // A file named directly is taken whatever its extension.
        let one = collect_files(&[d.join("a/notes.txt")]).unwrap();
        assert_eq!(one.len(), 1);
    }
}
