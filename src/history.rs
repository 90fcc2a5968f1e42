//! The last hour of what an operator watches, for the admin page's charts:
//! render queue depth, renders and failures (charted per minute), cache
//! lookups (charted as a hit ratio) and storage used.
//!
//! Every [`INTERVAL`] each node records in the database what it counted
//! since its previous sample, and the gauges it read ([`NodeSample`]). The
//! page adds every node's samples up per interval, so it shows the same
//! figures whichever node serves it, and they outlive a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounterVec;
use prometheus::core::Collector;

use crate::db::{DbResult, Repo};
use crate::domain::{Millis, now_millis};
use crate::metrics::Metrics;
use crate::model::NodeSample;

/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(15);
/// How far back the charts reach.
pub const WINDOW: Duration = Duration::from_secs(3600);

const INTERVAL_MS: Millis = INTERVAL.as_millis() as Millis;
const WINDOW_MS: Millis = WINDOW.as_millis() as Millis;

/// One point of the charts. Counters are totals since the start of the
/// hour shown; charts use differences between points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: Millis,
    pub queue_depth: u64,
    pub renders_ready: u64,
    pub renders_failed: u64,
    pub cache_hits: u64,
    pub cache_lookups: u64,
    pub storage_bytes: u64,
}

/// Sum of a counter vec over the series whose `label` is `value` (all
/// series when `label` is empty).
fn counter_sum(vec: &IntCounterVec, label: &str, value: &str) -> u64 {
    vec.collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .filter(|m| {
            label.is_empty()
                || m.get_label()
                    .iter()
                    .any(|l| l.name() == label && l.value() == value)
        })
        .map(|m| m.get_counter().value() as u64)
        .sum()
}

/// This process's counters, totals since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    ready: u64,
    failed: u64,
    hits: u64,
    lookups: u64,
}

impl Counters {
    fn read(metrics: &Metrics) -> Self {
        Self {
            ready: counter_sum(&metrics.renders, "outcome", "ready"),
            failed: counter_sum(&metrics.renders, "outcome", "failed"),
            hits: counter_sum(&metrics.cache_lookups, "result", "hit"),
            lookups: counter_sum(&metrics.cache_lookups, "", ""),
        }
    }

    /// What was counted after `earlier`.
    fn since(self, earlier: Self) -> Self {
        Self {
            ready: self.ready.saturating_sub(earlier.ready),
            failed: self.failed.saturating_sub(earlier.failed),
            hits: self.hits.saturating_sub(earlier.hits),
            lookups: self.lookups.saturating_sub(earlier.lookups),
        }
    }
}

/// This node's side of the hour: what it recorded last. Cheap to clone.
#[derive(Clone)]
pub struct History {
    node: Arc<str>,
    recorded: Arc<Mutex<Counters>>,
}

impl History {
    /// The history that node `node` records into.
    pub fn new(node: &str) -> Self {
        Self {
            node: node.into(),
            recorded: Arc::default(),
        }
    }

    fn recorded(&self) -> Counters {
        *self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records in the database what this node counted since its previous
    /// sample, with the gauges read now.
    pub async fn record(&self, db: &dyn Repo, metrics: &Metrics) -> DbResult<()> {
        let counters = Counters::read(metrics);
        let counted = counters.since(self.recorded());
        let taken_at = now_millis();
        let sample = NodeSample {
            taken_at,
            renders_ready: counted.ready,
            renders_failed: counted.failed,
            cache_hits: counted.hits,
            cache_lookups: counted.lookups,
            queue_depth: db.queue_depth().await?,
            storage_bytes: db.storage_used().await?,
        };
        db.record_sample(&self.node, &sample, taken_at - WINDOW_MS)
            .await?;
        *self.recorded.lock().unwrap_or_else(|e| e.into_inner()) = counters;
        Ok(())
    }

    /// Records a sample every [`INTERVAL`] until `stopping` turns true.
    pub async fn run(
        self,
        db: Arc<dyn Repo>,
        metrics: Metrics,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.changed() => return,
            }
            if let Err(e) = self.record(db.as_ref(), &metrics).await {
                tracing::warn!(error = %e, "cannot record the admin figures");
            }
        }
    }

    /// The last hour, every node's samples added up per interval, oldest
    /// first, and a last point read now (this node's counters since it
    /// last recorded; the gauges from the database).
    pub async fn samples(&self, db: &dyn Repo, metrics: &Metrics) -> DbResult<Vec<Sample>> {
        let now = now_millis();
        let mut points = added_up(&db.samples_since(now - WINDOW_MS).await?);
        let unrecorded = Counters::read(metrics).since(self.recorded());
        let last = points.last().copied().unwrap_or(Sample {
            at: now - INTERVAL_MS,
            queue_depth: 0,
            renders_ready: 0,
            renders_failed: 0,
            cache_hits: 0,
            cache_lookups: 0,
            storage_bytes: 0,
        });
        if points.is_empty() {
            points.push(last);
        }
        points.push(Sample {
            at: now.max(last.at + 1),
            queue_depth: db.queue_depth().await?,
            renders_ready: last.renders_ready + unrecorded.ready,
            renders_failed: last.renders_failed + unrecorded.failed,
            cache_hits: last.cache_hits + unrecorded.hits,
            cache_lookups: last.cache_lookups + unrecorded.lookups,
            storage_bytes: db.storage_used().await?,
        });
        Ok(points)
    }
}

