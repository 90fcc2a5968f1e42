//! The JSON API under `/api` (its shapes are the README's "HTTP" section).
//! Errors are `{"error": "…"}`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::multipart::FormData;
use warp::{Filter, Rejection, Reply};

use super::error::Failure;
use super::session::{require_user, viewer};
use super::upload::{self, MAX_CAPTION, MAX_TITLE, Received};
use super::urls::Urls;
use super::{AppState, OrReject, with_state};
use crate::blobs;
use crate::db::{Cursor, Inserted, Photo, PhotoEdit, User};
use crate::domain::{GeoPoint, PhotoId, Visibility, now_millis};
use crate::store::BlobKey;

/// The photo JSON of the contract.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PhotoJson {
    pub id: String,
    pub status: String,
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub caption: String,
    pub original_url: String,
    pub variants: Vec<VariantJson>,
    pub error: Option<String>,
    pub taken_at: Option<String>,
    pub camera: Option<String>,
    pub lens: Option<String>,
    /// Seconds.
    pub exposure_time: Option<f64>,
    pub f_number: Option<f64>,
    pub iso: Option<u32>,
    pub focal_length_mm: Option<f64>,
    /// Where it was taken: only in answers to the photo's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<GeoPoint>,
    /// A ThumbHash (base64) once rendered: a blurred preview for clients
    /// to draw while the image loads.
    pub thumbhash: Option<String>,
    pub created_at: i64,
    pub page_url: String,
    /// `public`, `unlisted` or `private`.
    pub visibility: Visibility,
    /// An unlisted photo's share link: only in answers to its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct VariantJson {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub url: String,
}

