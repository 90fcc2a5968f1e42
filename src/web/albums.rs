//! Albums: an owner's named sets of their own photos.
//!
//! The operations at the top (create, load, edit, delete, add, remove) are
//! shared by the pages below and the JSON API in [`super::albums_api`];
//! they check who may do what, so neither caller has to. Pages:
//! `/albums` (the list and a "new album" form), `/albums/{id}`, `/a/{token}`
//! (an album's share link) and the owner's forms, which post back and
//! redirect (so they work without JavaScript).
//!
//! Who sees what: an album is public, unlisted or private like a photo
//! ([`Album::visible_to`]). Inside an album a visitor sees its public and
//! unlisted photos; a private photo stays the owner's alone, whatever the
//! album's setting.

use std::collections::HashSet;

use serde::Deserialize;
use warp::{Filter, Rejection};

use super::api::{load_photo, load_visible_photo, share_path};
use super::conditional::{Rendered, Validators};
use super::error::Failure;
use super::pages::{AlbumCardView, AlbumPage, AlbumsPage, Sources, Tile, alt_text, rendered};
use super::placeholder;
use super::session::viewer;
use super::upload::{MAX_CAPTION, MAX_TITLE};
use super::{
    AppState, OrReject, Reached, by_share_link, form_request, page_request, see_other, serve_page,
    with_state,
};
use crate::db::{Album, AlbumEdit, NewAlbum, Photo, User};
use crate::domain::{AlbumId, Millis, PhotoId, Visibility, now_millis};

/// The path of an album's share link.
pub fn album_share_path(token: &str) -> String {
    format!("/a/{token}")
}

fn check_text(title: Option<&str>, description: Option<&str>) -> Result<(), Failure> {
    if title.is_some_and(|t| t.trim().is_empty()) {
        return Err(Failure::bad_request("an album needs a title"));
    }
    let too_long = |s: Option<&str>, max| s.is_some_and(|s| s.chars().count() > max);
    if too_long(title, MAX_TITLE) || too_long(description, MAX_CAPTION) {
        return Err(Failure::bad_request(format!(
            "an album title is at most {MAX_TITLE} characters, a description {MAX_CAPTION}"
        )));
    }
    Ok(())
}

pub async fn create_album(
    state: &AppState,
    user: &User,
    title: &str,
    description: &str,
    visibility: Visibility,
) -> Result<Album, Failure> {
    let (title, description) = (title.trim(), description.trim());
    check_text(Some(title), Some(description))?;
    let album = NewAlbum {
        id: AlbumId::generate(),
        owner: user.id.clone(),
        title: title.to_owned(),
        description: description.to_owned(),
        visibility,
    };
    let album = state.db.create_album(album, now_millis()).await?;
    state.caches.album_changed();
    tracing::info!(album = %album.id, user = %user.name, "album created");
    Ok(album)
}

/// An album by id as `viewer` may see it (not through its share link);
/// hidden albums are "not found".
pub async fn load_album(
    state: &AppState,
    id: &AlbumId,
    viewer: Option<&User>,
) -> Result<Album, Failure> {
    state
        .db
        .album(id)
        .await?
        .filter(|a| a.visible_to(viewer, false))
        .ok_or_else(|| Failure::not_found("album"))
}

/// An album that `user` owns: "not found" if they cannot see it, "not
/// allowed" if they can but it is someone else's.
async fn owned_album(state: &AppState, user: &User, id: &AlbumId) -> Result<Album, Failure> {
    let album = load_album(state, id, Some(user)).await?;
    if album.owner != user.id {
        return Err(Failure::forbidden());
    }
    Ok(album)
}

/// The photos `viewer` sees in `album`, in the order they were added.
pub async fn album_photos(
    state: &AppState,
    album: &Album,
    viewer: Option<&User>,
) -> Result<Vec<Photo>, Failure> {
    let is_owner = viewer.is_some_and(|u| u.id == album.owner);
    Ok(state.db.album_photos(&album.id, is_owner).await?)
}

pub async fn edit_album(
    state: &AppState,
    user: &User,
    id: &AlbumId,
    mut edit: AlbumEdit,
) -> Result<Album, Failure> {
    owned_album(state, user, id).await?;
    edit.title = edit.title.map(|t| t.trim().to_owned());
    edit.description = edit.description.map(|d| d.trim().to_owned());
    check_text(edit.title.as_deref(), edit.description.as_deref())?;
    if let Some(cover) = &edit.cover {
        if !state.db.albums_with_photo(cover).await?.contains(id) {
            return Err(Failure::bad_request(
                "the cover must be a photo in the album",
            ));
        }
    }
    let album = state
        .db
        .edit_album(id, edit, now_millis())
        .await?
        .ok_or_else(|| Failure::not_found("album"))?;
    state.caches.album_changed();
    Ok(album)
}

