//! The render queue (Celery + RabbitMQ of the classic stack): durable jobs in
//! the database, a dispatcher that claims them, and a pool of workers.
//!
//! ```text
//!  upload ──commit job──▶ render_jobs ◀──claim── dispatcher (tokio task):
//!                                                  reserve memory, fetch original
//!                                                  │ crossbeam (bounded)
//!                                                  ▼
//!                              workers (threads): pipeline::render, run on
//!                              the render threads (rayon pool)
//!                                                  │ tokio::spawn
//!                                                  ▼
//!                              finish (runtime): put variants, commit, notify
//! ```
//!
//! A photo just uploaded may find its original already decoded: the
//! upload's check keeps the planes when it can ([`super::predecoded`]), and
//! the worker takes them instead of decoding again.
//!
//! Render threads only compute. The dispatcher keeps two jobs per worker
//! claimed (one rendering, one waiting with its original already read), and
//! a worker hands the encoded variants to the runtime to store and record,
//! so no render thread sits idle on an fsync, a commit or the next claim:
//! with two threads that idling left a fifth of the CPU unused. A claimed
//! job that waits in the channel is covered by its lease like a running
//! one: after a crash, the lease running out brings it back.
//!
//! A worker thread takes one job at a time and runs its render on the
//! render threads, one per core or per worker, whichever is more. When no
//! other job waits, the render's encodes are tasks any render thread may
//! take (see `super::variants`), so one photo alone on an idle machine
//! uses every core; under a bulk import each render keeps to its own
//! thread, and `render.threads` jobs run at once, as before.
//!
//! Several nodes may share the queue (PostgreSQL). A claim is a lease held
//! by this node ([`RenderDeps::node`]), renewed while the node works on
//! the job (`super::leases`); a notice that jobs were queued wakes an idle
//! dispatcher, and an idle one also polls every second.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use rayon::ThreadPool;
use tokio::runtime::Handle;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::leases::{Held, renew_leases, wake_on_notices};
use super::outcome::{Outcome, persist, record};
use super::pipeline::{self, Encodes, RenderSettings, Rendered, Scratch};
use super::predecoded::Predecoded;
use crate::changes::Changes;
use crate::config::RenderConfig;
use crate::db::{ClaimedJob, Repo};
use crate::domain::now_millis;
use crate::metrics::Metrics;
use crate::model::Variant;
use crate::store::{BlobKey, Store, StoreError, StoreResult};

/// How often an idle dispatcher looks for jobs whose retry time has come.
const IDLE_POLL: Duration = Duration::from_secs(1);

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

/// A cheap handle for waking the dispatcher after committing a job, and
/// for leaving it the planes an upload's check decoded.
#[derive(Clone)]
pub struct RenderQueue {
    wake: Arc<Notify>,
    predecoded: Predecoded,
}

impl RenderQueue {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Where an upload's check leaves what it decoded for the render.
    pub fn predecoded(&self) -> &Predecoded {
        &self.predecoded
    }
}

/// The share of `render.memory_budget_mb` that planes decoded at upload may
/// take while they wait for their render (64 MiB of the default 1 GiB:
/// room for seven 12 MP photos by the 4:4:4 estimate a check makes before
/// decoding, though their 4:2:0 planes take half that).
const PREDECODED_SHARE: u64 = 16;

/// The running pool. Dropping it does not stop it; call [`shutdown`](Self::shutdown).
pub struct RenderPool {
    queue: RenderQueue,
    stop: watch::Sender<bool>,
    dispatcher: tokio::task::JoinHandle<()>,
    workers_done: mpsc::Receiver<()>,
}

struct Task {
    job: ClaimedJob,
    /// Fetched by the dispatcher, so that a worker only computes.
    original: StoreResult<Bytes>,
    _slot: OwnedSemaphorePermit,
    _memory: Reservation,
}

