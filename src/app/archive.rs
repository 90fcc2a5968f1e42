//! Downloads: the originals of the photos a viewer may see — an album's,
//! or a selection — as one ZIP archive written while it is sent.
//!
//! Nothing is held whole: each original streams from the store into a
//! stored (uncompressed: photos do not shrink) entry with a data
//! descriptor, through a small pipe, so memory stays the pipe's size
//! whatever the archive's. Past 4 GiB, async_zip writes ZIP64 records
//! (untested here: no test builds an archive that large). A store failure
//! part-way ends the response with an error, so the client sees a broken
//! transfer rather than a short archive that looks whole.

use std::collections::HashSet;
use std::io;

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTime, ZipDateTimeBuilder, ZipEntryBuilder};
use bytes::Bytes;
use futures_util::io::AsyncWriteExt;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio_util::io::ReaderStream;

use super::albums::Albums;
use super::photos::Photos;
use super::selection::distinct;
use super::{AppError, AppResult};
use crate::domain::{AlbumId, ImageFormat, Millis, PhotoId};
use crate::keys::BlobKey;
use crate::model::{Photo, User};
use crate::store::Store;

/// Bytes in flight between the archive writer and the response.
const PIPE_BYTES: usize = 256 * 1024;

/// The longest file name in an archive, in characters, before its
/// extension and any "(2)".
const MAX_NAME: usize = 120;

/// An archive ready to send: what to call it, and its bytes as they come.
pub struct Archive {
    /// The download's file name, `….zip`.
    pub file_name: String,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

/// Who may download what: the rules are the pages' own (an album's photos
/// as the viewer sees them there, a photo only if the viewer may open it).
#[derive(Clone)]
pub struct Downloads {
    albums: Albums,
    photos: Photos,
    store: Store,
}

impl Downloads {
    pub(super) fn new(albums: Albums, photos: Photos, store: Store) -> Self {
        Self {
            albums,
            photos,
            store,
        }
    }

    /// An album's photos, as `viewer` may see them in it.
    pub async fn album(&self, id: &AlbumId, viewer: Option<&User>) -> AppResult<Archive> {
        let album = self.albums.get(id, viewer).await?;
        let photos = self.albums.photos(&album, viewer).await?;
        archive(&self.store, &album.title, &photos)
    }

    /// An album's photos, for a visitor who came through its share link.
    pub async fn shared_album(&self, token: &str, viewer: Option<&User>) -> AppResult<Archive> {
        let album = self.albums.by_link(token, viewer).await?;
        let photos = self.albums.photos(&album, viewer).await?;
        archive(&self.store, &album.title, &photos)
    }

    /// Photos picked by id, each one `viewer` may open (any other is "not
    /// found", and nothing is sent), in the order given, once each.
    pub async fn selection(&self, ids: &[PhotoId], viewer: Option<&User>) -> AppResult<Archive> {
        let ids = distinct(ids)?;
        let mut photos = Vec::with_capacity(ids.len());
        for id in ids {
            photos.push(Photo::clone(&*self.photos.get(id, viewer).await?));
        }
        archive(&self.store, "Scoot photos", &photos)
    }
}

/// One photo's place in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: BlobKey,
    name: String,
    modified: Option<(i32, u32, u32, u32, u32, u32)>,
}

/// The archive `file_name` of `photos`' originals, in their order.
fn archive(store: &Store, file_name: &str, photos: &[Photo]) -> AppResult<Archive> {
    if photos.is_empty() {
        return Err(AppError::invalid("there are no photos to download"));
    }
    let entries = entries(photos);
    Ok(Archive {
        file_name: format!("{}.zip", clean(file_name, "photos")),
        body: write(store.clone(), entries),
    })
}

/// Unique entry names: each photo's title, else the name of the file it
/// was uploaded as, else its id; with its format's extension; a repeat
/// gets " (2)", " (3)"… as a desktop would name a copy.
fn entries(photos: &[Photo]) -> Vec<Entry> {
    let mut taken = HashSet::new();
    photos
        .iter()
        .map(|p| {
            let ext = extension(p.format);
            let stem = match p.title.trim() {
                "" => strip_extension(p.filename.trim()),
                title => title,
            };
            let stem = clean(stem, p.id.as_str());
            let mut name = format!("{stem}.{ext}");
            let mut n = 1;
            while !taken.insert(name.to_lowercase()) {
                n += 1;
                name = format!("{stem} ({n}).{ext}");
            }
            Entry {
                key: BlobKey::original(&p.hash, p.format),
                name,
                modified: when(p.shot.taken_at.as_deref(), p.created_at),
            }
        })
        .collect()
}

fn extension(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
        ImageFormat::Webp => "webp",
        ImageFormat::Gif => "gif",
    }
}

