//! Receiving uploads: a multipart body streamed to temp files under the
//! size limit (while hashed), for both `POST /api/photos` (one file) and
//! the `/upload` page (several at once without JavaScript).
//!
//! The limit is per request, not per part: every byte of every part is
//! counted as it arrives, the files together may hold `upload.max_bytes`
//! and everything else [`FORM_OVERHEAD`]. So a chunked body of many parts
//! is refused as soon as it passes the limit, with no more than the limit
//! staged on disk.

use bytes::Buf;
use futures_util::TryStreamExt;
use warp::multipart::{FormData, Part};
use warp::{Filter, Rejection};

use super::error::Failure;
use super::extract::{FORM_TOKEN, Viewer, stale_form};
use crate::app::uploads::{Describe, Staged, Uploads};
use crate::app::{AppError, MAX_CAPTION, MAX_TITLE};
use crate::domain::{AlbumId, upload_file_name};

/// Room for multipart headers and text fields on top of the file limit.
const FORM_OVERHEAD: u64 = 1024 * 1024;

/// One `file` field of a multipart body.
pub struct ReceivedFile {
    /// The file's name ([`upload_file_name`]), `""` when it had none.
    pub name: String,
    pub staged: Result<Staged, AppError>,
}

/// A whole multipart body: its files (staged) and descriptive fields.
pub struct Received {
    pub files: Vec<ReceivedFile>,
    pub describe: Describe,
    /// The album the files go into (the `album` field), if any.
    pub album: Option<AlbumId>,
}

/// A multipart body, refused with 413 up front when its declared length is
/// already over the limit. Bodies without a length (chunked) are accepted
/// and limited as they stream.
pub fn form_body(max: u64) -> impl Filter<Extract = (FormData,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(move |len: Option<u64>| async move {
            match len {
                Some(n) if n > max.saturating_add(FORM_OVERHEAD) => {
                    Err(Failure::from(AppError::TooLarge { limit: max }).reject())
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::multipart::form().max_length(None))
}

/// What is left of one request's allowance.
struct Budget {
    limit: u64,
    file_bytes: u64,
    other_bytes: u64,
}

impl Budget {
    fn new(limit: u64) -> Self {
        Self {
            limit,
            file_bytes: limit,
            other_bytes: FORM_OVERHEAD,
        }
    }

    /// Counts `n` bytes of a file part, or of anything else.
    fn spend(&mut self, n: usize, file: bool) -> Result<(), AppError> {
        let left = if file {
            &mut self.file_bytes
        } else {
            &mut self.other_bytes
        };
        *left = left
            .checked_sub(n as u64)
            .ok_or(AppError::TooLarge { limit: self.limit })?;
        Ok(())
    }
}

/// Streams every part of `form` that `from` sent: files to staging, text
/// fields to memory. More than `most_files` file parts is a 400, refused
/// before the extra one is read. From a browser session, the form's token
/// must come before the first file (as the page's form puts it): 403 and
/// nothing staged otherwise.
pub async fn receive(
    mut form: FormData,
    from: &Viewer,
    uploads: &Uploads,
    most_files: usize,
) -> Result<Received, Failure> {
    let mut received = Received {
        files: Vec::new(),
        describe: Describe::default(),
        album: None,
    };
    let mut budget = Budget::new(uploads.max_bytes());
    let mut signed = from.may_post(None);
    while let Some(part) = form.try_next().await.map_err(malformed)? {
        match part.name() {
            FORM_TOKEN => {
                let token = text(part, 64, FORM_TOKEN, &mut budget).await?;
                signed = from.may_post(Some(&token));
                if !signed {
                    return Err(stale_form());
                }
            }
            "file" if !signed => return Err(stale_form()),
            "file" => {
                if received.files.len() == most_files {
                    return Err(Failure::bad_request(match most_files {
                        1 => "send exactly one multipart field named \"file\"".to_owned(),
                        n => format!("send at most {n} files at once"),
                    }));
                }
                let name = upload_file_name(part.filename().unwrap_or_default());
                let staged = stage(part, uploads, &mut budget).await;
                if let Err(e @ AppError::TooLarge { .. }) = staged {
                    return Err(e.into());
                }
                received.files.push(ReceivedFile { name, staged });
            }
            "title" => {
                received.describe.title = text(part, MAX_TITLE, "title", &mut budget).await?
            }
            "caption" => {
                received.describe.caption = text(part, MAX_CAPTION, "caption", &mut budget).await?
            }
            "album" => {
                let id = text(part, 64, "album", &mut budget).await?;
                received.album = match id.trim() {
                    "" => None,
                    id => Some(
                        id.parse()
                            .map_err(|_| Failure::bad_request("malformed album id"))?,
                    ),
                };
            }
            "visibility" => {
                let v = text(part, 16, "visibility", &mut budget).await?;
                received.describe.visibility = v.parse().map_err(|_| {
                    Failure::bad_request("visibility must be public, unlisted or private")
                })?;
            }
            _ => drain(part, &mut budget).await?,
        }
    }
    match signed {
        true => Ok(received),
        false => Err(stale_form()),
    }
}

fn malformed(e: warp::Error) -> Failure {
    Failure::bad_request(format!("malformed multipart body: {e}"))
}

async fn stage(mut part: Part, uploads: &Uploads, budget: &mut Budget) -> Result<Staged, AppError> {
    let mut staging = uploads.staging().await?;
    while let Some(chunk) = part.data().await {
        let chunk = chunk.map_err(|e| AppError::Io {
            what: "receiving an upload",
            source: std::io::Error::other(e.to_string()),
        })?;
        budget.spend(chunk.chunk().len(), true)?;
        staging.write(chunk.chunk()).await?;
    }
    Ok(staging.finish().await?)
}

/// A text field, kept up to what could be `max_chars` characters; the
/// rest is read (and counted) but not kept.
async fn text(
    mut part: Part,
    max_chars: usize,
    field: &str,
    budget: &mut Budget,
) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    while let Some(chunk) = part.data().await {
        let chunk = chunk.map_err(malformed)?;
        budget.spend(chunk.chunk().len(), false)?;
        if bytes.len() <= max_chars * 4 {
            bytes.extend_from_slice(chunk.chunk());
        }
    }
    let s = String::from_utf8(bytes)
        .map_err(|_| Failure::bad_request(format!("{field} is not UTF-8")))?;
    let s = s.trim();
    if s.chars().count() > max_chars {
        return Err(Failure::bad_request(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    Ok(s.to_owned())
}

async fn drain(mut part: Part, budget: &mut Budget) -> Result<(), Failure> {
    while let Some(chunk) = part.data().await {
        budget.spend(chunk.map_err(malformed)?.chunk().len(), false)?;
    }
    Ok(())
}
