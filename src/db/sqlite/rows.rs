//! Rows into records, shared by the queries of every aggregate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::{Connection, Row, Transaction, params};

use crate::db::{DbError, DbResult};
use crate::domain::{GeoPoint, JobId, Millis, PhotoId, ShotFacts};
use crate::model::{Photo, User, Variant};

pub(super) const PHOTO_COLUMNS: &str = "id, owner_id, original_hash, original_format, original_size, \
     width, height, status, error, title, caption, taken_at, camera, created_at, updated_at, \
     lens, exposure_s, f_number, iso, focal_mm, gps_lat, gps_lon, thumbhash, visibility, share_token, filename, \
     trashed_at";

/// Who sees a listed photo: public ones, and all of the viewer's own, but
/// none in the trash.
/// Parameter `?n` is the viewer's id, or NULL for nobody.
pub(super) fn visible_to(n: usize) -> String {
    format!("(trashed_at IS NULL AND (visibility = 'public' OR owner_id = ?{n}))")
}

pub(super) fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> DbError {
    move |e| DbError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn to_u32(v: i64, what: &'static str) -> DbResult<u32> {
    u32::try_from(v).map_err(corrupt(what))
}

/// Columns in [`PHOTO_COLUMNS`] order; variants are filled in separately.
pub(super) fn photo_from_row(r: &Row<'_>) -> DbResult<Photo> {
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
        filename: text(25)?,
        trashed_at: r.get(26)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        variants: Vec::new(),
    })
}

/// Every row of a `SELECT {PHOTO_COLUMNS}` as a photo (without variants).
pub(super) fn collect_photos(mut rows: rusqlite::Rows<'_>) -> DbResult<Vec<Photo>> {
    let mut photos = Vec::new();
    while let Some(r) = rows.next()? {
        photos.push(photo_from_row(r)?);
    }
    Ok(photos)
}

pub(super) fn variants_of(conn: &Connection, photo: &PhotoId) -> DbResult<Vec<Variant>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, format, width, height, byte_size, storage_key
         FROM variants WHERE photo_id = ?1 ORDER BY width, name, format",
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

pub(super) fn load_photo(conn: &Connection, id: &PhotoId) -> DbResult<Option<Photo>> {
    find_photo(conn, "id = ?1", [id.as_str()])
}

/// The one photo (with its variants) matching `condition`, a unique key.
pub(super) fn find_photo(
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

pub(super) fn user_from_row(r: &Row<'_>) -> DbResult<User> {
    Ok(User {
        id: r.get::<_, String>(0)?.parse().map_err(corrupt("user id"))?,
        name: r.get(1)?,
        is_admin: r.get::<_, i64>(2)? != 0,
    })
}

pub(super) fn insert_job(tx: &Transaction<'_>, photo: &PhotoId, now: Millis) -> DbResult<()> {
    tx.execute(
        "INSERT INTO render_jobs (id, photo_id, state, attempts, run_after, created_at)
         VALUES (?1, ?2, 'queued', 0, ?3, ?3)",
        params![JobId::generate().as_str(), photo.as_str(), now],
    )?;
    Ok(())
}
