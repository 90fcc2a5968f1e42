//! Album pages: `/albums` (the list and a "new album" form), `/albums/{id}`,
//! `/a/{token}` (an album's share link) and the owner's forms, which post
//! back and redirect (so they work without JavaScript). The rules are
//! `app::albums`'.

use serde::Deserialize;

use super::conditional::{Rendered, Validators};
use super::error::{Answer, Failure};
use super::extract::{NoFields, Viewer};
use super::pages::{AlbumCardView, AlbumPage, AlbumsPage, Sources, Tile, alt_text, rendered};
use super::placeholder;
use super::respond::{Reached, page_key, see_other, serve_page};
use super::state::AppState;
use super::timeline::{SortQuery, by_month, sort_links};
use super::urls::album_share_path;
use crate::app::albums::Albums;
use crate::domain::{AlbumId, Millis, PhotoId, Visibility};
use crate::model::{Album, AlbumEdit, sort_photos};
use crate::timeline::PhotoOrder;

/// Room for a 2000-character description even when every character is escaped.
pub const FORM_LIMIT: u64 = 64 * 1024;

/// The "new album" and "edit album" forms.
#[derive(Deserialize)]
pub struct AlbumForm {
    title: String,
    #[serde(default)]
    description: String,
    visibility: String,
    new_link: Option<String>,
}

/// The album owner's per-photo buttons (cover, remove).
#[derive(Deserialize)]
pub struct PhotoForm {
    photo: String,
}

/// The photo page's "add to album" form.
#[derive(Deserialize)]
pub struct AddForm {
    album: String,
}

fn require(viewer: Option<Viewer>) -> Result<Viewer, Failure> {
    viewer.ok_or_else(Failure::unauthorized)
}

fn parse_visibility(s: &str) -> Result<Visibility, Failure> {
    s.parse()
        .map_err(|_| Failure::bad_request("visibility must be public, unlisted or private"))
}

/// A photo id typed into a form (not a path): a malformed one is the
/// form's fault.
fn form_photo(s: &str) -> Result<PhotoId, Failure> {
    s.parse()
        .map_err(|_| Failure::bad_request("malformed photo id"))
}

/// `GET /albums`.
pub async fn list(viewer: Option<Viewer>, validators: Validators, state: AppState) -> Answer {
    let version = state.app.version();
    let key = page_key(version, "albums", viewer.as_ref());
    let build = || build_list(&state, viewer, version);
    serve_page(&state, key, &validators, build).await
}

/// `POST /albums`: a new album.
pub async fn create(viewer: Option<Viewer>, form: AlbumForm, state: AppState) -> Answer {
    let user = require(viewer)?;
    let visibility = parse_visibility(&form.visibility)?;
    let album = state
        .app
        .albums
        .create(&user, &form.title, &form.description, visibility)
        .await?;
    Ok(see_other(&format!("/albums/{}", album.id)))
}

/// `GET /albums/{id}`.
pub async fn page(
    id: AlbumId,
    q: SortQuery,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    let order = q.order()?;
    let version = state.app.version();
    let album = state.app.albums.get(&id, viewer.as_deref()).await?;
    let shown = Shown {
        reached: Reached::ById,
        order,
    };
    render_album(&state, album, viewer, shown, &validators, version).await
}

/// `GET /a/{token}`: an album through its share link.
pub async fn shared(
    token: String,
    q: SortQuery,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    let order = q.order()?;
    let version = state.app.version();
    let album = state.app.albums.by_link(&token, viewer.as_deref()).await?;
    let shown = Shown {
        reached: Reached::ByLink,
        order,
    };
    render_album(&state, album, viewer, shown, &validators, version).await
}

/// How an album page was asked for: by the path the visitor came by, in
/// the order they chose.
struct Shown {
    reached: Reached,
    order: PhotoOrder,
}

/// `POST /albums/{id}/edit`.
pub async fn edit(id: AlbumId, viewer: Option<Viewer>, form: AlbumForm, state: AppState) -> Answer {
    let user = require(viewer)?;
    let change = AlbumEdit {
        title: Some(form.title),
        description: Some(form.description),
        visibility: Some(parse_visibility(&form.visibility)?),
        new_link: form.new_link.is_some(),
        cover: None,
    };
    state.app.albums.edit(&user, &id, change).await?;
    Ok(see_other(&format!("/albums/{id}")))
}

/// `POST /albums/{id}/delete`.
pub async fn delete(id: AlbumId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = require(viewer)?;
    state.app.albums.delete(&user, &id).await?;
    Ok(see_other("/albums"))
}

