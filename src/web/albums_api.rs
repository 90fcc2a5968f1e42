//! Albums in the JSON API: `/api/albums`, `/api/albums/{id}` and
//! `/api/albums/{id}/photos/{photo}`. The rules are `app::albums`'; this
//! module only speaks JSON.

use serde::{Deserialize, Serialize};
use warp::Reply;
use warp::http::StatusCode;

use super::error::Answer;
use super::extract::Viewer;
pub use super::json::AlbumJson;
use super::json::{PhotoJson, parse_body};
use super::selection_api::photo_ids;
use super::state::AppState;
use crate::domain::{AlbumId, PhotoId, Visibility};
use crate::model::AlbumEdit;

#[derive(Serialize)]
struct AlbumList {
    albums: Vec<AlbumJson>,
}

/// The body of `POST /api/albums`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAlbumJson {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: Visibility,
    /// Photos to put in it at once (a selection), in this order.
    #[serde(default)]
    photos: Vec<String>,
}

pub async fn list(viewer: Option<Viewer>, state: AppState) -> Answer {
    let cards = state.app.albums.list(viewer.as_deref()).await?;
    let body = AlbumList {
        albums: cards
            .iter()
            .map(|c| {
                // The card's cover is the chosen one exactly when the
                // viewer may see it (it sorts first among what they see).
                let chosen = c
                    .album
                    .cover
                    .as_ref()
                    .filter(|&id| c.cover.as_ref() == Some(id));
                AlbumJson::for_viewer(&c.album, viewer.as_deref()).with_cover(chosen)
            })
            .collect(),
    };
    Ok(warp::reply::json(&body).into_response())
}

pub async fn create(user: Viewer, body: bytes::Bytes, state: AppState) -> Answer {
    let new: NewAlbumJson = parse_body(&body, "album")?;
    let album = match new.photos.is_empty() {
        true => {
            state
                .app
                .albums
                .create(&user, &new.title, &new.description, new.visibility)
                .await?
        }
        false => {
            let ids = photo_ids(&new.photos)?;
            state
                .app
                .selection
                .new_album(&user, &new.title, &new.description, new.visibility, &ids)
                .await?
        }
    };
    let mut resp = warp::reply::with_status(
        warp::reply::json(&AlbumJson::for_viewer(&album, Some(&user))),
        StatusCode::CREATED,
    )
    .into_response();
    if let Ok(loc) = format!("/api/albums/{}", album.id).parse() {
        resp.headers_mut().insert(warp::http::header::LOCATION, loc);
    }
    Ok(resp)
}

pub async fn get(id: AlbumId, viewer: Option<Viewer>, state: AppState) -> Answer {
    let albums = &state.app.albums;
    let album = albums.get(&id, viewer.as_deref()).await?;
    let photos = albums.photos(&album, viewer.as_deref()).await?;
    let cover = album
        .cover
        .as_ref()
        .filter(|&id| photos.iter().any(|p| &p.id == id));
    let mut json = AlbumJson::for_viewer(&album, viewer.as_deref()).with_cover(cover);
    json.photos = Some(
        photos
            .iter()
            .map(|p| PhotoJson::for_viewer(p, viewer.as_deref(), &state.urls))
            .collect(),
    );
    Ok(warp::reply::json(&json).into_response())
}

pub async fn patch(id: AlbumId, user: Viewer, body: bytes::Bytes, state: AppState) -> Answer {
    let edit: AlbumEdit = parse_body(&body, "album change")?;
    let album = state.app.albums.edit(&user, &id, edit).await?;
    Ok(warp::reply::json(&AlbumJson::for_viewer(&album, Some(&user))).into_response())
}

pub async fn delete(id: AlbumId, user: Viewer, state: AppState) -> Answer {
    state.app.albums.delete(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT …/photos/{photo}`: 201 added, 204 already there.
pub async fn put_photo(id: AlbumId, photo: PhotoId, user: Viewer, state: AppState) -> Answer {
    let added = state.app.albums.add_photo(&user, &id, &photo).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    Ok(status.into_response())
}

pub async fn remove_photo(id: AlbumId, photo: PhotoId, user: Viewer, state: AppState) -> Answer {
    state.app.albums.remove_photo(&user, &id, &photo).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
