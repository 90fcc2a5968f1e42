//! Logging in and out, and the first-run `/setup`. Who is asking on every
//! other route is [`super::extract::viewer`]'s job.
//!
//! Session cookies are random tokens (only their hash is stored), `HttpOnly`
//! and `SameSite=Lax`, which also keeps other sites from posting our forms
//! with the visitor's session. Guesses are slowed per client address and
//! account (`app::throttle`): past the limits, a 429 with `Retry-After`.

use std::net::IpAddr;

use serde::Deserialize;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};

use super::error::{Answer, Failure};
use super::extract::{COOKIE, NoFields, Viewer};
use super::pages::{LoginPage, SetupPage, html};
use super::respond::{logged_in, see_other, with_cookie};
use super::state::AppState;
use crate::app::AppError;
use crate::app::accounts::{Setup, SetupCheck};

/// The largest login or setup form read.
pub const FORM_LIMIT: u64 = 16 * 1024;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    name: String,
    password: String,
}

/// Only local paths may be redirected to after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// `GET /login`.
pub async fn login_page(q: NextQuery, state: AppState) -> Answer {
    Ok(html(&LoginPage {
        viewer: None,
        urls: state.urls.clone(),
        error: None,
        next: safe_next(q.next.as_deref()),
    })?)
}

/// `POST /login`: a session cookie, or the form again with a 401 (a 429
/// with `Retry-After` past the attempt limits).
pub async fn login(form: LoginForm, from: IpAddr, state: AppState) -> Answer {
    let next = safe_next(form.next.as_deref());
    let attempt = state
        .app
        .accounts
        .login(&form.name, &form.password, from)
        .await;
    let (status, error, retry_after) = match attempt {
        Ok(Some(session)) => return Ok(logged_in(&state, &session, &next)),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.".into(),
            None,
        ),
        Err(AppError::TooManyAttempts { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many attempts; try again in {retry_after_secs} seconds."),
            Some(retry_after_secs),
        ),
        Err(e) => return Err(e.into()),
    };
    let page = html(&LoginPage {
        viewer: None,
        urls: state.urls.clone(),
        error: Some(error),
        next,
    })?;
    let mut resp = warp::reply::with_status(page, status).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(resp)
}

/// `POST /logout`: ends the session on the server and clears the cookie.
pub async fn logout(
    _: Option<Viewer>,
    _: NoFields,
    cookie: Option<String>,
    state: AppState,
) -> Answer {
    if let Some(token) = cookie {
        state.app.accounts.logout(&token).await?;
    }
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(with_cookie(see_other("/"), &clear))
}

fn setup_refused(check: SetupCheck) -> Failure {
    match check {
        SetupCheck::Done => Failure::new(
            StatusCode::GONE,
            "Scoot is already set up, so this setup link has been used. Log in instead.",
        ),
        SetupCheck::WrongLink | SetupCheck::Open => Failure::new(
            StatusCode::FORBIDDEN,
            "This setup link is not valid; use the one printed in the server log.",
        ),
    }
}

/// `GET /setup?token=…`: the first-run form, with the link's secret.
pub async fn setup_page(q: SetupQuery, from: IpAddr, state: AppState) -> Answer {
    let token = q.token.unwrap_or_default();
    match state.app.accounts.setup_check(&token, from).await? {
        SetupCheck::Open => Ok(html(&SetupPage {
            viewer: None,
            urls: state.urls.clone(),
            error: None,
            token,
        })?),
        refused => Err(setup_refused(refused)),
    }
}

/// `POST /setup`: creates the first administrator and logs them in.
pub async fn setup(form: SetupForm, from: IpAddr, state: AppState) -> Answer {
    let accounts = &state.app.accounts;
    match accounts.setup_check(&form.token, from).await? {
        SetupCheck::Open => {}
        refused => return Err(setup_refused(refused)),
    }
    match accounts
        .setup(&form.token, &form.name, &form.password)
        .await
    {
        Ok(Setup::Created(session)) => Ok(logged_in(&state, &session, "/")),
        Ok(Setup::AlreadyDone) => Err(Failure::new(
            StatusCode::CONFLICT,
            "Scoot is already set up; log in instead.",
        )),
        Err(AppError::Invalid(message) | AppError::Conflict(message)) => {
            let page = html(&SetupPage {
                viewer: None,
                urls: state.urls.clone(),
                error: Some(message),
                token: form.token,
            })?;
            Ok(warp::reply::with_status(page, StatusCode::BAD_REQUEST).into_response())
        }
        Err(e) => Err(e.into()),
    }
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
}
