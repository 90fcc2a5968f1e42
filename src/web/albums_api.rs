//! Albums in the JSON API: `/api/albums`, `/api/albums/{id}` and
//! `/api/albums/{id}/photos/{photo}`. The rules live in [`super::albums`];
//! this module only speaks JSON.

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::albums::{
    add_photo, album_photos, album_share_path, create_album, delete_album, edit_album, load_album,
    remove_photo,
};
use super::api::{PhotoJson, parse_body};
use super::error::Failure;
use super::session::{require_user, viewer};
use super::{AppState, OrReject, with_state};
use crate::db::{Album, AlbumEdit, User};
use crate::domain::{AlbumId, PhotoId, Visibility};

/// An album as the API shows it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct AlbumJson {
    pub id: String,
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
    /// The cover chosen by the owner, if any.
    pub cover: Option<String>,
    pub url: String,
    /// The share link of an unlisted album, for its owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The photos the viewer sees in it (single-album answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photos: Option<Vec<PhotoJson>>,
}

impl AlbumJson {
    fn for_viewer(a: &Album, viewer: Option<&User>) -> Self {
        let is_owner = viewer.is_some_and(|u| u.id == a.owner);
        Self {
            id: a.id.to_string(),
            title: a.title.clone(),
            description: a.description.clone(),
            visibility: a.visibility,
            cover: a.cover.as_ref().map(|c| c.to_string()),
            url: format!("/albums/{}", a.id),
            share_url: a
                .share_token
                .as_deref()
                .filter(|_| is_owner)
                .map(album_share_path),
            created_at: a.created_at,
            updated_at: a.updated_at,
            photos: None,
        }
    }
}

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
}

fn parse_album(s: &str) -> Result<AlbumId, Rejection> {
    s.parse().map_err(|_| Failure::not_found("album").reject())
}

fn parse_photo(s: &str) -> Result<PhotoId, Rejection> {
    s.parse().map_err(|_| Failure::not_found("photo").reject())
}

const BODY_LIMIT: u64 = 64 * 1024;

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("api" / "albums")
        .and(warp::get())
        .and(viewer(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|viewer: Option<User>, state: AppState| async move {
            let cards = state
                .db
                .list_albums(viewer.as_ref().map(|u| &u.id))
                .await
                .or_reject()?;
            let body = AlbumList {
                albums: cards
                    .iter()
                    .map(|c| AlbumJson::for_viewer(&c.album, viewer.as_ref()))
                    .collect(),
            };
            Ok::<_, Rejection>(warp::reply::json(&body).into_response())
        });

    let create = warp::path!("api" / "albums")
        .and(warp::post())
        .and(require_user(state.clone()))
        .and(warp::body::content_length_limit(BODY_LIMIT))
        .and(warp::body::bytes())
        .and(with_state(state.clone()))
        .and_then(
            |user: User, body: bytes::Bytes, state: AppState| async move {
                let new: NewAlbumJson = parse_body(&body, "album")?;
                let album =
                    create_album(&state, &user, &new.title, &new.description, new.visibility)
                        .await
                        .or_reject()?;
                let mut resp = warp::reply::with_status(
                    warp::reply::json(&AlbumJson::for_viewer(&album, Some(&user))),
                    StatusCode::CREATED,
                )
                .into_response();
                if let Ok(loc) = format!("/api/albums/{}", album.id).parse() {
                    resp.headers_mut().insert(warp::http::header::LOCATION, loc);
                }
                Ok::<_, Rejection>(resp)
            },
        );

    let get = warp::path!("api" / "albums" / String)
        .and(warp::get())
        .and(viewer(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |id: String, viewer: Option<User>, state: AppState| async move {
                let id = parse_album(&id)?;
                let album = load_album(&state, &id, viewer.as_ref()).await.or_reject()?;
                let photos = album_photos(&state, &album, viewer.as_ref())
                    .await
                    .or_reject()?;
                let mut json = AlbumJson::for_viewer(&album, viewer.as_ref());
                json.photos = Some(
                    photos
                        .iter()
                        .map(|p| PhotoJson::for_viewer(p, viewer.as_ref(), &state.urls))
                        .collect(),
                );
                Ok::<_, Rejection>(warp::reply::json(&json).into_response())
            },
        );

    let patch = warp::path!("api" / "albums" / String)
        .and(warp::patch())
        .and(require_user(state.clone()))
        .and(warp::body::content_length_limit(BODY_LIMIT))
        .and(warp::body::bytes())
        .and(with_state(state.clone()))
        .and_then(
            |id: String, user: User, body: bytes::Bytes, state: AppState| async move {
                let id = parse_album(&id)?;
                let edit: AlbumEdit = parse_body(&body, "album change")?;
                let album = edit_album(&state, &user, &id, edit).await.or_reject()?;
                let json = AlbumJson::for_viewer(&album, Some(&user));
                Ok::<_, Rejection>(warp::reply::json(&json).into_response())
            },
        );

    let delete = warp::path!("api" / "albums" / String)
        .and(warp::delete())
        .and(require_user(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|id: String, user: User, state: AppState| async move {
            let id = parse_album(&id)?;
            delete_album(&state, &user, &id).await.or_reject()?;
            Ok::<_, Rejection>(StatusCode::NO_CONTENT.into_response())
        });

    let put_photo = warp::path!("api" / "albums" / String / "photos" / String)
        .and(warp::put())
        .and(require_user(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |id: String, photo: String, user: User, state: AppState| async move {
                let (id, photo) = (parse_album(&id)?, parse_photo(&photo)?);
                let added = add_photo(&state, &user, &id, &photo).await.or_reject()?;
                let status = if added {
                    StatusCode::CREATED
                } else {
                    StatusCode::NO_CONTENT
                };
                Ok::<_, Rejection>(status.into_response())
            },
        );

    let delete_photo = warp::path!("api" / "albums" / String / "photos" / String)
        .and(warp::delete())
        .and(require_user(state.clone()))
        .and(with_state(state))
        .and_then(
            |id: String, photo: String, user: User, state: AppState| async move {
                let (id, photo) = (parse_album(&id)?, parse_photo(&photo)?);
                remove_photo(&state, &user, &id, &photo).await.or_reject()?;
                Ok::<_, Rejection>(StatusCode::NO_CONTENT.into_response())
            },
        );

    list.or(create)
        .unify()
        .or(get)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .or(put_photo)
        .unify()
        .or(delete_photo)
        .unify()
}
