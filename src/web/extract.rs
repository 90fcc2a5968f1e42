//! What handlers take from a request, as warp filters: the state, who is
//! asking (a bearer token or the session cookie), their validators, and
//! bounded bodies.

use std::convert::Infallible;

use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

use super::error::Failure;
use super::state::AppState;
use crate::model::User;

pub use super::conditional::validators;

/// The session cookie's name.
pub const COOKIE: &str = "scoot_session";
/// The largest JSON body the API reads.
pub const JSON_LIMIT: u64 = 64 * 1024;

/// Hands a clone of the state to a handler.
pub fn state(
    s: &AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone + use<> {
    let s = s.clone();
    warp::any().map(move || s.clone())
}

/// The logged-in user, if any. A bearer token wins over a cookie.
pub fn viewer(
    s: &AppState,
) -> impl Filter<Extract = (Option<User>,), Error = Rejection> + Clone + use<> {
    warp::cookie::optional::<String>(COOKIE)
        .and(warp::header::optional::<String>("authorization"))
        .and(state(s))
        .and_then(
            |cookie: Option<String>, authorization: Option<String>, state: AppState| async move {
                let bearer = authorization.as_deref().and_then(bearer);
                state
                    .app
                    .accounts
                    .viewer(bearer, cookie.as_deref())
                    .await
                    .map_err(|e| Failure::from(e).reject())
            },
        )
}

/// The logged-in user, or a 401.
pub fn user(s: &AppState) -> impl Filter<Extract = (User,), Error = Rejection> + Clone + use<> {
    viewer(s).and_then(|viewer: Option<User>| async move {
        viewer.ok_or_else(|| Failure::unauthorized().reject())
    })
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An urlencoded form of at most `limit` bytes.
pub fn form<T: DeserializeOwned + Send + 'static>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit).and(warp::body::form::<T>())
}

/// A JSON body of at most [`JSON_LIMIT`] bytes, parsed by the handler (see
/// `json::parse_body`), so that a bad one is that route's 400. It must say
/// `Content-Type: application/json`, which no cross-site form can: 415
/// otherwise.
pub fn json_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|kind: Option<String>| async move {
            let essence = kind
                .as_deref()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("");
            match essence.trim().eq_ignore_ascii_case("application/json") {
                true => Ok(()),
                false => Err(Failure::new(
                    warp::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "the body must be JSON, sent with Content-Type: application/json",
                )
                .reject()),
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(JSON_LIMIT))
        .and(warp::body::bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
