//! The last hour of what an operator watches, sampled in-process every
//! [`INTERVAL`] for the admin page's charts: render queue depth, renders
//! and failures (cumulative, charted per minute), cache lookups (charted as
//! a hit ratio) and storage used.
//!
//! Each copy of Scoot keeps its own hour; the numbers that come from the
//! database (queue, storage) are the same in every copy, the counters are
//! this copy's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounterVec;
use prometheus::core::Collector;

use crate::db::{DbResult, Repo};
use crate::domain::{Millis, now_millis};
use crate::metrics::Metrics;

/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(15);
/// How far back the charts reach.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// One reading. Counters are totals since start; charts use differences.
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

impl Sample {
    /// Reads the figures now.
    pub async fn take(db: &dyn Repo, metrics: &Metrics) -> DbResult<Self> {
        Ok(Self {
            at: now_millis(),
            queue_depth: db.queue_depth().await?,
            renders_ready: counter_sum(&metrics.renders, "outcome", "ready"),
            renders_failed: counter_sum(&metrics.renders, "outcome", "failed"),
            cache_hits: counter_sum(&metrics.cache_lookups, "result", "hit"),
            cache_lookups: counter_sum(&metrics.cache_lookups, "", ""),
            storage_bytes: db.storage_used().await?,
        })
    }
}

/// The samples of the last [`WINDOW`], oldest first.
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<VecDeque<Sample>>>);

impl History {
    pub fn record(&self, sample: Sample) {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let horizon = sample.at - WINDOW.as_millis() as i64;
        while samples.front().is_some_and(|s| s.at < horizon) {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    pub fn samples(&self) -> Vec<Sample> {
        let samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().copied().collect()
    }

    /// Samples every [`INTERVAL`] until `stopping` turns true.
    pub async fn run(
        self,
        db: Arc<dyn Repo>,
        metrics: Metrics,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.changed() => return,
            }
            match Sample::take(db.as_ref(), &metrics).await {
                Ok(sample) => self.record(sample),
                Err(e) => tracing::warn!(error = %e, "cannot sample the admin figures"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: Millis) -> Sample {
        Sample {
            at,
            queue_depth: 0,
            renders_ready: 0,
            renders_failed: 0,
            cache_hits: 0,
            cache_lookups: 0,
            storage_bytes: 0,
        }
    }

    #[test]
    fn keeps_one_window() {
        let h = History::default();
        let hour = WINDOW.as_millis() as i64;
        for t in [0, 1000, hour, hour + 1001] {
            h.record(at(t));
        }
        let kept: Vec<Millis> = h.samples().iter().map(|s| s.at).collect();
        assert_eq!(kept, [hour, hour + 1001]);
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
    }
}
