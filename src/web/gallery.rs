//! The gallery `/`: a grid of thumbnails, newest first, keyset-paginated with
//! `?after=<cursor>` (stable under inserts, unlike page numbers).

use serde::Deserialize;
use warp::{Filter, Rejection};

use super::api::load_page;
use super::conditional::{Validators, validators};
use super::error::Failure;
use super::pages::{GalleryPage, Tile, rendered};
use super::session::viewer;
use super::{AppState, with_state};
use crate::db::{Cursor, User};

/// Photos per gallery page.
pub const PAGE_SIZE: u32 = 48;

#[derive(Deserialize)]
struct GalleryQuery {
    after: Option<String>,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path::end()
        .and(warp::get())
        .and(warp::query::<GalleryQuery>())
        .and(viewer(state.clone()))
        .and(validators())
        .and(with_state(state))
        .and_then(
            |q: GalleryQuery, viewer: Option<User>, validators: Validators, state: AppState| async move {
                let cursor = match q.after.as_deref().filter(|s| !s.is_empty()) {
                    Some(s) => Some(Cursor::decode(s).ok_or_else(|| {
                        Failure::bad_request("malformed page cursor")
                            .html()
                            .reject()
                    })?),
                    None => None,
                };
                let version = state.caches.changed_at();
                let key = format!(
                    "gallery {} {}",
                    viewer.as_ref().map_or("", |u| u.id.as_str()),
                    cursor.as_ref().map(Cursor::encode).unwrap_or_default()
                );
                let page = state
                    .pages
                    .get_or_render(version, &key, async {
                        let (photos, next) =
                            load_page(&state, PAGE_SIZE, cursor.as_ref(), viewer.as_ref()).await?;
                        let last_modified =
                            photos.iter().map(|p| p.updated_at).fold(version, i64::max);
                        let page = GalleryPage {
                            viewer: viewer.clone(),
                            urls: state.urls.clone(),
                            tiles: photos.iter().map(|p| Tile::of(p, &state.urls)).collect(),
                            first_page: cursor.is_none(),
                            next_cursor: next.map(|c| c.encode()),
                        };
                        Ok(rendered(&page, last_modified)?)
                    })
                    .await
                    .map_err(|f| f.html().reject())?;
                Ok::<_, Rejection>(page.respond(&validators, state.compress_min_bytes))
            },
        )
}
