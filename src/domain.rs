//! Domain types shared by every layer: identifiers, content hashes, image
//! formats, photo status and variant specs.
//!
//! Everything that arrives as a string from the outside (a URL segment, a DB
//! column, a config entry) is parsed into one of these types at the edge, so
//! the rest of the code never passes raw strings around.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

/// `at` to the minute in UTC, as listings show it: `2026-12-03 14:05 UTC`.
pub fn utc_minute(at: Millis) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// `n` random bytes from the OS generator, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}

macro_rules! random_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name(String);

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(s: String) -> Result<Self, InvalidId> {
                s.parse()
            }
        }

        impl $name {
            /// A new random id: 16 hex characters (64 bits), unguessable.
            pub fn generate() -> Self {
                Self(random_hex(8))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if ok { Ok(Self(s.to_owned())) } else { Err(InvalidId) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

random_id!(
    /// Identifies a photo; appears in page and API URLs.
    PhotoId
);
random_id!(
    /// Identifies a user account.
    UserId
);
random_id!(
    /// Identifies a render job.
    JobId
);
random_id!(
    /// Identifies an album; appears in page and API URLs.
    AlbumId
);
random_id!(
    /// Identifies an upload's hold on its original's blobs, from reserving
    /// them until its photo commits.
    UploadId
);

/// A string that is not a well-formed id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed id")]
pub struct InvalidId;

/// The SHA-256 of an original's bytes, lower-case hex. Originals are stored
/// under it, so the same bytes uploaded twice are stored once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    pub fn from_digest(digest: Sha256) -> Self {
        Self(hex::encode(digest.finalize()))
    }

    pub fn of(bytes: &[u8]) -> Self {
        Self::from_digest(Sha256::new_with_prefix(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a hash as [`Self::as_str`] writes it: 64 lowercase
    /// hex digits.
    pub fn is_valid(s: &str) -> bool {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

impl FromStr for ContentHash {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId)
        }
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The raster formats Scoot accepts as originals and writes as variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 4] = [Self::Jpeg, Self::Png, Self::Webp, Self::Gif];

    /// The name used in the API, the database and file extensions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            other => other.as_str(),
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.extension() == ext)
    }

    /// Whether every browser shows it: the format of a variant's `<img>`
    /// (JPEG, or PNG for images with alpha); WebP is offered beside it.
    pub fn is_universal(self) -> bool {
        matches!(self, Self::Jpeg | Self::Png)
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }
}

impl FromStr for ImageFormat {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(InvalidId)
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format variants are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// What every browser shows: JPEG, or PNG for sources with alpha.
    Jpeg,
    /// Lossy WebP (with alpha when the source has it): ~25 % smaller than
    /// JPEG at the same look, for browsers that accept it.
    Webp,
}

impl OutputFormat {
    /// The formats a variant asked for in this format is written in.
    pub fn written_as(self) -> &'static [ImageFormat] {
        match self {
            OutputFormat::Jpeg => &[ImageFormat::Jpeg, ImageFormat::Png],
            OutputFormat::Webp => &[ImageFormat::Webp],
        }
    }
}

/// What the camera recorded about a shot, read from the original's EXIF at
/// upload. Variants never carry any of it; [`gps`](Self::gps) is shown to
/// the photo's owner only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShotFacts {
    /// `DateTimeOriginal` as `YYYY-MM-DD HH:MM:SS` (camera local time).
    pub taken_at: Option<String>,
    /// Make and model, e.g. `Canon EOS 5D`.
    pub camera: Option<String>,
    /// Lens model, e.g. `EF24-105mm f/4L IS USM`.
    pub lens: Option<String>,
    /// Exposure time in seconds.
    pub exposure_s: Option<f64>,
    /// Aperture as an f-number, e.g. 2.8.
    pub f_number: Option<f64>,
    /// ISO speed.
    pub iso: Option<u32>,
    /// Focal length in millimetres (as on the lens, not 35 mm equivalent).
    pub focal_mm: Option<f64>,
    /// Where it was taken. Private: only the owner sees it.
    pub gps: Option<GeoPoint>,
}

impl ShotFacts {
    /// The exposure as photographers write it: `1/250 s`, `0.5 s`, `30 s`.
    pub fn exposure_text(&self) -> Option<String> {
        let s = self.exposure_s?;
        Some(if s > 0.0 && s < 0.25 {
            format!("1/{} s", (1.0 / s).round())
        } else {
            format!("{} s", (s * 10.0).round() / 10.0)
        })
    }
}

/// A position in decimal degrees (WGS 84), north and east positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// A point, if the coordinates are on the globe.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let ok = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        ok.then_some(Self { lat, lon })
    }
}

/// Where a photo is in its life: accepted, rendered, or given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoStatus {
    Pending,
    Ready,
    Failed,
}

impl PhotoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for PhotoStatus {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        match s {
            "pending" => Ok(Self::Pending),
            "ready" => Ok(Self::Ready),
            "failed" => Ok(Self::Failed),
            _ => Err(InvalidId),
        }
    }
}

