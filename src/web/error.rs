//! The one place errors become HTTP responses.
//!
//! Handlers reject with a [`Failure`], which knows its status, a message that
//! is safe to show, and whether the client wants JSON (`/api/…`) or a page.
//! Internal errors are logged in full and shown only as "internal error".
//! Warp's own rejections (no route, wrong method, bad body) are mapped here
//! too, so every error a client sees has a reason.

use std::convert::Infallible;

use askama::Template;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reject::Reject;
use warp::{Rejection, Reply};

use super::extract::Viewer;
use super::pages::ErrorPage;
use super::urls::Urls;
use crate::app::{AppError, StorageFault, with_causes};

/// `Retry-After` when the database or the store cannot be reached.
const UNAVAILABLE_RETRY: u32 = 5;

/// What a handler returns: a response, or a failure to show.
pub type Answer = Result<warp::reply::Response, Failure>;

/// How a failure is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Json,
    Html,
}

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
    pub shape: Shape,
    /// For a 503: when to try again, in seconds (`Retry-After`).
    pub retry_after: Option<u32>,
}

impl Reject for Failure {}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Json,
            retry_after: None,
        }
    }

    /// `status` with `Retry-After`: nothing changed, try again then.
    pub fn retry_later(status: StatusCode, message: impl Into<String>, retry_after: u32) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(status, message)
        }
    }

    /// Too busy right now (a bounded resource is in use): `503` with
    /// `Retry-After`, nothing changed.
    pub fn busy(message: impl Into<String>, retry_after: u32) -> Self {
        Self::retry_later(StatusCode::SERVICE_UNAVAILABLE, message, retry_after)
    }

    /// A server-side fault: logged with its detail, shown without it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "log in or send a bearer token")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "not allowed")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The same failure, rendered as an HTML page.
    pub fn html(self) -> Self {
        self.shaped(Shape::Html)
    }

    /// The same failure, rendered in `shape`.
    pub fn shaped(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    pub fn reject(self) -> Rejection {
        warp::reject::custom(self)
    }
}

/// The one mapping from what a service says to what a client sees.
/// Internal causes are logged in full and shown as "internal error".
impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(what) => Self::not_found(what),
            AppError::Unauthorized => Self::unauthorized(),
            AppError::Forbidden => Self::forbidden(),
            AppError::Invalid(message) => Self::bad_request(message),
            AppError::Conflict(message) => Self::new(StatusCode::CONFLICT, message),
            AppError::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            AppError::Unsupported(_) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
            }
            AppError::Busy {
                message,
                retry_after_secs,
            } => Self::busy(message, retry_after_secs),
            AppError::TooManyAttempts { retry_after_secs } => Self::retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                e.to_string(),
                retry_after_secs,
            ),
            AppError::NoSpace(message) => Self::new(StatusCode::INSUFFICIENT_STORAGE, message),
            // A disk that is full or read-only: nothing changed, and an
            // operator has to make room.
            _ if e.storage_fault().is_some() => {
                let fault = e.storage_fault().unwrap_or(StorageFault::Full);
                tracing::error!(error = %with_causes(&e), "storage cannot be written");
                Self::new(StatusCode::INSUFFICIENT_STORAGE, fault.message())
            }
            // An engine that cannot be reached: nothing changed, and the
            // same request may well work in a moment.
            _ if e.unavailable().is_some() => {
                let engine = e.unavailable().unwrap_or("backend");
                tracing::warn!(error = %with_causes(&e), "{engine} unavailable");
                Self::busy(
                    format!("the {engine} is unavailable; try again shortly"),
                    UNAVAILABLE_RETRY,
                )
            }
            AppError::Db(_) | AppError::Store(_) | AppError::Io { .. } | AppError::Internal(_) => {
                Self::internal(with_causes(&e))
            }
        }
    }
}

impl From<askama::Error> for Failure {
    fn from(e: askama::Error) -> Self {
        Self::internal(e).html()
    }
}

/// No API endpoint at this path; ranks below every other rejection, so a
/// matching path with the wrong method still answers 405.
#[derive(Debug)]
pub struct ApiNotFound;

impl Reject for ApiNotFound {}

/// The final `recover` of the route tree.
pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    // What was wrong with a request that reached its route comes before
    // "method not allowed": warp combines the rejections of every route
    // tried, so a bad query on `GET /api/photos` also carries the `POST`
    // route's 405, which would hide the real reason.
    let failure = if let Some(f) = err.find::<Failure>() {
        f.clone()
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if err.find::<warp::reject::LengthRequired>().is_some() {
        Failure::new(StatusCode::LENGTH_REQUIRED, "Content-Length required")
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type",
        )
    } else if let Some(e) = err.find::<warp::reject::InvalidQuery>() {
        Failure::bad_request(e.to_string())
    } else if let Some(e) = err.find::<warp::reject::InvalidHeader>() {
        Failure::bad_request(e.to_string())
    } else if let Some(e) = err.find::<warp::reject::MissingHeader>() {
        Failure::bad_request(e.to_string())
    } else if let Some(e) = err.find::<warp::body::BodyDeserializeError>() {
        Failure::bad_request(e.to_string())
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        Failure::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if err.find::<ApiNotFound>().is_some() {
        Failure::not_found("endpoint")
    } else if err.is_not_found() {
        Failure::not_found("page").html()
    } else {
        tracing::warn!(rejection = ?err, "unhandled rejection");
        Failure::bad_request("bad request")
    };
    Ok(render(&failure))
}

/// Renders a failure in its shape. A page goes out without knowing who
/// asked (the failure may come before anyone looked); it keeps its
/// [`Failure`] so that [`for_viewer`] can draw it again for them.
pub fn render(f: &Failure) -> warp::reply::Response {
    let mut resp = render_as(f, None, &Urls::default());
    if f.shape == Shape::Html {
        resp.extensions_mut().insert(f.clone());
    }
    resp
}

/// An error page drawn again for the visitor whose session cookie is
/// `cookie`, so its header shows who is logged in rather than "Log in";
/// every other response (and any failure to find the visitor) as it was.
pub async fn for_viewer(
    resp: warp::reply::Response,
    cookie: Option<String>,
    state: &super::AppState,
) -> warp::reply::Response {
    let (Some(cookie), Some(failure)) = (cookie, resp.extensions().get::<Failure>()) else {
        return resp;
    };
    match state.app.accounts.viewer(None, Some(&cookie)).await {
        Ok(Some(viewer)) => render_as(failure, Some(viewer), &state.urls),
        _ => resp,
    }
}

fn render_as(f: &Failure, viewer: Option<Viewer>, urls: &Urls) -> warp::reply::Response {
    let mut resp = match f.shape {
        Shape::Json => warp::reply::with_status(
            warp::reply::json(&serde_json::json!({ "error": f.message })),
            f.status,
        )
        .into_response(),
        Shape::Html => {
            let page = ErrorPage {
                status: f.status.as_u16(),
                reason: f.status.canonical_reason().unwrap_or("Error"),
                message: &f.message,
                viewer,
                urls: urls.clone(),
            };
            let body = page
                .render()
                .unwrap_or_else(|_| format!("{} {}", f.status, f.message));
            warp::reply::with_status(warp::reply::html(body), f.status).into_response()
        }
    };
    if let Some(secs) = f.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
