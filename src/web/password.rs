//! `/password?token=…`: a one-time set-password link, as an administrator
//! hands it over to a new user or after a reset. The link's secret is the
//! proof (no session, so no form token); using it sets the password, ends
//! the account's other sessions, and logs in. Guesses count against the
//! client's login allowance.

use std::net::IpAddr;

use askama::Template;
use serde::Deserialize;
use warp::Reply;
use warp::http::StatusCode;

use super::error::{Answer, Failure};
use super::extract::Viewer;
use super::pages::html;
use super::respond::logged_in;
use super::state::AppState;
use crate::app::AppError;

/// The largest form read.
pub const FORM_LIMIT: u64 = 4 * 1024;

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub viewer: Option<Viewer>,
    pub urls: super::urls::Urls,
    pub name: String,
    pub token: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    token: String,
    password: String,
}

fn spent() -> Failure {
    Failure::new(
        StatusCode::GONE,
        "This set-password link has been used, has expired, or was replaced by a newer one. \
         Ask an administrator for a new link.",
    )
}

/// `GET /password?token=…`: the form, for a live link.
pub async fn page(q: LinkQuery, viewer: Option<Viewer>, from: IpAddr, state: AppState) -> Answer {
    let holder = state.app.accounts.password_link(&q.token, from).await?;
    let user = holder.ok_or_else(spent)?;
    Ok(html(&PasswordPage {
        viewer,
        urls: state.urls.clone(),
        name: user.name,
        token: q.token,
        error: None,
    })?)
}

/// `POST /password`: sets the password and logs in, or shows the form
/// again with what was wrong.
pub async fn submit(
    form: PasswordForm,
    viewer: Option<Viewer>,
    from: IpAddr,
    state: AppState,
) -> Answer {
    let accounts = &state.app.accounts;
    match accounts
        .redeem_password_link(&form.token, &form.password, from)
        .await
    {
        Ok(Some(session)) => Ok(logged_in(&state, &session, "/")),
        Ok(None) => Err(spent()),
        Err(AppError::Invalid(message)) => {
            let user = accounts
                .password_link(&form.token, from)
                .await?
                .ok_or_else(spent)?;
            let page = html(&PasswordPage {
                viewer,
                urls: state.urls.clone(),
                name: user.name,
                token: form.token,
                error: Some(message),
            })?;
            Ok(warp::reply::with_status(page, StatusCode::BAD_REQUEST).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