/// Deletes an album (its owner, or an admin); its photos stay.
pub async fn delete_album(state: &AppState, user: &User, id: &AlbumId) -> Result<(), Failure> {
    let album = state
        .db
        .album(id)
        .await?
        .filter(|a| a.visible_to(Some(user), false) || user.is_admin)
        .ok_or_else(|| Failure::not_found("album"))?;
    if album.owner != user.id && !user.is_admin {
        return Err(Failure::forbidden());
    }
    state.db.delete_album(id).await?;
    state.caches.album_changed();
    tracing::info!(album = %id, user = %user.name, "album deleted");
    Ok(())
}

/// Puts one of `user`'s photos in one of their albums; `false` if it was
/// there already.
pub async fn add_photo(
    state: &AppState,
    user: &User,
    album: &AlbumId,
    photo: &PhotoId,
) -> Result<bool, Failure> {
    owned_album(state, user, album).await?;
    let photo = load_visible_photo(state, photo, Some(user)).await?;
    if photo.owner != user.id {
        return Err(Failure::bad_request(
            "only your own photos go in your albums",
        ));
    }
    let added = state
        .db
        .add_to_album(album, &photo.id, now_millis())
        .await?;
    if added {
        state.caches.album_changed();
    }
    Ok(added)
}

/// Takes a photo out of one of `user`'s albums; "not found" if it was not
/// in it.
pub async fn remove_photo(
    state: &AppState,
    user: &User,
    album: &AlbumId,
    photo: &PhotoId,
) -> Result<(), Failure> {
    owned_album(state, user, album).await?;
    if !state
        .db
        .remove_from_album(album, photo, now_millis())
        .await?
    {
        return Err(Failure::not_found("photo in this album"));
    }
    state.caches.album_changed();
    Ok(())
}

/// Where a photo in an album leads a visitor: its page when they may open
/// it by id, else (an unlisted photo in a shared album) its share link.
fn photo_href(photo: &Photo, viewer: Option<&User>) -> String {
    match &photo.share_token {
        Some(token) if !photo.visible_to(viewer, false) => share_path(token),
        _ => format!("/photos/{}", photo.id),
    }
}

async fn build_album(
    state: &AppState,
    album: Album,
    viewer: Option<User>,
    version: Millis,
) -> Result<Rendered, Failure> {
    let photos = album_photos(state, &album, viewer.as_ref()).await?;
    let is_owner = viewer.as_ref().is_some_and(|u| u.id == album.owner);
    let cover = album
        .cover
        .as_ref()
        .and_then(|c| photos.iter().find(|p| &p.id == c))
        .or_else(|| photos.first());
    let cover_id = cover.map(|p| p.id.clone());
    let tiles = photos
        .iter()
        .map(|p| {
            let mut tile = Tile::of(p, &state.urls);
            tile.href = photo_href(p, viewer.as_ref());
            tile.live = p.visible_to(viewer.as_ref(), false);
            if is_owner {
                tile.album = Some((album.id.to_string(), cover_id.as_ref() == Some(&p.id)));
            }
            tile
        })
        .collect();
    let last_modified = photos
        .iter()
        .map(|p| p.updated_at)
        .fold(album.updated_at.max(version), i64::max);
    let page = AlbumPage {
        urls: state.urls.clone(),
        id: album.id.to_string(),
        title: album.title,
        description: album.description,
        cover: cover.and_then(|p| Sources::of(p, "display", &state.urls)),
        cover_alt: cover.map(alt_text).unwrap_or_default(),
        tiles,
        is_owner,
        can_delete: is_owner || viewer.as_ref().is_some_and(|u| u.is_admin),
        visibility: album.visibility,
        share_url: album
            .share_token
            .as_deref()
            .filter(|_| is_owner)
            .map(album_share_path),
        viewer,
    };
    Ok(rendered(&page, last_modified)?)
}

async fn render_album(
    state: &AppState,
    album: Album,
    viewer: Option<User>,
    reached: Reached,
    validators: &Validators,
    version: Millis,
) -> Result<warp::reply::Response, Rejection> {
    let key = format!(
        "album {} {} {}",
        viewer.as_ref().map_or("", |u| u.id.as_str()),
        album.id,
        reached.as_str()
    );
    let build = build_album(state, album, viewer, version);
    serve_page(state, version, &key, validators, build).await
}

