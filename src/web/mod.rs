//! The HTTP layer (nginx + uWSGI + the Python app of the classic stack):
//! it only translates. A request is parsed into domain values, a service of
//! [`crate::app`] is called, and its answer is shown as a page or JSON;
//! errors map to statuses in one place.
//!
//! - [`front`]: logged-out visitors' pages answered by their URL before
//!   the table, while the data they were built from is current, and
//!   media bytes, plain requests' answers kept whole.
//! - [`server`]: accepting connections and serving the table on them,
//!   the front's kept answers first in the [`express`] lane without
//!   hyper, bounded ([`connections`]: which are busy, which to close,
//!   closing without resetting a client still sending), with
//!   cross-site requests refused first ([`cross_site`]) and file-backed
//!   bytes sent by `sendfile` ([`zero_copy`]), each connection on one of
//!   a few threads with a runtime of their own ([`shards`]).
//! - [`routes`]: every route in one table (method, path, extractors,
//!   handler, metric label).
//! - Handlers, one file per feature: [`gallery`], [`photo`] (and
//!   [`album_photo`], a photo opened from an album), [`albums`],
//!   [`trash`] (page and API), [`download`] (ZIP archives), [`upload`],
//!   [`session`] (login, logout, setup), [`password`] (set-password
//!   links), [`admin`] (with API tokens), [`people`] (managing users),
//!   [`api`], [`albums_api`] and [`selection_api`] (JSON), [`events`] (Server-Sent
//!   Events), [`media`] (image bytes), [`assets`] (embedded CSS/JS/icons),
//!   [`health`].
//! - Shared by the handlers, never importing them: [`state`] (what handlers
//!   share), [`extract`] (viewer, bodies, signed forms), [`respond`]
//!   (redirects, cached pages), [`json`] (the API's shapes), [`multipart`]
//!   (receiving uploads), [`pages`] (templates), [`charts`] (the admin
//!   page's SVG), [`conditional`] (ETag/304), [`page_cache`] (rendered
//!   pages and their keys),
//!   [`negotiate`] (Accept, Accept-Encoding, compression), [`urls`] (media
//!   and asset bases, the CSP), [`placeholder`] (ThumbHash previews) and
//!   [`error`] (the one mapping from failures to responses), [`client`]
//!   (the client's address, through trusted proxies), [`timeline`] (month
//!   headings, sorting and the justified rows' sizes).
//!
//! Arrows point one way: `server` → `front` → `routes` → handlers → shared modules → `app`,
//! `model`, `domain`. `express` is one of the shared modules: the server
//! runs it, the front and media make its answers. Nothing here touches
//! the database or the store.

pub mod admin;
pub mod album_photo;
pub mod albums;
pub mod albums_api;
pub mod api;
pub mod assets;
pub mod charts;
pub mod client;
pub mod conditional;
pub mod connections;
pub mod cross_site;
pub mod download;
pub mod error;
pub mod events;
pub mod express;
pub mod extract;
pub mod front;
pub mod gallery;
pub mod health;
pub mod json;
pub mod media;
pub mod multipart;
pub mod negotiate;
pub mod page_cache;
pub mod pages;
pub mod password;
pub mod people;
pub mod photo;
pub mod placeholder;
pub mod respond;
pub mod routes;
pub mod selection_api;
pub mod server;
pub mod session;
pub mod shards;
pub mod state;
pub mod timeline;
pub mod trash;
pub mod upload;
pub mod urls;
pub mod zero_copy;

use std::convert::Infallible;
use std::time::Instant;

use warp::filters::BoxedFilter;
use warp::{Filter, Reply};

pub use state::{AppState, Shared};

/// The whole site as a service: each group of routes (see
/// [`routes::Site`]) with its failures rendered, each request counted
/// under its route's label, and the security headers; logged-out
/// visitors' pages and plain media requests answered before them by
/// [`front`], within `budget`'s page and media budgets.
pub fn service(
    state: &AppState,
    budget: &crate::config::CacheConfig,
) -> front::Front<impl server::Routes> {
    let served = |table| warp::service(layered(state.clone(), table));
    let groups = routes::groups(state)
        .into_iter()
        .map(|(segment, table)| (segment, served(table)));
    let site = routes::Site::new(groups, served(routes::nowhere()));
    front::Front::new(state, site, budget)
}

/// `table` with its failures rendered, its requests counted and the
/// security headers added.
fn layered(
    state: AppState,
    table: BoxedFilter<(routes::Labelled,)>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let metrics = state.metrics.clone();
    let csp = state.urls.content_security_policy();
    warp::any()
        .map(Instant::now)
        .and(warp::cookie::optional::<String>(extract::COOKIE))
        .and(
            table
                .recover(|rejection| async move {
                    let resp = error::recover(rejection).await?;
                    Ok::<_, Infallible>(routes::Labelled("other", resp))
                })
                .unify(),
        )
        .then(
            move |started: Instant, cookie: Option<String>, routes::Labelled(route, resp)| {
                let state = state.clone();
                async move {
                    let resp = error::for_viewer(resp, cookie, &state).await;
                    (started, routes::Labelled(route, resp))
                }
            },
        )
        .untuple_one()
        .map(move |started: Instant, routes::Labelled(route, mut resp)| {
            if let Some(page) = resp.extensions_mut().get_mut::<page_cache::Anonymous>() {
                page.route = route;
            }
            let status = resp.status();
            metrics
                .http_requests
                .with_label_values(&[route, status.as_str()])
                .inc();
            metrics
                .http_duration
                .with_label_values(&[route])
                .observe(started.elapsed().as_secs_f64());
            tracing::debug!(route, status = status.as_u16(), "request");
            let mut resp = resp;
            respond::security_headers(resp.headers_mut(), &csp);
            resp
        })
}
