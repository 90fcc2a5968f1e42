//! A render worker: one thread that takes claimed jobs from the
//! dispatcher (see [`super::queue`]) one at a time, makes each job's
//! variants on the render threads — or takes them made by a render ahead
//! ([`super::ahead`]) — and hands them to the runtime to store and record.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use rayon::ThreadPool;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::ahead::Busy;
use super::leases::Held;
use super::outcome::{Outcome, persist, record};
use super::pipeline::{self, Encodes, RenderSettings, Rendered, Scratch};
use super::predecoded::{Decoded, Kept, Predecoded};
use crate::changes::Changes;
use crate::db::{ClaimedJob, Repo};
use crate::domain::now_millis;
use crate::metrics::Metrics;
use crate::model::Variant;
use crate::store::{BlobKey, Store, StoreError, StoreResult};

/// The I/O a worker needs around the pure pipeline.
#[derive(Clone)]
pub struct RenderDeps {
    pub db: Arc<dyn Repo>,
    pub store: Store,
    /// Told about every photo whose render moved on, and every photo
    /// that became `ready` or `failed`.
    pub changes: Changes,
    pub metrics: Metrics,
    /// This process among the nodes sharing the queue: the holder of its
    /// leases.
    pub node: Arc<str>,
}

/// A claimed job, handed by the dispatcher to a worker.
pub(super) struct Task {
    pub(super) job: ClaimedJob,
    /// Fetched by the dispatcher, so that a worker only computes.
    pub(super) original: StoreResult<Bytes>,
    /// Its place among the jobs claimed ahead of the workers.
    pub(super) slot: OwnedSemaphorePermit,
    pub(super) memory: Reservation,
}

/// Memory reserved for one render; given back (and counted) on drop.
pub(super) struct Reservation {
    pub(super) _permit: OwnedSemaphorePermit,
    pub(super) bytes: i64,
    pub(super) metrics: Metrics,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.metrics.render_memory_reserved.sub(self.bytes);
    }
}

/// What a worker thread renders with; shared by them all.
pub(super) struct Worker {
    pub(super) deps: RenderDeps,
    pub(super) settings: RenderSettings,
    pub(super) max_attempts: u32,
    /// How long writing an outcome is tried again: half the lease.
    pub(super) patience: Duration,
    /// When a render the storage kept from finishing is due again.
    pub(super) retry_after: Duration,
    pub(super) runtime: Handle,
    /// Bounds the jobs whose variants are still being stored and recorded.
    pub(super) finishing: Arc<Semaphore>,
    pub(super) held: Held,
    pub(super) predecoded: Predecoded,
    /// Counts the renders running, so that none starts ahead beside them.
    pub(super) busy: Busy,
}

impl Worker {
    /// Renders jobs until the channel closes, each on `pool`. Only the CPU
    /// half is done here: the original arrives with the job, and storing
    /// the variants and
    /// recording the outcome go to the runtime, so the thread moves on to
    /// the next job instead of waiting for fsyncs and a database commit.
    /// `done` is dropped when this thread and everything it handed off
    /// have finished.
    pub(super) fn serve(
        self: &Arc<Self>,
        rx: Receiver<Task>,
        done: mpsc::Sender<()>,
        pool: &ThreadPool,
    ) {
        let mut scratch = Scratch::default();
        while let Ok(task) = rx.recv() {
            let started = Instant::now();
            let Task {
                job,
                original,
                slot,
                memory,
            } = task;
            let m = &self.deps.metrics;
            m.renders_in_flight.inc();
            m.renders_in_flight_peak.set(
                m.renders_in_flight_peak
                    .get()
                    .max(m.renders_in_flight.get()),
            );
            // Nothing else waiting: the photo may have every render thread.
            let encodes = match rx.is_empty() {
                true => Encodes::Shared,
                false => Encodes::InTurn,
            };
            let running = self.busy.enter();
            let rendered = self.render(&job, original, pool, &mut scratch, encodes);
            drop(running);
            tracing::debug!(
                photo = %job.photo_id,
                ms = started.elapsed().as_millis() as u64,
                "variants made, to be stored"
            );
            m.renders_in_flight.dec();
            // The decoded pixels are gone: the next job may be admitted.
            drop((slot, memory));
            let Ok(permit) = self
                .runtime
                .block_on(self.finishing.clone().acquire_owned())
            else {
                return;
            };
            let (worker, done) = (self.clone(), done.clone());
            self.runtime.spawn(async move {
                let outcome = match rendered {
                    Ok(rendered) => worker.store(&job, rendered).await,
                    Err(outcome) => outcome,
                };
                let deps = &worker.deps;
                record(
                    deps,
                    &job,
                    outcome,
                    started,
                    worker.patience,
                    worker.retry_after,
                )
                .await;
                worker.held.remove(&job.id);
                drop((permit, done));
            });
        }
    }