async fn build_list(
    state: &AppState,
    viewer: Option<User>,
    version: Millis,
) -> Result<Rendered, Failure> {
    let cards = state.db.list_albums(viewer.as_ref().map(|u| &u.id)).await?;
    let mut views = Vec::with_capacity(cards.len());
    let mut last_modified = version;
    for card in cards {
        let cover = match &card.cover {
            Some(id) => load_photo(state, id).await?,
            None => None,
        };
        let is_owner = viewer.as_ref().is_some_and(|u| u.id == card.album.owner);
        last_modified = last_modified.max(card.album.updated_at);
        views.push(AlbumCardView {
            href: format!("/albums/{}", card.album.id),
            title: card.album.title,
            photos: card.photos,
            cover: cover
                .as_deref()
                .and_then(|p| Sources::of(p, "thumb", &state.urls)),
            placeholder: cover
                .as_deref()
                .and_then(|p| p.thumbhash.as_deref())
                .and_then(placeholder::data_url),
            visibility: (is_owner && card.album.visibility != Visibility::Public)
                .then(|| card.album.visibility.as_str()),
        });
    }
    let page = AlbumsPage {
        viewer,
        urls: state.urls.clone(),
        cards: views,
    };
    Ok(rendered(&page, last_modified)?)
}

/// The albums holding `photo` that `viewer` may list (id, title), and for
/// its owner, their albums it is not in yet: the photo page's album links
/// and its "add to album" choices.
pub async fn photo_albums(
    state: &AppState,
    photo: &Photo,
    viewer: Option<&User>,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), Failure> {
    let is_owner = viewer.is_some_and(|u| u.id == photo.owner);
    let holding: HashSet<AlbumId> = state
        .db
        .albums_with_photo(&photo.id)
        .await?
        .into_iter()
        .collect();
    if holding.is_empty() && !is_owner {
        return Ok((Vec::new(), Vec::new()));
    }
    let (mut shown, mut add_to) = (Vec::new(), Vec::new());
    for card in state.db.list_albums(viewer.map(|u| &u.id)).await? {
        let a = card.album;
        let entry = (a.id.to_string(), a.title);
        if holding.contains(&a.id) {
            shown.push(entry);
        } else if is_owner && a.owner == photo.owner {
            add_to.push(entry);
        }
    }
    Ok((shown, add_to))
}

fn parse_album(s: &str) -> Result<AlbumId, Rejection> {
    s.parse()
        .map_err(|_| Failure::not_found("album").html().reject())
}

fn parse_photo(s: &str) -> Result<PhotoId, Rejection> {
    s.parse()
        .map_err(|_| Failure::bad_request("malformed photo id").html().reject())
}

fn parse_visibility(s: &str) -> Result<Visibility, Rejection> {
    s.parse().map_err(|_| {
        Failure::bad_request("visibility must be public, unlisted or private")
            .html()
            .reject()
    })
}

/// The "new album" and "edit album" forms.
#[derive(Deserialize)]
struct AlbumForm {
    title: String,
    #[serde(default)]
    description: String,
    visibility: String,
    new_link: Option<String>,
}

/// The album owner's per-photo buttons (cover, remove).
#[derive(Deserialize)]
struct PhotoForm {
    photo: String,
}

/// The photo page's "add to album" form.
#[derive(Deserialize)]
struct AddForm {
    album: String,
}

/// Room for a 2000-character description even when every character is escaped.
const FORM_LIMIT: u64 = 64 * 1024;

