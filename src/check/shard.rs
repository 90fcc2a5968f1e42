//! One shard of hashes (the first two hex digits): what the rows name,
//! set against what the store holds under `originals/<ab>/` and
//! `variants/<ab>/`. Pure: the caller lists, reads and acts.

use std::collections::{HashMap, HashSet};

use crate::db::check::ShardRows;
use crate::domain::{ContentHash, ImageFormat, Millis, PhotoId, PhotoStatus};
use crate::keys::BlobKey;
use crate::store::BlobMeta;

/// What the store holds in one shard, by the hash each key belongs to.
#[derive(Debug, Default)]
pub struct Listing {
    pub blobs: HashMap<ContentHash, Vec<(BlobKey, BlobMeta)>>,
    /// Keys under the shard's prefixes that Scoot does not write.
    pub foreign: Vec<String>,
}

impl Listing {
    pub fn new(keys: impl IntoIterator<Item = (String, BlobMeta)>) -> Self {
        let mut listing = Self::default();
        for (key, meta) in keys {
            match BlobKey::parse(&key).and_then(|k| Some((k.hash()?, k))) {
                Some((hash, key)) => listing.blobs.entry(hash).or_default().push((key, meta)),
                None => listing.foreign.push(key),
            }
        }
        listing
    }

    fn holds(&self, key: &str) -> bool {
        BlobKey::parse(key)
            .and_then(|k| k.hash())
            .and_then(|h| self.blobs.get(&h))
            .is_some_and(|keys| keys.iter().any(|(k, _)| k.as_str() == key))
    }
}

/// Blobs that nothing in the database uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub hash: ContentHash,
    /// The original's format, as its key names it (JPEG when only
    /// variants are left).
    pub format: ImageFormat,
    pub blobs: usize,
    pub bytes: u64,
}

/// What one shard shows; suspects until the caller confirms them.
#[derive(Debug, Default)]
pub struct Findings {
    pub photos: HashMap<PhotoStatus, u64>,
    pub originals: (u64, u64),
    pub variants: (u64, u64),
    /// Photos that are not failed, whose original is not in the store.
    pub missing_originals: Vec<(PhotoId, BlobKey)>,
    /// Ready photos with a variant row whose key is not in the store.
    pub missing_variants: Vec<(PhotoId, String)>,
    /// Ready photos whose variants are not the ones the current settings
    /// write: rendered at other sizes, formats or qualities, or by an older
    /// render revision.
    pub outdated: Vec<PhotoId>,
    pub orphans: Vec<Orphan>,
    /// Deletions claimed before the deletion lease and never finished.
    pub stuck_deletions: Vec<ContentHash>,
    /// Variants no row names and the current settings would never write
    /// (older render revisions or settings), last written before the
    /// cut-off: space that can be taken back.
    pub stale_variants: Vec<(BlobKey, u64)>,
    /// Originals in use, to re-hash.
    pub to_hash: Vec<(BlobKey, u64)>,
}

/// What a render with the current settings writes for a hash: one entry
/// per size and output format, each the keys that variant may take (a
/// JPEG output is a PNG for a source with alpha).
pub type Written = Vec<Vec<String>>;

/// The thresholds a shard is judged by.
pub struct Judge<'a> {
    pub current: &'a dyn Fn(&ContentHash) -> Written,
    /// A deletion claimed before this is stuck.
    pub deletions_before: Millis,
    /// A stale variant must be older than this to be taken back.
    pub stale_before: Millis,
}

