//! The photo half of the JSON API under `/api` (its shapes are the
//! README's "HTTP" section; [`super::json`] holds them). Errors are
//! `{"error": "…"}`.

use serde::Deserialize;
use warp::Reply;
use warp::http::StatusCode;
use warp::multipart::FormData;

use super::error::{Answer, Failure};
use super::extract::Viewer;
pub use super::json::{PhotoJson, PhotoList};
use super::json::{cursor_param, parse_body};
use super::multipart::receive;
use super::state::AppState;
use crate::app::uploads::Describe;
use crate::domain::PhotoId;
use crate::model::{Inserted, PhotoEdit};
use crate::timeline::PhotoOrder;

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
    sort: Option<String>,
}

const DEFAULT_LIMIT: u32 = 50;

/// `GET /api/photos`: a page at a time, newest upload first, or by date
/// taken with `sort=newest` or `sort=oldest`.
pub async fn list(q: ListQuery, viewer: Option<Viewer>, state: AppState) -> Answer {
    let cursor = cursor_param(q.cursor.as_deref())?;
    let order = match q.sort.as_deref() {
        None | Some("") => PhotoOrder::Uploaded,
        Some(s) => PhotoOrder::parse(s)
            .ok_or_else(|| Failure::bad_request("sort must be uploaded, newest or oldest"))?,
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let (photos, next) = state
        .app
        .photos
        .page(limit, cursor.as_ref(), viewer.as_deref(), order)
        .await?;
    let body = PhotoList {
        photos: photos
            .iter()
            .map(|p| PhotoJson::for_viewer(p, viewer.as_deref(), &state.urls))
            .collect(),
        next_cursor: next.map(|c| c.encode()),
    };
    Ok(warp::reply::json(&body).into_response())
}

/// `GET /api/photos/{id}`.
pub async fn get(id: PhotoId, viewer: Option<Viewer>, state: AppState) -> Answer {
    let photo = state.app.photos.get(&id, viewer.as_deref()).await?;
    let json = PhotoJson::for_viewer(&photo, viewer.as_deref(), &state.urls);
    Ok(warp::reply::json(&json).into_response())
}

/// `PATCH /api/photos/{id}`: the owner's edit.
pub async fn patch(id: PhotoId, user: Viewer, body: bytes::Bytes, state: AppState) -> Answer {
    let edit: PhotoEdit = parse_body(&body, "photo change")?;
    let photo = state.app.photos.edit(&user, &id, edit).await?;
    let json = PhotoJson::for_viewer(&photo, Some(&user), &state.urls);
    Ok(warp::reply::json(&json).into_response())
}

/// `DELETE /api/photos/{id}`.
pub async fn delete(id: PhotoId, user: Viewer, state: AppState) -> Answer {
    state.app.photos.delete(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/photos`: one file, 201 when new, 200 when already uploaded.
pub async fn create(user: Viewer, form: FormData, state: AppState) -> Answer {
    let received = receive(form, &user, &state.app.uploads, 1).await?;
    let mut files = received.files.into_iter();
    let (Some(file), None) = (files.next(), files.next()) else {
        return Err(Failure::bad_request(
            "send exactly one multipart field named \"file\"",
        ));
    };
    let staged = file.staged?;
    let uploads = &state.app.uploads;
    let album = uploads.destination(&user, received.album.as_ref()).await?;
    let describe = Describe {
        filename: file.name,
        ..received.describe
    };
    let inserted = uploads
        .accept_into(&staged, &user, describe, album.as_ref())
        .await?;
    let (status, photo) = match inserted {
        Inserted::New(p) => (StatusCode::CREATED, p),
        Inserted::Duplicate(p) => (StatusCode::OK, p),
    };
    let mut resp = warp::reply::with_status(
        warp::reply::json(&PhotoJson::for_viewer(&photo, Some(&user), &state.urls)),
        status,
    )
    .into_response();
    if let Ok(loc) = format!("/api/photos/{}", photo.id).parse() {
        resp.headers_mut().insert(warp::http::header::LOCATION, loc);
    }
    Ok(resp)
}
