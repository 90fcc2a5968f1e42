//! The photo page `/photos/{id}` (with newer/older links in the gallery's
//! order), the same page opened through a share link `/s/{token}`, and the
//! owner's edit and delete forms.

use std::sync::Arc;

use serde::Deserialize;
use warp::{Filter, Rejection};

use super::albums::photo_albums;
use super::api::{delete_photo, edit_photo, load_visible_photo, share_path};
use super::conditional::{Rendered, Validators};
use super::error::Failure;
use super::pages::{PhotoPage, Sources, alt_text, exif_panel, human_bytes, location, rendered};
use super::placeholder;
use super::session::viewer;
use super::{
    AppState, OrReject, Reached, by_share_link, form_request, page_request, see_other, serve_page,
    with_state,
};
use crate::db::{Photo, PhotoEdit, User};
use crate::domain::{Millis, PhotoId, PhotoStatus, Visibility};
use crate::store::BlobKey;

/// Room for a 2000-character caption even when every character is escaped.
const EDIT_FORM_LIMIT: u64 = 64 * 1024;

fn parse_id(s: &str) -> Result<PhotoId, Rejection> {
    s.parse()
        .map_err(|_| Failure::not_found("photo").html().reject())
}

async fn render(
    state: &AppState,
    photo: Arc<Photo>,
    viewer: Option<User>,
    reached: Reached,
    validators: &Validators,
    version: Millis,
) -> Result<warp::reply::Response, Rejection> {
    let key = format!(
        "photo {} {} {}",
        viewer.as_ref().map_or("", |u| u.id.as_str()),
        photo.id,
        reached.as_str()
    );
    let build = build(state, photo, viewer, reached, version);
    serve_page(state, version, &key, validators, build).await
}

async fn build(
    state: &AppState,
    photo: Arc<Photo>,
    viewer: Option<User>,
    reached: Reached,
    version: Millis,
) -> Result<Rendered, Failure> {
    let (newer, older) = match reached {
        Reached::ById => {
            state
                .db
                .neighbours(&photo.id, viewer.as_ref().map(|u| &u.id))
                .await?
        }
        Reached::ByLink => (None, None),
    };
    let is_owner = viewer.as_ref().is_some_and(|u| u.id == photo.owner);
    let (albums, add_to) = match reached {
        Reached::ById => photo_albums(state, &photo, viewer.as_ref()).await?,
        Reached::ByLink => (Vec::new(), Vec::new()),
    };
    let can_delete = is_owner || viewer.as_ref().is_some_and(|u| u.is_admin);
    let last_modified = photo.updated_at.max(version);
    let page = PhotoPage {
        urls: state.urls.clone(),
        id: photo.id.to_string(),
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
        placeholder: photo.thumbhash.as_deref().and_then(placeholder::data_url),
        facts: exif_panel(&photo.shot),
        location: photo.shot.gps.filter(|_| is_owner).map(location),
        original_url: state
            .urls
            .media(BlobKey::original(&photo.hash, photo.format).as_str()),
        original_size: human_bytes(photo.byte_size),
        newer: newer.map(|id| id.to_string()),
        older: older.map(|id| id.to_string()),
        is_owner,
        can_delete,
        visibility: photo.visibility,
        share_url: photo
            .share_token
            .as_deref()
            .filter(|_| is_owner)
            .map(share_path),
        albums,
        add_to,
        viewer,
    };
    Ok(rendered(&page, last_modified)?)
}

/// The owner's edit form on the photo page.
#[derive(Deserialize)]
struct EditForm {
    title: String,
    caption: String,
    visibility: String,
    new_link: Option<String>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let page = warp::path!("photos" / String)
        .and(page_request(state.clone()))
        .and_then(
            |id: String, viewer: Option<User>, validators: Validators, state: AppState| async move {
                let id = parse_id(&id)?;
                // The data's version, read before the data (see PageCache).
                let version = state.caches.changed_at();
                let photo = load_visible_photo(&state, &id, viewer.as_ref())
                    .await
                    .or_reject_html()?;
                render(&state, photo, viewer, Reached::ById, &validators, version).await
            },
        );

    let shared = warp::path!("s" / String)
        .and(page_request(state.clone()))
        .and_then(
            |token: String, viewer: Option<User>, validators: Validators, state: AppState| async move {
                let version = state.caches.changed_at();
                let find = state.db.photo_by_share_token(&token);
                let photo = by_share_link(&token, "shared photo", find, |p: &Photo| {
                    p.visible_to(viewer.as_ref(), true)
                })
                .await?;
                render(&state, Arc::new(photo), viewer, Reached::ByLink, &validators, version).await
            },
        );

    let edit = warp::path!("photos" / String / "edit")
        .and(form_request::<EditForm>(state.clone(), EDIT_FORM_LIMIT))
        .and_then(
            |id: String, viewer: Option<User>, form: EditForm, state: AppState| async move {
                let id = parse_id(&id)?;
                let user = viewer.ok_or_else(|| Failure::unauthorized().html().reject())?;
                let visibility: Visibility = form.visibility.parse().map_err(|_| {
                    Failure::bad_request("visibility must be public, unlisted or private")
                        .html()
                        .reject()
                })?;
                let change = PhotoEdit {
                    title: Some(form.title.trim().to_owned()),
                    caption: Some(form.caption.trim().to_owned()),
                    visibility: Some(visibility),
                    new_link: form.new_link.is_some(),
                };
                edit_photo(&state, &user, &id, change)
                    .await
                    .or_reject_html()?;
                let back = format!("/photos/{id}");
                Ok::<_, Rejection>(see_other(&back))
            },
        );

    let delete = warp::path!("photos" / String / "delete")
        .and(warp::post())
        .and(viewer(state.clone()))
        .and(with_state(state))
        .and_then(
            |id: String, viewer: Option<User>, state: AppState| async move {
                let id = parse_id(&id)?;
                let user = viewer.ok_or_else(|| Failure::unauthorized().html().reject())?;
                delete_photo(&state, &user, &id).await.or_reject_html()?;
                Ok::<_, Rejection>(see_other("/"))
            },
        );

    page.or(shared).unify().or(edit).unify().or(delete).unify()
}