/// Sets `rows` against `listing`.
pub fn judge(listing: &Listing, rows: &ShardRows, judge: &Judge<'_>) -> Findings {
    let mut found = Findings::default();
    let mut named: HashMap<&ContentHash, HashSet<&str>> = HashMap::new();
    for photo in &rows.photos {
        *found.photos.entry(photo.status).or_default() += 1;
        let refs = named.entry(&photo.hash).or_default();
        refs.extend(photo.variants.iter().map(|(k, _)| k.as_str()));
        let original = BlobKey::original(&photo.hash, photo.format);
        if photo.status != PhotoStatus::Failed && !listing.holds(original.as_str()) {
            found.missing_originals.push((photo.id.clone(), original));
        }
        if photo.status == PhotoStatus::Ready {
            if let Some((key, _)) = photo.variants.iter().find(|(k, _)| !listing.holds(k)) {
                found.missing_variants.push((photo.id.clone(), key.clone()));
            } else if !written_as_now(&photo.variants, &(judge.current)(&photo.hash)) {
                found.outdated.push(photo.id.clone());
            }
        }
    }
    let holds: HashMap<&ContentHash, _> = rows.holds.iter().map(|h| (&h.hash, h)).collect();
    let mut hashes: Vec<&ContentHash> = listing.blobs.keys().chain(holds.keys().copied()).collect();
    hashes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    hashes.dedup();
    for hash in hashes {
        let keys = listing.blobs.get(hash).map_or(&[][..], Vec::as_slice);
        for (key, meta) in keys {
            let tally = if key.is_variant() {
                &mut found.variants
            } else {
                &mut found.originals
            };
            tally.0 += 1;
            tally.1 += meta.size;
        }
        let hold = holds.get(hash);
        if let Some(since) = hold.and_then(|h| h.deleting_since) {
            if since < judge.deletions_before {
                found.stuck_deletions.push(hash.clone());
            }
            continue;
        }
        let Some(refs) = named.get(hash) else {
            if !hold.is_some_and(|h| h.reserved) {
                found.orphans.push(Orphan {
                    hash: hash.clone(),
                    format: keys
                        .iter()
                        .find(|(k, _)| !k.is_variant())
                        .and_then(|(k, _)| k.format())
                        .unwrap_or(ImageFormat::Jpeg),
                    blobs: keys.len(),
                    bytes: keys.iter().map(|(_, m)| m.size).sum(),
                });
            }
            continue;
        };
        let current: HashSet<String> = (judge.current)(hash).into_iter().flatten().collect();
        for (key, meta) in keys {
            if !key.is_variant() {
                found.to_hash.push((key.clone(), meta.size));
            } else if !refs.contains(key.as_str())
                && !current.contains(key.as_str())
                && meta.last_modified < judge.stale_before
            {
                found.stale_variants.push((key.clone(), meta.size));
            }
        }
    }
    found
}

