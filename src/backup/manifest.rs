//! The manifest of a backup: which database snapshot is current, and the
//! SHA-256 and size of every blob it references. Writing the manifest
//! (to a temporary name, synced, then renamed over the old one) is what
//! makes a backup current: a backup interrupted before that leaves the
//! previous one whole.
//!
//! ```text
//! scoot-backup 1
//! created 1764756000000
//! database scoot-1764756000000.db <sha256> <bytes>
//! blob originals/ab/ab12….jpg <sha256> <bytes>
//! blob variants/ab/ab12…/thumb-400-q82p-r2.jpg <sha256> <bytes>
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use crate::domain::{ContentHash, Millis};
use crate::keys::BlobKey;

const HEADER: &str = "scoot-backup 1";
pub const FILE: &str = "manifest";

/// What a file must be: its SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub hash: ContentHash,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub created: Millis,
    /// The snapshot's file name in the backup folder.
    pub database: String,
    pub database_entry: Entry,
    pub blobs: BTreeMap<String, Entry>,
}

impl Manifest {
    /// The manifest in `dir`; `None` if there is none (not a backup yet).
    pub fn read(dir: &Path) -> Result<Option<Self>, String> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l) != Some(HEADER) {
            return Err(format!("not a Scoot backup manifest (no `{HEADER}` line)"));
        }
        let (mut created, mut database, mut blobs) = (None, None, BTreeMap::new());
        for (n, line) in lines {
            let bad = || format!("line {}: cannot read `{line}`", n + 1);
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["created", at] => created = Some(at.parse().map_err(|_| bad())?),
                ["database", name, hash, bytes] => {
                    let safe = name.starts_with("scoot-") && !name.contains(['/', '\\']);
                    if !safe {
                        return Err(bad());
                    }
                    database = Some((name.to_string(), entry(hash, bytes).ok_or_else(bad)?));
                }
                ["blob", key, hash, bytes] => {
                    // Only keys Scoot writes: a manifest cannot name a path
                    // outside the backup's blob folder.
                    BlobKey::parse(key).ok_or_else(bad)?;
                    blobs.insert(key.to_string(), entry(hash, bytes).ok_or_else(bad)?);
                }
                [""] => {}
                _ => return Err(bad()),
            }
        }
        let (database, database_entry) = database.ok_or("no `database` line")?;
        Ok(Self {
            created: created.ok_or("no `created` line")?,
            database,
            database_entry,
            blobs,
        })
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{HEADER}\ncreated {}\ndatabase {} {} {}\n",
            self.created, self.database, self.database_entry.hash, self.database_entry.bytes
        );
        for (key, e) in &self.blobs {
            out.push_str(&format!("blob {key} {} {}\n", e.hash, e.bytes));
        }
        out
    }

    /// Makes this the backup's manifest, atomically and durably.
    pub fn commit(&self, dir: &Path) -> std::io::Result<()> {
        let temp = dir.join(format!("{FILE}.new"));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(self.to_text().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(FILE))?;
        std::fs::File::open(dir)?.sync_all()
    }
}

fn entry(hash: &str, bytes: &str) -> Option<Entry> {
    Some(Entry {
        hash: hash.parse().ok()?,
        bytes: bytes.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImageFormat;

    fn sample() -> Manifest {
        let hash = ContentHash::of(b"photo");
        let key = BlobKey::original(&hash, ImageFormat::Jpeg);
        Manifest {
            created: 1_764_756_000_000,
            database: "scoot-1764756000000.db".into(),
            database_entry: Entry {
                hash: ContentHash::of(b"db"),
                bytes: 4096,
            },
            blobs: BTreeMap::from([(key.as_str().to_owned(), Entry { hash, bytes: 5 })]),
        }
    }

    #[test]
    fn round_trips_through_text_and_a_folder() {
        let manifest = sample();
        assert_eq!(Manifest::parse(&manifest.to_text()), Ok(manifest.clone()));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(dir.path()), Ok(None));
        manifest.commit(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()), Ok(Some(manifest)));
    }

    #[test]
    fn refuses_paths_outside_the_backup() {
        let text = sample().to_text();
        let h = ContentHash::of(b"x");
        for bad in [
            text.replace("scoot-1764756000000.db", "../scoot.db"),
            text.replace("originals/", "../originals/"),
            format!("{text}blob /etc/passwd {h} 1\n"),
            text.replace(HEADER, "something else"),
        ] {
            assert!(Manifest::parse(&bad).is_err(), "{bad}");
        }
    }
}