/// Every node's samples added up per interval: counters summed and made
/// running totals (from a zero point one interval before the first),
/// gauges the largest any node read.
fn added_up(samples: &[NodeSample]) -> Vec<Sample> {
    let mut intervals: BTreeMap<Millis, NodeSample> = BTreeMap::new();
    for s in samples {
        let sum = intervals
            .entry(s.taken_at.div_euclid(INTERVAL_MS))
            .or_default();
        sum.taken_at = sum.taken_at.max(s.taken_at);
        sum.renders_ready += s.renders_ready;
        sum.renders_failed += s.renders_failed;
        sum.cache_hits += s.cache_hits;
        sum.cache_lookups += s.cache_lookups;
        sum.queue_depth = sum.queue_depth.max(s.queue_depth);
        sum.storage_bytes = sum.storage_bytes.max(s.storage_bytes);
    }
    let mut points = Vec::with_capacity(intervals.len() + 1);
    let mut total = Sample {
        at: 0,
        queue_depth: 0,
        renders_ready: 0,
        renders_failed: 0,
        cache_hits: 0,
        cache_lookups: 0,
        storage_bytes: 0,
    };
    for (i, s) in intervals.values().enumerate() {
        if i == 0 {
            points.push(Sample {
                at: s.taken_at - INTERVAL_MS,
                ..total
            });
        }
        total = Sample {
            at: s.taken_at,
            queue_depth: s.queue_depth,
            renders_ready: total.renders_ready + s.renders_ready,
            renders_failed: total.renders_failed + s.renders_failed,
            cache_hits: total.cache_hits + s.cache_hits,
            cache_lookups: total.cache_lookups + s.cache_lookups,
            storage_bytes: s.storage_bytes,
        };
        points.push(total);
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(taken_at: Millis, ready: u64, queue: u64) -> NodeSample {
        NodeSample {
            taken_at,
            renders_ready: ready,
            queue_depth: queue,
            ..NodeSample::default()
        }
    }

    #[test]
    fn nodes_add_up_per_interval() {
        let t = 1_000 * INTERVAL_MS;
        // Two nodes in the first interval, one in the next.
        let points = added_up(&[
            node(t + 10, 2, 5),
            node(t + 900, 3, 4),
            node(t + INTERVAL_MS + 5, 1, 0),
        ]);
        let totals: Vec<(Millis, u64, u64)> = points
            .iter()
            .map(|p| (p.at, p.renders_ready, p.queue_depth))
            .collect();
        assert_eq!(
            totals,
            [
                (t + 900 - INTERVAL_MS, 0, 0),
                (t + 900, 5, 5),
                (t + INTERVAL_MS + 5, 6, 0)
            ]
        );
        assert!(added_up(&[]).is_empty());
    }

    #[test]
    fn sums_counters_by_label() {
        let metrics = Metrics::new();
        metrics
            .cache_lookups
            .with_label_values(&["photo", "hit"])
            .inc_by(3);
        metrics
            .cache_lookups
            .with_label_values(&["media", "hit"])
            .inc_by(2);
        metrics
            .cache_lookups
            .with_label_values(&["media", "miss"])
            .inc_by(5);
        assert_eq!(counter_sum(&metrics.cache_lookups, "result", "hit"), 5);
        assert_eq!(counter_sum(&metrics.cache_lookups, "", ""), 10);
        let counted = Counters::read(&metrics).since(Counters {
            hits: 1,
            ..Counters::default()
        });
        assert_eq!((counted.hits, counted.lookups), (4, 10));
    }
}
