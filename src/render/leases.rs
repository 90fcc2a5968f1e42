//! A node's hold on the render jobs it claimed, and what wakes it.
//!
//! Several nodes may share the queue (PostgreSQL). A claim is a lease held
//! by this node; [`renew_leases`] renews the leases of the jobs the node
//! still works on ([`Held`]), a third of the way through each, so a lease
//! can be short and a dead node's jobs come back to the others soon.
//! [`wake_on_notices`] wakes an idle dispatcher when another node queued
//! jobs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use crate::db::{Notice, Repo};
use crate::domain::{JobId, now_millis};

/// The jobs this node has claimed and not yet recorded the outcome of:
/// the leases its heartbeat renews.
#[derive(Clone, Default)]
pub(super) struct Held(Arc<Mutex<HashSet<JobId>>>);

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<JobId>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn add(&self, job: &JobId) {
        self.lock().insert(job.clone());
    }

    pub(super) fn remove(&self, job: &JobId) {
        self.lock().remove(job);
    }

    pub(super) fn all(&self) -> Vec<JobId> {
        self.lock().iter().cloned().collect()
    }
}

/// Renews, a third of the way through each lease, the leases of the jobs
/// this node holds, until `stop`.
pub(super) async fn renew_leases(
    db: Arc<dyn Repo>,
    node: Arc<str>,
    held: Held,
    lease_ms: i64,
    mut stop: watch::Receiver<bool>,
) {
    let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let jobs = held.all();
        if let Err(e) = db.renew_leases(&jobs, &node, now_millis(), lease_ms).await {
            // The leases may run out; another claim then renders the jobs
            // again, which is harmless (renders are idempotent).
            tracing::warn!(error = %e, jobs = jobs.len(), "cannot renew render leases");
        }
    }
}

/// Calls `wake` (the dispatcher's) when another node queued jobs, or
/// notices may have been missed, until `stop`.
pub(super) async fn wake_on_notices(
    mut notices: broadcast::Receiver<Notice>,
    wake: impl Fn(),
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let notice = tokio::select! {
            n = notices.recv() => n,
            _ = stop.wait_for(|s| *s) => return,
        };
        match notice {
            Ok(Notice::Jobs | Notice::Resync) | Err(RecvError::Lagged(_)) => wake(),
            Ok(Notice::Change { .. }) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