    /// The CPU half of a job, made on `pool` unless a render ahead made
    /// it; an error is the job's outcome already.
    fn render(
        &self,
        job: &ClaimedJob,
        original: StoreResult<Bytes>,
        pool: &ThreadPool,
        scratch: &mut Scratch,
        encodes: Encodes,
    ) -> Result<Rendered, Outcome> {
        if job.attempts > self.max_attempts {
            return Err(Outcome::Failed(format!(
                "gave up after {} attempts",
                job.attempts - 1
            )));
        }
        let original = match original {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound) => {
                return Err(Outcome::Failed(
                    "the original is missing from the store".into(),
                ));
            }
            // The store's failure, not the photo's.
            Err(e) => return Err(Outcome::Wait(e.to_string())),
        };
        let largest = self.settings.largest_edge();
        let (source, decoded) = match self.predecoded.take(&job.hash, largest) {
            // Waited for here, not on a render thread, which its
            // encodes may need.
            Some(Kept::Ahead(made)) => match made.recv() {
                Ok(rendered) => {
                    self.counted("ahead");
                    return rendered.map_err(|e| Outcome::Failed(e.to_string()));
                }
                Err(_) => ("original", None),
            },
            Some(Kept::Planes(decoded)) => ("kept", Some(decoded)),
            None => ("original", None),
        };
        self.counted(source);
        pool.install(|| self.render_from(job, &original, decoded, scratch, encodes))
    }

    /// Renders `decoded` planes if kept, else `original`.
    fn render_from(
        &self,
        job: &ClaimedJob,
        original: &[u8],
        decoded: Option<Decoded>,
        scratch: &mut Scratch,
        encodes: Encodes,
    ) -> Result<Rendered, Outcome> {
        let rendered = catch_unwind(AssertUnwindSafe(|| match decoded {
            Some(kept) => kept.render(scratch, &self.settings, encodes),
            None => pipeline::render_with(scratch, original, job.format, &self.settings, encodes),
        }));
        match rendered {
            Ok(Ok(rendered)) => Ok(rendered),
            Ok(Err(e)) => Err(Outcome::Failed(e.to_string())),
            Err(panic) => {
                *scratch = Scratch::default();
                Err(Outcome::Failed(format!(
                    "the renderer crashed: {}",
                    panic_message(&panic)
                )))
            }
        }
    }

    /// Counts a render by what it started from.
    fn counted(&self, source: &str) {
        let sources = &self.deps.metrics.render_sources;
        sources.with_label_values(&[source]).inc();
    }

    /// Stores the variants (concurrently) and completes the job.
    async fn store(&self, job: &ClaimedJob, rendered: Rendered) -> Outcome {
        let store = &self.deps.store;
        let mut variants = Vec::with_capacity(rendered.variants.len());
        let mut puts = Vec::with_capacity(rendered.variants.len());
        for r in rendered.variants {
            let key = BlobKey::variant(
                &job.hash,
                &r.spec,
                &self.settings.encoding_tag(r.format),
                r.format,
            );
            variants.push(Variant {
                name: r.spec.name,
                format: r.format,
                width: r.width,
                height: r.height,
                byte_size: r.bytes.len() as u64,
                key: key.as_str().to_owned(),
            });
            puts.push(async move { store.put(&key, r.bytes.into()).await });
        }
        if let Err(e) = futures_util::future::try_join_all(puts).await {
            return Outcome::Wait(e.to_string());
        }
        let db = &self.deps.db;
        let completed = persist(self.patience, job, "a finished render", || {
            db.complete_job(
                &job.id,
                &job.photo_id,
                &variants,
                Some(&rendered.thumbhash),
                now_millis(),
            )
        })
        .await;
        match completed {
            Ok(true) => Outcome::Ready,
            Ok(false) => Outcome::Gone,
            Err(e) => Outcome::Wait(e.to_string()),
        }
    }
}

pub(super) fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