impl RenderPool {
    /// Starts the dispatcher and `cfg.effective_threads()` workers. Must be
    /// called inside a tokio runtime.
    pub fn start(cfg: RenderConfig, settings: RenderSettings, deps: RenderDeps) -> Self {
        let threads = cfg.effective_threads();
        let nice = cfg.nice;
        // One job rendering and one ready to go per worker, so a worker never
        // waits for the dispatcher's next claim.
        let depth = threads * 2;
        let (tx, rx) = crossbeam_channel::bounded::<Task>(depth);
        let (done_tx, workers_done) = mpsc::channel::<()>(1);
        // A thread per core at least, so that a photo rendered alone can
        // spread its encodes over every core; jobs at once stay `threads`.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(crate::config::cores()))
            .thread_name(|i| format!("render-{i}"))
            .start_handler(move |_| lower_priority(nice))
            // Rayon aborts the process on a panic without a handler; a
            // render must never take the site down.
            .panic_handler(|p| tracing::error!("render thread panicked: {}", panic_message(&p)))
            .build()
            .expect("spawning render threads");
        let pool = Arc::new(pool);
        let held = Held::default();
        let queue = RenderQueue {
            wake: Arc::default(),
            predecoded: Predecoded::new(
                settings.largest_edge(),
                (u64::from(cfg.memory_budget_mb) << 20) / PREDECODED_SHARE,
            ),
        };
        let worker = Arc::new(Worker {
            deps: deps.clone(),
            settings,
            max_attempts: cfg.max_attempts,
            patience: Duration::from_secs(u64::from(cfg.lease_seconds) / 2),
            retry_after: Duration::from_secs(u64::from(cfg.retry_seconds)),
            runtime: Handle::current(),
            finishing: Arc::new(Semaphore::new(depth)),
            held: held.clone(),
            predecoded: queue.predecoded.clone(),
        });
        for i in 0..threads {
            let (rx, worker, done) = (rx.clone(), worker.clone(), done_tx.clone());
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("render-worker-{i}"))
                .spawn(move || {
                    lower_priority(nice);
                    worker.serve(rx, done, &pool);
                })
                .expect("spawning render workers");
        }
        let (stop, stop_rx) = watch::channel(false);
        let budget_mb = cfg.memory_budget_mb.max(1);
        let lease_ms = i64::from(cfg.lease_seconds) * 1000;
        tokio::spawn(renew_leases(
            deps.db.clone(),
            deps.node.clone(),
            held.clone(),
            lease_ms,
            stop_rx.clone(),
        ));
        if let Some(notices) = deps.db.listen() {
            let queue = queue.clone();
            tokio::spawn(wake_on_notices(
                notices,
                move || queue.wake(),
                stop_rx.clone(),
            ));
        }
        let dispatcher = tokio::spawn(
            Dispatcher {
                db: deps.db.clone(),
                store: deps.store.clone(),
                node: deps.node.clone(),
                lease_ms,
                held,
                tx,
                slots: Arc::new(Semaphore::new(depth)),
                memory: Arc::new(Semaphore::new(budget_mb as usize)),
                budget_mb,
                settings: worker.settings.clone(),
                metrics: deps.metrics.clone(),
                queue: queue.clone(),
                stop: stop_rx,
            }
            .run(),
        );
        tracing::info!(threads, jpeg = super::jpeg::CODEC, "render pool started");
        Self {
            queue,
            stop,
            dispatcher,
            workers_done,
        }
    }

    pub fn queue(&self) -> RenderQueue {
        self.queue.clone()
    }

    /// Stops claiming jobs, lets running renders finish (up to `grace`), and
    /// returns. Jobs not started stay queued in the database.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = self.dispatcher.await;
        if tokio::time::timeout(grace, self.workers_done.recv())
            .await
            .is_err()
        {
            tracing::warn!("render workers still busy after {grace:?}; their leases will expire");
        }
    }
}

