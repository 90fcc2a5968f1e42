//! The photo page `/photos/{id}` (with newer/older links in the gallery's
//! order), the same page opened through a share link `/s/{token}` or from
//! an album (stepping through the album, see `album_photo`), and the
//! owner's edit and delete forms.

use std::sync::Arc;

use serde::Deserialize;

use super::conditional::{Rendered, Validators};
use super::error::{Answer, Failure};
use super::extract::{NoFields, Viewer};
use super::pages::{
    PhotoPage, Sources, Steps, alt_text, exif_panel, human_bytes, location, rendered,
};
use super::placeholder;
use super::respond::{Reached, page_key, see_other, serve_page};
use super::state::AppState;
use super::urls::share_path;
use crate::app::photos::Removal;
use crate::domain::{Millis, PhotoId, PhotoStatus, Visibility};
use crate::model::{Photo, PhotoEdit};

/// Room for a 2000-character caption even when every character is escaped.
pub const EDIT_FORM_LIMIT: u64 = 64 * 1024;

/// The owner's edit form on the photo page.
#[derive(Deserialize)]
pub struct EditForm {
    title: String,
    caption: String,
    visibility: String,
    new_link: Option<String>,
}

/// `GET /photos/{id}`.
pub async fn page(
    id: PhotoId,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    // The data's version, read before the data (see PageCache).
    let version = state.app.version();
    let photo = state.app.photos.get(&id, viewer.as_deref()).await?;
    render(&state, photo, viewer, Reached::ById, &validators, version).await
}

/// `GET /s/{token}`: a photo through its share link.
pub async fn shared(
    token: String,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    let version = state.app.version();
    let photo = state.app.photos.by_link(&token, viewer.as_deref()).await?;
    render(
        &state,
        Arc::new(photo),
        viewer,
        Reached::ByLink,
        &validators,
        version,
    )
    .await
}

/// `POST /photos/{id}/edit`.
pub async fn edit(id: PhotoId, viewer: Option<Viewer>, form: EditForm, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    let visibility: Visibility = form
        .visibility
        .parse()
        .map_err(|_| Failure::bad_request("visibility must be public, unlisted or private"))?;
    let change = PhotoEdit {
        title: Some(form.title.trim().to_owned()),
        caption: Some(form.caption.trim().to_owned()),
        visibility: Some(visibility),
        new_link: form.new_link.is_some(),
    };
    state.app.photos.edit(&user, &id, change).await?;
    Ok(see_other(&format!("/photos/{id}")))
}

/// `POST /photos/{id}/delete`: to the trash page, where the photo can be
/// restored (or home, when there is no trash).
pub async fn delete(id: PhotoId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    match state.app.photos.delete(&user, &id).await? {
        Removal::Trashed => Ok(see_other("/trash")),
        Removal::Purged => Ok(see_other("/")),
    }
}

async fn render(
    state: &AppState,
    photo: Arc<Photo>,
    viewer: Option<Viewer>,
    reached: Reached,
    validators: &Validators,
    version: Millis,
) -> Answer {
    render_in(state, photo, viewer, reached, None, validators, version).await
}

/// A photo page opened from an album: its steps walk the album, and it
/// leads back there.
pub struct InAlbum {
    /// `/albums/{id}` or `/a/{token}`: the album's page, and the prefix of
    /// its photos' pages.
    pub base: String,
    pub title: String,
    pub newer: Option<PhotoId>,
    pub older: Option<PhotoId>,
}

/// The photo page, in `album`'s context when there is one.
pub async fn render_in(
    state: &AppState,
    photo: Arc<Photo>,
    viewer: Option<Viewer>,
    reached: Reached,
    album: Option<InAlbum>,
    validators: &Validators,
    version: Millis,
) -> Answer {
    let key = page_key(version, "photo", viewer.as_ref())
        .part(photo.id.as_str())
        .part(reached.as_str())
        .part(album.as_ref().map_or("", |a| a.base.as_str()));
    let build = move || build(state, photo, viewer, reached, album, version);
    serve_page(state, key, validators, build).await
}

async fn build(
    state: &AppState,
    photo: Arc<Photo>,
    viewer: Option<Viewer>,
    reached: Reached,
    album: Option<InAlbum>,
    version: Millis,
) -> Result<Rendered, Failure> {
    let app = &state.app;
    let (albums, add_to) = match reached {
        Reached::ById => app.albums.of_photo(&photo, viewer.as_deref()).await?,
        Reached::ByLink => (Vec::new(), Vec::new()),
    };
    // Steps: through the album it was opened from, else the gallery's order
    // (not for a share-link visitor, who was shown this photo alone).
    let (steps, back) = match album {
        Some(a) => {
            let href = |id: Option<PhotoId>| id.map(|id| format!("{}/{id}", a.base));
            let steps = Steps {
                newer: href(a.newer),
                older: href(a.older),
                labels: ("← Previous", "Next →"),
            };
            (steps, Some((a.base, a.title)))
        }
        None => {
            let (newer, older) = match reached {
                Reached::ById => app.photos.neighbours(&photo, viewer.as_deref()).await?,
                Reached::ByLink => (None, None),
            };
            let href = |id: Option<PhotoId>| id.map(|id| format!("/photos/{id}"));
            let steps = Steps {
                newer: href(newer),
                older: href(older),
                labels: ("← Newer", "Older →"),
            };
            (steps, None)
        }
    };
    let link = |(id, title): (crate::domain::AlbumId, String)| (id.to_string(), title);
    let is_owner = viewer.as_deref().is_some_and(|u| u.id == photo.owner);
    let can_delete = is_owner || viewer.as_deref().is_some_and(|u| u.is_admin);
    let last_modified = photo.updated_at.max(version);
    let page = PhotoPage {
        urls: state.urls.clone(),
        id: photo.id.to_string(),
        name: match photo.name() {
            "" => "Untitled photo".to_owned(),
            name => name.to_owned(),
        },
        title: photo.title.clone(),
        caption: photo.caption.clone(),
        alt: alt_text(&photo),
        width: photo.width,
        height: photo.height,
        display: Sources::of(&photo, "display", &state.urls),
        // Share-link visitors are not told live (the event stream checks
        // visibility by id); they see the photo on their next visit.
        live: matches!(reached, Reached::ById),
        error: photo
            .error
            .clone()
            .filter(|_| photo.status == PhotoStatus::Failed),
        placeholder: photo.thumbhash.as_deref().and_then(placeholder::preview),
        facts: exif_panel(&photo.shot),
        location: photo.shot.gps.filter(|_| is_owner).map(location),
        original_url: state.urls.original(&photo),
        original_size: human_bytes(photo.byte_size),
        steps,
        back,
        is_owner,
        can_delete,
        trash_days: app.trash.days(),
        visibility: photo.visibility,
        share_url: photo
            .share_token
            .as_deref()
            .filter(|_| is_owner)
            .map(share_path),
        albums: albums.into_iter().map(link).collect(),
        add_to: add_to.into_iter().map(link).collect(),
        viewer,
    };
    Ok(rendered(&page, last_modified)?)
}