/// `POST /albums/{id}/cover`.
pub async fn cover(
    id: AlbumId,
    viewer: Option<Viewer>,
    form: PhotoForm,
    state: AppState,
) -> Answer {
    let user = require(viewer)?;
    let change = AlbumEdit {
        cover: Some(form_photo(&form.photo)?),
        ..AlbumEdit::default()
    };
    state.app.albums.edit(&user, &id, change).await?;
    Ok(see_other(&format!("/albums/{id}")))
}

/// `POST /albums/{id}/remove`.
pub async fn remove(
    id: AlbumId,
    viewer: Option<Viewer>,
    form: PhotoForm,
    state: AppState,
) -> Answer {
    let user = require(viewer)?;
    let photo = form_photo(&form.photo)?;
    state.app.albums.remove_photo(&user, &id, &photo).await?;
    Ok(see_other(&format!("/albums/{id}")))
}

/// `POST /photos/{id}/albums`: the photo page's "add to album".
pub async fn add(photo: PhotoId, viewer: Option<Viewer>, form: AddForm, state: AppState) -> Answer {
    let user = require(viewer)?;
    let album: AlbumId = form
        .album
        .parse()
        .map_err(|_| Failure::not_found("album"))?;
    state.app.albums.add_photo(&user, &album, &photo).await?;
    Ok(see_other(&format!("/photos/{photo}")))
}

async fn render_album(
    state: &AppState,
    album: Album,
    viewer: Option<Viewer>,
    shown: Shown,
    validators: &Validators,
    version: Millis,
) -> Answer {
    let key = page_key(version, "album", viewer.as_ref())
        .part(album.id.as_str())
        .part(shown.reached.as_str())
        .part(shown.order.as_str());
    let build = move || {
        // Where the album's photo pages and its ZIP are: under the path
        // the visitor came by.
        let base = match (shown.reached, album.share_token.as_deref()) {
            (Reached::ByLink, Some(token)) => album_share_path(token),
            _ => format!("/albums/{}", album.id),
        };
        build_album(state, album, viewer, base, shown.order, version)
    };
    serve_page(state, key, validators, build).await
}

async fn build_album(
    state: &AppState,
    album: Album,
    viewer: Option<Viewer>,
    base: String,
    order: PhotoOrder,
    version: Millis,
) -> Result<Rendered, Failure> {
    let added = state.app.albums.photos(&album, viewer.as_deref()).await?;
    let is_owner = viewer.as_deref().is_some_and(|u| u.id == album.owner);
    let cover = Albums::cover_among(&album, &added).cloned();
    let cover_id = cover.as_ref().map(|p| p.id.clone());
    let mut photos = added;
    sort_photos(&mut photos, order);
    let months = by_month(&photos, |p| {
        let mut tile = Tile::of(p, viewer.as_deref(), &state.urls);
        tile.href = format!("{base}/{}", p.id);
        tile.live = p.visible_to(viewer.as_deref(), false);
        if is_owner {
            tile.album = Some((album.id.to_string(), cover_id.as_ref() == Some(&p.id)));
        }
        tile
    });
    let last_modified = photos
        .iter()
        .map(|p| p.updated_at)
        .fold(album.updated_at.max(version), i64::max);
    let page = AlbumPage {
        urls: state.urls.clone(),
        id: album.id.to_string(),
        title: album.title,
        description: album.description,
        cover: cover
            .as_ref()
            .and_then(|p| Sources::of(p, "display", &state.urls)),
        cover_alt: cover.as_ref().map(alt_text).unwrap_or_default(),
        months,
        photo_count: photos.len(),
        sorts: sort_links(&base, order),
        is_owner,
        can_delete: is_owner || viewer.as_deref().is_some_and(|u| u.is_admin),
        visibility: album.visibility,
        share_url: album
            .share_token
            .as_deref()
            .filter(|_| is_owner)
            .map(album_share_path),
        download: format!("{base}/download"),
        viewer,
    };
    Ok(rendered(&page, last_modified)?)
}

async fn build_list(
    state: &AppState,
    viewer: Option<Viewer>,
    version: Millis,
) -> Result<Rendered, Failure> {
    let albums = &state.app.albums;
    let cards = albums.list(viewer.as_deref()).await?;
    let mut views = Vec::with_capacity(cards.len());
    let mut last_modified = version;
    for card in cards {
        let cover = albums.cover(&card).await?;
        let is_owner = viewer.as_deref().is_some_and(|u| u.id == card.album.owner);
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
                .and_then(placeholder::preview),
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
