//! Where blobs live in the object store: keys named by content.
//!
//! ```text
//! originals/<h0h1>/<sha256>.<ext>                                  the uploaded bytes
//! variants/<h0h1>/<sha256>/<name>-<edge>-<encoding>-r<rev>.<ext>   a rendered size
//! ```
//!
//! A key never changes meaning (docs/architecture.md invariant 2), so a
//! key is also the tail of a media URL that can be cached forever.

use crate::domain::{ContentHash, ImageFormat, VariantSpec};

/// The version of the render pipeline baked into variant keys. Bump it when
/// the pipeline's output for the same input changes, so that new renders get
/// new URLs and caches never serve stale bytes.
pub const RENDER_REVISION: u32 = 2;

/// A validated storage key; also the tail of its `/media/` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn original(hash: &ContentHash, format: ImageFormat) -> Self {
        let h = hash.as_str();
        Self(format!("originals/{}/{h}.{}", &h[..2], format.extension()))
    }

    /// `encoding` names the encoder settings (e.g. `q82p`: quality 82,
    /// progressive), so different settings never share a key.
    pub fn variant(
        hash: &ContentHash,
        spec: &VariantSpec,
        encoding: &str,
        format: ImageFormat,
    ) -> Self {
        let h = hash.as_str();
        Self(format!(
            "variants/{}/{h}/{}-{}-{encoding}-r{RENDER_REVISION}.{}",
            &h[..2],
            spec.name,
            spec.long_edge,
            format.extension()
        ))
    }

    /// Accepts only keys of the two shapes above (so a URL cannot name
    /// anything else in the store).
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_string(s.to_owned())
    }

    /// [`Self::parse`] of a string already owned, without copying it.
    pub fn from_string(s: String) -> Option<Self> {
        Self::is_valid(&s).then_some(Self(s))
    }

    fn is_valid(s: &str) -> bool {
        let hash_ok = |prefix: &str, rest: &str| {
            ContentHash::is_valid(rest) && rest.starts_with(prefix) && prefix.len() == 2
        };
        let mut parts = s.split('/');
        let parts: [Option<&str>; 5] = std::array::from_fn(|_| parts.next());
        match parts {
            [Some("originals"), Some(prefix), Some(file), None, None] => {
                file.rsplit_once('.').is_some_and(|(hash, ext)| {
                    hash_ok(prefix, hash) && ImageFormat::from_extension(ext).is_some()
                })
            }
            [Some("variants"), Some(prefix), Some(hash), Some(file), None] => {
                hash_ok(prefix, hash)
                    && file.rsplit_once('.').is_some_and(|(stem, ext)| {
                        ImageFormat::from_extension(ext).is_some()
                            && !stem.is_empty()
                            && stem.bytes().all(|b| {
                                b.is_ascii_lowercase()
                                    || b.is_ascii_digit()
                                    || b == b'-'
                                    || b == b'_'
                            })
                    })
            }
            _ => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The image format named by the key's extension.
    pub fn format(&self) -> Option<ImageFormat> {
        let (_, ext) = self.0.rsplit_once('.')?;
        ImageFormat::from_extension(ext)
    }

    /// The original this key belongs to: itself, or the one a variant was
    /// rendered from.
    pub fn hash(&self) -> Option<ContentHash> {
        let mut parts = self.0.split('/');
        match (parts.next()?, parts.nth(1)?) {
            ("originals", file) => file.rsplit_once('.')?.0.parse().ok(),
            ("variants", hash) => hash.parse().ok(),
            _ => None,
        }
    }

    /// Whether this is a variant rather than an original.
    pub fn is_variant(&self) -> bool {
        self.0.starts_with("variants/")
    }

    /// A variant's file name (`<name>-<edge>-<encoding>-r<rev>.<ext>`).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// For an original, the SHA-256 its bytes must have.
    pub fn original_hash(&self) -> Option<ContentHash> {
        let file = self.0.strip_prefix("originals/")?.split('/').nth(1)?;
        file.rsplit_once('.')?.0.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_parse() {
        let hash = ContentHash::of(b"photo");
        let original = BlobKey::original(&hash, ImageFormat::Jpeg);
        assert_eq!(original.original_hash(), Some(hash.clone()));
        let variant = BlobKey::variant(
            &hash,
            &VariantSpec::new("thumb", 400),
            "q82p",
            ImageFormat::Png,
        );
        assert_eq!(BlobKey::parse(original.as_str()), Some(original.clone()));
        assert_eq!(BlobKey::parse(variant.as_str()), Some(variant.clone()));
        assert_eq!(variant.format(), Some(ImageFormat::Png));
        assert_eq!(variant.hash(), Some(hash.clone()));
        assert_eq!(original.hash(), Some(hash.clone()));
        assert!(variant.is_variant() && !original.is_variant());
        assert_eq!(
            variant.file_name(),
            format!("thumb-400-q82p-r{RENDER_REVISION}.png")
        );
        assert!(original.as_str().ends_with(".jpg"));
    }

    #[test]
    fn parse_refuses_anything_else() {
        let h = ContentHash::of(b"x");
        let h = h.as_str();
        for bad in [
            "",
            "scoot.db",
            "../scoot.db",
            &format!("originals/{}/{h}.exe", &h[..2]),
            &format!("originals/zz/{h}.jpg"),
            &format!("variants/{}/{h}/../x.jpg", &h[..2]),
            &format!("variants/{}/{h}/A.jpg", &h[..2]),
            &format!("variants/{}/{h}/x/y.jpg", &h[..2]),
            &format!("originals/{}/{h}.jpg/", &h[..2]),
            &format!("originals/{}/{}.jpg", &h[..2], h.to_uppercase()),
            &format!("originals/{}/{}.jpg", &h[..2], &h[..63]),
            &format!("variants/{}/{h}", &h[..2]),
        ] {
            assert_eq!(BlobKey::parse(bad), None, "{bad}");
        }
    }
}
