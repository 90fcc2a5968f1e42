//! What a load balancer and a monitoring system ask: `/healthz` (the process
//! is alive), `/readyz` (database and store answer, not draining) and
//! `/metrics` (Prometheus text).

use std::sync::atomic::Ordering;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::{AppState, with_state};

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get().or(warp::head()).unify())
        .map(|| "ok\n".into_response());

    let readyz = warp::path!("readyz")
        .and(warp::get().or(warp::head()).unify())
        .and(with_state(state.clone()))
        .then(|state: AppState| async move {
            let (status, body) = readiness(&state).await;
            warp::reply::with_status(
                warp::reply::json(&serde_json::json!({ "status": body })),
                status,
            )
            .into_response()
        });

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state))
        .then(|state: AppState| async move {
            match state.db.queue_depth().await {
                Ok(n) => state
                    .metrics
                    .render_queue_depth
                    .set(i64::try_from(n).unwrap_or(i64::MAX)),
                Err(e) => tracing::warn!(error = %e, "cannot read render queue depth"),
            }
            warp::reply::with_header(
                state.metrics.render(),
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .into_response()
        });

    healthz.or(readyz).unify().or(metrics).unify()
}

async fn readiness(state: &AppState) -> (StatusCode, String) {
    if state.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining".into());
    }
    if let Err(e) = state.db.ping().await {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}"));
    }
    if let Err(e) = state.store.ping().await {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}"));
    }
    (StatusCode::OK, "ready".into())
}
