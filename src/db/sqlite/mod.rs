//! [`Repo`] on a bundled SQLite file in WAL mode.
//!
//! One writer connection behind a mutex (SQLite allows one writer at a time
//! anyway) and a few reader connections that WAL lets run alongside it. Every
//! call crosses into the blocking pool through [`SqliteRepo::read`] or
//! [`SqliteRepo::write`], the one seam between async code and SQLite
//! (docs/architecture.md invariant 5).
//!
//! - [`albums`]: the album queries.
//! - [`blobs`]: who uses an original's blobs, and claiming unused ones.

mod albums;
mod blobs;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{
    Album, AlbumCard, AlbumEdit, ClaimedJob, Cursor, DbError, DbResult, Deleted, Inserted,
    MIGRATIONS, NewAlbum, NewPhoto, Photo, PhotoEdit, Released, Repo, Reserve, TokenKind, User,
    Variant,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::domain::{
    AlbumId, ContentHash, GeoPoint, ImageFormat, JobId, Millis, PhotoId, PhotoStatus, ShotFacts,
    UploadId, UserId,
};

const READERS: usize = 4;

const PHOTO_COLUMNS: &str = "id, owner_id, original_hash, original_format, original_size, \
     width, height, status, error, title, caption, taken_at, camera, created_at, updated_at, \
     lens, exposure_s, f_number, iso, focal_mm, gps_lat, gps_lon, thumbhash, visibility, share_token";

/// Who sees a listed photo: public ones, and all of the viewer's own.
/// Parameter `?n` is the viewer's id, or NULL for nobody.
fn visible_to(n: usize) -> String {
    format!("(visibility = 'public' OR owner_id = ?{n})")
}

/// The SQLite engine.
pub struct SqliteRepo {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(code, ref msg)
                if code.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                DbError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()))
            }
            other => DbError::Backend(other.to_string()),
        }
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed upload survives power loss, not just a killed process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> DbResult<()> {
    conn.execute_batch(super::MIGRATIONS_TABLE)?;
    for &(version, name, sql) in MIGRATIONS {
        let tx = conn.transaction()?;
        let applied: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM schema_migrations WHERE version = ?1",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, crate::domain::now_millis()],
            )?;
            tracing::info!(version, name, "applied migration");
        }
        tx.commit()?;
    }
    Ok(())
}

impl SqliteRepo {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: PathBuf) -> DbResult<Self> {
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::Backend(format!("{}: {e}", dir.display())))?;
            }
            let mut writer = Connection::open(&path)?;
            configure(&writer)?;
            migrate(&mut writer)?;
            let readers = (0..READERS)
                .map(|_| {
                    let c = Connection::open(&path)?;
                    configure(&c)?;
                    Ok(Mutex::new(c))
                })
                .collect::<DbResult<Vec<_>>>()?;
            Ok(Self {
                writer: Arc::new(Mutex::new(writer)),
                readers: Arc::new(readers),
                next_reader: AtomicUsize::new(0),
            })
        })
        .await
        .map_err(|e| DbError::Backend(e.to_string()))?
    }

    /// Runs `f` on a reader connection in the blocking pool.
    async fn read<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // Take the first idle reader, or wait on the round-robin one.
            let conn = (0..readers.len())
                .find_map(|i| readers[(start + i) % readers.len()].try_lock().ok())
                .unwrap_or_else(|| lock(&readers[start % readers.len()]));
            f(&conn)
        })
        .await
        .map_err(|e| DbError::Backend(e.to_string()))?
    }

    /// Runs `f` inside one write transaction in the blocking pool; commits if
    /// `f` succeeds, durably (synced to disk before it returns).
    async fn write<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
    {
        self.write_with(Sync::Full, f).await
    }

    /// A write whose loss on power failure (not on a crash: the WAL has it)
    /// only means redoing work: render-job bookkeeping. Skips the fsync.
    async fn write_relaxed<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
    {
        self.write_with(Sync::Normal, f).await
    }

    async fn write_with<T, F>(&self, sync: Sync, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&writer);
            let level = match sync {
                Sync::Full => "FULL",
                Sync::Normal => "NORMAL",
            };
            conn.pragma_update(None, "synchronous", level)?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| DbError::Backend(e.to_string()))?
    }
}