/// Who may see a photo (or album) besides its owner: everyone, whoever has
/// its share link, or nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Listed in the gallery; anyone may open it.
    #[default]
    Public,
    /// Not listed; opened through an unguessable share link.
    Unlisted,
    /// The owner only.
    Private,
}

impl Visibility {
    pub const ALL: [Self; 3] = [Self::Public, Self::Unlisted, Self::Private];

    /// Whether someone may see a thing with this visibility: its owner
    /// always; others if it is public, or unlisted and they came `by_link`.
    pub fn lets_see(self, is_owner: bool, by_link: bool) -> bool {
        is_owner
            || match self {
                Self::Public => true,
                Self::Unlisted => by_link,
                Self::Private => false,
            }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Unlisted => "unlisted",
            Self::Private => "private",
        }
    }
}

impl Visibility {
    /// The share link a thing has after an edit to this visibility: only
    /// unlisted things have one; it is kept unless `renew` asks for a new one
    /// (which revokes the old link).
    pub fn share_token_after(self, current: Option<String>, renew: bool) -> Option<String> {
        match (self, current) {
            (Self::Unlisted, Some(token)) if !renew => Some(token),
            (Self::Unlisted, _) => Some(new_share_token()),
            (Self::Public | Self::Private, _) => None,
        }
    }
}

impl FromStr for Visibility {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        match s {
            "public" => Ok(Self::Public),
            "unlisted" => Ok(Self::Unlisted),
            "private" => Ok(Self::Private),
            _ => Err(InvalidId),
        }
    }
}

/// A share link's secret: 128 random bits, hex.
pub fn new_share_token() -> String {
    random_hex(16)
}

/// Whether `s` could be a share token (so junk never reaches the database).
pub fn is_share_token(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One size that the render pipeline produces for every photo, e.g. `thumb`
/// with a long edge of 400 px. Images are never upscaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantSpec {
    pub name: String,
    pub long_edge: u32,
}

impl VariantSpec {
    pub fn new(name: &str, long_edge: u32) -> Self {
        Self {
            name: name.to_owned(),
            long_edge,
        }
    }

    /// The size of this variant for a source of `width` × `height`: the long
    /// edge scaled down to `long_edge`, aspect ratio kept, never upscaled.
    pub fn fit(&self, width: u32, height: u32) -> (u32, u32) {
        let long = width.max(height);
        if long <= self.long_edge || long == 0 {
            return (width.max(1), height.max(1));
        }
        let scale = f64::from(self.long_edge) / f64::from(long);
        let scaled = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
        (scaled(width), scaled(height))
    }

    /// A valid spec name: short, lower-case letters, digits and `_`, so it is
    /// safe in storage keys and URLs.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }
}

/// The longest file name an upload keeps, in characters.
pub const MAX_FILE_NAME: usize = 255;

/// The name an uploaded file is kept under: the name the client sent,
/// without folders (old browsers send `C:\fakepath\…`), control characters
/// or surrounding spaces, at most [`MAX_FILE_NAME`] characters; `""` for
/// none, `.` or `..`.
pub fn upload_file_name(sent: &str) -> String {
    let base = sent.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME)
        .collect();
    match kept.trim() {
        "." | ".." => String::new(),
        name => name.to_owned(),
    }
}

/// `1536000` → `1.5 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_to_the_minute_in_utc() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_796_306_759_999), "2026-12-03 14:05 UTC");
    }

    #[test]
    fn fit_never_upscales_and_keeps_aspect() {
        let thumb = VariantSpec::new("thumb", 400);
        assert_eq!(thumb.fit(4000, 3000), (400, 300));
        assert_eq!(thumb.fit(3000, 4000), (300, 400));
        assert_eq!(thumb.fit(200, 100), (200, 100));
        assert_eq!(thumb.fit(10000, 1), (400, 1));
    }

    #[test]
    fn ids_parse_only_what_generate_makes() {
        let id = PhotoId::generate();
        assert_eq!(id.as_str().parse::<PhotoId>().unwrap(), id);
        assert!("../etc/passwd".parse::<PhotoId>().is_err());
        assert!("ABCDEF0123456789".parse::<PhotoId>().is_err());
        assert!(is_share_token(&new_share_token()));
        assert!(!is_share_token("not-a-token"));
        assert!(!is_share_token(&new_share_token().to_uppercase()));
    }

    #[test]
    fn content_hash_is_sha256_hex() {
        let h = ContentHash::of(b"abc");
        assert_eq!(
            h.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(h.as_str().parse::<ContentHash>().is_ok());
    }

    #[test]
    fn upload_file_names_lose_folders_and_control_characters() {
        assert_eq!(upload_file_name("IMG_0042.JPG"), "IMG_0042.JPG");
        assert_eq!(upload_file_name(r"C:\fakepath\Dusk.png"), "Dusk.png");
        assert_eq!(upload_file_name("../../etc/passwd"), "passwd");
        assert_eq!(upload_file_name(" a\tb\u{7}.jpg "), "ab.jpg");
        assert_eq!(upload_file_name(".."), "");
        assert_eq!(upload_file_name("dir/"), "");
        assert_eq!(upload_file_name(""), "");
        let long = "é".repeat(300);
        assert_eq!(upload_file_name(&long).chars().count(), MAX_FILE_NAME);
    }
}