/// Lowers the calling thread's CPU priority to niceness `nice` (Linux sets
/// it per thread), so that renders yield to serving requests: an import
/// of a thousand photos must not make the gallery slow. Never raises it.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let current = getpriority_process(None).unwrap_or(0);
    if nice > current {
        if let Err(e) = setpriority_process(Some(rustix::thread::gettid()), nice) {
            tracing::warn!(nice, error = %e, "cannot lower the render threads' priority");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

/// Claims jobs and hands them to workers, up to two per worker, admitting
/// each only when its estimated memory fits in the budget.
struct Dispatcher {
    db: Arc<dyn Repo>,
    store: Store,
    node: Arc<str>,
    lease_ms: i64,
    held: Held,
    tx: Sender<Task>,
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    budget_mb: u32,
    settings: RenderSettings,
    metrics: Metrics,
    queue: RenderQueue,
    stop: watch::Receiver<bool>,
}

/// Memory reserved for one render; given back (and counted) on drop.
struct Reservation {
    _permit: OwnedSemaphorePermit,
    bytes: i64,
    metrics: Metrics,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.metrics.render_memory_reserved.sub(self.bytes);
    }
}

impl Dispatcher {
    async fn run(mut self) {
        loop {
            let first = tokio::select! {
                slot = self.slots.clone().acquire_owned() => slot.expect("semaphore never closed"),
                _ = self.stop.changed() => break,
            };
            // One claim for every idle worker: fewer write transactions.
            let mut free = vec![first];
            while let Ok(slot) = self.slots.clone().try_acquire_owned() {
                free.push(slot);
            }
            let claimed = self
                .db
                .claim_jobs(free.len() as u32, now_millis(), self.lease_ms, &self.node)
                .await;
            let idle = match claimed {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in &jobs {
                        self.held.add(&job.id);
                    }
                    for (job, slot) in jobs.into_iter().zip(free) {
                        let Some(memory) = self.reserve(&job).await else {
                            return; // stopping; the lease brings the job back
                        };
                        let original = self
                            .store
                            .get(&BlobKey::original(&job.hash, job.format))
                            .await
                            .map(|(bytes, _)| bytes);
                        // Cannot fail while slots == channel capacity; the
                        // lease brings the job back if it ever does.
                        let task = Task {
                            job,
                            original,
                            _slot: slot,
                            _memory: memory,
                        };
                        if let Err(TrySendError::Full(t) | TrySendError::Disconnected(t)) =
                            self.tx.try_send(task)
                        {
                            tracing::error!(job = %t.job.id, "render channel refused a job");
                            self.held.remove(&t.job.id);
                        }
                    }
                    None
                }
                Ok(_) => Some(IDLE_POLL),
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim render jobs");
                    Some(IDLE_POLL * 5)
                }
            };
            if let Some(wait) = idle {
                tokio::select! {
                    _ = self.queue.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.stop.changed() => break,
                }
            }
        }
        // Dropping `tx` here lets the workers drain the channel and exit.
    }

    /// Waits until the job's estimated memory fits in the budget. A job
    /// bigger than the whole budget waits for all of it, so it runs alone.
    async fn reserve(&mut self, job: &ClaimedJob) -> Option<Reservation> {
        let estimate = pipeline::memory_estimate(
            job.width,
            job.height,
            job.byte_size,
            job.format,
            &self.settings,
        );
        let mb = u32::try_from(estimate.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_mb);
        let permit = tokio::select! {
            p = self.memory.clone().acquire_many_owned(mb) => p.expect("semaphore never closed"),
            _ = self.stop.changed() => return None,
        };
        let bytes = i64::from(mb) << 20;
        let reserved = &self.metrics.render_memory_reserved;
        reserved.add(bytes);
        let peak = &self.metrics.render_memory_reserved_peak;
        peak.set(peak.get().max(reserved.get()));
        Some(Reservation {
            _permit: permit,
            bytes,
            metrics: self.metrics.clone(),
        })
    }
}

struct Worker {
    deps: RenderDeps,
    settings: RenderSettings,
    max_attempts: u32,
    /// How long writing an outcome is tried again: half the lease.
    patience: Duration,
    /// When a render the storage kept from finishing is due again.
    retry_after: Duration,
    runtime: Handle,
    /// Bounds the jobs whose variants are still being stored and recorded.
    finishing: Arc<Semaphore>,
    held: Held,
    predecoded: Predecoded,
}

impl Worker {
    /// Renders jobs until the channel closes, each on `pool`. Only the CPU
    /// half is done here: the original arrives with the job, and storing
    /// the variants and
    /// recording the outcome go to the runtime, so the thread moves on to
    /// the next job instead of waiting for fsyncs and a database commit.
    /// `done` is dropped when this thread and everything it handed off
    /// have finished.
    fn serve(self: &Arc<Self>, rx: Receiver<Task>, done: mpsc::Sender<()>, pool: &ThreadPool) {
        let mut scratch = Scratch::default();
        while let Ok(task) = rx.recv() {
            let started = Instant::now();
            let Task {
                job,
                original,
                _slot: slot,
                _memory: memory,
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
            let rendered = pool.install(|| self.render(&job, original, &mut scratch, encodes));
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

    /// The CPU half of a job; an error is the job's outcome already.
    fn render(
        &self,
        job: &ClaimedJob,
        original: StoreResult<Bytes>,
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
        let decoded = self.predecoded.take(&job.hash, largest);
        let source = if decoded.is_some() {
            "kept"
        } else {
            "original"
        };
        self.deps
            .metrics
            .render_sources
            .with_label_values(&[source])
            .inc();
        let rendered = catch_unwind(AssertUnwindSafe(|| match decoded {
            #[cfg(feature = "turbojpeg")]
            Some(kept) => pipeline::render_planes(
                scratch,
                kept.planes,
                kept.orientation,
                &self.settings,
                encodes,
            ),
            _ => pipeline::render_with(scratch, &original, job.format, &self.settings, encodes),
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

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
