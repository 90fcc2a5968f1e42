//! The records Scoot keeps, in domain terms: users, photos and their
//! variants, albums, and the values that create or change them. The
//! database stores them (`db`), the services enforce the rules about them
//! (`app`), the web layer shows them; none of those owns the types.

use serde::{Deserialize, Serialize};

use crate::domain::{
    AlbumId, ContentHash, ImageFormat, Millis, PhotoId, PhotoStatus, ShotFacts, UserId, Visibility,
};
use crate::timeline::{self, PhotoOrder};

/// A user account as the rest of Scoot sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub is_admin: bool,
}

/// What kind of secret a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A browser session cookie; expires.
    Session,
    /// An API bearer token; lasts until revoked, or until the expiry it
    /// was given.
    Api,
    /// A one-time link to set a password: for a new user, or after an
    /// administrator reset theirs. Opens nothing else.
    Password,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Api => "api",
            Self::Password => "password",
        }
    }
}

/// The holder of a live token, and when the token was last marked used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub user: User,
    pub last_used_at: Option<Millis>,
}

/// A user as an administrator sees them in the list of people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user: User,
    pub created_at: Millis,
    /// Whether a password is set: a new user has none until they open
    /// their link, and a reset takes it away.
    pub has_password: bool,
    /// Their photos outside the trash (for a deleted user, the photos the
    /// deletion put there) and the bytes of those originals.
    pub photos: u64,
    pub bytes: u64,
    /// When they last logged in or used a token (kept to the hour).
    pub last_seen: Option<Millis>,
    /// When they were deleted: they can be restored until their photos'
    /// time in the trash is over.
    pub deleted_at: Option<Millis>,
}

/// An API token as it is listed: never the secret, nor its whole hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The first [`TokenInfo::ID_DIGITS`] hex digits of the stored hash:
    /// enough to name the token, of no use to present it.
    pub id: String,
    pub owner: String,
    pub label: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub expires_at: Option<Millis>,
}

impl TokenInfo {
    pub const ID_DIGITS: usize = 12;

    /// The id of the token stored as `token_hash`.
    pub fn id_of(token_hash: &str) -> String {
        token_hash.chars().take(Self::ID_DIGITS).collect()
    }
}

/// What an owner changes about a photo; `None` keeps the current value.
/// (Also the body of `PATCH /api/photos/{id}`.)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoEdit {
    pub title: Option<String>,
    pub caption: Option<String>,
    pub visibility: Option<Visibility>,
    #[serde(default)]
    /// Replace the share link (revoking the old one). An unlisted photo
    /// without a link gets one anyway; other visibilities have none.
    pub new_link: bool,
}

/// A photo as accepted by an upload, before it is rendered.
#[derive(Debug, Clone)]
pub struct NewPhoto {
    pub id: PhotoId,
    pub owner: UserId,
    pub hash: ContentHash,
    pub format: ImageFormat,
    pub byte_size: u64,
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub caption: String,
    /// The name of the file uploaded ([`crate::domain::upload_file_name`]).
    pub filename: String,
    pub visibility: Visibility,
    pub shot: ShotFacts,
}

/// A stored photo with its rendered variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub id: PhotoId,
    pub owner: UserId,
    pub hash: ContentHash,
    pub format: ImageFormat,
    pub byte_size: u64,
    pub width: u32,
    pub height: u32,
    pub status: PhotoStatus,
    pub error: Option<String>,
    pub title: String,
    pub caption: String,
    /// The name of the file uploaded, or `""`.
    pub filename: String,
    pub shot: ShotFacts,
    /// A ThumbHash of the rendered photo (a ~25-byte blurred preview).
    pub thumbhash: Option<Vec<u8>>,
    pub visibility: Visibility,
    /// The secret of an unlisted photo's share link.
    pub share_token: Option<String>,
    /// When it was moved to the trash; `None` while it is not there. A
    /// photo in the trash is seen by no one, its owner included, except on
    /// the owner's trash page.
    pub trashed_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Every engine returns these smallest first (by width, then name).
    pub variants: Vec<Variant>,
}

impl Photo {
    /// What the photo is called: its title, else the name of the file it
    /// was uploaded as; `""` when it has neither.
    pub fn name(&self) -> &str {
        match self.title.trim() {
            "" => self.filename.trim(),
            title => title,
        }
    }

    /// The date it sorts and is grouped by: taken, else uploaded (see
    /// [`timeline`](crate::timeline)).
    pub fn dated_at(&self) -> Millis {
        timeline::dated_at(self.shot.taken_at.as_deref(), self.created_at)
    }

