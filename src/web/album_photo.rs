//! A photo opened from an album: `/albums/{id}/{photo}` and, for a visitor
//! who came through the album's share link, `/a/{token}/{photo}`. The page
//! is the photo page; its steps walk the album in its order and it leads
//! back to the album, so nobody who came from an album is dropped into the
//! whole gallery.

use std::sync::Arc;

use super::conditional::Validators;
use super::error::Answer;
use super::extract::Viewer;
use super::photo::{InAlbum, render_in};
use super::respond::Reached;
use super::state::AppState;
use super::urls::album_share_path;
use crate::domain::{AlbumId, Millis, PhotoId};
use crate::model::Album;

/// `GET /albums/{id}/{photo}`.
pub async fn by_id(
    album: AlbumId,
    photo: PhotoId,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    let version = state.app.version();
    let album = state.app.albums.get(&album, viewer.as_deref()).await?;
    let base = format!("/albums/{}", album.id);
    let page = Page {
        base,
        by_link: false,
    };
    show(&state, album, page, photo, viewer, validators, version).await
}

/// `GET /a/{token}/{photo}`.
pub async fn by_link(
    token: String,
    photo: PhotoId,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    let version = state.app.version();
    let album = state.app.albums.by_link(&token, viewer.as_deref()).await?;
    let base = album_share_path(&token);
    let page = Page {
        base,
        by_link: true,
    };
    show(&state, album, page, photo, viewer, validators, version).await
}

/// How the album was reached: its pages' prefix, and whether through
/// its share link (whose visitors are shown only what was shared).
struct Page {
    base: String,
    by_link: bool,
}

/// `photo` as the viewer sees it in `album`.
async fn show(
    state: &AppState,
    album: Album,
    page: Page,
    photo: PhotoId,
    viewer: Option<Viewer>,
    validators: Validators,
    version: Millis,
) -> Answer {
    let albums = &state.app.albums;
    let (photo, newer, older) = albums.step(&album, &photo, viewer.as_deref()).await?;
    // Someone who may not open the photo by id (an unlisted photo in a
    // public album) sees it as a share-link visitor would.
    let reached = match !page.by_link && photo.visible_to(viewer.as_deref(), false) {
        true => Reached::ById,
        false => Reached::ByLink,
    };
    let context = InAlbum {
        base: page.base,
        title: album.title,
        newer,
        older,
    };
    let photo = Arc::new(photo);
    render_in(
        state,
        photo,
        viewer,
        reached,
        Some(context),
        &validators,
        version,
    )
    .await
}