fn require(viewer: Option<User>) -> Result<User, Rejection> {
    viewer.ok_or_else(|| Failure::unauthorized().html().reject())
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let list = warp::path!("albums")
        .and(page_request(state.clone()))
        .and_then(
            |viewer: Option<User>, validators: Validators, state: AppState| async move {
                let version = state.caches.changed_at();
                let key = format!("albums {}", viewer.as_ref().map_or("", |u| u.id.as_str()));
                let build = build_list(&state, viewer, version);
                serve_page(&state, version, &key, &validators, build).await
            },
        );

    let create = warp::path!("albums")
        .and(form_request::<AlbumForm>(state.clone(), FORM_LIMIT))
        .and_then(
            |viewer: Option<User>, form: AlbumForm, state: AppState| async move {
                let user = require(viewer)?;
                let visibility = parse_visibility(&form.visibility)?;
                let album = create_album(&state, &user, &form.title, &form.description, visibility)
                    .await
                    .or_reject_html()?;
                Ok::<_, Rejection>(see_other(&format!("/albums/{}", album.id)))
            },
        );

    let page = warp::path!("albums" / String)
        .and(page_request(state.clone()))
        .and_then(
            |id: String, viewer: Option<User>, validators: Validators, state: AppState| async move {
                let id = parse_album(&id)?;
                let version = state.caches.changed_at();
                let album = load_album(&state, &id, viewer.as_ref())
                    .await
                    .or_reject_html()?;
                render_album(&state, album, viewer, Reached::ById, &validators, version).await
            },
        );

    let shared = warp::path!("a" / String)
        .and(page_request(state.clone()))
        .and_then(
            |token: String, viewer: Option<User>, validators: Validators, state: AppState| async move {
                let version = state.caches.changed_at();
                let find = state.db.album_by_share_token(&token);
                let album = by_share_link(&token, "shared album", find, |a: &Album| {
                    a.visible_to(viewer.as_ref(), true)
                })
                .await?;
                render_album(&state, album, viewer, Reached::ByLink, &validators, version).await
            },
        );

    let edit = warp::path!("albums" / String / "edit")
        .and(form_request::<AlbumForm>(state.clone(), FORM_LIMIT))
        .and_then(
            |id: String, viewer: Option<User>, form: AlbumForm, state: AppState| async move {
                let id = parse_album(&id)?;
                let user = require(viewer)?;
                let change = AlbumEdit {
                    title: Some(form.title),
                    description: Some(form.description),
                    visibility: Some(parse_visibility(&form.visibility)?),
                    new_link: form.new_link.is_some(),
                    cover: None,
                };
                edit_album(&state, &user, &id, change)
                    .await
                    .or_reject_html()?;
                Ok::<_, Rejection>(see_other(&format!("/albums/{id}")))
            },
        );

    let delete = warp::path!("albums" / String / "delete")
        .and(warp::post())
        .and(viewer(state.clone()))
        .and(with_state(state.clone()))
        .and_then(
            |id: String, viewer: Option<User>, state: AppState| async move {
                let id = parse_album(&id)?;
                let user = require(viewer)?;
                delete_album(&state, &user, &id).await.or_reject_html()?;
                Ok::<_, Rejection>(see_other("/albums"))
            },
        );

    let cover = warp::path!("albums" / String / "cover")
        .and(form_request::<PhotoForm>(state.clone(), FORM_LIMIT))
        .and_then(
            |id: String, viewer: Option<User>, form: PhotoForm, state: AppState| async move {
                let id = parse_album(&id)?;
                let user = require(viewer)?;
                let change = AlbumEdit {
                    cover: Some(parse_photo(&form.photo)?),
                    ..AlbumEdit::default()
                };
                edit_album(&state, &user, &id, change)
                    .await
                    .or_reject_html()?;
                Ok::<_, Rejection>(see_other(&format!("/albums/{id}")))
            },
        );

    let remove = warp::path!("albums" / String / "remove")
        .and(form_request::<PhotoForm>(state.clone(), FORM_LIMIT))
        .and_then(
            |id: String, viewer: Option<User>, form: PhotoForm, state: AppState| async move {
                let id = parse_album(&id)?;
                let user = require(viewer)?;
                let photo = parse_photo(&form.photo)?;
                remove_photo(&state, &user, &id, &photo)
                    .await
                    .or_reject_html()?;
                Ok::<_, Rejection>(see_other(&format!("/albums/{id}")))
            },
        );

    let add = warp::path!("photos" / String / "albums")
        .and(form_request::<AddForm>(state, FORM_LIMIT))
        .and_then(
            |photo: String, viewer: Option<User>, form: AddForm, state: AppState| async move {
                let photo = parse_photo(&photo)?;
                let user = require(viewer)?;
                let album = parse_album(&form.album)?;
                add_photo(&state, &user, &album, &photo)
                    .await
                    .or_reject_html()?;
                Ok::<_, Rejection>(see_other(&format!("/photos/{photo}")))
            },
        );

    list.or(create)
        .unify()
        .or(page)
        .unify()
        .or(shared)
        .unify()
        .or(edit)
        .unify()
        .or(delete)
        .unify()
        .or(cover)
        .unify()
        .or(remove)
        .unify()
        .or(add)
        .unify()
}
