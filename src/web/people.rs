//! `/admin/people`: who has an account, and what an administrator does to
//! one, through [`crate::app::people`]. Adding someone and resetting a
//! password answer with the page itself, showing the one-time link this
//! once (never cached); other actions go back to the list. Resetting and
//! deleting ask first.

use askama::Template;
use serde::Deserialize;
use warp::Reply;
use warp::http::{StatusCode, header};

use super::error::{Answer, Failure};
use super::extract::{NoFields, Viewer};
use super::pages::{ConfirmPage, ago, html};
use super::respond::{admin_only, see_other};
use super::state::AppState;
use crate::app::AppError;
use crate::app::people::LINK_DAYS;
use crate::domain::{UserId, human_bytes, now_millis, utc_minute};

/// The largest form read here.
pub const FORM_LIMIT: u64 = 4 * 1024;

#[derive(Template)]
#[template(path = "people.html")]
pub struct PeoplePage {
    pub viewer: Option<Viewer>,
    pub urls: super::urls::Urls,
    pub active: Vec<PersonRow>,
    pub deleted: Vec<DeletedRow>,
    pub link: Option<NewLink>,
    pub error: Option<String>,
    pub link_days: u32,
}

pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
    pub is_you: bool,
    pub has_password: bool,
    pub photos: u64,
    pub size: String,
    pub last_seen: String,
    pub joined: String,
}

pub struct DeletedRow {
    pub id: String,
    pub name: String,
    pub photos: u64,
    pub size: String,
    pub deleted: String,
    pub purge: String,
}

/// A set-password link just made, shown this once.
pub struct NewLink {
    pub name: String,
    pub path: String,
    pub message: String,
}

#[derive(Deserialize)]
pub struct NewPerson {
    name: String,
    #[serde(default)]
    admin: Option<String>,
}

#[derive(Deserialize)]
pub struct Role {
    admin: u8,
}

/// `GET /admin/people`.
pub async fn page(viewer: Option<Viewer>, state: AppState) -> Answer {
    match admin_only(viewer, "/admin/people")? {
        Ok(user) => render(&state, user, None, None).await,
        Err(login) => Ok(login),
    }
}

/// `POST /admin/people`: a new user, and their link.
pub async fn create(viewer: Option<Viewer>, form: NewPerson, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    let is_admin = form.admin.is_some_and(|v| v == "1");
    let added = state
        .app
        .people
        .add(Some(&user), form.name.trim(), None, is_admin)
        .await;
    match added {
        Ok((person, Some(secret))) => {
            let role = if person.is_admin {
                "an administrator"
            } else {
                "a user"
            };
            let link = new_link(
                &person.name,
                &secret,
                format!("{} is {role} now.", person.name),
            );
            render(&state, user, Some(link), None).await
        }
        Ok((_, None)) => Err(Failure::from(AppError::Internal("no link was made".into()))),
        Err(e) => refused(&state, user, e).await,
    }
}

/// `POST /admin/people/{id}/admin`: gives (`admin=1`) or takes away
/// (`admin=0`) admin rights.
pub async fn set_admin(id: UserId, viewer: Option<Viewer>, form: Role, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    let people = &state.app.people;
    match people.set_admin(Some(&user), &id, form.admin == 1).await {
        Ok(_) => Ok(see_other("/admin/people")),
        Err(e) => refused(&state, user, e).await,
    }
}

/// `GET /admin/people/{id}/reset`: asks first.
pub async fn confirm_reset(id: UserId, viewer: Option<Viewer>, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    let person = state.app.people.active(Some(&user), &id).await?;
    let name = &person.user.name;
    let message = match person.has_password {
        true => format!(
            "{name} is logged out everywhere and their password stops working now. You get a \
             one-time link to send them, with which they choose a new one. Their API tokens keep \
             working."
        ),
        false => format!("Any earlier link of {name}'s stops working, and you get a new one."),
    };
    Ok(html(&ConfirmPage {
        viewer: Some(user),
        urls: state.urls.clone(),
        heading: match person.has_password {
            true => format!("Reset the password of {name}?"),
            false => format!("Make a new set-password link for {name}?"),
        },
        message,
        action: format!("/admin/people/{id}/reset"),
        button: if person.has_password {
            "Reset password"
        } else {
            "Make a new link"
        },
        cancel: "/admin/people",
    })?)
}

