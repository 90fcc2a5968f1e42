//! The database: the truth about what exists (docs/architecture.md invariant 1).
//!
//! [`Repo`] speaks in domain terms (photos, users, render jobs); each engine
//! implements it. Today that is SQLite ([`sqlite`]); Postgres runs the same
//! migrations (`migrations/NNNN_name.sql`, in the SQL subset both engines
//! share) and gets its own implementation later.
//!
//! Invariants: this module knows nothing of HTTP, rendering or the object
//! store. Every multi-row change is one transaction: a photo is never visible
//! without its render job, and never `ready` without its variants.

pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{
    AlbumId, ContentHash, ImageFormat, JobId, Millis, PhotoId, PhotoStatus, ShotFacts, UploadId,
    UserId, Visibility,
};

/// Creates the table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = include_str!("schema_migrations.sql");

/// The migrations, in order. Applied at start-up by every engine.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "shot_facts",
        include_str!("migrations/0002_shot_facts.sql"),
    ),
    (3, "sharing", include_str!("migrations/0003_sharing.sql")),
    (4, "albums", include_str!("migrations/0004_albums.sql")),
    (5, "failures", include_str!("migrations/0005_failures.sql")),
    (6, "blobs", include_str!("migrations/0006_blobs.sql")),
];

/// A database failure. Expected outcomes (a duplicate photo, a missing row)
/// are values in the `Ok` side, not errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule was broken, e.g. a user name that is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine failed or is unreachable.
    #[error("database error: {0}")]
    Backend(String),
    /// A row holds something the code cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("bad database url: {0}")]
    Url(String),
}

pub type DbResult<T> = Result<T, DbError>;

/// Opens the database named by `url` and applies pending migrations.
pub async fn open(url: &str) -> DbResult<Arc<dyn Repo>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let repo = sqlite::SqliteRepo::open(path.into()).await?;
        Ok(Arc::new(repo))
    } else {
        Err(DbError::Url(format!(
            "{url}: expected sqlite://PATH (postgres:// is not supported yet)"
        )))
    }
}

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
    /// An API bearer token; lasts until revoked.
    Api,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Api => "api",
        }
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
    pub shot: ShotFacts,
    /// A ThumbHash of the rendered photo (a ~25-byte blurred preview).
    pub thumbhash: Option<Vec<u8>>,
    pub visibility: Visibility,
    /// The secret of an unlisted photo's share link.
    pub share_token: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Every engine returns these smallest first (by width, then name).
    pub variants: Vec<Variant>,
}

impl Photo {
    /// Whether `viewer` may see this photo; `by_link` when they came through
    /// a share link (of the photo, or of an album holding it).
    pub fn visible_to(&self, viewer: Option<&User>, by_link: bool) -> bool {
        self.visibility
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

/// A position in the newest-first photo list: the last item of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Millis,
    pub id: PhotoId,
}

impl Cursor {
    pub fn after(photo: &Photo) -> Self {
        Self {
            created_at: photo.created_at,
            id: photo.id.clone(),
        }
    }

    /// The opaque form used in URLs: `MILLIS-ID`.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.created_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (millis, id) = s.split_once('-')?;
        Some(Self {
            created_at: millis.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// A render job handed to a worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub photo_id: PhotoId,
    pub hash: ContentHash,
    pub format: ImageFormat,
    /// As displayed; what the render will decode.
    pub width: u32,
    pub height: u32,
    pub byte_size: u64,
    /// Attempts including this one.
    pub attempts: u32,
}

/// What a deleted photo leaves for the caller to clean up in the store.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub photo: Photo,
    /// Set when this was the last user of the photo's original: its blobs
    /// are now claimed for deletion (see [`Released`]). `None` while
    /// another photo or an upload still uses them.
    pub released: Option<Released>,
}

/// An upload's hold on its original's blobs, from [`Repo::reserve_blob`]
/// until [`Repo::insert_photo`] commits the photo (or
/// [`Repo::abandon_upload`] lets go): while it lasts, the blobs are not
/// deleted.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: UploadId,
    /// A photo that is not failed uses these bytes, so the store holds the
    /// original and the upload need not store it again.
    pub stored: bool,
}

/// What [`Repo::reserve_blob`] found.
#[derive(Debug, Clone)]
pub enum Reserve {
    Reserved(Reservation),
    /// The blobs were found unused and are being deleted: nothing may use
    /// them until that ends, and then the original must be stored again.
    Deleting,
}

/// Blobs of an original that a transaction found unused and claimed for
/// deletion at `claimed_at`. The caller deletes the original and every
/// variant of `hash` from the store, then calls [`Repo::forget_blob`].
/// Nothing can reserve or use them meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub hash: ContentHash,
    pub format: ImageFormat,
    pub claimed_at: Millis,
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

/// Everything Scoot asks of a database, in domain terms.
#[async_trait]
pub trait Repo: Send + Sync + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> DbResult<()>;

