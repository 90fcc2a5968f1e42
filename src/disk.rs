//! Room on the local disks: whether Scoot's directories can be written at
//! all (checked at start, so that a read-only or missing path is named
//! then rather than found by the first upload), and whether they keep the
//! free-space floor (`storage.min_free_mb`) that uploads and `/readyz`
//! respect, so that a disk filling up stops new work while what was
//! accepted can still be rendered and recorded.

use std::path::{Path, PathBuf};

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

/// The free-space floor over a set of directories. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SpaceFloor {
    dirs: std::sync::Arc<[PathBuf]>,
    floor: u64,
}

impl SpaceFloor {
    /// A floor of `min_free_mb` megabytes on the disks of `dirs` (none
    /// when 0).
    pub fn new(dirs: Vec<PathBuf>, min_free_mb: u64) -> Self {
        Self {
            dirs: dirs.into(),
            floor: min_free_mb.saturating_mul(MB),
        }
    }

    /// The first directory whose disk has less free space than the floor.
    /// A directory whose disk cannot be asked is not counted against it.
    pub fn check(&self) -> Result<(), LowSpace> {
        if self.floor == 0 {
            return Ok(());
        }
        for dir in self.dirs.iter() {
            if let Some(free) = free_bytes(dir)
                && free < self.floor
            {
                return Err(LowSpace {
                    dir: dir.clone(),
                    free,
                    floor: self.floor,
                });
            }
        }
        Ok(())
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

    #[test]
    fn the_floor_names_the_first_directory_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path());
        assert!(SpaceFloor::new(vec![dir.path().into()], 0).check().is_ok());
        if let Some(free) = free {
            let roomy = SpaceFloor::new(vec![dir.path().into()], 1);
            assert!(roomy.check().is_ok(), "{free} bytes free");
            let beyond = free / MB + 1024 * 1024;
            let low = SpaceFloor::new(vec![dir.path().into()], beyond)
                .check()
                .unwrap_err();
            assert_eq!(low.dir, dir.path());
            assert!(low.to_string().contains("below storage.min_free_mb"));
        }
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
