//! What operators and load balancers ask: is this node ready, the
//! Prometheus text, and the admin page's hour of figures.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::{AppError, AppResult};
use crate::auth;
use crate::db::Repo;
use crate::disk::SpaceFloor;
use crate::history::{History, Sample};
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct Ops {
    db: Arc<dyn Repo>,
    store: Store,
    metrics: Metrics,
    history: History,
    /// `/readyz` fails while a local disk is below it.
    floor: SpaceFloor,
    /// The hash of `metrics.token`, when one is set.
    metrics_token: Option<String>,
}

impl Ops {
    pub(super) fn new(
        db: Arc<dyn Repo>,
        store: Store,
        metrics: Metrics,
        history: History,
        floor: SpaceFloor,
        metrics_token: &str,
    ) -> Self {
        Self {
            db,
            store,
            metrics,
            history,
            floor,
            metrics_token: (!metrics_token.is_empty()).then(|| auth::token_hash(metrics_token)),
        }
    }

    /// `Err` with the reason when the database or the store does not
    /// answer, or a local disk is below the free-space floor.
    pub async fn ready(&self) -> Result<(), String> {
        self.floor.check().map_err(|e| e.to_string())?;
        self.db.ping().await.map_err(|e| format!("database: {e}"))?;
        self.store.ping().await.map_err(|e| format!("store: {e}"))?;
        Ok(())
    }

    /// Every metric in the Prometheus text format, the queue depth read
    /// now; [`AppError::Unauthorized`] when `metrics.token` is set and
    /// `bearer` is not it (compared as hashes, in constant time).
    pub async fn metrics_text(&self, bearer: Option<&str>) -> AppResult<String> {
        if let Some(expected) = &self.metrics_token {
            let presented = auth::token_hash(bearer.unwrap_or_default());
            if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(AppError::Unauthorized);
            }
        }
        match self.db.queue_depth().await {
            Ok(n) => self
                .metrics
                .render_queue_depth
                .set(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) => tracing::warn!(error = %e, "cannot read render queue depth"),
        }
        Ok(self.metrics.render())
    }

    /// The hour every node recorded, added up, plus a point taken now,
    /// oldest first, so the admin page is current even between samples
    /// (and right after start).
    pub async fn samples(&self) -> AppResult<Vec<Sample>> {
        Ok(self
            .history
            .samples(self.db.as_ref(), &self.metrics)
            .await?)
    }
}
