//! Who is asking, and how they get in: the viewer filter (session cookie or
//! `Authorization: Bearer`), `/login`, `/logout` and the first-run `/setup`.
//!
//! Session cookies are random tokens (only their hash is stored), `HttpOnly`
//! and `SameSite=Lax`, which also keeps other sites from posting our forms
//! with the visitor's session.

use serde::Deserialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::{Filter, Rejection, Reply};

use super::error::Failure;
use super::pages::{LoginPage, SetupPage, html};
use super::{AppState, OrReject, see_other, with_state};
use crate::auth::{self, AuthError};
use crate::db::{TokenKind, User};

pub const COOKIE: &str = "scoot_session";
const FORM_LIMIT: u64 = 16 * 1024;

/// The logged-in user, if any. A bearer token wins over a cookie.
pub fn viewer(
    state: AppState,
) -> impl Filter<Extract = (Option<User>,), Error = Rejection> + Clone {
    warp::cookie::optional::<String>(COOKIE)
        .and(warp::header::optional::<String>("authorization"))
        .and(with_state(state))
        .and_then(
            |cookie: Option<String>, authorization: Option<String>, state: AppState| async move {
                let db = state.db.as_ref();
                if let Some(token) = authorization.as_deref().and_then(bearer) {
                    return auth::user_for_token(db, token, TokenKind::Api)
                        .await
                        .or_reject();
                }
                match cookie {
                    Some(token) => auth::user_for_token(db, &token, TokenKind::Session)
                        .await
                        .or_reject(),
                    None => Ok(None),
                }
            },
        )
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The logged-in user, or a 401.
pub fn require_user(state: AppState) -> impl Filter<Extract = (User,), Error = Rejection> + Clone {
    viewer(state).and_then(|viewer: Option<User>| async move {
        viewer.ok_or_else(|| Failure::unauthorized().reject())
    })
}

/// Only local paths may be redirected to after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn with_cookie(mut resp: warp::reply::Response, cookie: &str) -> warp::reply::Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn session_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let max_age = u64::from(state.auth.session_days) * 86_400;
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

async fn start_session(
    state: &AppState,
    user: &User,
    next: &str,
) -> Result<warp::reply::Response, Rejection> {
    let token = auth::issue_token(
        state.db.as_ref(),
        user,
        TokenKind::Session,
        "browser",
        Some(state.auth.session_days),
    )
    .await
    .or_reject_html()?;
    Ok(with_cookie(see_other(next), &session_cookie(state, &token)))
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(db) => Failure::from(db),
            AuthError::Hash(h) => Failure::internal(h),
            AuthError::Busy => Failure::busy(e.to_string(), 1),
            other => Failure::bad_request(other.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
struct SetupQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    name: String,
    password: String,
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let login_page = warp::path!("login")
        .and(warp::get())
        .and(warp::query::<NextQuery>())
        .and(with_state(state.clone()))
        .and_then(|q: NextQuery, state: AppState| async move {
            let page = LoginPage {
                viewer: None,
                urls: state.urls.clone(),
                error: None,
                next: safe_next(q.next.as_deref()),
            };
            html(&page).or_reject_html()
        });

    let login = warp::path!("login")
        .and(warp::post())
        .and(warp::body::content_length_limit(FORM_LIMIT))
        .and(warp::body::form::<LoginForm>())
        .and(with_state(state.clone()))
        .and_then(|form: LoginForm, state: AppState| async move {
            let next = safe_next(form.next.as_deref());
            match auth::check_login(state.db.as_ref(), &state.hasher, &form.name, &form.password)
                .await
                .or_reject_html()?
            {
                Some(user) => start_session(&state, &user, &next).await,
                None => {
                    let page = LoginPage {
                        viewer: None,
                        urls: state.urls.clone(),
                        error: Some("Wrong name or password.".into()),
                        next,
                    };
                    let resp = html(&page).or_reject_html()?;
                    Ok(warp::reply::with_status(resp, StatusCode::UNAUTHORIZED).into_response())
                }
            }
        });

    let logout = warp::path!("logout")
        .and(warp::post())
        .and(warp::cookie::optional::<String>(COOKIE))
        .and(with_state(state.clone()))
        .and_then(|cookie: Option<String>, state: AppState| async move {
            if let Some(token) = cookie {
                state
                    .db
                    .delete_token(&auth::token_hash(&token))
                    .await
                    .or_reject_html()?;
            }
            let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
            Ok::<_, Rejection>(with_cookie(see_other("/"), &clear))
        });

    let setup_page = warp::path!("setup")
        .and(warp::get())
        .and(warp::query::<SetupQuery>())
        .and(with_state(state.clone()))
        .and_then(|q: SetupQuery, state: AppState| async move {
            let token = q.token.unwrap_or_default();
            check_setup_token(&state, &token)?;
            html(&SetupPage {
                viewer: None,
                urls: state.urls.clone(),
                error: None,
                token,
            })
            .or_reject_html()
        });

    let setup = warp::path!("setup")
        .and(warp::post())
        .and(warp::body::content_length_limit(FORM_LIMIT))
        .and(warp::body::form::<SetupForm>())
        .and(with_state(state))
        .and_then(|form: SetupForm, state: AppState| async move {
            check_setup_token(&state, &form.token)?;
            let created = auth::create_user(
                state.db.as_ref(),
                &state.hasher,
                &form.name,
                &form.password,
                true,
                true,
            )
            .await;
            match created {
                Ok(Some(user)) => {
                    take_setup_token(&state);
                    tracing::info!(user = %user.name, "first administrator created");
                    start_session(&state, &user, "/").await
                }
                Ok(None) => {
                    take_setup_token(&state);
                    Err(Failure::new(
                        StatusCode::CONFLICT,
                        "Scoot is already set up; log in instead.",
                    )
                    .html()
                    .reject())
                }
                Err(
                    e @ (AuthError::BadName | AuthError::BadPassword | AuthError::NameTaken(_)),
                ) => {
                    let page = SetupPage {
                        viewer: None,
                        urls: state.urls.clone(),
                        error: Some(e.to_string()),
                        token: form.token,
                    };
                    let resp = html(&page).or_reject_html()?;
                    Ok(warp::reply::with_status(resp, StatusCode::BAD_REQUEST).into_response())
                }
                Err(e) => Err(Failure::from(e).html().reject()),
            }
        });

    login_page
        .or(login)
        .unify()
        .or(logout)
        .unify()
        .or(setup_page)
        .unify()
        .or(setup)
        .unify()
}

fn check_setup_token(state: &AppState, presented: &str) -> Result<(), Rejection> {
    let current = state
        .setup_token
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match current {
        None => Err(Failure::not_found("setup page (Scoot is already set up)")
            .html()
            .reject()),
        Some(t) if auth::token_hash(&t) == auth::token_hash(presented) => Ok(()),
        Some(_) => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "This setup link is not valid; use the one printed in the server log.",
        )
        .html()
        .reject()),
    }
}

fn take_setup_token(state: &AppState) {
    state
        .setup_token
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_local() {
        assert_eq!(safe_next(Some("/upload")), "/upload");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
    }
}
