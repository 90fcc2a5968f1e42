//! What a load balancer and a monitoring system ask: `/healthz` (the process
//! is alive), `/readyz` (database and store answer, not draining) and
//! `/metrics` (Prometheus text).

use std::sync::atomic::Ordering;

use warp::Reply;
use warp::http::{Method, StatusCode};

use super::error::Answer;
use super::extract::bearer;
use super::state::AppState;

pub async fn healthz(_method: Method) -> Answer {
    Ok("ok\n".into_response())
}

pub async fn readyz(_method: Method, state: AppState) -> Answer {
    let (status, body) = if state.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining".to_owned())
    } else {
        match state.app.ops.ready().await {
            Ok(()) => (StatusCode::OK, "ready".to_owned()),
            Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
        }
    };
    Ok(warp::reply::with_status(
        warp::reply::json(&serde_json::json!({ "status": body })),
        status,
    )
    .into_response())
}

pub async fn metrics(authorization: Option<String>, state: AppState) -> Answer {
    let bearer = authorization.as_deref().and_then(bearer);
    Ok(warp::reply::with_header(
        state.app.ops.metrics_text(bearer).await?,
        "content-type",
        "text/plain; version=0.0.4; charset=utf-8",
    )
    .into_response())
}
