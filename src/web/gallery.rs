//! The gallery `/`: a grid of thumbnails, newest first, keyset-paginated with
//! `?after=<cursor>` (stable under inserts, unlike page numbers).

use serde::Deserialize;
use warp::{Filter, Rejection};

use super::api::load_page;
use super::conditional::Validators;
use super::error::Failure;
use super::pages::{GalleryPage, Tile, rendered};
use super::{AppState, page_request, serve_page};
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
        .and(warp::query::<GalleryQuery>())
        .and(page_request(state))
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
                let build = async {
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
                };
                serve_page(&state, version, &key, &validators, build).await
            },
        )
}
