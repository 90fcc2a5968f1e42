//! Rows into records, shared by the queries of every aggregate. Columns
//! keep the schema's types: INTEGER is `i32`, BIGINT `i64`, DOUBLE
//! PRECISION `f64`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::db::{DbError, DbResult};
use crate::domain::{GeoPoint, Millis, PhotoId, ShotFacts};
use crate::model::{Photo, User, Variant};

pub(super) const PHOTO_COLUMNS: &str = "id, owner_id, original_hash, original_format, original_size, \
     width, height, status, error, title, caption, taken_at, camera, created_at, updated_at, \
     lens, exposure_s, f_number, iso, focal_mm, gps_lat, gps_lon, thumbhash, visibility, share_token, filename, \
     trashed_at";

/// Who sees a listed photo: public ones, and all of the viewer's own, but
/// none in the trash.
/// Parameter `$n` is the viewer's id, or NULL for nobody.
pub(super) fn visible_to(n: usize) -> String {
    format!("(trashed_at IS NULL AND (visibility = 'public' OR owner_id = ${n}))")
}

pub(super) fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> DbError {
    move |e| DbError::Corrupt(format!("{what}: {e}"))
}

/// Column `i` of `r`, a decoding failure being a corrupt row.
pub(super) fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> DbResult<T> {
    r.try_get(i).map_err(corrupt("column"))
}

/// A parsed text column.
pub(super) fn parsed<T: std::str::FromStr>(r: &Row, i: usize, what: &'static str) -> DbResult<T>
where
    T::Err: std::fmt::Display,
{
    get::<&str>(r, i)?.parse().map_err(corrupt(what))
}

pub(super) fn to_u32(v: i32, what: &'static str) -> DbResult<u32> {
    u32::try_from(v).map_err(corrupt(what))
}

fn to_u64(v: i64, what: &'static str) -> DbResult<u64> {
    u64::try_from(v).map_err(corrupt(what))
}

/// Columns in [`PHOTO_COLUMNS`] order; variants are filled in separately.
pub(super) fn photo_from_row(r: &Row) -> DbResult<Photo> {
    Ok(Photo {
        id: parsed(r, 0, "photo id")?,
        owner: parsed(r, 1, "owner id")?,
        hash: parsed(r, 2, "original hash")?,
        format: parsed(r, 3, "original format")?,
        byte_size: to_u64(get(r, 4)?, "size")?,
        width: to_u32(get(r, 5)?, "width")?,
        height: to_u32(get(r, 6)?, "height")?,
        status: parsed(r, 7, "status")?,
        error: get(r, 8)?,
        title: get(r, 9)?,
        caption: get(r, 10)?,
        shot: ShotFacts {
            taken_at: get(r, 11)?,
            camera: get(r, 12)?,
            lens: get(r, 15)?,
            exposure_s: get(r, 16)?,
            f_number: get(r, 17)?,
            iso: get::<Option<i32>>(r, 18)?
                .map(|v| to_u32(v, "iso"))
                .transpose()?,
            focal_mm: get(r, 19)?,
            gps: match (get(r, 20)?, get(r, 21)?) {
                (Some(lat), Some(lon)) => GeoPoint::new(lat, lon),
                _ => None,
            },
        },
        thumbhash: get::<Option<&str>>(r, 22)?
            .map(|b| BASE64.decode(b).map_err(corrupt("thumbhash")))
            .transpose()?,
        visibility: parsed(r, 23, "visibility")?,
        share_token: get(r, 24)?,
        filename: get(r, 25)?,
        trashed_at: get(r, 26)?,
        created_at: get::<Millis>(r, 13)?,
        updated_at: get::<Millis>(r, 14)?,
        variants: Vec::new(),
    })
}

/// `SELECT photo_id, name, format, width, height, byte_size, storage_key`.
pub(super) fn variant_from_row(r: &Row) -> DbResult<(PhotoId, Variant)> {
    Ok((
        parsed(r, 0, "photo id")?,
        Variant {
            name: get(r, 1)?,
            format: parsed(r, 2, "variant format")?,
            width: to_u32(get(r, 3)?, "variant width")?,
            height: to_u32(get(r, 4)?, "variant height")?,
            byte_size: to_u64(get(r, 5)?, "variant size")?,
            key: get(r, 6)?,
        },
    ))
}

pub(super) fn user_from_row(r: &Row) -> DbResult<User> {
    Ok(User {
        id: parsed(r, 0, "user id")?,
        name: get(r, 1)?,
        is_admin: get::<i32>(r, 2)? != 0,
    })
}
