//! Small helpers handlers answer with: redirects after a form, cached pages,
//! and how a page was reached.

use std::borrow::Cow;

use warp::Reply;

use super::conditional::{Rendered, Validators};
use super::error::{Answer, Failure};
use super::extract::Viewer;
use super::state::AppState;
use crate::domain::Millis;

/// A 303 to a local path (after a form post); `/` if the path is not a URI.
pub fn see_other(path: &str) -> warp::reply::Response {
    let uri = path
        .parse()
        .unwrap_or_else(|_| warp::http::Uri::from_static("/"));
    warp::redirect::see_other(uri).into_response()
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

/// Answers with the page cached under `key` at data `version`, building it
/// with `build` first if needed (see [`super::conditional::PageCache`]).
pub async fn serve_page(
    state: &AppState,
    version: Millis,
    key: &str,
    validators: &Validators,
    build: impl std::future::Future<Output = Result<Rendered, Failure>>,
) -> Answer {
    let page = state.pages.get_or_render(version, key, build).await?;
    Ok(page.respond(validators, state.compress_min_bytes))
}

/// The cache key part that names who is looking: each browser session
/// (its pages carry the session's form token), each user by API token, or
/// everyone logged out together.
pub fn viewer_key(viewer: Option<&Viewer>) -> Cow<'_, str> {
    match viewer {
        None => Cow::Borrowed(""),
        Some(Viewer {
            user,
            form_token: None,
        }) => Cow::Borrowed(user.id.as_str()),
        Some(Viewer {
            user,
            form_token: Some(token),
        }) => Cow::Owned(format!("{} {token}", user.id)),
    }
}
