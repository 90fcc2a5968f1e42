//! The HTTP layer (nginx + uWSGI + the Python app of the classic stack):
//! warp filters, one file per feature.
//!
//! - [`pages`]: askama template structs shared by the HTML handlers.
//! - [`session`]: who is asking (cookie or bearer token), login, logout, setup.
//! - [`gallery`], [`photo`], [`upload`]: the HTML pages.
//! - [`admin`]: the operator's page of charts and failures.
//! - [`albums`]: albums, their pages and the rules for changing them.
//! - [`api`]: the JSON API under `/api` ([`albums_api`]: its album part).
//! - [`media`]: image bytes with HTTP caching semantics.
//! - [`events`]: Server-Sent Events telling pages when renders finish.
//! - [`conditional`]: ETag / Last-Modified and 304s for pages.
//! - [`negotiate`]: `Accept` / `Accept-Encoding`, and on-the-fly page compression.
//! - [`urls`]: where pages point media and assets (Scoot or a CDN), and the CSP.
//! - [`assets`]: embedded, fingerprinted CSS/JS/icons.
//! - [`placeholder`]: ThumbHash previews inlined while images load.
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`error`]: the one mapping from errors to responses.
//!
//! Arrows point one way: `web` uses `db`, `store`, `cache`, `ingest` and the
//! render queue's handle; nothing below it knows about HTTP.

pub mod admin;
pub mod albums;
pub mod albums_api;
pub mod api;
pub mod assets;
pub mod conditional;
pub mod error;
pub mod events;
pub mod gallery;
pub mod health;
pub mod media;
pub mod negotiate;
pub mod pages;
pub mod photo;
pub mod placeholder;
pub mod session;
pub mod upload;
pub mod urls;

use std::convert::Infallible;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use warp::filters::BoxedFilter;
use warp::http::{HeaderName, HeaderValue, header};
use warp::{Filter, Rejection, Reply};

use crate::cache::Caches;
use crate::config::AuthConfig;
use crate::db::{Repo, User};
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::render::RenderEvent;
use crate::store::Store;

/// Everything handlers share, behind one `Arc`: warp filters clone the
/// state for every request they see, and cloning a struct of a dozen `Arc`s
/// (moka caches hold several each) was the largest cost of serving media.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub db: Arc<dyn Repo>,
    pub store: Store,
    pub caches: Caches,
    pub metrics: Metrics,
    pub ingest: Ingest,
    pub auth: AuthConfig,
    /// Where password hashes run, a few at a time.
    pub hasher: crate::auth::Hasher,
    /// Where pages point media and assets.
    pub urls: urls::Urls,
    /// Pages this long or longer are compressed on the fly (0 = never).
    pub compress_min_bytes: usize,
    /// Rendered gallery and photo pages.
    pub pages: conditional::PageCache,
    /// The one-time first-run setup token, while there are no users.
    pub setup_token: Arc<Mutex<Option<String>>>,
    /// Set when a shutdown has begun; `/readyz` then answers 503.
    pub draining: Arc<AtomicBool>,
    /// Turns `true` when the listener closes; long-lived streams end then.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The last hour of operator figures, for the admin page.
    pub history: crate::history::History,
    /// Photos reaching `ready` or `failed` (subscribe per listener).
    pub render_events: tokio::sync::broadcast::Sender<RenderEvent>,
}

/// Hands a clone of the state to a handler.
pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The whole site.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let metrics = state.metrics.clone();
    let csp = state.urls.content_security_policy();
    health::routes(state.clone())
        .or(media::route(state.clone()))
        .unify()
        .or(media::negotiated(state.clone()))
        .unify()
        .or(assets::route())
        .unify()
        .or(api_routes(state.clone()))
        .unify()
        .or(page_routes(state))
        .unify()
        .recover(error::recover)
        .unify()
        .map(move |resp| security_headers(resp, &csp))
        .with(warp::log::custom(move |info| {
            let route = route_label(info.path());
            let status = info.status().as_str().to_owned();
            metrics
                .http_requests
                .with_label_values(&[route, status.as_str()])
                .inc();
            metrics
                .http_duration
                .with_label_values(&[route])
                .observe(info.elapsed().as_secs_f64());
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(), "request");
        }))
}

/// Everything under `/api` (boxed: warp's nested types otherwise outgrow
/// the compiler's recursion limit).
fn api_routes(state: AppState) -> BoxedFilter<(warp::reply::Response,)> {
    let api_not_found = warp::path("api").and_then(|| async {
        Err::<warp::reply::Response, _>(warp::reject::custom(error::ApiNotFound))
    });
    events::route(state.clone())
        .or(api::routes(state.clone()))
        .unify()
        .or(albums_api::routes(state))
        .unify()
        .or(api_not_found)
        .unify()
        .boxed()
}

/// The HTML pages and their forms.
fn page_routes(state: AppState) -> BoxedFilter<(warp::reply::Response,)> {
    gallery::routes(state.clone())
        .or(photo::routes(state.clone()))
        .unify()
        .or(albums::routes(state.clone()))
        .unify()
        .or(admin::routes(state.clone()))
        .unify()
        .or(upload::routes(state.clone()))
        .unify()
        .or(session::routes(state))
        .unify()
        .boxed()
}

/// Headers every response carries; `csp` comes from [`urls::Urls`].
fn security_headers(mut resp: warp::reply::Response, csp: &HeaderValue) -> warp::reply::Response {
    let h = resp.headers_mut();
    let set = |h: &mut warp::http::HeaderMap, name, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert_with(|| csp.clone());
    resp
}

