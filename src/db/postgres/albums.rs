//! Albums on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresRepo;
use super::photos::with_variants;
use super::rows::{PHOTO_COLUMNS, get, parsed, photo_from_row, to_u32};
use crate::db::people::ALBUM_OWNER_ACTIVE;
use crate::db::{AlbumRepo, DbResult};
use crate::domain::{AlbumId, Millis, PhotoId, UserId};
use crate::model::{Album, AlbumCard, AlbumEdit, NewAlbum, Photo};

const ALBUM_COLUMNS: &str = "a.id, a.owner_id, a.title, a.description, a.visibility, a.share_token, a.cover_id, \
     a.created_at, a.updated_at";

/// Photos of album `a` that the viewer (parameter `$n`, or NULL) may see
/// there: all for its owner, else all but private ones.
fn shown_in(n: usize) -> String {
    format!(
        "album_photos ap JOIN photos p ON p.id = ap.photo_id
         WHERE ap.album_id = a.id AND p.trashed_at IS NULL
           AND (p.visibility <> 'private' OR a.owner_id = ${n})"
    )
}

fn album_from_row(r: &Row) -> DbResult<Album> {
    Ok(Album {
        id: parsed(r, 0, "album id")?,
        owner: parsed(r, 1, "owner id")?,
        title: get(r, 2)?,
        description: get(r, 3)?,
        visibility: parsed(r, 4, "visibility")?,
        share_token: get(r, 5)?,
        cover: get::<Option<&str>>(r, 6)?
            .map(|c| c.parse().map_err(super::rows::corrupt("cover id")))
            .transpose()?,
        created_at: get(r, 7)?,
        updated_at: get(r, 8)?,
    })
}

async fn find(
    c: &impl GenericClient,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
) -> DbResult<Option<Album>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ALBUM_COLUMNS} FROM albums a WHERE {ALBUM_OWNER_ACTIVE} AND {condition}"
        ))
        .await?;
    c.query_opt(&stmt, params)
        .await?
        .as_ref()
        .map(album_from_row)
        .transpose()
}

