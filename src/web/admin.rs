//! `/admin`: what an operator looks at, for admins only. The last hour as
//! small charts ([`super::charts`]), the most recent render failures with
//! their reasons, and every user's API tokens: an administrator makes one
//! for themselves (its secret shown once, in that answer alone) and
//! revokes anyone's — the same as `scoot token create/list/revoke`.

use serde::Deserialize;
use warp::http::header;

use super::charts::operator_charts;
use super::error::{Answer, Failure};
use super::extract::{NoFields, Viewer};
use super::pages::{AdminPage, FailureRow, TokenRow, ago, alt_text, html};
use super::respond::{admin_only, see_other};
use super::state::AppState;
use crate::domain::{now_millis, utc_minute};

/// The lifetimes a token made on the page may have, in days (0: forever).
pub const TOKEN_LIFETIMES: &[(u32, &str)] = &[
    (0, "never"),
    (30, "in 30 days"),
    (90, "in 90 days"),
    (365, "in a year"),
];

/// Failures listed on the page.
const FAILURES_SHOWN: u32 = 20;

/// `GET /admin`: admins only; others are sent to log in or refused.
pub async fn page(viewer: Option<Viewer>, state: AppState) -> Answer {
    match admin_only(viewer, "/admin")? {
        Ok(user) => render(&state, user, None).await,
        Err(login) => Ok(login),
    }
}

/// The admin page for `user`, showing `new_token`'s secret once when one
/// was just created.
pub async fn render(state: &AppState, user: Viewer, new_token: Option<String>) -> Answer {
    let samples = state.app.ops.samples().await?;
    let now = now_millis();
    let charts = operator_charts(&samples, now);
    let failures = state
        .app
        .photos
        .recent_failures(FAILURES_SHOWN)
        .await?
        .into_iter()
        .map(|p| FailureRow {
            id: p.id.to_string(),
            name: alt_text(&p),
            reason: p.error.clone().unwrap_or_default(),
            when: ago(p.updated_at, now),
        })
        .collect();
    let tokens = state
        .app
        .accounts
        .api_tokens(None)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            expired: t.expires_at.is_some_and(|at| at <= now),
            created: utc_minute(t.created_at),
            last_used: t.last_used_at.map(|at| ago(at, now)),
            expires: t.expires_at.map(utc_minute),
            id: t.id,
            owner: t.owner,
            label: t.label,
        })
        .collect();
    // The secret is in this answer alone: no cache may keep it.
    let mut resp = html(&AdminPage {
        viewer: Some(user),
        urls: state.urls.clone(),
        charts,
        failures,
        tokens,
        new_token,
        token_lifetimes: TOKEN_LIFETIMES,
        sample_seconds: crate::history::INTERVAL.as_secs(),
    })?;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// The largest token form read.
pub const TOKEN_FORM_LIMIT: u64 = 4 * 1024;

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    label: String,
    /// 0 for a token that never expires.
    #[serde(default)]
    expires_in_days: u32,
}

/// `POST /admin/tokens`: a token for the administrator, shown once.
pub async fn create_token(viewer: Option<Viewer>, form: NewToken, state: AppState) -> Answer {
    let user = match admin_only(viewer, "/admin")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    if !TOKEN_LIFETIMES
        .iter()
        .any(|&(d, _)| d == form.expires_in_days)
    {
        return Err(Failure::bad_request("choose one of the offered expiries").html());
    }
    let lifetime = (form.expires_in_days > 0).then_some(form.expires_in_days);
    let label = match form.label.trim() {
        "" => "admin page",
        label => label,
    };
    let secret = state
        .app
        .accounts
        .api_token(&user.name, label, lifetime)
        .await
        .map_err(|e| Failure::from(e).html())?;
    render(&state, user, Some(secret)).await
}

/// `POST /admin/tokens/{id}/revoke`: back to the list.
pub async fn revoke_token(
    id: String,
    viewer: Option<Viewer>,
    _: NoFields,
    state: AppState,
) -> Answer {
    let user = match admin_only(viewer, "/admin")? {
        Ok(user) => user,
        Err(login) => return Ok(login),
    };
    state
        .app
        .accounts
        .revoke_api_token(&id, Some(&user))
        .await
        .map_err(|e| Failure::from(e).html())?;
    Ok(see_other("/admin#tokens"))
}
