//! What operators and load balancers ask: is this node ready, the
//! Prometheus text, and the admin page's hour of figures.

use std::sync::Arc;

use super::AppResult;
use crate::db::Repo;
use crate::history::{History, Sample};
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct Ops {
    db: Arc<dyn Repo>,
    store: Store,
    metrics: Metrics,
    history: History,
}

impl Ops {
    pub(super) fn new(db: Arc<dyn Repo>, store: Store, metrics: Metrics, history: History) -> Self {
        Self {
            db,
            store,
            metrics,
            history,
        }
    }

    /// `Err` with the reason when the database or the store does not answer.
    pub async fn ready(&self) -> Result<(), String> {
        self.db.ping().await.map_err(|e| format!("database: {e}"))?;
        self.store.ping().await.map_err(|e| format!("store: {e}"))?;
        Ok(())
    }

    /// Every metric in the Prometheus text format, the queue depth read now.
    pub async fn metrics_text(&self) -> String {
        match self.db.queue_depth().await {
            Ok(n) => self
                .metrics
                .render_queue_depth
                .set(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) => tracing::warn!(error = %e, "cannot read render queue depth"),
        }
        self.metrics.render()
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