/// How hard a commit waits for the disk.
#[derive(Clone, Copy)]
enum Sync {
    /// fsync on every commit: survives power loss.
    Full,
    /// fsync at checkpoints: survives a killed process, may lose the last
    /// commits on power loss.
    Normal,
}

/// A poisoned lock only means another call panicked mid-use; the connection
/// itself is still sound (SQLite rolled back the transaction).
fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> DbError {
    move |e| DbError::Corrupt(format!("{what}: {e}"))
}

fn to_u32(v: i64, what: &'static str) -> DbResult<u32> {
    u32::try_from(v).map_err(corrupt(what))
}

/// Columns in [`PHOTO_COLUMNS`] order; variants are filled in separately.
fn photo_from_row(r: &Row<'_>) -> DbResult<Photo> {
    let text = |i: usize| r.get::<_, String>(i);
    Ok(Photo {
        id: text(0)?.parse().map_err(corrupt("photo id"))?,
        owner: text(1)?.parse().map_err(corrupt("owner id"))?,
        hash: text(2)?.parse().map_err(corrupt("original hash"))?,
        format: text(3)?.parse().map_err(corrupt("original format"))?,
        byte_size: u64::try_from(r.get::<_, i64>(4)?).map_err(corrupt("size"))?,
        width: to_u32(r.get(5)?, "width")?,
        height: to_u32(r.get(6)?, "height")?,
        status: text(7)?.parse().map_err(corrupt("status"))?,
        error: r.get(8)?,
        title: text(9)?,
        caption: text(10)?,
        shot: ShotFacts {
            taken_at: r.get(11)?,
            camera: r.get(12)?,
            lens: r.get(15)?,
            exposure_s: r.get(16)?,
            f_number: r.get(17)?,
            iso: r
                .get::<_, Option<i64>>(18)?
                .map(|v| to_u32(v, "iso"))
                .transpose()?,
            focal_mm: r.get(19)?,
            gps: match (r.get(20)?, r.get(21)?) {
                (Some(lat), Some(lon)) => GeoPoint::new(lat, lon),
                _ => None,
            },
        },
        thumbhash: r
            .get::<_, Option<String>>(22)?
            .map(|b| BASE64.decode(b).map_err(corrupt("thumbhash")))
            .transpose()?,
        visibility: text(23)?.parse().map_err(corrupt("visibility"))?,
        share_token: r.get(24)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        variants: Vec::new(),
    })
}

/// Every row of a `SELECT {PHOTO_COLUMNS}` as a photo (without variants).
fn collect_photos(mut rows: rusqlite::Rows<'_>) -> DbResult<Vec<Photo>> {
    let mut photos = Vec::new();
    while let Some(r) = rows.next()? {
        photos.push(photo_from_row(r)?);
    }
    Ok(photos)
}

fn variants_of(conn: &Connection, photo: &PhotoId) -> DbResult<Vec<Variant>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, format, width, height, byte_size, storage_key
         FROM variants WHERE photo_id = ?1 ORDER BY width, name",
    )?;
    let rows = stmt.query_map([photo.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (name, format, w, h, size, key) = row?;
        Ok(Variant {
            name,
            format: format.parse().map_err(corrupt("variant format"))?,
            width: to_u32(w, "variant width")?,
            height: to_u32(h, "variant height")?,
            byte_size: u64::try_from(size).map_err(corrupt("variant size"))?,
            key,
        })
    })
    .collect()
}

fn load_photo(conn: &Connection, id: &PhotoId) -> DbResult<Option<Photo>> {
    find_photo(conn, "id = ?1", [id.as_str()])
}

