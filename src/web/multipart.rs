//! Receiving uploads: a multipart body streamed to temp files under the
//! size limit (while hashed), for both `POST /api/photos` and the `/upload`
//! page, which takes many files at once.

use bytes::Buf;
use futures_util::TryStreamExt;
use warp::multipart::{FormData, Part};
use warp::{Filter, Rejection};

use super::error::Failure;
use crate::app::uploads::{Describe, Staged, Uploads};
use crate::app::{AppError, MAX_CAPTION, MAX_TITLE};

/// Room for multipart headers and text fields on top of the file limit.
const FORM_OVERHEAD: u64 = 1024 * 1024;

/// One `file` field of a multipart body.
pub struct ReceivedFile {
    pub name: String,
    pub staged: Result<Staged, AppError>,
}

/// A whole multipart body: its files (staged) and descriptive fields.
pub struct Received {
    pub files: Vec<ReceivedFile>,
    pub describe: Describe,
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

/// Streams every part of `form`: files to staging, text fields to memory.
pub async fn receive(mut form: FormData, uploads: &Uploads) -> Result<Received, Failure> {
    let mut received = Received {
        files: Vec::new(),
        describe: Describe::default(),
    };
    while let Some(part) = form.try_next().await.map_err(malformed)? {
        match part.name() {
            "file" => {
                let name = part
                    .filename()
                    .unwrap_or("upload")
                    .chars()
                    .take(200)
                    .collect();
                let staged = stage(part, uploads).await;
                if let Err(e @ AppError::TooLarge { .. }) = staged {
                    return Err(e.into());
                }
                received.files.push(ReceivedFile { name, staged });
            }
            "title" => received.describe.title = text(part, MAX_TITLE, "title").await?,
            "caption" => received.describe.caption = text(part, MAX_CAPTION, "caption").await?,
            "visibility" => {
                let v = text(part, 16, "visibility").await?;
                received.describe.visibility = v.parse().map_err(|_| {
                    Failure::bad_request("visibility must be public, unlisted or private")
                })?;
            }
            _ => drain(part).await?,
        }
    }
    Ok(received)
}

fn malformed(e: warp::Error) -> Failure {
    Failure::bad_request(format!("malformed multipart body: {e}"))
}

async fn stage(mut part: Part, uploads: &Uploads) -> Result<Staged, AppError> {
    let mut staging = uploads.staging().await?;
    while let Some(chunk) = part.data().await {
        let chunk = chunk.map_err(|e| AppError::Io {
            what: "receiving an upload",
            source: std::io::Error::other(e.to_string()),
        })?;
        staging.write(chunk.chunk()).await?;
    }
    Ok(staging.finish().await?)
}

async fn text(mut part: Part, max_chars: usize, field: &str) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    while let Some(chunk) = part.data().await {
        bytes.extend_from_slice(chunk.map_err(malformed)?.chunk());
        if bytes.len() > max_chars * 4 {
            break;
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

async fn drain(mut part: Part) -> Result<(), Failure> {
    while let Some(chunk) = part.data().await {
        chunk.map_err(malformed)?;
    }
    Ok(())
}
