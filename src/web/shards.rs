//! Connection threads: each runs a single-threaded runtime of its own and
//! serves the connections it is given from start to end, as each of
//! nginx's worker processes serves its own. The application (handlers,
//! the database, renders, background tasks) stays on the main runtime;
//! see [`super::front`] for which requests are answered on the connection
//! thread and which are handed over.
//!
//! Why: on tokio's shared, work-stealing runtime a connection's wake-ups
//! move between threads, and the threads wake each other to look for work.
//! A connection that stays on one thread costs fewer context switches and
//! cache misses per request: on a 2-core box, warp alone serving a 166 KB
//! page answered 10–17 % more requests on two such threads than on the
//! shared runtime in four rounds of five (docs/benchmarks.md), and Scoot's
//! gallery page 8.5 % more (the median of six paired rounds).
//!
//! A new connection goes to the thread with the fewest open. Dropping
//! [`Shards`] lets each thread finish: its runtime is dropped, and with it
//! any connection still open there.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The connection threads.
pub struct Shards {
    lanes: Vec<Lane>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
    /// Connections open on this thread.
    open: Arc<AtomicUsize>,
}

impl Shards {
    /// Starts `count` threads (at least one).
    pub fn start(count: usize) -> std::io::Result<Self> {
        let mut lanes = Vec::new();
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
            let thread = std::thread::Builder::new()
                .name(format!("scoot-http-{n}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(job) = queue.recv().await {
                            tokio::spawn(job);
                        }
                    });
                })?;
            lanes.push(Lane {
                jobs,
                open: Arc::default(),
            });
            threads.push(thread);
        }
        Ok(Self { lanes, threads })
    }

    /// Runs `connection` to its end on the thread with the fewest open.
    pub fn serve(&self, connection: impl Future<Output = ()> + Send + 'static) {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.open.load(Ordering::Relaxed))
            .expect("at least one thread");
        let open = Open::new(&lane.open);
        // A thread only ends once `self` is dropped, so the send succeeds.
        let _ = lane.jobs.send(Box::pin(async move {
            connection.await;
            drop(open);
        }));
    }

    /// Ends the threads, dropping whatever connections they still hold,
    /// and waits for them.
    pub async fn end(self) {
        let Self { lanes, threads } = self;
        drop(lanes);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// One connection counted on its thread while it is open.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_run_on_the_threads_and_are_spread_over_them() {
        let shards = Shards::start(2).unwrap();
        let (names, mut heard) = mpsc::unbounded_channel();
        let (release, released) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let names = names.clone();
            let mut released = released.clone();
            shards.serve(async move {
                let name = std::thread::current().name().map(str::to_owned);
                names.send(name).unwrap();
                let _ = released.wait_for(|r| *r).await;
            });
        }
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(heard.recv().await.unwrap().unwrap());
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "scoot-http-0",
                "scoot-http-0",
                "scoot-http-1",
                "scoot-http-1"
            ]
        );
        release.send(true).unwrap();
        shards.end().await;
    }

    #[tokio::test]
    async fn ending_drops_what_is_still_open() {
        let shards = Shards::start(1).unwrap();
        let (dropped, mut heard) = mpsc::unbounded_channel::<()>();
        shards.serve(async move {
            let _held = dropped;
            std::future::pending::<()>().await;
        });
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), shards.end());
        ended.await.expect("the threads end");
        assert_eq!(heard.recv().await, None, "the connection was dropped");
    }
}
