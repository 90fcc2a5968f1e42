//! Receiving uploads: the multipart body streamed to temp files under the
//! size limit (while hashed), for both `POST /api/photos` and the `/upload`
//! page, which takes many files at once.

use bytes::Buf;
use futures_util::TryStreamExt;
use warp::http::StatusCode;
use warp::multipart::{FormData, Part};
use warp::{Filter, Rejection, Reply};

use super::error::Failure;
use super::pages::{UploadPage, UploadResult, html};
use super::session::viewer;
use super::{AppState, OrReject, with_state};
use crate::db::{Inserted, User};
use crate::ingest::{Describe, IngestError, Staged};

pub const MAX_TITLE: usize = 200;
pub const MAX_CAPTION: usize = 2000;
/// Room for multipart headers and text fields on top of the file limit.
const FORM_OVERHEAD: u64 = 1024 * 1024;

/// One `file` field of a multipart body.
pub struct ReceivedFile {
    pub name: String,
    pub staged: Result<Staged, IngestError>,
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
                    Err(Failure::from(IngestError::TooLarge { limit: max }).reject())
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::multipart::form().max_length(None))
}

/// Streams every part of `form`: files to staging, text fields to memory.
pub async fn receive(mut form: FormData, state: &AppState) -> Result<Received, Failure> {
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
                let staged = stage(part, state).await;
                if let Err(e @ IngestError::TooLarge { .. }) = staged {
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

async fn stage(mut part: Part, state: &AppState) -> Result<Staged, IngestError> {
    let mut staging = state.ingest.staging().await?;
    while let Some(chunk) = part.data().await {
        let chunk = chunk.map_err(|e| IngestError::Io(std::io::Error::other(e.to_string())))?;
        staging.write(chunk.chunk()).await?;
    }
    staging.finish().await
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

/// Counts an upload's outcome for `/metrics`.
pub fn count(state: &AppState, result: &Result<Inserted, IngestError>) {
    let outcome = match result {
        Ok(Inserted::New(_)) => "new",
        Ok(Inserted::Duplicate(_)) => "duplicate",
        Err(IngestError::TooLarge { .. } | IngestError::Refused(_)) => "refused",
        Err(_) => "error",
    };
    state.metrics.uploads.with_label_values(&[outcome]).inc();
}

fn login_redirect() -> warp::reply::Response {
    warp::redirect::see_other(warp::http::Uri::from_static("/login?next=/upload")).into_response()
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let max_mib = state.ingest.max_bytes / (1024 * 1024);
    let page = warp::path!("upload")
        .and(warp::get())
        .and(viewer(state.clone()))
        .and(with_state(state.clone()))
        .and_then(move |viewer: Option<User>, state: AppState| async move {
            if viewer.is_none() {
                return Ok(login_redirect());
            }
            html(&UploadPage {
                viewer,
                urls: state.urls.clone(),
                results: Vec::new(),
                max_mib,
                max_bytes: state.ingest.max_bytes,
            })
            .or_reject_html()
        });

    let submit = warp::path!("upload")
        .and(warp::post())
        .and(viewer(state.clone()))
        .and(
            form_body(state.ingest.max_bytes).or_else(|r: Rejection| async move {
                // Keep refusals on this route as pages, not JSON.
                match r.find::<Failure>() {
                    Some(f) => Err(Failure::new(f.status, f.message.clone()).html().reject()),
                    None => Err(r),
                }
            }),
        )
        .and(with_state(state))
        .and_then(
            move |viewer: Option<User>, form: FormData, state: AppState| async move {
                let Some(user) = viewer else {
                    return Ok(login_redirect());
                };
                let received = receive(form, &state).await.or_reject_html()?;
                submit_files(&state, &user, received, max_mib)
                    .await
                    .or_reject_html()
            },
        );

    page.or(submit).unify()
}

async fn submit_files(
    state: &AppState,
    user: &User,
    received: Received,
    max_mib: u64,
) -> Result<warp::reply::Response, Failure> {
    if received.files.is_empty() {
        return Err(Failure::bad_request("choose at least one photo"));
    }
    let mut results = Vec::new();
    let mut worst = None;
    for file in received.files {
        let result = match file.staged {
            Ok(staged) => {
                let r = state
                    .ingest
                    .accept(&staged, user, received.describe.clone())
                    .await;
                count(state, &r);
                r
            }
            Err(e) => Err(e),
        };
        let (ok, message) = match result {
            Ok(Inserted::New(_)) => (true, "uploaded".to_owned()),
            Ok(Inserted::Duplicate(_)) => (true, "already uploaded".to_owned()),
            Err(e) => {
                let failure = Failure::from(e);
                let message = failure.message.clone();
                worst.get_or_insert(failure.status);
                (false, message)
            }
        };
        results.push(UploadResult {
            name: file.name,
            ok,
            message,
        });
    }
    let any_ok = results.iter().any(|r| r.ok);
    if worst.is_none() {
        return Ok(warp::redirect::see_other(warp::http::Uri::from_static("/")).into_response());
    }
    let status = if any_ok {
        StatusCode::OK
    } else {
        worst.unwrap_or(StatusCode::BAD_REQUEST)
    };
    let page = html(&UploadPage {
        viewer: Some(user.clone()),
        urls: state.urls.clone(),
        results,
        max_mib,
        max_bytes: state.ingest.max_bytes,
    })?;
    Ok(warp::reply::with_status(page, status).into_response())
}