/// The one photo (with its variants) matching `condition`, a unique key.
fn find_photo(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> DbResult<Option<Photo>> {
    let sql = format!("SELECT {PHOTO_COLUMNS} FROM photos WHERE {condition}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut photo = photo_from_row(row)?;
    photo.variants = variants_of(conn, &photo.id)?;
    Ok(Some(photo))
}

fn user_from_row(r: &Row<'_>) -> DbResult<User> {
    Ok(User {
        id: r.get::<_, String>(0)?.parse().map_err(corrupt("user id"))?,
        name: r.get(1)?,
        is_admin: r.get::<_, i64>(2)? != 0,
    })
}

fn insert_job(tx: &Transaction<'_>, photo: &PhotoId, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO render_jobs (id, photo_id, state, attempts, run_after, created_at)
         VALUES (?1, ?2, 'queued', 0, ?3, ?3)",
        params![JobId::generate().as_str(), photo.as_str(), now],
    )?;
    Ok(())
}

#[async_trait]
impl Repo for SqliteRepo {
    async fn ping(&self) -> DbResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn user_count(&self) -> DbResult<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        is_admin: bool,
        only_if_first: bool,
    ) -> DbResult<Option<User>> {
        let (name, password_hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            if only_if_first {
                let n: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
                if n > 0 {
                    return Ok(None);
                }
            }
            let user = User {
                id: UserId::generate(),
                name,
                is_admin,
            };
            tx.execute(
                "INSERT INTO users (id, name, password_hash, is_admin, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    user.id.as_str(),
                    user.name,
                    password_hash,
                    i64::from(is_admin),
                    crate::domain::now_millis()
                ],
            )
            .map_err(|e| match DbError::from(e) {
                DbError::Conflict(_) => DbError::Conflict(format!("user {} exists", user.name)),
                other => other,
            })?;
            Ok(Some(user))
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> DbResult<Option<(User, String)>> {
        let name = name.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, is_admin, password_hash FROM users WHERE name = ?1",
            )?;
            let mut rows = stmt.query([name])?;
            match rows.next()? {
                Some(r) => Ok(Some((
                    user_from_row(r)?,
                    r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                ))),
                None => Ok(None),
            }
        })
        .await
    }

    async fn first_admin(&self) -> DbResult<Option<User>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, is_admin FROM users WHERE is_admin = 1
                 ORDER BY created_at, id LIMIT 1",
            )?;
            let mut rows = stmt.query([])?;
            rows.next()?.map(user_from_row).transpose()
        })
        .await
    }

    async fn insert_token(
        &self,
        token_hash: &str,
        user: &UserId,
        kind: TokenKind,
        label: &str,
        expires_at: Option<Millis>,
    ) -> DbResult<()> {
        let (token_hash, user, label) = (token_hash.to_owned(), user.clone(), label.to_owned());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO auth_tokens (token_hash, user_id, kind, label, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token_hash,
                    user.as_str(),
                    kind.as_str(),
                    label,
                    crate::domain::now_millis(),
                    expires_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_by_token(
        &self,
        token_hash: &str,
        kind: TokenKind,
        now: Millis,
    ) -> DbResult<Option<User>> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT u.id, u.name, u.is_admin FROM auth_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND t.kind = ?2
                   AND (t.expires_at IS NULL OR t.expires_at > ?3)",
            )?;
            let mut rows = stmt.query(params![token_hash, kind.as_str(), now])?;
            rows.next()?.map(user_from_row).transpose()
        })
        .await
    }

    async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM auth_tokens WHERE token_hash = ?1",
                [token_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn reserve_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Reserve> {
        let hash = hash.clone();
        self.write_relaxed(move |tx| blobs::reserve(tx, &hash, format, now))
            .await
    }

    async fn abandon_upload(&self, upload: &UploadId, now: Millis) -> DbResult<Option<Released>> {
        let upload = upload.clone();
        self.write(move |tx| blobs::abandon(tx, &upload, now)).await
    }

    async fn release_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Option<Released>> {
        let hash = hash.clone();
        self.write(move |tx| blobs::release(tx, &hash, format, now))
            .await
    }

    async fn forget_blob(&self, released: &Released) -> DbResult<()> {
        let released = released.clone();
        self.write(move |tx| blobs::forget(tx, &released)).await
    }

    async fn stale_blobs(
        &self,
        uploads_before: Millis,
        deletions_before: Millis,
        now: Millis,
    ) -> DbResult<Vec<Released>> {
        self.write(move |tx| blobs::stale(tx, uploads_before, deletions_before, now))
            .await
    }

    async fn insert_photo(
        &self,
        p: NewPhoto,
        upload: &UploadId,
        now: Millis,
    ) -> DbResult<Option<Inserted>> {
        let upload = upload.clone();
        self.write(move |tx| {
            blobs::lock(tx, &p.hash, p.format, now)?;
            if !blobs::end_reservation(tx, &upload)? {
                return Ok(None);
            }
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM photos WHERE owner_id = ?1 AND original_hash = ?2",
                    params![p.owner.as_str(), p.hash.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                let id: PhotoId = id.parse().map_err(corrupt("photo id"))?;
                let requeued = tx.execute(
                    "UPDATE photos SET status = 'pending', error = NULL, updated_at = ?2
                     WHERE id = ?1 AND status = 'failed'",
                    params![id.as_str(), now],
                )?;
                if requeued > 0 {
                    insert_job(tx, &id, now)?;
                }
                let photo = load_photo(tx, &id)?
                    .ok_or_else(|| DbError::Corrupt("photo vanished".into()))?;
                return Ok(Some(Inserted::Duplicate(photo)));
            }
            tx.execute(
                "INSERT INTO photos (id, owner_id, original_hash, original_format, original_size,
                     width, height, status, error, title, caption, taken_at, camera,
                     created_at, updated_at,
                     lens, exposure_s, f_number, iso, focal_mm, gps_lat, gps_lon,
                     visibility, share_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', NULL, ?8, ?9, ?10, ?11, ?12, ?12,
                     ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
                params![
                    p.id.as_str(),
                    p.owner.as_str(),
                    p.hash.as_str(),
                    p.format.as_str(),
                    i64::try_from(p.byte_size).unwrap_or(i64::MAX),
                    p.width,
                    p.height,
                    p.title,
                    p.caption,
                    p.shot.taken_at,
                    p.shot.camera,
                    now,
                    p.shot.lens,
                    p.shot.exposure_s,
                    p.shot.f_number,
                    p.shot.iso,
                    p.shot.focal_mm,
                    p.shot.gps.map(|g| g.lat),
                    p.shot.gps.map(|g| g.lon),
                    p.visibility.as_str(),
                    p.visibility.share_token_after(None, false),
                ],
            )?;
            insert_job(tx, &p.id, now)?;
            let photo =
                load_photo(tx, &p.id)?.ok_or_else(|| DbError::Corrupt("photo vanished".into()))?;
            Ok(Some(Inserted::New(photo)))
        })
        .await
    }

    async fn photo(&self, id: &PhotoId) -> DbResult<Option<Photo>> {
        let id = id.clone();
        self.read(move |c| load_photo(c, &id)).await
    }

    async fn photo_by_hash(&self, owner: &UserId, hash: &ContentHash) -> DbResult<Option<Photo>> {
        let (owner, hash) = (owner.clone(), hash.clone());
        self.read(move |c| {
            find_photo(
                c,
                "owner_id = ?1 AND original_hash = ?2",
                params![owner.as_str(), hash.as_str()],
            )
        })
        .await
    }

    async fn list_photos(
        &self,
        limit: u32,
        cursor: Option<&Cursor>,
        viewer: Option<&UserId>,
    ) -> DbResult<Vec<Photo>> {
        let cursor = cursor.cloned();
        let viewer = viewer.map(|v| v.as_str().to_owned());
        self.read(move |c| {
            let mut photos = match cursor {
                None => {
                    let sql = format!(
                        "SELECT {PHOTO_COLUMNS} FROM photos WHERE {}
                         ORDER BY created_at DESC, id DESC LIMIT ?1",
                        visible_to(2)
                    );
                    collect_photos(c.prepare_cached(&sql)?.query(params![limit, viewer])?)?
                }
                Some(after) => {
                    // Row-value comparison: both engines walk the (created_at, id) index.
                    let sql = format!(
                        "SELECT {PHOTO_COLUMNS} FROM photos
                         WHERE (created_at, id) < (?1, ?2) AND {}
                         ORDER BY created_at DESC, id DESC LIMIT ?3",
                        visible_to(4)
                    );
                    let mut stmt = c.prepare_cached(&sql)?;
                    collect_photos(stmt.query(params![
                        after.created_at,
                        after.id.as_str(),
                        limit,
                        viewer
                    ])?)?
                }
            };
            for p in &mut photos {
                p.variants = variants_of(c, &p.id)?;
            }
            Ok(photos)
        })
        .await
    }

    async fn neighbours(
        &self,
        id: &PhotoId,
        viewer: Option<&UserId>,
    ) -> DbResult<(Option<PhotoId>, Option<PhotoId>)> {
        let id = id.clone();
        let viewer = viewer.map(|v| v.as_str().to_owned());
        self.read(move |c| {
            let created: Option<i64> = c
                .query_row(
                    "SELECT created_at FROM photos WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(created) = created else {
                return Ok((None, None));
            };
            let step = |cmp: &str, order: &str| -> DbResult<Option<PhotoId>> {
                let sql = format!(
                    "SELECT id FROM photos WHERE (created_at, id) {cmp} (?1, ?2) AND {}
                     ORDER BY created_at {order}, id {order} LIMIT 1",
                    visible_to(3)
                );
                let next: Option<String> = c
                    .prepare_cached(&sql)?
                    .query_row(params![created, id.as_str(), viewer], |r| r.get(0))
                    .optional()?;
                next.map(|s| s.parse().map_err(corrupt("photo id")))
                    .transpose()
            };
            Ok((step(">", "ASC")?, step("<", "DESC")?))
        })
        .await
    }

    async fn edit_photo(
        &self,
        id: &PhotoId,
        edit: PhotoEdit,
        now: Millis,
    ) -> DbResult<Option<Photo>> {
        let id = id.clone();
        self.write(move |tx| {
            let Some(photo) = load_photo(tx, &id)? else {
                return Ok(None);
            };
            let visibility = edit.visibility.unwrap_or(photo.visibility);
            let token = visibility.share_token_after(photo.share_token, edit.new_link);
            tx.execute(
                "UPDATE photos SET title = ?2, caption = ?3, visibility = ?4, share_token = ?5,
                     updated_at = ?6
                 WHERE id = ?1",
                params![
                    id.as_str(),
                    edit.title.unwrap_or(photo.title),
                    edit.caption.unwrap_or(photo.caption),
                    visibility.as_str(),
                    token,
                    now
                ],
            )?;
            load_photo(tx, &id)
        })
        .await
    }

    async fn photo_by_share_token(&self, token: &str) -> DbResult<Option<Photo>> {
        let token = token.to_owned();
        self.read(move |c| find_photo(c, "share_token = ?1", [token.as_str()]))
            .await
    }

    async fn delete_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Deleted>> {
        let id = id.clone();
        self.write(move |tx| {
            let Some(photo) = load_photo(tx, &id)? else {
                return Ok(None);
            };
            let (state, format) = blobs::lock(tx, &photo.hash, photo.format, now)?;
            tx.execute("DELETE FROM photos WHERE id = ?1", [id.as_str()])?;
            let released = match state {
                blobs::State::Live => blobs::release_if_unused(tx, &photo.hash, format, now)?,
                // A photo never uses blobs being deleted; nothing to add.
                blobs::State::Deleting => None,
            };
            Ok(Some(Deleted { photo, released }))
        })
        .await
    }

    async fn storage_used(&self) -> DbResult<u64> {
        self.read(|c| {
            let bytes: i64 = c.query_row(
                "SELECT
                     (SELECT COALESCE(SUM(original_size), 0) FROM
                         (SELECT DISTINCT original_hash, original_size FROM photos) o)
                   + (SELECT COALESCE(SUM(byte_size), 0) FROM
                         (SELECT DISTINCT storage_key, byte_size FROM variants) v)",
                [],
                |r| r.get(0),
            )?;
            u64::try_from(bytes).map_err(corrupt("storage total"))
        })
        .await
    }

    async fn recent_failures(&self, limit: u32) -> DbResult<Vec<Photo>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {PHOTO_COLUMNS} FROM photos WHERE status = 'failed'
                 ORDER BY updated_at DESC, id DESC LIMIT ?1"
            );
            collect_photos(c.prepare_cached(&sql)?.query([limit])?)
        })
        .await
    }

    async fn create_album(&self, album: NewAlbum, now: Millis) -> DbResult<Album> {
        self.write(move |tx| albums::create(tx, &album, now)).await
    }

    async fn album(&self, id: &AlbumId) -> DbResult<Option<Album>> {
        let id = id.clone();
        self.read(move |c| albums::find(c, "a.id = ?1", [id.as_str()]))
            .await
    }

    async fn album_by_share_token(&self, token: &str) -> DbResult<Option<Album>> {
        let token = token.to_owned();
        self.read(move |c| albums::find(c, "a.share_token = ?1", [token.as_str()]))
            .await
    }

    async fn list_albums(&self, viewer: Option<&UserId>) -> DbResult<Vec<AlbumCard>> {
        let viewer = viewer.map(|v| v.as_str().to_owned());
        self.read(move |c| albums::list(c, viewer.as_deref())).await
    }

    async fn edit_album(
        &self,
        id: &AlbumId,
        edit: AlbumEdit,
        now: Millis,
    ) -> DbResult<Option<Album>> {
        let id = id.clone();
        self.write(move |tx| albums::edit(tx, &id, edit, now)).await
    }

    async fn delete_album(&self, id: &AlbumId) -> DbResult<bool> {
        let id = id.clone();
        self.write(move |tx| Ok(tx.execute("DELETE FROM albums WHERE id = ?1", [id.as_str()])? > 0))
            .await
    }

    async fn add_to_album(&self, album: &AlbumId, photo: &PhotoId, now: Millis) -> DbResult<bool> {
        let (album, photo) = (album.clone(), photo.clone());
        self.write(move |tx| albums::add(tx, &album, &photo, now))
            .await
    }

    async fn remove_from_album(
        &self,
        album: &AlbumId,
        photo: &PhotoId,
        now: Millis,
    ) -> DbResult<bool> {
        let (album, photo) = (album.clone(), photo.clone());
        self.write(move |tx| albums::remove(tx, &album, &photo, now))
            .await
    }

    async fn album_photos(&self, album: &AlbumId, with_private: bool) -> DbResult<Vec<Photo>> {
        let album = album.clone();
        self.read(move |c| albums::photos(c, &album, with_private))
            .await
    }

    async fn albums_with_photo(&self, photo: &PhotoId) -> DbResult<Vec<AlbumId>> {
        let photo = photo.clone();
        self.read(move |c| albums::holding(c, &photo)).await
    }

    async fn claim_jobs(
        &self,
        limit: u32,
        now: Millis,
        lease_ms: i64,
    ) -> DbResult<Vec<ClaimedJob>> {
        self.write_relaxed(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT j.id, j.photo_id, j.attempts, p.original_hash, p.original_format,
                        p.width, p.height, p.original_size
                 FROM render_jobs j JOIN photos p ON p.id = j.photo_id
                 WHERE (j.state = 'queued' AND j.run_after <= ?1)
                    OR (j.state = 'running' AND j.lease_until < ?1)
                 ORDER BY j.run_after, j.created_at LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![now, limit])?;
            let mut jobs = Vec::new();
            while let Some(r) = rows.next()? {
                jobs.push(ClaimedJob {
                    id: r.get::<_, String>(0)?.parse().map_err(corrupt("job id"))?,
                    photo_id: r
                        .get::<_, String>(1)?
                        .parse()
                        .map_err(corrupt("photo id"))?,
                    attempts: to_u32(r.get::<_, i64>(2)? + 1, "attempts")?,
                    hash: r.get::<_, String>(3)?.parse().map_err(corrupt("hash"))?,
                    format: r.get::<_, String>(4)?.parse().map_err(corrupt("format"))?,
                    width: to_u32(r.get(5)?, "width")?,
                    height: to_u32(r.get(6)?, "height")?,
                    byte_size: u64::try_from(r.get::<_, i64>(7)?).map_err(corrupt("size"))?,
                });
            }
            for job in &jobs {
                tx.execute(
                    "UPDATE render_jobs SET state = 'running', attempts = ?2, lease_until = ?3
                     WHERE id = ?1",
                    params![job.id.as_str(), job.attempts, now + lease_ms],
                )?;
            }
            Ok(jobs)
        })
        .await
    }

    async fn requeue_running(&self) -> DbResult<u64> {
        self.write_relaxed(|tx| {
            let n = tx.execute(
                "UPDATE render_jobs SET state = 'queued', lease_until = NULL WHERE state = 'running'",
                [],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn queue_depth(&self) -> DbResult<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM render_jobs", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn complete_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        variants: &[Variant],
        thumbhash: Option<&[u8]>,
        now: Millis,
    ) -> DbResult<bool> {
        let (job, photo, variants) = (job.clone(), photo.clone(), variants.to_vec());
        let thumbhash = thumbhash.map(|t| BASE64.encode(t));
        self.write_relaxed(move |tx| {
            let gone = tx.execute("DELETE FROM render_jobs WHERE id = ?1", [job.as_str()])? == 0;
            if gone {
                return Ok(false);
            }
            tx.execute("DELETE FROM variants WHERE photo_id = ?1", [photo.as_str()])?;
            for v in &variants {
                tx.execute(
                    "INSERT INTO variants (photo_id, name, format, width, height, byte_size, storage_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        photo.as_str(),
                        v.name,
                        v.format.as_str(),
                        v.width,
                        v.height,
                        i64::try_from(v.byte_size).unwrap_or(i64::MAX),
                        v.key
                    ],
                )?;
            }
            tx.execute(
                "UPDATE photos SET status = ?2, error = NULL, updated_at = ?3, thumbhash = ?4
                 WHERE id = ?1",
                params![photo.as_str(), PhotoStatus::Ready.as_str(), now, thumbhash],
            )?;
            Ok(true)
        })
        .await
    }

    async fn fail_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        reason: &str,
        now: Millis,
    ) -> DbResult<()> {
        let (job, photo, reason) = (job.clone(), photo.clone(), reason.to_owned());
        self.write_relaxed(move |tx| {
            tx.execute("DELETE FROM render_jobs WHERE id = ?1", [job.as_str()])?;
            tx.execute(
                "UPDATE photos SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![photo.as_str(), PhotoStatus::Failed.as_str(), reason, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn retry_job(&self, job: &JobId, reason: &str, run_after: Millis) -> DbResult<()> {
        let (job, reason) = (job.clone(), reason.to_owned());
        self.write_relaxed(move |tx| {
            tx.execute(
                "UPDATE render_jobs SET state = 'queued', lease_until = NULL, run_after = ?2,
                     last_error = ?3 WHERE id = ?1",
                params![job.as_str(), run_after, reason],
            )?;
            Ok(())
        })
        .await
    }
}
