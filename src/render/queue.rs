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
//! the worker takes them instead of decoding again. On an idle machine it
//! finds more: the render of those planes, started the moment the check
//! kept them ([`super::ahead`]).
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

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use super::ahead::{Ahead, Busy};
use super::leases::{Held, renew_leases, wake_on_notices};
use super::pipeline::{self, RenderSettings};
use super::predecoded::Predecoded;
use super::priority::Priority;
use super::worker::{RenderDeps, Reservation, Task, Worker, panic_message};
use crate::config::RenderConfig;
use crate::db::{ClaimedJob, Repo};
use crate::domain::{ContentHash, now_millis};
use crate::metrics::Metrics;
use crate::store::{BlobKey, Store};

/// How often an idle dispatcher looks for jobs whose retry time has come.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// A cheap handle for waking the dispatcher after committing a job, and
/// for leaving it the planes an upload's check decoded.
#[derive(Clone)]
pub struct RenderQueue {
    wake: Arc<Notify>,
    predecoded: Predecoded,
    ahead: Ahead,
}

impl RenderQueue {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Where an upload's check leaves what it decoded for the render.
    pub fn predecoded(&self) -> &Predecoded {
        &self.predecoded
    }

    /// Starts rendering the planes the check just kept for `hash`, if no
    /// render is running, for its job to find done ([`super::ahead`]).
    pub fn render_ahead(&self, hash: &ContentHash) {
        self.ahead.start(&self.predecoded, hash);
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

impl RenderPool {
    /// Starts the dispatcher and `cfg.effective_threads()` workers. Must be
    /// called inside a tokio runtime.
    pub fn start(cfg: RenderConfig, settings: RenderSettings, deps: RenderDeps) -> Self {
        let threads = cfg.effective_threads();
        let priority = Priority {
            nice: cfg.nice,
            idle: cfg.idle_priority,
        };
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
            .start_handler(move |_| priority.take())
            // Rayon aborts the process on a panic without a handler; a
            // render must never take the site down.
            .panic_handler(|p| tracing::error!("render thread panicked: {}", panic_message(&p)))
            .build()
            .expect("spawning render threads");
        let pool = Arc::new(pool);
        let held = Held::default();
        let busy = Busy::default();
        let queue = RenderQueue {
            wake: Arc::default(),
            predecoded: Predecoded::new(
                settings.largest_edge(),
                (u64::from(cfg.memory_budget_mb) << 20) / PREDECODED_SHARE,
            ),
            ahead: Ahead::new(pool.clone(), settings.clone(), busy.clone()),
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
            busy,
        });
        for i in 0..threads {
            let (rx, worker, done) = (rx.clone(), worker.clone(), done_tx.clone());
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("render-worker-{i}"))
                .spawn(move || {
                    priority.take();
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
                            slot,
                            memory,
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
