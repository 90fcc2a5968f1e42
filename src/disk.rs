//! Room on the local disks: whether Scoot's directories can be written at
//! all (checked at start, so that a read-only or missing path is named
//! then rather than found by the first upload), and whether they keep the
//! free-space floor (`storage.min_free_mb`) that uploads and `/readyz`
//! respect, so that a disk filling up stops new work while what was
//! accepted can still be rendered and recorded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::config::Config;

/// The local directories whose disks hold Scoot's data: the data dir
/// (uploads are staged in it), the SQLite file's and a `file://` store's,
/// each once.
pub fn local_dirs(config: &Config) -> Vec<PathBuf> {
    let mut dirs = vec![config.data_dir.clone()];
    let database = config.database_url();
    if let Some(file) = database.strip_prefix("sqlite://") {
        let parent = Path::new(file).parent();
        dirs.extend(parent.filter(|p| !p.as_os_str().is_empty()).map(Into::into));
    }
    dirs.extend(
        config
            .store_url()
            .strip_prefix("file://")
            .map(PathBuf::from),
    );
    dirs.sort();
    dirs.dedup();
    dirs
}

/// A directory whose disk is below the floor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} MB free on the disk of {}, below storage.min_free_mb = {}",
    free / MB,
    dir.display(),
    floor / MB
)]
pub struct LowSpace {
    pub dir: PathBuf,
    pub free: u64,
    pub floor: u64,
}

const MB: u64 = 1024 * 1024;

/// How often the disks are measured again.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// The free-space floor over a set of directories. Cheap to clone.
///
/// The disks are measured on a blocking thread every [`MEASURE_EVERY`],
/// never on a request: `statvfs` on a network mount can hang, and an
/// upload or a balancer's `/readyz` must not wait for it. [`check`] reads
/// the last measurement.
///
/// [`check`]: Self::check
#[derive(Debug, Clone)]
pub struct SpaceFloor {
    dirs: Arc<[PathBuf]>,
    floor: u64,
    /// The last measurement: the first directory under the floor, if any.
    low: Arc<Mutex<Option<LowSpace>>>,
}

impl SpaceFloor {
    /// A floor of `min_free_mb` megabytes on the disks of `dirs` (none
    /// when 0), measured once now and then every [`MEASURE_EVERY`] for as
    /// long as a clone of it lives. Must be called inside a tokio runtime;
    /// measures on the calling thread once (call it at start-up).
    pub fn start(dirs: Vec<PathBuf>, min_free_mb: u64) -> Self {
        let floor = Self {
            dirs: dirs.into(),
            floor: min_free_mb.saturating_mul(MB),
            low: Arc::default(),
        };
        if floor.floor > 0 {
            floor.measure();
            let (dirs, bytes) = (floor.dirs.clone(), floor.floor);
            tokio::spawn(remeasure(Arc::downgrade(&floor.low), dirs, bytes));
        }
        floor
    }

    /// `Err` naming the first directory whose disk had less free space
    /// than the floor when last measured.
    pub fn check(&self) -> Result<(), LowSpace> {
        match &*self.low.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(low) => Err(low.clone()),
            None => Ok(()),
        }
    }

    /// Measures every directory's disk now (blocking).
    fn measure(&self) {
        let low = lowest(&self.dirs, self.floor);
        *self.low.lock().unwrap_or_else(|e| e.into_inner()) = low;
    }
}

/// The first of `dirs` whose disk has less than `floor` bytes free. A
/// directory whose disk cannot be asked is not counted against it.
fn lowest(dirs: &[PathBuf], floor: u64) -> Option<LowSpace> {
    dirs.iter().find_map(|dir| {
        let free = free_bytes(dir)?;
        (free < floor).then(|| LowSpace {
            dir: dir.clone(),
            free,
            floor,
        })
    })
}

/// Measures again every [`MEASURE_EVERY`] until every [`SpaceFloor`]
/// sharing `low` is gone.
async fn remeasure(low: Weak<Mutex<Option<LowSpace>>>, dirs: Arc<[PathBuf]>, floor: u64) {
    let mut tick = tokio::time::interval(MEASURE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if low.strong_count() == 0 {
            return;
        }
        let dirs = dirs.clone();
        let Ok(measured) = tokio::task::spawn_blocking(move || lowest(&dirs, floor)).await else {
            return;
        };
        let Some(low) = low.upgrade() else {
            return;
        };
        *low.lock().unwrap_or_else(|e| e.into_inner()) = measured;
    }
}

/// Bytes an unprivileged writer may still use on the disk of `dir`.
#[cfg(target_os = "linux")]
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Bytes an unprivileged writer may still use on the disk of `dir`
/// (not known on this system).
#[cfg(not(target_os = "linux"))]
pub fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// Creates `dir` if needed and proves a file can be written in it: the
/// error names the directory.
pub fn check_writable(dir: &Path) -> Result<(), std::io::Error> {
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(named)?;
    tempfile::tempfile_in(dir).map_err(named)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_floor_names_the_first_directory_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = || vec![dir.path().to_path_buf()];
        assert!(SpaceFloor::start(dirs(), 0).check().is_ok());
        let free = free_bytes(dir.path()).expect("statvfs answers on Linux");
        let roomy = SpaceFloor::start(dirs(), 1);
        assert!(roomy.check().is_ok(), "{free} bytes free");
        let beyond = free / MB + 1024 * 1024;
        let low = SpaceFloor::start(dirs(), beyond).check().unwrap_err();
        assert_eq!(low.dir, dir.path());
        assert!(low.to_string().contains("below storage.min_free_mb"));
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_named() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let inside = file.path().join("media");
        let e = check_writable(&inside).unwrap_err();
        assert!(e.to_string().contains(&inside.display().to_string()), "{e}");
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("new")).unwrap();
    }
}