async fn touch(c: &impl GenericClient, album: &AlbumId, now: Millis) -> DbResult<()> {
    c.execute(
        "UPDATE albums SET updated_at = $2 WHERE id = $1",
        &[&album.as_str(), &now],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl AlbumRepo for PostgresRepo {
    async fn create_album(&self, a: NewAlbum, now: Millis) -> DbResult<Album> {
        let token = a.visibility.share_token_after(None, false);
        self.client()
            .await?
            .execute(
                "INSERT INTO albums (id, owner_id, title, description, visibility, share_token,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                &[
                    &a.id.as_str(),
                    &a.owner.as_str(),
                    &a.title,
                    &a.description,
                    &a.visibility.as_str(),
                    &token,
                    &now,
                ],
            )
            .await?;
        Ok(Album {
            id: a.id,
            owner: a.owner,
            title: a.title,
            description: a.description,
            visibility: a.visibility,
            share_token: token,
            cover: None,
            created_at: now,
            updated_at: now,
        })
    }

    async fn album(&self, id: &AlbumId) -> DbResult<Option<Album>> {
        find(&self.client().await?, "a.id = $1", &[&id.as_str()]).await
    }

    async fn album_by_share_token(&self, token: &str) -> DbResult<Option<Album>> {
        find(&self.client().await?, "a.share_token = $1", &[&token]).await
    }

    async fn list_albums(&self, viewer: Option<&UserId>) -> DbResult<Vec<AlbumCard>> {
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
             WHERE (a.visibility = 'public' OR a.owner_id = $1) AND {ALBUM_OWNER_ACTIVE}
             ORDER BY a.created_at DESC, a.id DESC",
            shown = shown_in(1)
        );
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await?;
        let viewer = viewer.map(|v| v.as_str());
        let rows = client.query(&stmt, &[&viewer]).await?;
        rows.iter()
            .map(|r| {
                let count: i64 = get(r, 9)?;
                Ok(AlbumCard {
                    album: album_from_row(r)?,
                    photos: to_u32(
                        i32::try_from(count).unwrap_or(i32::MAX),
                        "album photo count",
                    )?,
                    cover: get::<Option<&str>>(r, 10)?
                        .map(|c| c.parse().map_err(super::rows::corrupt("cover id")))
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn edit_album(
        &self,
        id: &AlbumId,
        edit: AlbumEdit,
        now: Millis,
    ) -> DbResult<Option<Album>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(album) = find(&tx, "a.id = $1 FOR UPDATE", &[&id.as_str()]).await? else {
            return Ok(None);
        };
        let visibility = edit.visibility.unwrap_or(album.visibility);
        let token = visibility.share_token_after(album.share_token, edit.new_link);
        let cover = edit.cover.or(album.cover);
        tx.execute(
            "UPDATE albums SET title = $2, description = $3, visibility = $4, share_token = $5,
                 cover_id = $6, updated_at = $7
             WHERE id = $1",
            &[
                &id.as_str(),
                &edit.title.unwrap_or(album.title),
                &edit.description.unwrap_or(album.description),
                &visibility.as_str(),
                &token,
                &cover.as_ref().map(PhotoId::as_str),
                &now,
            ],
        )
        .await?;
        let edited = find(&tx, "a.id = $1", &[&id.as_str()]).await?;
        tx.commit().await?;
        Ok(edited)
    }

    async fn delete_album(&self, id: &AlbumId) -> DbResult<bool> {
        let n = self
            .client()
            .await?
            .execute("DELETE FROM albums WHERE id = $1", &[&id.as_str()])
            .await?;
        Ok(n > 0)
    }

    async fn add_to_album(&self, album: &AlbumId, photo: &PhotoId, now: Millis) -> DbResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The album's row lock orders concurrent adds, so positions stay distinct.
        tx.execute(
            "SELECT 1 FROM albums WHERE id = $1 FOR UPDATE",
            &[&album.as_str()],
        )
        .await?;
        let added = tx
            .execute(
                "INSERT INTO album_photos (album_id, photo_id, position, added_at)
                 SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3 FROM album_photos
                 WHERE album_id = $1
                 ON CONFLICT (album_id, photo_id) DO NOTHING",
                &[&album.as_str(), &photo.as_str(), &now],
            )
            .await?
            > 0;
        if added {
            touch(&tx, album, now).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_from_album(
        &self,
        album: &AlbumId,
        photo: &PhotoId,
        now: Millis,
    ) -> DbResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let removed = tx
            .execute(
                "DELETE FROM album_photos WHERE album_id = $1 AND photo_id = $2",
                &[&album.as_str(), &photo.as_str()],
            )
            .await?
            > 0;
        if removed {
            tx.execute(
                "UPDATE albums SET cover_id = NULL WHERE id = $1 AND cover_id = $2",
                &[&album.as_str(), &photo.as_str()],
            )
            .await?;
            touch(&tx, album, now).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn album_photos(&self, album: &AlbumId, with_private: bool) -> DbResult<Vec<Photo>> {
        let sql = format!(
            "SELECT {} FROM album_photos JOIN photos ON photos.id = album_photos.photo_id
             WHERE album_photos.album_id = $1 AND photos.trashed_at IS NULL
               AND ($2 OR photos.visibility <> 'private')
             ORDER BY album_photos.position",
            PHOTO_COLUMNS
                .split(", ")
                .map(|c| format!("photos.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client
            .query(&stmt, &[&album.as_str(), &with_private])
            .await?;
        let photos = rows
            .iter()
            .map(photo_from_row)
            .collect::<DbResult<Vec<_>>>()?;
        with_variants(&client, photos).await
    }

    async fn albums_with_photo(&self, photo: &PhotoId) -> DbResult<Vec<AlbumId>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT album_id FROM album_photos WHERE photo_id = $1 ORDER BY album_id",
                &[&photo.as_str()],
            )
            .await?;
        rows.iter().map(|r| parsed(r, 0, "album id")).collect()
    }
}
