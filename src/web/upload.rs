//! The `/upload` page: drop or pick files; without JavaScript it is a plain
//! multi-file form that posts back here, answered with what became of each.

use serde::Deserialize;
use warp::Reply;
use warp::http::StatusCode;
use warp::multipart::FormData;

use super::error::{Answer, Failure};
use super::extract::Viewer;
use super::multipart::{Received, receive};
use super::pages::{UploadPage, UploadResult, html};
use super::respond::see_other;
use super::state::AppState;
use crate::app::uploads::Describe;
use crate::domain::AlbumId;
use crate::model::{Album, Inserted};

/// Files one `/upload` form may carry (the page's script sends one at a
/// time; without it, the browser sends all that were chosen).
const MOST_FILES: usize = 100;

fn login_redirect() -> warp::reply::Response {
    warp::redirect::see_other(warp::http::Uri::from_static("/login?next=/upload")).into_response()
}

fn upload_page(
    state: &AppState,
    viewer: Viewer,
    album: Option<Album>,
    results: Vec<UploadResult>,
) -> Answer {
    let max_bytes = state.app.uploads.max_bytes();
    Ok(html(&UploadPage {
        viewer: Some(viewer),
        urls: state.urls.clone(),
        results,
        max_mib: max_bytes / (1024 * 1024),
        max_bytes,
        album: album.map(|a| (a.id.to_string(), a.title)),
    })?)
}

#[derive(Deserialize)]
pub struct UploadQuery {
    /// Upload straight into this album of the uploader's.
    album: Option<String>,
}

/// `GET /upload[?album=ID]`.
pub async fn page(q: UploadQuery, viewer: Option<Viewer>, state: AppState) -> Answer {
    let Some(user) = viewer else {
        return Ok(login_redirect());
    };
    let album = match q.album.as_deref().filter(|a| !a.is_empty()) {
        Some(id) => {
            let id: AlbumId = id.parse().map_err(|_| Failure::not_found("album"))?;
            Some(state.app.albums.owned(&user, &id).await?)
        }
        None => None,
    };
    upload_page(&state, user, album, Vec::new())
}

/// `POST /upload`: every file of the form; back to the gallery when all
/// went in, else this page with a line per file.
pub async fn submit(viewer: Option<Viewer>, form: FormData, state: AppState) -> Answer {
    let Some(user) = viewer else {
        return Ok(login_redirect());
    };
    let received = receive(form, &user, &state.app.uploads, MOST_FILES).await?;
    submit_files(&state, user, received).await
}

async fn submit_files(state: &AppState, user: Viewer, received: Received) -> Answer {
    if received.files.is_empty() {
        return Err(Failure::bad_request("choose at least one photo"));
    }
    let uploads = &state.app.uploads;
    let album = uploads.destination(&user, received.album.as_ref()).await?;
    let mut results = Vec::new();
    let mut worst = None;
    for file in received.files {
        let result = match file.staged {
            Ok(staged) => {
                let describe = Describe {
                    filename: file.name.clone(),
                    ..received.describe.clone()
                };
                uploads
                    .accept_into(&staged, &user, describe, album.as_ref())
                    .await
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
            name: match file.name.is_empty() {
                true => "(a file without a name)".to_owned(),
                false => file.name,
            },
            ok,
            message,
        });
    }
    let Some(worst) = worst else {
        let home = match &album {
            Some(a) => format!("/albums/{}", a.id),
            None => "/".to_owned(),
        };
        return Ok(see_other(&home));
    };
    let status = if results.iter().any(|r| r.ok) {
        StatusCode::OK
    } else {
        worst
    };
    let page = upload_page(state, user, album, results)?;
    Ok(warp::reply::with_status(page, status).into_response())
}
