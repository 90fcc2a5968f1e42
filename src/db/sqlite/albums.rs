//! Albums on SQLite: synchronous queries run on a connection or inside a
//! write transaction, and the [`AlbumRepo`] methods that wrap them.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

use super::SqliteRepo;
use super::rows::{PHOTO_COLUMNS, collect_photos, corrupt, to_u32, variants_of};
use crate::db::people::ALBUM_OWNER_ACTIVE;
use crate::db::{AlbumRepo, DbResult};
use crate::domain::{AlbumId, Millis, PhotoId, UserId};
use crate::model::{Album, AlbumCard, AlbumEdit, NewAlbum, Photo};

const ALBUM_COLUMNS: &str = "a.id, a.owner_id, a.title, a.description, a.visibility, a.share_token, a.cover_id, \
     a.created_at, a.updated_at";

/// Photos of album `a` that the viewer (parameter `?n`, or NULL) may see
/// there: all for its owner, else all but private ones.
fn shown_in(n: usize) -> String {
    format!(
        "album_photos ap JOIN photos p ON p.id = ap.photo_id
         WHERE ap.album_id = a.id AND p.trashed_at IS NULL
           AND (p.visibility <> 'private' OR a.owner_id = ?{n})"
    )
}

fn album_from_row(r: &Row<'_>) -> DbResult<Album> {
    let cover: Option<String> = r.get(6)?;
    Ok(Album {
        id: r
            .get::<_, String>(0)?
            .parse()
            .map_err(corrupt("album id"))?,
        owner: r
            .get::<_, String>(1)?
            .parse()
            .map_err(corrupt("owner id"))?,
        title: r.get(2)?,
        description: r.get(3)?,
        visibility: r
            .get::<_, String>(4)?
            .parse()
            .map_err(corrupt("visibility"))?,
        share_token: r.get(5)?,
        cover: cover
            .map(|c| c.parse().map_err(corrupt("cover id")))
            .transpose()?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub(super) fn find(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> DbResult<Option<Album>> {
    let sql =
        format!("SELECT {ALBUM_COLUMNS} FROM albums a WHERE {ALBUM_OWNER_ACTIVE} AND {condition}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(album_from_row).transpose()
}

pub(super) fn create(conn: &Connection, a: &NewAlbum, now: Millis) -> DbResult<Album> {
    let token = a.visibility.share_token_after(None, false);
    conn.execute(
        "INSERT INTO albums (id, owner_id, title, description, visibility, share_token,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            a.id.as_str(),
            a.owner.as_str(),
            a.title,
            a.description,
            a.visibility.as_str(),
            token,
            now
        ],
    )?;
    Ok(Album {
        id: a.id.clone(),
        owner: a.owner.clone(),
        title: a.title.clone(),
        description: a.description.clone(),
        visibility: a.visibility,
        share_token: token,
        cover: None,
        created_at: now,
        updated_at: now,
    })
}

pub(super) fn list(conn: &Connection, viewer: Option<&str>) -> DbResult<Vec<AlbumCard>> {
    // The chosen cover sorts first among the shown photos when it is one
    // of them; otherwise the first photo added.
    let sql = format!(
        "SELECT {ALBUM_COLUMNS},
             (SELECT COUNT(*) FROM {shown}),
             (SELECT ap.photo_id FROM {shown}
              ORDER BY CASE WHEN ap.photo_id = a.cover_id THEN 0 ELSE 1 END,
                       ap.position
              LIMIT 1)
         FROM albums a
         WHERE (a.visibility = 'public' OR a.owner_id = ?1) AND {ALBUM_OWNER_ACTIVE}
         ORDER BY a.created_at DESC, a.id DESC",
        shown = shown_in(1)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([viewer])?;
    let mut cards = Vec::new();
    while let Some(r) = rows.next()? {
        let cover: Option<String> = r.get(10)?;
        cards.push(AlbumCard {
            album: album_from_row(r)?,
            photos: to_u32(r.get(9)?, "album photo count")?,
            cover: cover
                .map(|c| c.parse().map_err(corrupt("cover id")))
                .transpose()?,
        });
    }
    Ok(cards)
}

pub(super) fn edit(
    conn: &Connection,
    id: &AlbumId,
    edit: AlbumEdit,
    now: Millis,
) -> DbResult<Option<Album>> {
    let Some(album) = find(conn, "a.id = ?1", [id.as_str()])? else {
        return Ok(None);
    };
    let visibility = edit.visibility.unwrap_or(album.visibility);
    let token = visibility.share_token_after(album.share_token, edit.new_link);
    let cover = edit.cover.or(album.cover);
    conn.execute(
        "UPDATE albums SET title = ?2, description = ?3, visibility = ?4, share_token = ?5,
             cover_id = ?6, updated_at = ?7
         WHERE id = ?1",
        params![
            id.as_str(),
            edit.title.unwrap_or(album.title),
            edit.description.unwrap_or(album.description),
            visibility.as_str(),
            token,
            cover.as_ref().map(PhotoId::as_str),
            now
        ],
    )?;
    find(conn, "a.id = ?1", [id.as_str()])
}

pub(super) fn add(
    conn: &Connection,
    album: &AlbumId,
    photo: &PhotoId,
    now: Millis,
) -> DbResult<bool> {
    let added = conn.execute(
        "INSERT INTO album_photos (album_id, photo_id, position, added_at)
         SELECT ?1, ?2, COALESCE(MAX(position), 0) + 1, ?3 FROM album_photos WHERE album_id = ?1
         ON CONFLICT (album_id, photo_id) DO NOTHING",
        params![album.as_str(), photo.as_str(), now],
    )? > 0;
    if added {
        touch(conn, album, now)?;
    }
    Ok(added)
}

pub(super) fn remove(
    conn: &Connection,
    album: &AlbumId,
    photo: &PhotoId,
    now: Millis,
) -> DbResult<bool> {
    let removed = conn.execute(
        "DELETE FROM album_photos WHERE album_id = ?1 AND photo_id = ?2",
        params![album.as_str(), photo.as_str()],
    )? > 0;
    if removed {
        conn.execute(
            "UPDATE albums SET cover_id = NULL WHERE id = ?1 AND cover_id = ?2",
            params![album.as_str(), photo.as_str()],
        )?;
        touch(conn, album, now)?;
    }
    Ok(removed)
}

fn touch(conn: &Connection, album: &AlbumId, now: Millis) -> DbResult<()> {
    conn.execute(
        "UPDATE albums SET updated_at = ?2 WHERE id = ?1",
        params![album.as_str(), now],
    )?;
    Ok(())
}

pub(super) fn photos(
    conn: &Connection,
    album: &AlbumId,
    with_private: bool,
) -> DbResult<Vec<Photo>> {
    let sql = format!(
        "SELECT {PHOTO_COLUMNS} FROM album_photos JOIN photos ON photos.id = album_photos.photo_id
         WHERE album_photos.album_id = ?1 AND photos.trashed_at IS NULL
               AND (?2 OR photos.visibility <> 'private')
         ORDER BY album_photos.position"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut photos = collect_photos(stmt.query(params![album.as_str(), with_private])?)?;
    for p in &mut photos {
        p.variants = variants_of(conn, &p.id)?;
    }
    Ok(photos)
}

pub(super) fn holding(conn: &Connection, photo: &PhotoId) -> DbResult<Vec<AlbumId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT album_id FROM album_photos WHERE photo_id = ?1 ORDER BY album_id",
    )?;
    stmt.query_map([photo.as_str()], |r| r.get::<_, String>(0))?
        .map(|id| id?.parse().map_err(corrupt("album id")))
        .collect()
}

#[async_trait]
impl AlbumRepo for SqliteRepo {
    async fn create_album(&self, album: NewAlbum, now: Millis) -> DbResult<Album> {
        self.write(move |tx| create(tx, &album, now)).await
    }

    async fn album(&self, id: &AlbumId) -> DbResult<Option<Album>> {
        let id = id.clone();
        self.read(move |c| find(c, "a.id = ?1", [id.as_str()]))
            .await
    }

    async fn album_by_share_token(&self, token: &str) -> DbResult<Option<Album>> {
        let token = token.to_owned();
        self.read(move |c| find(c, "a.share_token = ?1", [token.as_str()]))
            .await
    }

    async fn list_albums(&self, viewer: Option<&UserId>) -> DbResult<Vec<AlbumCard>> {
        let viewer = viewer.map(|v| v.as_str().to_owned());
        self.read(move |c| list(c, viewer.as_deref())).await
    }

    async fn edit_album(
        &self,
        id: &AlbumId,
        edit: AlbumEdit,
        now: Millis,
    ) -> DbResult<Option<Album>> {
        let id = id.clone();
        self.write(move |tx| self::edit(tx, &id, edit, now)).await
    }

    async fn delete_album(&self, id: &AlbumId) -> DbResult<bool> {
        let id = id.clone();
        self.write(move |tx| Ok(tx.execute("DELETE FROM albums WHERE id = ?1", [id.as_str()])? > 0))
            .await
    }

    async fn add_to_album(&self, album: &AlbumId, photo: &PhotoId, now: Millis) -> DbResult<bool> {
        let (album, photo) = (album.clone(), photo.clone());
        self.write(move |tx| add(tx, &album, &photo, now)).await
    }

    async fn remove_from_album(
        &self,
        album: &AlbumId,
        photo: &PhotoId,
        now: Millis,
    ) -> DbResult<bool> {
        let (album, photo) = (album.clone(), photo.clone());
        self.write(move |tx| remove(tx, &album, &photo, now)).await
    }

    async fn album_photos(&self, album: &AlbumId, with_private: bool) -> DbResult<Vec<Photo>> {
        let album = album.clone();
        self.read(move |c| photos(c, &album, with_private)).await
    }

    async fn albums_with_photo(&self, photo: &PhotoId) -> DbResult<Vec<AlbumId>> {
        let photo = photo.clone();
        self.read(move |c| holding(c, &photo)).await
    }
}
