//! The photo page `/photos/{id}` and its owner's delete button.

use warp::{Filter, Rejection, Reply};

use super::api::{delete_photo, load_photo};
use super::conditional::{Validators, validators};
use super::error::Failure;
use super::pages::{
    PhotoPage, Sources, alt_text, exif_panel, html_conditional, human_bytes, location,
};
use super::placeholder;
use super::session::viewer;
use super::{AppState, OrReject, with_state};
use crate::db::User;
use crate::domain::{PhotoId, PhotoStatus};
use crate::store::BlobKey;

fn parse_id(s: &str) -> Result<PhotoId, Rejection> {
    s.parse()
        .map_err(|_| Failure::not_found("photo").html().reject())
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let page = warp::path!("photos" / String)
        .and(warp::get())
        .and(viewer(state.clone()))
        .and(validators())
        .and(with_state(state.clone()))
        .and_then(
            |id: String, viewer: Option<User>, validators: Validators, state: AppState| async move {
                let id = parse_id(&id)?;
                let photo = load_photo(&state, &id)
                    .await
                    .or_reject_html()?
                    .ok_or_else(|| Failure::not_found("photo").html().reject())?;
                let display = Sources::of(&photo, "display", &state.urls);
                let is_owner = viewer.as_ref().is_some_and(|u| u.id == photo.owner);
                let can_delete = is_owner || viewer.as_ref().is_some_and(|u| u.is_admin);
                let last_modified = photo.updated_at.max(state.caches.changed_at());
                let page = PhotoPage {
                    viewer,
                    urls: state.urls.clone(),
                    id: photo.id.to_string(),
                    title: photo.title.clone(),
                    caption: photo.caption.clone(),
                    alt: alt_text(&photo),
                    width: photo.width,
                    height: photo.height,
                    display,
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
                    can_delete,
                };
                html_conditional(&page, &validators, last_modified, state.compress_min_bytes)
                    .or_reject_html()
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
                Ok::<_, Rejection>(
                    warp::redirect::see_other(warp::http::Uri::from_static("/")).into_response(),
                )
            },
        );

    page.or(delete).unify()
}