    /// Whether `viewer` may see this photo; `by_link` when they came through
    /// a share link (of the photo, or of an album holding it).
    pub fn visible_to(&self, viewer: Option<&User>, by_link: bool) -> bool {
        self.trashed_at.is_none()
            && self
                .visibility
                .lets_see(viewer.is_some_and(|u| u.id == self.owner), by_link)
    }

    /// The size `name` in the format every browser shows (JPEG, or PNG
    /// for images with alpha).
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants
            .iter()
            .find(|v| v.name == name && v.format.is_universal())
    }

    /// The size `name` in exactly `format`, if it was rendered so.
    pub fn variant_in(&self, name: &str, format: ImageFormat) -> Option<&Variant> {
        self.variants
            .iter()
            .find(|v| v.name == name && v.format == format)
    }
}

/// One rendered size of a photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub byte_size: u64,
    pub key: String,
}

/// The outcome of recording an upload.
#[derive(Debug, Clone)]
pub enum Inserted {
    /// A new photo and its render job were committed.
    New(Photo),
    /// The owner already had these bytes; this is that photo (re-queued for
    /// rendering if it had failed).
    Duplicate(Photo),
}

impl Inserted {
    pub fn photo(&self) -> &Photo {
        match self {
            Self::New(p) | Self::Duplicate(p) => p,
        }
    }
}

/// A position in a list of photos: the last item of a page, by the key
/// the list is ordered on (see [`PhotoOrder`]) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The value of the order's column: a date in milliseconds, which is
    /// negative before 1970.
    pub at: Millis,
    pub id: PhotoId,
}

impl Cursor {
    /// The position of `photo` in a list walked in `order`.
    pub fn after(photo: &Photo, order: PhotoOrder) -> Self {
        let at = match order {
            PhotoOrder::Uploaded => photo.created_at,
            PhotoOrder::Newest | PhotoOrder::Oldest => photo.dated_at(),
        };
        Self {
            at,
            id: photo.id.clone(),
        }
    }

    /// The opaque form used in URLs: `MILLIS-ID`.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        // The first `-` after a leading minus sign ends the number.
        let split = s.get(1..)?.find('-')? + 1;
        let (millis, id) = (&s[..split], &s[split + 1..]);
        Some(Self {
            at: millis.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// Sorts `photos` as a list walked in `order` has them: by the order's
/// key (the one a [`Cursor`] carries), ties by id.
pub fn sort_photos(photos: &mut [Photo], order: PhotoOrder) {
    photos.sort_by_cached_key(|p| {
        let at = Cursor::after(p, order);
        (at.at, at.id)
    });
    if !order.ascending() {
        photos.reverse();
    }
}

/// An owner's named set of their own photos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Album {
    pub id: AlbumId,
    pub owner: UserId,
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
    /// The secret of an unlisted album's share link.
    pub share_token: Option<String>,
    /// The cover the owner chose; without one, the first photo added.
    pub cover: Option<PhotoId>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Album {
    /// Whether `viewer` may see this album; `by_link` when they came
    /// through its share link. Its photos are filtered separately: a
    /// private photo stays private inside a shared album.
    pub fn visible_to(&self, viewer: Option<&User>, by_link: bool) -> bool {
        self.visibility
            .lets_see(viewer.is_some_and(|u| u.id == self.owner), by_link)
    }
}

/// An album in a list, with what its card shows as a given viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbumCard {
    pub album: Album,
    /// Photos the viewer may see in it.
    pub photos: u32,
    /// The photo its card shows: the chosen cover, else the first added.
    pub cover: Option<PhotoId>,
}

/// A new album.
#[derive(Debug, Clone)]
pub struct NewAlbum {
    pub id: AlbumId,
    pub owner: UserId,
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
}

/// What an owner changes about an album; `None` keeps the current value.
/// (Also the body of `PATCH /api/albums/{id}`.)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlbumEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// Replace the share link (revoking the old one), as for photos.
    #[serde(default)]
    pub new_link: bool,
    /// The new cover; the caller checks it is one of the album's photos.
    pub cover: Option<PhotoId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        for at in [1_700_000_000_123, -1000, 0] {
            let c = Cursor {
                at,
                id: PhotoId::generate(),
            };
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::decode(""), None);
        assert_eq!(Cursor::decode("-"), None);
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode("12-../x"), None);
    }
}

/// What one node counted in one interval of the admin page's hour (the
/// counters are differences since its previous sample), and the gauges it
/// read then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSample {
    pub taken_at: Millis,
    pub renders_ready: u64,
    pub renders_failed: u64,
    pub cache_hits: u64,
    pub cache_lookups: u64,
    pub queue_depth: u64,
    pub storage_bytes: u64,
}
