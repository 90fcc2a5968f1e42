//! The gallery `/`: the timeline (see [`super::timeline`]) by date taken,
//! newest first or `?sort=oldest`, keyset-paginated with `?after=<cursor>`
//! (stable under inserts, unlike page numbers).

use serde::Deserialize;

use super::conditional::Validators;
use super::error::{Answer, Failure};
use super::extract::Viewer;
use super::pages::{GalleryPage, Tile, rendered};
use super::respond::{page_key, serve_page};
use super::state::AppState;
use super::timeline::{by_month, order_param, page_href, sort_links};
use crate::model::Cursor;
use crate::timeline::PhotoOrder;

/// Photos per gallery page.
pub const PAGE_SIZE: u32 = 48;

#[derive(Deserialize)]
pub struct GalleryQuery {
    after: Option<String>,
    sort: Option<String>,
}

pub async fn page(
    q: GalleryQuery,
    viewer: Option<Viewer>,
    validators: Validators,
    state: AppState,
) -> Answer {
    let cursor = match q.after.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            Some(Cursor::decode(s).ok_or_else(|| Failure::bad_request("malformed page cursor"))?)
        }
        None => None,
    };
    let order = order_param(q.sort.as_deref())?;
    // The data's version, read before the data (see PageCache).
    let version = state.app.version();
    // An empty site tells a visitor whether to log in or to set it up:
    // two pages, until it is set up.
    let set_up = viewer.is_some() || state.app.accounts.is_set_up().await?;
    let key = page_key(version, "gallery", viewer.as_ref())
        .part(order.as_str())
        .cursor(cursor.as_ref())
        .part(if set_up { "1" } else { "0" });
    // Setting the site up moves no data version.
    let key = if set_up {
        key
    } else {
        key.changes_unversioned()
    };
    let build = || async {
        let (photos, next) = state
            .app
            .photos
            .page(PAGE_SIZE, cursor.as_ref(), viewer.as_deref(), order)
            .await?;
        let last_modified = photos.iter().map(|p| p.updated_at).fold(version, i64::max);
        let page = GalleryPage {
            set_up,
            viewer: viewer.clone(),
            urls: state.urls.clone(),
            months: by_month(&photos, |p| Tile::of(p, viewer.as_deref(), &state.urls)),
            sorts: sort_links("/", order),
            oldest_first: order == PhotoOrder::Oldest,
            first: page_href("/", order, None),
            first_page: cursor.is_none(),
            next: next.map(|c| page_href("/", order, Some(&c))),
        };
        Ok(rendered(&page, last_modified)?)
    };
    serve_page(&state, key, &validators, build).await
}
