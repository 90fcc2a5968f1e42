//! A selection in the JSON API: `PATCH /api/photos` (who sees them),
//! `POST /api/trash` (move them to the trash), `POST
//! /api/albums/{id}/photos` (put them in an album), and `photos` in the
//! body of `POST /api/albums` (a new album of them). The rules are
//! `app::selection`'s: every id is checked before anything changes.

use serde::Deserialize;
use warp::Reply;

use super::error::{Answer, Failure};
use super::extract::Viewer;
use super::json::{PhotoJson, parse_body};
use super::state::AppState;
use crate::domain::{AlbumId, PhotoId, Visibility};

/// Photo ids as a request names them; a malformed one is its fault.
pub fn photo_ids<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> Result<Vec<PhotoId>, Failure> {
    ids.into_iter()
        .map(|s| s.as_ref().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| Failure::bad_request("ids must be photo ids"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisibilityChange {
    ids: Vec<String>,
    visibility: Visibility,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ids {
    ids: Vec<String>,
}

/// `PATCH /api/photos` `{"ids": […], "visibility": "…"}`: the photos, changed.
pub async fn set_visibility(user: Viewer, body: bytes::Bytes, state: AppState) -> Answer {
    let change: VisibilityChange = parse_body(&body, "selection change")?;
    let ids = photo_ids(&change.ids)?;
    let photos = state
        .app
        .selection
        .set_visibility(&user, &ids, change.visibility)
        .await?;
    let photos: Vec<PhotoJson> = photos
        .iter()
        .map(|p| PhotoJson::for_viewer(p, Some(&user), &state.urls))
        .collect();
    Ok(warp::reply::json(&serde_json::json!({ "photos": photos })).into_response())
}

/// `POST /api/trash` `{"ids": […]}`: `{"trashed": N}`.
pub async fn trash(user: Viewer, body: bytes::Bytes, state: AppState) -> Answer {
    let body: Ids = parse_body(&body, "selection")?;
    let ids = photo_ids(&body.ids)?;
    let trashed = state.app.selection.trash(&user, &ids).await?;
    Ok(warp::reply::json(&serde_json::json!({ "trashed": trashed })).into_response())
}

/// `POST /api/albums/{id}/photos` `{"ids": […]}`: `{"added": N}`, the
/// photos that were not in it yet.
pub async fn add_to_album(
    id: AlbumId,
    user: Viewer,
    body: bytes::Bytes,
    state: AppState,
) -> Answer {
    let body: Ids = parse_body(&body, "selection")?;
    let ids = photo_ids(&body.ids)?;
    let added = state.app.selection.add_to_album(&user, &id, &ids).await?;
    Ok(warp::reply::json(&serde_json::json!({ "added": added })).into_response())
}