    async fn user_count(&self) -> DbResult<u64>;
    /// Creates a user; `Conflict` if the name is taken. With `only_if_first`,
    /// creates it only when there are no users at all (returns `None` if there
    /// are), atomically, for the first-run setup page.
    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        is_admin: bool,
        only_if_first: bool,
    ) -> DbResult<Option<User>>;
    /// The user and their password hash.
    async fn user_by_name(&self, name: &str) -> DbResult<Option<(User, String)>>;
    /// The oldest administrator, if any.
    async fn first_admin(&self) -> DbResult<Option<User>>;

    async fn insert_token(
        &self,
        token_hash: &str,
        user: &UserId,
        kind: TokenKind,
        label: &str,
        expires_at: Option<Millis>,
    ) -> DbResult<()>;
    /// The user a live token of `kind` belongs to.
    async fn user_by_token(
        &self,
        token_hash: &str,
        kind: TokenKind,
        now: Millis,
    ) -> DbResult<Option<User>>;
    async fn delete_token(&self, token_hash: &str) -> DbResult<()>;

    /// Holds the blobs of original `hash` for an upload, so they are not
    /// deleted before its photo commits (creating their record if new).
    async fn reserve_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Reserve>;
    /// Records an upload: the photo row and its render job, in one
    /// transaction that also ends the upload's reservation. `None` (nothing
    /// written) if the reservation had expired: the upload must start over.
    async fn insert_photo(
        &self,
        photo: NewPhoto,
        upload: &UploadId,
        now: Millis,
    ) -> DbResult<Option<Inserted>>;
    /// Ends a reservation without a photo; the blobs are released if that
    /// leaves them unused.
    async fn abandon_upload(&self, upload: &UploadId, now: Millis) -> DbResult<Option<Released>>;
    /// Claims the blobs of `hash` for deletion if nothing uses them (a
    /// render whose photo was deleted may have stored variants of bytes
    /// nobody holds any more).
    async fn release_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Option<Released>>;
    /// After the store deleted released blobs: drops their record, unless
    /// another claim has taken them over since.
    async fn forget_blob(&self, released: &Released) -> DbResult<()>;
    /// Recovers from processes that died mid-way: ends reservations started
    /// before `uploads_before` (releasing blobs they leave unused), and
    /// claims afresh the blobs whose deletion was claimed before
    /// `deletions_before` and never finished. Returns what to delete.
    async fn stale_blobs(
        &self,
        uploads_before: Millis,
        deletions_before: Millis,
        now: Millis,
    ) -> DbResult<Vec<Released>>;
    async fn photo(&self, id: &PhotoId) -> DbResult<Option<Photo>>;
    /// The owner's photo of these bytes, if they uploaded them before.
    async fn photo_by_hash(&self, owner: &UserId, hash: &ContentHash) -> DbResult<Option<Photo>>;
    /// Newest first, strictly after `cursor`: public photos and, when
    /// `viewer` is someone, all of theirs.
    async fn list_photos(
        &self,
        limit: u32,
        cursor: Option<&Cursor>,
        viewer: Option<&UserId>,
    ) -> DbResult<Vec<Photo>>;
    /// The photos just newer and just older than `id` in that same list.
    async fn neighbours(
        &self,
        id: &PhotoId,
        viewer: Option<&UserId>,
    ) -> DbResult<(Option<PhotoId>, Option<PhotoId>)>;
    /// Applies an owner's edit; `None` if the photo does not exist.
    async fn edit_photo(
        &self,
        id: &PhotoId,
        edit: PhotoEdit,
        now: Millis,
    ) -> DbResult<Option<Photo>>;
    /// The photo whose share link carries `token`.
    async fn photo_by_share_token(&self, token: &str) -> DbResult<Option<Photo>>;
    /// Removes a photo, its variants and any job, and releases its
    /// original's blobs if it was their last user; `None` if it did not
    /// exist.
    async fn delete_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Deleted>>;

    /// Bytes in the object store that rows account for: each distinct
    /// original and variant once (duplicates share their blobs).
    async fn storage_used(&self) -> DbResult<u64>;
    /// The photos whose render failed most recently, newest first (without
    /// variants: they have none).
    async fn recent_failures(&self, limit: u32) -> DbResult<Vec<Photo>>;

    async fn create_album(&self, album: NewAlbum, now: Millis) -> DbResult<Album>;
    async fn album(&self, id: &AlbumId) -> DbResult<Option<Album>>;
    async fn album_by_share_token(&self, token: &str) -> DbResult<Option<Album>>;
    /// The albums `viewer` may list (public ones and all of their own),
    /// newest first, with what their cards show to that viewer.
    async fn list_albums(&self, viewer: Option<&UserId>) -> DbResult<Vec<AlbumCard>>;
    async fn edit_album(
        &self,
        id: &AlbumId,
        edit: AlbumEdit,
        now: Millis,
    ) -> DbResult<Option<Album>>;
    /// Removes an album (never its photos); `false` if there was none.
    async fn delete_album(&self, id: &AlbumId) -> DbResult<bool>;
    /// Puts a photo in an album; `false` if it was there already.
    async fn add_to_album(&self, album: &AlbumId, photo: &PhotoId, now: Millis) -> DbResult<bool>;
    /// Takes a photo out of an album (clearing it as cover); `false` if it
    /// was not there.
    async fn remove_from_album(
        &self,
        album: &AlbumId,
        photo: &PhotoId,
        now: Millis,
    ) -> DbResult<bool>;
    /// An album's photos in the order they were added; private ones only
    /// when `with_private` (for the owner).
    async fn album_photos(&self, album: &AlbumId, with_private: bool) -> DbResult<Vec<Photo>>;
    /// The albums a photo is in.
    async fn albums_with_photo(&self, photo: &PhotoId) -> DbResult<Vec<AlbumId>>;

    /// Claims up to `limit` due jobs (queued and due, or running with an
    /// expired lease), leasing them until `now + lease_ms`.
    async fn claim_jobs(&self, limit: u32, now: Millis, lease_ms: i64)
    -> DbResult<Vec<ClaimedJob>>;
    /// After a restart of a single node, nothing can still be running.
    async fn requeue_running(&self) -> DbResult<u64>;
    /// Jobs not yet finished (queued or running).
    async fn queue_depth(&self) -> DbResult<u64>;
    /// Stores the variants, marks the photo ready and removes the job, in one
    /// transaction. `false` if the job no longer exists (photo deleted).
    async fn complete_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        variants: &[Variant],
        thumbhash: Option<&[u8]>,
        now: Millis,
    ) -> DbResult<bool>;
    /// Marks the photo failed with `reason` and removes the job.
    async fn fail_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        reason: &str,
        now: Millis,
    ) -> DbResult<()>;
    /// Puts the job back in the queue, due at `run_after`.
    async fn retry_job(&self, job: &JobId, reason: &str, run_after: Millis) -> DbResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = Cursor {
            created_at: 1_700_000_000_123,
            id: PhotoId::generate(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode("12-../x"), None);
    }
}