/// A low-cardinality label for a request path, for metrics.
pub fn route_label(path: &str) -> &'static str {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("media"), Some("originals"), _) => "/media/originals",
        (Some("media"), Some("variants"), _) => "/media/variants",
        (Some("media"), _, _) => "/media/other",
        (Some("assets"), _, _) => "/assets",
        (Some("photos"), Some(_), None) => "/photos/:id",
        (Some("photos"), Some(_), Some(_)) => "/photos/:id/action",
        (Some("albums"), Some(_), None) => "/albums/:id",
        (Some("albums"), Some(_), Some(_)) => "/albums/:id/action",
        (Some("a"), Some(_), None) => "/a/:token",
        (Some("s"), Some(_), None) => "/s/:token",
        (Some("api"), Some("events"), None) => "/api/events",
        (Some("api"), Some("albums"), None) => "/api/albums",
        (Some("api"), Some("albums"), Some(_)) => "/api/albums/:id",
        (Some("api"), Some("photos"), None) => "/api/photos",
        (Some("api"), Some("photos"), Some(_)) => "/api/photos/:id",
        (Some("api"), _, _) => "/api/other",
        (Some(page), None, None) => match page {
            "" => "/",
            "upload" => "/upload",
            "albums" => "/albums",
            "admin" => "/admin",
            "login" => "/login",
            "logout" => "/logout",
            "setup" => "/setup",
            "healthz" => "/healthz",
            "readyz" => "/readyz",
            "metrics" => "/metrics",
            _ => "other",
        },
        _ => "other",
    }
}

/// What an HTML page's GET handler receives: who asks, their validators
/// (for a 304) and the state.
pub fn page_request(
    state: AppState,
) -> impl Filter<Extract = (Option<User>, conditional::Validators, AppState), Error = Rejection> + Clone
{
    warp::get()
        .and(session::viewer(state.clone()))
        .and(conditional::validators())
        .and(with_state(state))
}

/// What an HTML form's POST handler receives: who asks, the form (at most
/// `limit` bytes, urlencoded) and the state.
pub fn form_request<T: serde::de::DeserializeOwned + Send + 'static>(
    state: AppState,
    limit: u64,
) -> impl Filter<Extract = (Option<User>, T, AppState), Error = Rejection> + Clone {
    warp::post()
        .and(session::viewer(state.clone()))
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::form::<T>())
        .and(with_state(state))
}

/// How a page was reached: by its id, or through a share link (which shows
/// just the thing shared, and is cached apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    ById,
    ByLink,
}

impl Reached {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ById => "id",
            Self::ByLink => "link",
        }
    }
}

/// What a share link names (a photo or an album), if `token` is
/// well-formed, `find` turns it up and `visible` lets the visitor see it;
/// every other case is the same "not found", so links reveal nothing.
pub async fn by_share_link<T>(
    token: &str,
    what: &str,
    find: impl std::future::Future<Output = crate::db::DbResult<Option<T>>>,
    visible: impl FnOnce(&T) -> bool,
) -> Result<T, Rejection> {
    let not_found = || error::Failure::not_found(what).html().reject();
    if !crate::domain::is_share_token(token) {
        return Err(not_found());
    }
    find.await
        .or_reject_html()?
        .filter(visible)
        .ok_or_else(not_found)
}

/// Answers with the page cached under `key` at data `version`, building it
/// with `build` first if needed (see [`conditional::PageCache`]).
pub async fn serve_page(
    state: &AppState,
    version: crate::domain::Millis,
    key: &str,
    validators: &conditional::Validators,
    build: impl std::future::Future<Output = Result<conditional::Rendered, error::Failure>>,
) -> Result<warp::reply::Response, Rejection> {
    let page = state
        .pages
        .get_or_render(version, key, build)
        .await
        .map_err(|f| f.html().reject())?;
    Ok(page.respond(validators, state.compress_min_bytes))
}

/// A 303 to a local path (after a form post); `/` if the path is not a URI.
pub fn see_other(path: &str) -> warp::reply::Response {
    let uri = path
        .parse()
        .unwrap_or_else(|_| warp::http::Uri::from_static("/"));
    warp::redirect::see_other(uri).into_response()
}

/// Helper for handlers: `Result<T, E: Into<Failure>>` → `Result<T, Rejection>`.
pub trait OrReject<T> {
    fn or_reject(self) -> Result<T, Rejection>;
    fn or_reject_html(self) -> Result<T, Rejection>;
}

impl<T, E: Into<error::Failure>> OrReject<T> for Result<T, E> {
    fn or_reject(self) -> Result<T, Rejection> {
        self.map_err(|e| e.into().reject())
    }

    fn or_reject_html(self) -> Result<T, Rejection> {
        self.map_err(|e| e.into().html().reject())
    }
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn route_labels_are_few() {
        assert_eq!(route_label("/"), "/");
        assert_eq!(route_label("/photos/0123456789abcdef"), "/photos/:id");
        assert_eq!(route_label("/api/photos"), "/api/photos");
        assert_eq!(
            route_label("/api/photos/0123456789abcdef"),
            "/api/photos/:id"
        );
        assert_eq!(route_label("/media/variants/ab/x/y.jpg"), "/media/variants");
        assert_eq!(route_label("/upload"), "/upload");
        assert_eq!(route_label("/wp-admin/x"), "other");
    }
}