/// `IMG_0042.JPG` → `IMG_0042`: the archive gives the extension.
fn strip_extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem,
        _ => name,
    }
}

/// A name every desktop accepts: no path separators, reserved or control
/// characters, no leading dots or trailing spaces, at most [`MAX_NAME`]
/// characters; `fallback` when nothing is left.
fn clean(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(MAX_NAME)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim_end_matches('.');
    match cleaned.trim() {
        "" => fallback.to_owned(),
        name => name.to_owned(),
    }
}

/// When a photo was taken (EXIF `YYYY-MM-DD HH:MM:SS`), else uploaded, as
/// an entry's modification time.
fn when(taken_at: Option<&str>, created_at: Millis) -> Option<(i32, u32, u32, u32, u32, u32)> {
    let parse = |s: &str| -> Option<(i32, u32, u32, u32, u32, u32)> {
        let (date, time) = s.split_once(' ')?;
        let mut d = date.split('-').map(str::parse::<u32>);
        let mut t = time.split(':').map(str::parse::<u32>);
        let year = i32::try_from(d.next()?.ok()?).ok()?;
        Some((
            year,
            d.next()?.ok()?,
            d.next()?.ok()?,
            t.next()?.ok()?,
            t.next()?.ok()?,
            t.next()?.ok()?,
        ))
    };
    taken_at.and_then(parse).or_else(|| {
        let at = time::OffsetDateTime::from_unix_timestamp(created_at / 1000).ok()?;
        Some((
            at.year(),
            u32::from(u8::from(at.month())),
            u32::from(at.day()),
            u32::from(at.hour()),
            u32::from(at.minute()),
            u32::from(at.second()),
        ))
    })
}

fn zip_date(
    (year, month, day, hour, minute, second): (i32, u32, u32, u32, u32, u32),
) -> ZipDateTime {
    // ZIP dates start in 1980; earlier ones (a camera's unset clock) clamp.
    ZipDateTimeBuilder::new()
        .year(year.clamp(1980, 2107))
        .month(month.clamp(1, 12))
        .day(day.clamp(1, 31))
        .hour(hour.min(23))
        .minute(minute.min(59))
        .second(second.min(59))
        .build()
}

/// The archive's bytes: a task writes it into one end of a pipe, the
/// response reads the other. If the task fails, the stream ends with the
/// error instead of a clean end.
fn write(store: Store, entries: Vec<Entry>) -> BoxStream<'static, io::Result<Bytes>> {
    let (reader, writer) = tokio::io::duplex(PIPE_BYTES);
    let task = tokio::spawn(async move {
        let mut zip = ZipFileWriter::with_tokio(writer);
        for entry in entries {
            let Some(mut chunks) = store.chunks(&entry.key).await.map_err(io::Error::other)? else {
                return Err(io::Error::other(format!(
                    "the original {} is missing from the store",
                    entry.key.as_str()
                )));
            };
            let mut builder = ZipEntryBuilder::new(entry.name.into(), Compression::Stored)
                .unix_permissions(0o644);
            if let Some(at) = entry.modified {
                builder = builder.last_modification_date(zip_date(at));
            }
            let mut out = zip
                .write_entry_stream(builder)
                .await
                .map_err(io::Error::other)?;
            while let Some(chunk) = chunks.next().await {
                out.write_all(&chunk.map_err(io::Error::other)?).await?;
            }
            out.close().await.map_err(io::Error::other)?;
        }
        zip.close().await.map_err(io::Error::other)?;
        Ok::<_, io::Error>(())
    });
    let ending = stream::once(async move {
        match task.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a download stopped part-way");
                Some(Err(e))
            }
            Err(e) => Some(Err(io::Error::other(e))),
        }
    })
    .filter_map(std::future::ready);
    ReaderStream::with_capacity(reader, 64 * 1024)
        .chain(ending)
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_clean_and_unique() {
        assert_eq!(clean("../a/b:c", "x"), "_a_b_c");
        assert_eq!(clean("  ..  ", "fallback"), "fallback");
        assert_eq!(clean("Été à Paris", "x"), "Été à Paris");
        assert_eq!(strip_extension("IMG_0042.JPG"), "IMG_0042");
        assert_eq!(strip_extension(".hidden"), ".hidden");
        assert_eq!(strip_extension("no extension"), "no extension");
    }

    #[test]
    fn dates_come_from_exif_else_the_upload() {
        assert_eq!(
            when(Some("2021-07-04 18:30:05"), 0),
            Some((2021, 7, 4, 18, 30, 5))
        );
        assert_eq!(
            when(Some("garbage"), 86_400_000),
            Some((1970, 1, 2, 0, 0, 0))
        );
    }
}
