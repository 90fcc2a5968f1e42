//! What handlers take from a request, as warp filters: the state, who is
//! asking (a bearer token or the session cookie), their validators, and
//! bounded bodies — among them [`signed_form`], the forms of a browser
//! session, which must carry the session's form token.

use std::convert::Infallible;

use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

use super::error::Failure;
use super::state::AppState;
pub use crate::app::accounts::Viewer;

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

/// The field of every form that carries a browser session's form token.
pub const FORM_TOKEN: &str = "form_token";

/// The logged-in user, if any. A bearer token wins over a cookie.
pub fn viewer(
    s: &AppState,
) -> impl Filter<Extract = (Option<Viewer>,), Error = Rejection> + Clone + use<> {
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
pub fn user(s: &AppState) -> impl Filter<Extract = (Viewer,), Error = Rejection> + Clone + use<> {
    viewer(s).and_then(|viewer: Option<Viewer>| async move {
        viewer.ok_or_else(|| Failure::unauthorized().reject())
    })
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An urlencoded form of at most `limit` bytes, posted before anyone has
/// logged in (login, setup); [`signed_form`] for everything else.
pub fn form<T: DeserializeOwned + Send + 'static>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit).and(warp::body::form::<T>())
}

/// The viewer and the urlencoded form (at most `limit` bytes) they posted.
/// A browser session's form must carry the session's token in
/// [`FORM_TOKEN`], which another site cannot know: 403 otherwise, before
/// anything is done. Failures are pages: these forms are the site's own.
pub fn signed_form<T: DeserializeOwned + Send + 'static>(
    s: &AppState,
    limit: u64,
) -> impl Filter<Extract = (Option<Viewer>, T), Error = Rejection> + Clone + use<T> {
    #[derive(serde::Deserialize)]
    struct Token {
        form_token: Option<String>,
    }
    viewer(s)
        .and(warp::header::optional::<String>("content-type"))
        .and(bounded_body(limit))
        .and_then(
            |viewer: Option<Viewer>, kind: Option<String>, body: bytes::Bytes| async move {
                let refuse = |f: Failure| Err(f.html().reject());
                // A form with nothing but the token may come without one.
                if !body.is_empty() && !is(kind.as_deref(), "application/x-www-form-urlencoded") {
                    return refuse(Failure::new(
                        warp::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "send the form urlencoded",
                    ));
                }
                let unreadable = |e: serde_urlencoded::de::Error| {
                    Failure::bad_request(format!("malformed form: {e}"))
                        .html()
                        .reject()
                };
                if let Some(viewer) = &viewer {
                    let token: Token = serde_urlencoded::from_bytes(&body).map_err(unreadable)?;
                    if !viewer.may_post(token.form_token.as_deref()) {
                        return refuse(stale_form());
                    }
                }
                let form: T = serde_urlencoded::from_bytes(&body).map_err(unreadable)?;
                Ok((viewer, form))
            },
        )
        .untuple_one()
}

/// The whole body, refused with 413 once it passes `limit` bytes, sized
/// or not: a browser's empty form may come without a `Content-Length`
/// (which `warp::body::content_length_limit` would refuse), a chunked one
/// is counted as it arrives.
fn bounded_body(limit: u64) -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::body::stream().and_then(move |stream| read_bounded(stream, limit))
}

async fn read_bounded<B: bytes::Buf>(
    stream: impl futures_util::Stream<Item = Result<B, warp::Error>>,
    limit: u64,
) -> Result<bytes::Bytes, Rejection> {
    use bytes::BufMut;
    use futures_util::TryStreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = stream.try_next().await.map_err(|e| {
        Failure::bad_request(format!("reading the form: {e}"))
            .html()
            .reject()
    })? {
        if (body.len() + chunk.remaining()) as u64 > limit {
            return Err(Failure::new(
                warp::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!("the form is larger than {limit} bytes"),
            )
            .html()
            .reject());
        }
        body.put(chunk);
    }
    Ok(body.freeze())
}

/// A form with no fields but its token (delete, log out).
#[derive(serde::Deserialize)]
pub struct NoFields {}

impl NoFields {
    /// Room for the token and then some.
    pub const LIMIT: u64 = 1024;
}

/// A form that did not carry the session's token: from another site, or
/// from a page shown before the visitor last logged in.
pub fn stale_form() -> Failure {
    Failure::new(
        warp::http::StatusCode::FORBIDDEN,
        "This form is out of date or came from another site; reload the page and try again.",
    )
}

/// A JSON body of at most [`JSON_LIMIT`] bytes, parsed by the handler (see
/// `json::parse_body`), so that a bad one is that route's 400. It must say
/// `Content-Type: application/json`, which no cross-site form can: 415
/// otherwise.
pub fn json_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    content_type(
        "application/json",
        "the body must be JSON, sent with Content-Type: application/json",
    )
    .and(warp::body::content_length_limit(JSON_LIMIT))
    .and(warp::body::bytes())
}

/// Passes when the body's media type is `essence` (parameters aside); a
/// 415 saying `refusal` otherwise.
fn content_type(
    essence: &'static str,
    refusal: &'static str,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(move |kind: Option<String>| async move {
            match is(kind.as_deref(), essence) {
                true => Ok(()),
                false => Err(
                    Failure::new(warp::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, refusal).reject(),
                ),
            }
        })
        .untuple_one()
}

/// Whether a `Content-Type` names the media type `essence`.
fn is(kind: Option<&str>, essence: &str) -> bool {
    let given = kind.unwrap_or("").split(';').next().unwrap_or("");
    given.trim().eq_ignore_ascii_case(essence)
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
