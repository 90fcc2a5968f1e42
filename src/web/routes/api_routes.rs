//! The JSON API's routes: photos, the trash, albums and selections under
//! `/api`, and Server-Sent Events. Their failures are JSON.

use warp::Filter;

use super::super::extract::{json_body, state, user, viewer};
use super::super::multipart::form_body;
use super::super::state::AppState;
use super::super::{albums_api, api, download, events, selection_api, trash};
use super::{Route, json_route};
use crate::domain::{AlbumId, PhotoId};

/// Every `/api` route but the catch-all 404.
pub(super) fn routes(s: &AppState) -> Vec<Route> {
    let max_upload = s.app.uploads.max_bytes();
    vec![
        json_route(
            "/api/events",
            warp::path!("api" / "events")
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(state(s))
                .then(events::stream),
        ),
        json_route(
            "/api/photos",
            warp::path!("api" / "photos")
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(state(s))
                .then(api::list),
        ),
        json_route(
            "/api/photos",
            warp::path!("api" / "photos")
                .and(warp::post())
                // Credentials are checked before a byte of the body is read.
                .and(user(s))
                .and(form_body(max_upload))
                .and(state(s))
                .then(api::create),
        ),
        json_route(
            "/api/photos",
            warp::path!("api" / "photos")
                .and(warp::patch())
                .and(user(s))
                .and(json_body())
                .and(state(s))
                .then(selection_api::set_visibility),
        ),
        json_route(
            "/api/photos/download",
            warp::path!("api" / "photos" / "download")
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(state(s))
                .then(download::selection),
        ),
        json_route(
            "/api/photos/:id",
            warp::path!("api" / "photos" / PhotoId)
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(api::get),
        ),
        json_route(
            "/api/photos/:id",
            warp::path!("api" / "photos" / PhotoId)
                .and(warp::patch())
                .and(user(s))
                .and(json_body())
                .and(state(s))
                .then(api::patch),
        ),
        json_route(
            "/api/photos/:id",
            warp::path!("api" / "photos" / PhotoId)
                .and(warp::delete())
                .and(user(s))
                .and(state(s))
                .then(api::delete),
        ),
        json_route(
            "/api/trash",
            warp::path!("api" / "trash")
                .and(warp::get())
                .and(warp::query())
                .and(user(s))
                .and(state(s))
                .then(trash::list_json),
        ),
        json_route(
            "/api/trash",
            warp::path!("api" / "trash")
                .and(warp::post())
                .and(user(s))
                .and(json_body())
                .and(state(s))
                .then(selection_api::trash),
        ),
        json_route(
            "/api/trash",
            warp::path!("api" / "trash")
                .and(warp::delete())
                .and(user(s))
                .and(state(s))
                .then(trash::empty_json),
        ),
        json_route(
            "/api/trash/:id/restore",
            warp::path!("api" / "trash" / PhotoId / "restore")
                .and(warp::post())
                .and(user(s))
                .and(state(s))
                .then(trash::restore_json),
        ),
        json_route(
            "/api/trash/:id",
            warp::path!("api" / "trash" / PhotoId)
                .and(warp::delete())
                .and(user(s))
                .and(state(s))
                .then(trash::purge_json),
        ),
        json_route(
            "/api/albums",
            warp::path!("api" / "albums")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(albums_api::list),
        ),
        json_route(
            "/api/albums",
            warp::path!("api" / "albums")
                .and(warp::post())
                .and(user(s))
                .and(json_body())
                .and(state(s))
                .then(albums_api::create),
        ),
        json_route(
            "/api/albums/:id",
            warp::path!("api" / "albums" / AlbumId)
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(albums_api::get),
        ),
        json_route(
            "/api/albums/:id",
            warp::path!("api" / "albums" / AlbumId)
                .and(warp::patch())
                .and(user(s))
                .and(json_body())
                .and(state(s))
                .then(albums_api::patch),
        ),
        json_route(
            "/api/albums/:id",
            warp::path!("api" / "albums" / AlbumId)
                .and(warp::delete())
                .and(user(s))
                .and(state(s))
                .then(albums_api::delete),
        ),
        json_route(
            "/api/albums/:id/photos",
            warp::path!("api" / "albums" / AlbumId / "photos")
                .and(warp::post())
                .and(user(s))
                .and(json_body())
                .and(state(s))
                .then(selection_api::add_to_album),
        ),
        json_route(
            "/api/albums/:id/photos/:photo",
            warp::path!("api" / "albums" / AlbumId / "photos" / PhotoId)
                .and(warp::put())
                .and(user(s))
                .and(state(s))
                .then(albums_api::put_photo),
        ),
        json_route(
            "/api/albums/:id/photos/:photo",
            warp::path!("api" / "albums" / AlbumId / "photos" / PhotoId)
                .and(warp::delete())
                .and(user(s))
                .and(state(s))
                .then(albums_api::remove_photo),
        ),
    ]
}
