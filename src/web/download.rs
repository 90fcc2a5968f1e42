//! ZIP downloads: `GET /albums/{id}/download`, `GET /a/{token}/download`
//! and `GET /api/photos/download?ids=…` (a selection). What goes in is
//! `app::archive`'s to decide; this sends it as an attachment, streamed.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sync_wrapper::SyncStream;
use warp::Reply;
use warp::http::{HeaderValue, header};

use super::error::Answer;
use super::extract::Viewer;
use super::selection_api::photo_ids;
use super::state::AppState;
use crate::app::archive::Archive;
use crate::domain::AlbumId;

#[derive(Deserialize)]
pub struct Selection {
    /// Photo ids, comma-separated.
    ids: String,
}

/// `GET /albums/{id}/download`.
pub async fn album(id: AlbumId, viewer: Option<Viewer>, state: AppState) -> Answer {
    let archive = state.app.downloads.album(&id, viewer.as_deref()).await?;
    Ok(send(archive))
}

/// `GET /a/{token}/download`: an album through its share link.
pub async fn shared_album(token: String, viewer: Option<Viewer>, state: AppState) -> Answer {
    let archive = state
        .app
        .downloads
        .shared_album(&token, viewer.as_deref())
        .await?;
    Ok(send(archive))
}

/// `GET /api/photos/download?ids=ID,ID,…`.
pub async fn selection(q: Selection, viewer: Option<Viewer>, state: AppState) -> Answer {
    let ids = photo_ids(q.ids.split(',').filter(|s| !s.is_empty()))?;
    let archive = state
        .app
        .downloads
        .selection(&ids, viewer.as_deref())
        .await?;
    Ok(send(archive))
}

fn send(archive: Archive) -> warp::reply::Response {
    let mut resp = warp::reply::stream(SyncStream::new(archive.body)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    // A plain-ASCII name for old clients, the real one for the rest
    // (RFC 6266).
    let ascii: String = archive
        .file_name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(&archive.file_name, NON_ALPHANUMERIC)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    // Cache-Control: no-store, as for every answer that names no policy.
    resp
}
