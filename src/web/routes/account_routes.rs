//! The account routes: logging in and out, first-run setup, set-password
//! links, and the admin pages (overview, API tokens, people). Their
//! failures are pages.

use warp::Filter;

use super::super::client::client;
use super::super::extract::{COOKIE, NoFields, form, signed_form, state, viewer};
use super::super::state::AppState;
use super::super::{admin, password, people, session};
use super::{Route, page};
use crate::domain::UserId;

/// Every account route.
pub(super) fn routes(s: &AppState) -> Vec<Route> {
    vec![
        page(
            "/admin",
            warp::path!("admin")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(admin::page),
        ),
        page(
            "/admin/tokens",
            warp::path!("admin" / "tokens")
                .and(warp::post())
                .and(signed_form(s, admin::TOKEN_FORM_LIMIT))
                .and(state(s))
                .then(admin::create_token),
        ),
        page(
            "/admin/tokens/:id/revoke",
            warp::path!("admin" / "tokens" / String / "revoke")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(admin::revoke_token),
        ),
        page(
            "/admin/people",
            warp::path!("admin" / "people")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(people::page),
        ),
        page(
            "/admin/people",
            warp::path!("admin" / "people")
                .and(warp::post())
                .and(signed_form(s, people::FORM_LIMIT))
                .and(state(s))
                .then(people::create),
        ),
        page(
            "/admin/people/:id/admin",
            warp::path!("admin" / "people" / UserId / "admin")
                .and(warp::post())
                .and(signed_form(s, people::FORM_LIMIT))
                .and(state(s))
                .then(people::set_admin),
        ),
        page(
            "/admin/people/:id/reset",
            warp::path!("admin" / "people" / UserId / "reset")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(people::confirm_reset),
        ),
        page(
            "/admin/people/:id/reset",
            warp::path!("admin" / "people" / UserId / "reset")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(people::reset),
        ),
        page(
            "/admin/people/:id/delete",
            warp::path!("admin" / "people" / UserId / "delete")
                .and(warp::get())
                .and(viewer(s))
                .and(state(s))
                .then(people::confirm_delete),
        ),
        page(
            "/admin/people/:id/delete",
            warp::path!("admin" / "people" / UserId / "delete")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(people::delete),
        ),
        page(
            "/admin/people/:id/restore",
            warp::path!("admin" / "people" / UserId / "restore")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(state(s))
                .then(people::restore),
        ),
        page(
            "/login",
            warp::path!("login")
                .and(warp::get())
                .and(warp::query())
                .and(state(s))
                .then(session::login_page),
        ),
        page(
            "/login",
            warp::path!("login")
                .and(warp::post())
                .and(form(session::FORM_LIMIT))
                .and(client(s))
                .and(state(s))
                .then(session::login),
        ),
        page(
            "/logout",
            warp::path!("logout")
                .and(warp::post())
                .and(signed_form::<NoFields>(s, NoFields::LIMIT))
                .and(warp::cookie::optional(COOKIE))
                .and(state(s))
                .then(session::logout),
        ),
        page(
            "/setup",
            warp::path!("setup")
                .and(warp::get())
                .and(warp::query())
                .and(client(s))
                .and(state(s))
                .then(session::setup_page),
        ),
        page(
            "/setup",
            warp::path!("setup")
                .and(warp::post())
                .and(form(session::FORM_LIMIT))
                .and(client(s))
                .and(state(s))
                .then(session::setup),
        ),
        page(
            "/password",
            warp::path!("password")
                .and(warp::get())
                .and(warp::query())
                .and(viewer(s))
                .and(client(s))
                .and(state(s))
                .then(password::page),
        ),
        page(
            "/password",
            warp::path!("password")
                .and(warp::post())
                .and(form(password::FORM_LIMIT))
                .and(viewer(s))
                .and(client(s))
                .and(state(s))
                .then(password::submit),
        ),
    ]
}