/// Whether a photo's variant rows are exactly what `written` lists: one
/// for each size and format, each under a name it may take. The entries
/// name disjoint keys, so as many rows as entries, each entry matched, is
/// a match one for one.
fn written_as_now(rows: &[(String, u64)], written: &Written) -> bool {
    rows.len() == written.len()
        && written
            .iter()
            .all(|keys| rows.iter().any(|(row, _)| keys.contains(row)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::check::{BlobHold, PhotoBlobs};
    use crate::domain::VariantSpec;

    fn meta(size: u64, last_modified: Millis) -> BlobMeta {
        BlobMeta {
            size,
            last_modified,
        }
    }

    fn variant(hash: &ContentHash, tag: &str) -> BlobKey {
        BlobKey::variant(
            hash,
            &VariantSpec::new("thumb", 400),
            tag,
            ImageFormat::Jpeg,
        )
    }

    fn photo(hash: &ContentHash, status: PhotoStatus, variants: &[&BlobKey]) -> PhotoBlobs {
        PhotoBlobs {
            id: PhotoId::generate(),
            hash: hash.clone(),
            format: ImageFormat::Jpeg,
            status,
            variants: variants
                .iter()
                .map(|k| (k.as_str().to_owned(), 10))
                .collect(),
        }
    }

    #[test]
    fn each_kind_of_trouble_is_found_and_nothing_else() {
        let [live, gone, orphan, reserved, deleting] =
            [b"live", b"gone", b"orph", b"resv", b"dele"].map(|b| ContentHash::of(b));
        let current = variant(&live, "q82p");
        let old = variant(&live, "q80");
        let young_old = variant(&live, "q70");
        let lost = variant(&gone, "q82p");
        let original = |h: &ContentHash| BlobKey::original(h, ImageFormat::Jpeg);
        let listing = Listing::new(
            [
                (original(&live), meta(1000, 0)),
                (current.clone(), meta(10, 0)),
                (old.clone(), meta(20, 0)),
                (young_old.clone(), meta(30, 5000)),
                (original(&orphan), meta(7, 0)),
                (variant(&orphan, "q82p"), meta(3, 0)),
                (original(&reserved), meta(9, 0)),
                (original(&deleting), meta(9, 0)),
            ]
            .map(|(k, m)| (k.as_str().to_owned(), m))
            .into_iter()
            .chain([("variants/zz/junk".to_owned(), meta(1, 0))]),
        );
        let rows = ShardRows {
            photos: vec![
                photo(&live, PhotoStatus::Ready, &[&current]),
                photo(&gone, PhotoStatus::Ready, &[&lost]),
                photo(&gone, PhotoStatus::Failed, &[]),
            ],
            holds: vec![
                BlobHold {
                    hash: reserved.clone(),
                    reserved: true,
                    deleting_since: None,
                },
                BlobHold {
                    hash: deleting.clone(),
                    reserved: false,
                    deleting_since: Some(100),
                },
            ],
        };
        let found = judge(
            &listing,
            &rows,
            &Judge {
                current: &written_q82p,
                deletions_before: 200,
                stale_before: 1000,
            },
        );
        assert_eq!(found.photos[&PhotoStatus::Ready], 2);
        assert_eq!(found.originals, (4, 1025));
        assert_eq!(found.variants, (4, 63));
        assert_eq!(listing.foreign, ["variants/zz/junk"]);
        assert_eq!(
            found
                .missing_originals
                .iter()
                .map(|(_, k)| k)
                .collect::<Vec<_>>(),
            [&original(&gone)]
        );
        assert_eq!(found.missing_variants.len(), 1);
        assert_eq!(found.missing_variants[0].1, lost.as_str());
        assert_eq!(
            found.orphans,
            [Orphan {
                hash: orphan.clone(),
                format: ImageFormat::Jpeg,
                blobs: 2,
                bytes: 10,
            }]
        );
        assert_eq!(found.stuck_deletions, [deleting]);
        assert_eq!(found.stale_variants, [(old, 20)]);
        assert_eq!(found.to_hash, [(original(&live), 1000)]);
        assert!(found.outdated.is_empty());
    }

    /// What the test's settings write: one size, one format, at `q82p`.
    fn written_q82p(hash: &ContentHash) -> Written {
        vec![vec![variant(hash, "q82p").as_str().to_owned()]]
    }

    #[test]
    fn photos_rendered_under_other_settings_are_outdated() {
        let [now, older, more, fewer, pending] =
            [b"now_", b"oldr", b"more", b"fewr", b"pend"].map(|b| ContentHash::of(b));
        let extra = BlobKey::variant(
            &more,
            &VariantSpec::new("display", 1600),
            "q82p",
            ImageFormat::Jpeg,
        );
        let photos = [
            photo(&now, PhotoStatus::Ready, &[&variant(&now, "q82p")]),
            // Another quality, or an older render revision.
            photo(&older, PhotoStatus::Ready, &[&variant(&older, "q80")]),
            // A size the settings no longer name.
            photo(
                &more,
                PhotoStatus::Ready,
                &[&variant(&more, "q82p"), &extra],
            ),
            // None yet of a size the settings name now.
            photo(&fewer, PhotoStatus::Ready, &[]),
            // Not rendered yet: its render will write what is current.
            photo(&pending, PhotoStatus::Pending, &[]),
        ];
        let listing = Listing::new(photos.iter().flat_map(|p| {
            let original = BlobKey::original(&p.hash, p.format);
            std::iter::once((original.as_str().to_owned(), meta(5, 0)))
                .chain(p.variants.iter().map(|(k, _)| (k.clone(), meta(1, 0))))
        }));
        let rows = ShardRows {
            photos: photos.to_vec(),
            holds: vec![],
        };
        let found = judge(
            &listing,
            &rows,
            &Judge {
                current: &written_q82p,
                deletions_before: 0,
                stale_before: 1000,
            },
        );
        assert!(found.missing_variants.is_empty() && found.stale_variants.is_empty());
        assert_eq!(
            found.outdated,
            [&photos[1], &photos[2], &photos[3]].map(|p| p.id.clone())
        );
    }
}
