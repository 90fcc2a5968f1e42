//! The trash: the owner's page (`/trash`, with restore and delete-for-good
//! forms that post back and redirect, and a confirmation page before
//! anything is deleted for good) and the JSON API under `/api/trash`. The
//! rules are `app::trash`'.

use serde::Deserialize;
use warp::Reply;
use warp::http::StatusCode;

use super::error::{Answer, Failure};
use super::extract::{NoFields, Viewer};
use super::json::{PhotoJson, TrashList, TrashedJson, cursor_param};
use super::pages::{ConfirmPage, Sources, TrashItem, TrashPage, alt_text, html, until};
use super::placeholder;
use super::respond::see_other;
use super::state::AppState;
use crate::app::trash::Trashed;
use crate::domain::{PhotoId, now_millis};

#[derive(Deserialize)]
pub struct TrashQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// How many photos a trash page shows.
const PAGE: u32 = 60;

/// `GET /api/trash`: the asker's trash, the most recently deleted first.
pub async fn list_json(q: TrashQuery, user: Viewer, state: AppState) -> Answer {
    let cursor = cursor_param(q.cursor.as_deref())?;
    let (listed, next) = state
        .app
        .trash
        .list(&user, q.limit.unwrap_or(PAGE), cursor.as_ref())
        .await?;
    let body = TrashList {
        photos: listed
            .iter()
            .map(|t| TrashedJson {
                photo: PhotoJson::for_viewer(&t.photo, Some(&user), &state.urls),
                trashed_at: t.photo.trashed_at.unwrap_or_default(),
                purge_at: t.purge_at,
            })
            .collect(),
        next_cursor: next.map(|c| c.encode()),
    };
    Ok(warp::reply::json(&body).into_response())
}

/// `POST /api/trash/{id}/restore`: the photo, back where it was.
pub async fn restore_json(id: PhotoId, user: Viewer, state: AppState) -> Answer {
    let photo = state.app.trash.restore(&user, &id).await?;
    let json = PhotoJson::for_viewer(&photo, Some(&user), &state.urls);
    Ok(warp::reply::json(&json).into_response())
}

/// `DELETE /api/trash/{id}`: deleted for good.
pub async fn purge_json(id: PhotoId, user: Viewer, state: AppState) -> Answer {
    state.app.trash.purge(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/trash`: everything in the asker's trash, for good.
pub async fn empty_json(user: Viewer, state: AppState) -> Answer {
    let purged = state.app.trash.empty(&user).await?;
    Ok(warp::reply::json(&serde_json::json!({ "purged": purged })).into_response())
}

/// `GET /trash`.
pub async fn page(q: TrashQuery, viewer: Option<Viewer>, state: AppState) -> Answer {
    let Some(user) = viewer else {
        return Ok(see_other("/login?next=/trash"));
    };
    let cursor = cursor_param(q.cursor.as_deref())?;
    let (listed, next) = state.app.trash.list(&user, PAGE, cursor.as_ref()).await?;
    let now = now_millis();
    let items = listed.iter().map(|t| item(t, &state, now)).collect();
    Ok(html(&TrashPage {
        viewer: Some(user),
        urls: state.urls.clone(),
        items,
        days: state.app.trash.days(),
        next: next.map(|c| format!("/trash?cursor={}", c.encode())),
    })?)
}

/// `POST /trash/{id}/restore`.
pub async fn restore(id: PhotoId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    state.app.trash.restore(&user, &id).await?;
    Ok(see_other("/trash"))
}

/// `GET /trash/{id}/delete`: asks before deleting for good.
pub async fn confirm_purge(id: PhotoId, viewer: Option<Viewer>, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    let photo = state.app.trash.find(&user, &id).await?;
    let name = alt_text(&photo);
    Ok(html(&ConfirmPage {
        viewer: Some(user),
        urls: state.urls.clone(),
        heading: format!("Delete “{name}” for good?"),
        message: "It cannot be restored afterwards.".into(),
        action: format!("/trash/{id}/delete"),
        button: "Delete for good",
        cancel: "/trash",
    })?)
}

/// `POST /trash/{id}/delete`.
pub async fn purge(id: PhotoId, viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    state.app.trash.purge(&user, &id).await?;
    Ok(see_other("/trash"))
}

/// `GET /trash/empty`: asks before emptying the trash.
pub async fn confirm_empty(viewer: Option<Viewer>, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    Ok(html(&ConfirmPage {
        viewer: Some(user),
        urls: state.urls.clone(),
        heading: "Empty the trash?".into(),
        message: "Every photo in your trash will be deleted for good. It cannot be undone.".into(),
        action: "/trash/empty".into(),
        button: "Empty trash",
        cancel: "/trash",
    })?)
}

/// `POST /trash/empty`.
pub async fn empty(viewer: Option<Viewer>, _: NoFields, state: AppState) -> Answer {
    let user = viewer.ok_or_else(Failure::unauthorized)?;
    state.app.trash.empty(&user).await?;
    Ok(see_other("/trash"))
}

fn item(t: &Trashed, state: &AppState, now: i64) -> TrashItem {
    let p = &t.photo;
    TrashItem {
        id: p.id.to_string(),
        alt: alt_text(p),
        img: Sources::of(p, "thumb", &state.urls),
        placeholder: p.thumbhash.as_deref().and_then(placeholder::preview),
        purge_in: until(t.purge_at, now),
    }
}