/// `POST /admin/people/{id}/reset`: the page, with the new link.
pub async fn reset(id: UserId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    match state.app.people.reset_password(Some(&user), &id).await {
        Ok((person, secret)) => {
            let name = &person.user.name;
            let message = format!(
                "{name} is logged out, and no password works for them until they use this link."
            );
            let link = new_link(name, &secret, message);
            render(&state, user, Some(link), None).await
        }
        Err(e) => refused(&state, user, e).await,
    }
}

/// `GET /admin/people/{id}/delete`: says what will happen, and asks.
pub async fn confirm_delete(id: UserId, viewer: Option<Viewer>, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    let person = state.app.people.active(Some(&user), &id).await?;
    let name = &person.user.name;
    let photos = match person.photos {
        1 => "their photo goes".to_owned(),
        n => format!("their {n} photos go"),
    };
    let until = match state.app.trash.days() {
        0 => "The trash is turned off (trash.days = 0), so the photos are deleted for good within the hour; the account can be restored until then, without them.".to_owned(),
        days => format!("You can restore {name}, with everything, for {days} days; then the photos are deleted for good."),
    };
    Ok(html(&ConfirmPage {
        viewer: Some(user),
        urls: state.urls.clone(),
        heading: format!("Delete {name}?"),
        message: format!(
            "{name} is logged out everywhere and their API tokens stop working; {photos} to the \
             trash and their albums and share links stop working. {until}"
        ),
        action: format!("/admin/people/{id}/delete"),
        button: "Delete",
        cancel: "/admin/people",
    })?)
}

/// `POST /admin/people/{id}/delete`.
pub async fn delete(id: UserId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    match state.app.people.delete(Some(&user), &id).await {
        Ok(_) => Ok(see_other("/admin/people#deleted")),
        Err(e) => refused(&state, user, e).await,
    }
}

/// `POST /admin/people/{id}/restore`.
pub async fn restore(id: UserId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin/people")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    match state.app.people.restore(Some(&user), &id).await {
        Ok(_) => Ok(see_other("/admin/people")),
        Err(e) => refused(&state, user, e).await,
    }
}

fn new_link(name: &str, secret: &str, message: String) -> NewLink {
    NewLink {
        name: name.to_owned(),
        path: format!("/password?token={secret}"),
        message,
    }
}

/// A broken rule (a taken name, the last administrator) is shown on the
/// page with the form, with its status; anything else is an error page.
async fn refused(state: &AppState, user: Viewer, e: AppError) -> Answer {
    let status = match &e {
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        _ => return Err(e.into()),
    };
    let page = render(state, user, None, Some(e.to_string())).await?;
    Ok(warp::reply::with_status(page, status).into_response())
}

/// The page as `user` sees it.
async fn render(
    state: &AppState,
    user: Viewer,
    link: Option<NewLink>,
    error: Option<String>,
) -> Answer {
    let people = &state.app.people;
    let everyone = people.list(Some(&user)).await?;
    let now = now_millis();
    let (mut active, mut deleted) = (Vec::new(), Vec::new());
    for p in everyone {
        match p.deleted_at {
            None => active.push(PersonRow {
                id: p.user.id.to_string(),
                is_you: p.user.id == user.id,
                is_admin: p.user.is_admin,
                has_password: p.has_password,
                photos: p.photos,
                size: human_bytes(p.bytes),
                last_seen: p
                    .last_seen
                    .map_or_else(|| "never".into(), |at| ago(at, now)),
                joined: ago(p.created_at, now),
                name: p.user.name,
            }),
            Some(at) => deleted.push(DeletedRow {
                id: p.user.id.to_string(),
                photos: p.photos,
                size: human_bytes(p.bytes),
                deleted: ago(at, now),
                purge: people.purge_at(&p).map_or_else(String::new, utc_minute),
                name: p.user.name,
            }),
        }
    }
    // A link's secret is in this answer alone: no cache may keep it.
    let mut resp = html(&PeoplePage {
        viewer: Some(user),
        urls: state.urls.clone(),
        active,
        deleted,
        link,
        error,
        link_days: LINK_DAYS,
    })?;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
