//! Small helpers handlers answer with: redirects after a form, cached pages,
//! and how a page was reached.

use warp::Reply;
use warp::http::{HeaderMap, HeaderName, HeaderValue, header};

use super::conditional::{Rendered, Validators};
use super::error::{Answer, Failure};
use super::extract::{COOKIE, Viewer};
use super::page_cache::{Anonymous, PageKey};
use super::state::AppState;
use crate::app::accounts::Session;
use crate::domain::Millis;

/// A 303 to a local path (after a form post); `/` if the path is not a URI.
pub fn see_other(path: &str) -> warp::reply::Response {
    let uri = path
        .parse()
        .unwrap_or_else(|_| warp::http::Uri::from_static("/"));
    warp::redirect::see_other(uri).into_response()
}

/// The viewer if they are an administrator; for nobody, a redirect to log
/// in and come back to `next`; 403 for anyone else.
pub fn admin_only(
    viewer: Option<Viewer>,
    next: &str,
) -> Result<Result<Viewer, warp::reply::Response>, Failure> {
    let Some(user) = viewer else {
        return Ok(Err(see_other(&format!("/login?next={next}"))));
    };
    match user.is_admin {
        true => Ok(Ok(user)),
        false => Err(Failure::forbidden()),
    }
}

/// Adds `cookie` to `resp` as a `Set-Cookie` header.
pub fn with_cookie(mut resp: warp::reply::Response, cookie: &str) -> warp::reply::Response {
    if let Ok(v) = warp::http::HeaderValue::from_str(cookie) {
        resp.headers_mut().append(warp::http::header::SET_COOKIE, v);
    }
    resp
}

/// Redirects to `next` with the session's cookie set: someone just logged
/// in (with a password, at setup, or through a set-password link).
pub fn logged_in(state: &AppState, session: &Session, next: &str) -> warp::reply::Response {
    let config = state.app.accounts.config();
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let max_age = u64::from(config.session_days) * 86_400;
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        session.token
    );
    with_cookie(see_other(next), &cookie)
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

/// Answers with the page cached under `key`, building it with the future
/// `build` makes first if needed (see [`super::page_cache::PageCache`]).
pub async fn serve_page<F>(
    state: &AppState,
    key: PageKey,
    validators: &Validators,
    build: impl FnOnce() -> F,
) -> Answer
where
    F: std::future::Future<Output = Result<Rendered, Failure>>,
{
    let anonymous = key.is_anonymous().then(|| key.clone());
    let page = state.pages.get_or_render(key, build).await?;
    let mut resp = page.respond(validators, state.compress_min_bytes);
    if let Some(key) = anonymous {
        resp.extensions_mut().insert(Anonymous::new(key, page));
    }
    Ok(resp)
}

/// The key of `route`'s page at data `version` as `viewer` sees it: pages
/// differ by who is looking, each browser session (its pages carry the
/// session's form token), each user by API token, or everyone logged out
/// together. The viewer is always two parts, so that keys of one route
/// have one shape.
pub fn page_key(version: Millis, route: &'static str, viewer: Option<&Viewer>) -> PageKey {
    let key = PageKey::new(version, route);
    match viewer {
        None => key.part("").part("").anonymous(),
        Some(Viewer { user, form_token }) => key
            .part(user.id.as_str())
            .part(form_token.as_deref().unwrap_or("")),
    }
}

const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");

/// Headers every response carries unless its handler set them; `csp`
/// comes from [`urls::Urls`]. The values are constants, made when the
/// binary is built rather than checked byte by byte on every response.
pub fn security_headers(h: &mut HeaderMap, csp: &HeaderValue) {
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
    const DENY: HeaderValue = HeaderValue::from_static("DENY");
    // What did not say how it may be cached (the API's JSON, login and
    // setup, redirects, errors, health) must not be stored at all: caches
    // may otherwise keep it by heuristics, and a shared computer's browser
    // would keep a private answer on disk.
    const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(NOSNIFF);
    h.entry(header::REFERRER_POLICY).or_insert(SAME_ORIGIN);
    h.entry(header::X_FRAME_OPTIONS).or_insert(DENY);
    h.entry(CROSS_ORIGIN_OPENER_POLICY).or_insert(SAME_ORIGIN);
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert_with(|| csp.clone());
    h.entry(header::CACHE_CONTROL).or_insert(NO_STORE);
}
