//! Files a killed process left on local disk: a `file://` store's staging
//! files (`<key>#<n>`, written before the rename that stores a blob) and
//! staged uploads under the data dir's `tmp/`. The store's own listing
//! hides the first kind, so they are found by walking the folder.
//!
//! Only files last written before a cut-off count: younger ones may belong
//! to a write in progress in a running server.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::ingest::STAGED_PREFIX;

/// A file left behind, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Staging files under `store_root` and staged uploads in `staging_dir`,
/// last written before `before`.
pub fn find(store_root: Option<&Path>, staging_dir: &Path, before: SystemTime) -> Vec<Leftover> {
    let staged = |path: &Path| {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(STAGED_PREFIX))
    };
    let mut found = Vec::new();
    if let Some(root) = store_root {
        found.extend(old_files(root, &is_staging_file, before));
    }
    found.extend(old_files(staging_dir, &staged, before));
    found
}

/// `<name>#<digits>`: how the local store names a blob being written.
fn is_staging_file(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    name.rsplit_once('#').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The files under `dir` that `wanted` picks, last written before `before`.
fn old_files<'a>(
    dir: &'a Path,
    wanted: &'a dyn Fn(&Path) -> bool,
    before: SystemTime,
) -> impl Iterator<Item = Leftover> + 'a {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(move |e| e.file_type().is_file() && wanted(e.path()))
        .filter_map(move |e| {
            let meta = e.metadata().ok()?;
            meta.modified().is_ok_and(|m| m < before).then(|| Leftover {
                path: e.into_path(),
                bytes: meta.len(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn finds_old_staging_files_and_uploads_only() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media/originals/ab");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        for name in ["x.jpg#1", "x.jpg", "y#z", "#"] {
            std::fs::write(media.join(name), b"12345").unwrap();
        }
        for name in ["upload-1", "other"] {
            std::fs::write(tmp.join(name), b"123").unwrap();
        }
        let later = SystemTime::now() + Duration::from_secs(60);
        let mut found = find(Some(&dir.path().join("media")), &tmp, later);
        found.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            found,
            [
                Leftover {
                    path: media.join("x.jpg#1"),
                    bytes: 5
                },
                Leftover {
                    path: tmp.join("upload-1"),
                    bytes: 3
                },
            ]
        );
        let earlier = SystemTime::now() - Duration::from_secs(60);
        assert!(find(Some(&dir.path().join("media")), &tmp, earlier).is_empty());
    }
}