impl PhotoJson {
    /// The photo as `viewer` may see it: everything but the location,
    /// unless the viewer owns the photo.
    pub fn for_viewer(p: &Photo, viewer: Option<&User>, urls: &Urls) -> Self {
        let owner = viewer.is_some_and(|u| u.id == p.owner);
        Self {
            id: p.id.to_string(),
            status: p.status.as_str().to_owned(),
            width: p.width,
            height: p.height,
            title: p.title.clone(),
            caption: p.caption.clone(),
            original_url: urls.media(BlobKey::original(&p.hash, p.format).as_str()),
            variants: p
                .variants
                .iter()
                .map(|v| VariantJson {
                    name: v.name.clone(),
                    width: v.width,
                    height: v.height,
                    format: v.format.as_str().to_owned(),
                    url: urls.media(&v.key),
                })
                .collect(),
            error: p.error.clone(),
            taken_at: p.shot.taken_at.clone(),
            camera: p.shot.camera.clone(),
            lens: p.shot.lens.clone(),
            exposure_time: p.shot.exposure_s,
            f_number: p.shot.f_number,
            iso: p.shot.iso,
            focal_length_mm: p.shot.focal_mm,
            gps: p.shot.gps.filter(|_| owner),
            thumbhash: p.thumbhash.as_ref().map(|t| BASE64.encode(t)),
            created_at: p.created_at,
            page_url: format!("/photos/{}", p.id),
            visibility: p.visibility,
            share_url: p
                .share_token
                .as_ref()
                .filter(|_| owner)
                .map(|t| share_path(t)),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PhotoList {
    pub photos: Vec<PhotoJson>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// The path of a share link.
pub fn share_path(token: &str) -> String {
    format!("/s/{token}")
}

/// A photo by id as `viewer` may see it (not through a share link): hidden
/// photos are "not found", so their ids reveal nothing.
pub async fn load_visible_photo(
    state: &AppState,
    id: &PhotoId,
    viewer: Option<&User>,
) -> Result<Arc<Photo>, Failure> {
    load_photo(state, id)
        .await?
        .filter(|p| p.visible_to(viewer, false))
        .ok_or_else(|| Failure::not_found("photo"))
}

/// Applies an owner's edit to a photo and drops it from the caches.
pub async fn edit_photo(
    state: &AppState,
    user: &User,
    id: &PhotoId,
    edit: PhotoEdit,
) -> Result<Arc<Photo>, Failure> {
    let photo = load_visible_photo(state, id, Some(user)).await?;
    if photo.owner != user.id {
        return Err(Failure::forbidden());
    }
    let too_long = |s: &Option<String>, max| s.as_ref().is_some_and(|s| s.chars().count() > max);
    if too_long(&edit.title, MAX_TITLE) || too_long(&edit.caption, MAX_CAPTION) {
        return Err(Failure::bad_request(format!(
            "a title is at most {MAX_TITLE} characters, a caption {MAX_CAPTION}"
        )));
    }
    let edited = state
        .db
        .edit_photo(id, edit, now_millis())
        .await?
        .ok_or_else(|| Failure::not_found("photo"))?;
    state.caches.invalidate_photo(id).await;
    Ok(Arc::new(edited))
}

/// A photo by id, through the cache.
pub async fn load_photo(state: &AppState, id: &PhotoId) -> Result<Option<Arc<Photo>>, Failure> {
    if let Some(p) = state.caches.photo(id).await {
        return Ok(Some(p));
    }
    let fill = state.caches.photo_fill();
    match state.db.photo(id).await? {
        Some(p) => {
            let p = Arc::new(p);
            state.caches.put_photo(fill, p.clone()).await;
            Ok(Some(p))
        }
        None => Ok(None),
    }
}

/// One page of the newest-first list, through the cache, plus the cursor of
/// the page after it (if there may be one).
pub async fn load_page(
    state: &AppState,
    limit: u32,
    cursor: Option<&Cursor>,
    viewer: Option<&User>,
) -> Result<(Arc<Vec<Photo>>, Option<Cursor>), Failure> {
    // Everyone logged out shares one entry per page; each user has their own.
    // The data version leads the key, read before the database is: a list
    // read just before a change and stored just after it is never found.
    let viewer = viewer.map(|u| &u.id);
    let key = format!(
        "{} {}:{limit}:{}",
        state.caches.changed_at(),
        viewer.map(|v| v.as_str()).unwrap_or(""),
        cursor.map(Cursor::encode).unwrap_or_default()
    );
    let photos = match state.caches.page(&key).await {
        Some(p) => p,
        None => {
            let p = Arc::new(state.db.list_photos(limit, cursor, viewer).await?);
            state.caches.put_page(key, p.clone()).await;
            p
        }
    };
    let next = (photos.len() == limit as usize)
        .then(|| photos.last().map(Cursor::after))
        .flatten();
    Ok((photos, next))
}

/// Removes a photo if `user` may: its row (and variants and job) first,
/// then — if no other photo or upload uses the same bytes — its blobs.
pub async fn delete_photo(state: &AppState, user: &User, id: &PhotoId) -> Result<(), Failure> {
    let photo = load_photo(state, id)
        .await?
        .ok_or_else(|| Failure::not_found("photo"))?;
    if photo.owner != user.id && !user.is_admin {
        return Err(Failure::forbidden());
    }
    let Some(deleted) = state.db.delete_photo(id, now_millis()).await? else {
        return Err(Failure::not_found("photo"));
    };
    state.caches.invalidate_photo(id).await;
    if let Some(released) = &deleted.released {
        // The row is gone; if this fails, the claim stays and the sweep
        // deletes the blobs later.
        blobs::delete_logged(state.db.as_ref(), &state.store, &state.caches, released).await;
    }
    tracing::info!(photo = %id, user = %user.name, "photo deleted");
    Ok(())
}

/// A JSON body parsed in the handler, not by a body filter, so that a bad
/// one is this route's 400 rather than a neighbour route's 405.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Rejection> {
    serde_json::from_slice(body)
        .map_err(|e| Failure::bad_request(format!("bad {what}: {e}")).reject())
}

fn parse_id(s: &str) -> Result<PhotoId, Rejection> {
    s.parse().map_err(|_| Failure::not_found("photo").reject())
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("api" / "photos")
        .and(warp::get())
        .and(warp::query::<ListQuery>())
        .and(viewer(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |q: ListQuery, viewer: Option<User>, state: AppState| async move {
                let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
                let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
                    Some(c) => Some(
                        Cursor::decode(c)
                            .ok_or_else(|| Failure::bad_request("malformed cursor").reject())?,
                    ),
                    None => None,
                };
                let (photos, next) = load_page(&state, limit, cursor.as_ref(), viewer.as_ref())
                    .await
                    .or_reject()?;
                let body = PhotoList {
                    photos: photos
                        .iter()
                        .map(|p| PhotoJson::for_viewer(p, viewer.as_ref(), &state.urls))
                        .collect(),
                    next_cursor: next.map(|c| c.encode()),
                };
                Ok::<_, Rejection>(warp::reply::json(&body).into_response())
            },
        );

    let get = warp::path!("api" / "photos" / String)
        .and(warp::get())
        .and(viewer(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |id: String, viewer: Option<User>, state: AppState| async move {
                let id = parse_id(&id)?;
                let photo = load_visible_photo(&state, &id, viewer.as_ref())
                    .await
                    .or_reject()?;
                let json = PhotoJson::for_viewer(&photo, viewer.as_ref(), &state.urls);
                Ok::<_, Rejection>(warp::reply::json(&json).into_response())
            },
        );

    let patch = warp::path!("api" / "photos" / String)
        .and(warp::patch())
        .and(require_user(state.clone()))
        .and(warp::body::content_length_limit(64 * 1024))
        .and(warp::body::bytes())
        .and(with_state(state.clone()))
        .and_then(
            |id: String, user: User, body: bytes::Bytes, state: AppState| async move {
                let id = parse_id(&id)?;
                let edit: PhotoEdit = parse_body(&body, "photo change")?;
                let photo = edit_photo(&state, &user, &id, edit).await.or_reject()?;
                let json = PhotoJson::for_viewer(&photo, Some(&user), &state.urls);
                Ok::<_, Rejection>(warp::reply::json(&json).into_response())
            },
        );

    let delete = warp::path!("api" / "photos" / String)
        .and(warp::delete())
        .and(require_user(state.clone()))
        .and(with_state(state.clone()))
        .and_then(|id: String, user: User, state: AppState| async move {
            let id = parse_id(&id)?;
            delete_photo(&state, &user, &id).await.or_reject()?;
            Ok::<_, Rejection>(StatusCode::NO_CONTENT.into_response())
        });

    let create = warp::path!("api" / "photos")
        .and(warp::post())
        // Credentials are checked before a byte of the body is read.
        .and(require_user(state.clone()))
        .and(upload::form_body(state.ingest.max_bytes))
        .and(with_state(state))
        .and_then(|user: User, form: FormData, state: AppState| async move {
            let received = upload::receive(form, &state).await.or_reject()?;
            create_photo(&state, &user, received).await.or_reject()
        });

    list.or(get)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .or(create)
        .unify()
}

async fn create_photo(
    state: &AppState,
    user: &User,
    received: Received,
) -> Result<warp::reply::Response, Failure> {
    let mut files = received.files.into_iter();
    let (Some(file), None) = (files.next(), files.next()) else {
        return Err(Failure::bad_request(
            "send exactly one multipart field named \"file\"",
        ));
    };
    let staged = file.staged?;
    let result = state.ingest.accept(&staged, user, received.describe).await;
    upload::count(state, &result);
    let (status, photo) = match result? {
        Inserted::New(p) => (StatusCode::CREATED, p),
        Inserted::Duplicate(p) => (StatusCode::OK, p),
    };
    let mut resp = warp::reply::with_status(
        warp::reply::json(&PhotoJson::for_viewer(&photo, Some(user), &state.urls)),
        status,
    )
    .into_response();
    if let Ok(loc) = format!("/api/photos/{}", photo.id).parse() {
        resp.headers_mut().insert(warp::http::header::LOCATION, loc);
    }
    Ok(resp)
}
