//! Rendering ahead of the job. A photo uploaded onto an idle machine has
//! its planes decoded by the upload's check ([`super::predecoded`]) tens of
//! milliseconds before its render job exists: the upload still has to
//! store its original and commit its row and job, and the dispatcher to
//! claim the job. When no render is running, those planes do not wait for
//! the job: their render starts on the render threads at once, and what the
//! job finds kept is the result, or a render well under way.
//!
//! Only when idle: under a bulk import the render threads are busy with
//! jobs, and a render ahead would take a core from them for a photo that
//! would have waited its turn anyway. At most one render ahead runs, and
//! never beside a job. Its outputs are the bytes the job would have made
//! from the same planes; a render ahead that panics leaves the job to
//! render from the stored original.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::ThreadPool;

use super::pipeline::{Encodes, RenderSettings, Scratch};
use super::predecoded::Predecoded;
use crate::domain::ContentHash;

/// Starts renders ahead of their jobs on the render threads.
#[derive(Clone)]
pub(super) struct Ahead {
    pool: Arc<ThreadPool>,
    settings: RenderSettings,
    busy: Busy,
    /// The buffers of the one render ahead that may run at a time.
    scratch: Arc<Mutex<Scratch>>,
}

impl Ahead {
    /// Renders ahead on `pool` with `settings`, when `busy` counts no render.
    pub(super) fn new(pool: Arc<ThreadPool>, settings: RenderSettings, busy: Busy) -> Self {
        Self {
            pool,
            settings,
            busy,
            scratch: Arc::default(),
        }
    }

    /// Starts the render of the planes kept for `hash`, if no render is
    /// running; whether it started.
    pub(super) fn start(&self, predecoded: &Predecoded, hash: &ContentHash) -> bool {
        let Some(running) = self.busy.enter_if_idle() else {
            return false;
        };
        #[cfg(all(test, feature = "turbojpeg"))]
        let fails = tests::made_to_panic(hash);
        predecoded.render_ahead(hash, |decoded| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let (settings, scratch) = (self.settings.clone(), self.scratch.clone());
            let queued = std::time::Instant::now();
            self.pool.spawn(move || {
                let _running = running;
                let started = std::time::Instant::now();
                let mut scratch = scratch.lock().unwrap_or_else(|e| e.into_inner());
                // Every render thread is free to take its encodes.
                let render = || {
                    #[cfg(all(test, feature = "turbojpeg"))]
                    assert!(!fails, "a render ahead made to panic");
                    decoded.render(&mut scratch, &settings, Encodes::Shared)
                };
                match catch_unwind(AssertUnwindSafe(render)) {
                    Ok(rendered) => {
                        tracing::debug!(
                            waited_ms = (started - queued).as_millis() as u64,
                            ms = started.elapsed().as_millis() as u64,
                            "rendered ahead"
                        );
                        let _ = tx.send(rendered);
                    }
                    Err(_) => {
                        tracing::warn!("a render ahead panicked; its job renders the original");
                        *scratch = Scratch::default();
                    }
                }
            });
            rx
        })
    }
}

/// How many renders are running on the render threads: a job's, on each
/// worker rendering one, and the render ahead.
#[derive(Clone, Default)]
pub(super) struct Busy(Arc<AtomicUsize>);

/// One running render, counted in [`Busy`] until dropped.
pub(super) struct Running(Busy);

impl Busy {
    /// Counts a job's render.
    pub(super) fn enter(&self) -> Running {
        self.0.fetch_add(1, Ordering::SeqCst);
        Running(self.clone())
    }

    /// Counts a render ahead, if no render is running.
    fn enter_if_idle(&self) -> Option<Running> {
        self.0
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| Running(self.clone()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(all(test, feature = "turbojpeg"))]
mod tests {
    use super::*;
    use crate::domain::{ImageFormat, OutputFormat};
    use crate::render::pipeline::{self, Encodes};
    use crate::render::predecoded::Kept;
    use crate::render::predecoded::tests::{LIMITS, fixture, hash};
    use crate::render::probe::probe_bytes;

    fn settings() -> RenderSettings {
        let mut settings = pipeline::tests::settings();
        settings.formats = vec![OutputFormat::Jpeg, OutputFormat::Webp];
        settings
    }

    /// A Predecoded holding the planes of a fixture, under its hash.
    fn kept(name: &str) -> (Predecoded, ContentHash, Vec<u8>) {
        let bytes = fixture(name);
        let hash = hash(&bytes);
        let kept = Predecoded::new(settings().largest_edge(), 64 << 20);
        let probe = probe_bytes(&bytes, &LIMITS).unwrap();
        kept.verify(&hash, &bytes, &probe, &LIMITS).unwrap();
        (kept, hash, bytes)
    }

    /// Photos whose render ahead panics, as a bug in a decoder or an
    /// encoder would make it.
    static PANICKING: std::sync::Mutex<Vec<ContentHash>> = std::sync::Mutex::new(Vec::new());

    pub(super) fn made_to_panic(hash: &ContentHash) -> bool {
        PANICKING.lock().unwrap().contains(hash)
    }

    /// Waits for `busy` to count no render, as it must once a render ahead
    /// has ended, however it ended.
    fn wait_until_idle(busy: &Busy) {
        for _ in 0..500 {
            if busy.enter_if_idle().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("a finished render ahead still counts as running");
    }

    fn ahead(busy: &Busy) -> Ahead {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        Ahead::new(Arc::new(pool), settings(), busy.clone())
    }

    #[test]
    fn a_render_ahead_makes_the_bytes_the_job_would_have_made() {
        let busy = Busy::default();
        let (kept, hash, bytes) = kept("orientation/Landscape_6.jpg");
        assert!(ahead(&busy).start(&kept, &hash));
        assert!(!ahead(&busy).start(&kept, &hash), "one render per photo");
        let Some(Kept::Ahead(result)) = kept.take(&hash, settings().largest_edge()) else {
            panic!("the render ahead waits for the job");
        };
        let early = result.recv().expect("a result").expect("rendered");
        let job = pipeline::render_with(
            &mut Scratch::default(),
            &bytes,
            ImageFormat::Jpeg,
            &settings(),
            Encodes::InTurn,
        )
        .unwrap();
        assert_eq!(early.thumbhash, job.thumbhash);
        assert_eq!(early.variants.len(), job.variants.len());
        for (a, b) in early.variants.iter().zip(&job.variants) {
            assert_eq!((&a.spec, a.format), (&b.spec, b.format));
            assert!(a.bytes == b.bytes, "{:?} {:?}", a.spec, a.format);
        }
        // Done, the render ahead counts no more.
        wait_until_idle(&busy);
    }

    #[test]
    fn a_render_ahead_that_panics_leaves_its_job_to_the_original() {
        let busy = Busy::default();
        let ahead = ahead(&busy);
        let largest = settings().largest_edge();
        let (failing, hash, _) = kept("orientation/Landscape_3.jpg");
        PANICKING.lock().unwrap().push(hash.clone());
        assert!(ahead.start(&failing, &hash));
        let Some(Kept::Ahead(result)) = failing.take(&hash, largest) else {
            panic!("the render ahead waits for the job");
        };
        // The job's worker takes a closed channel to mean "render the
        // stored original" (`Worker::render`).
        assert!(
            result.recv().is_err(),
            "no result from a render that panicked"
        );
        wait_until_idle(&busy);

        // The threads and the scratch buffers serve the next photo.
        let (next, hash, _) = kept("orientation/Landscape_5.jpg");
        assert!(ahead.start(&next, &hash));
        let Some(Kept::Ahead(result)) = next.take(&hash, largest) else {
            panic!("the render ahead waits for the job");
        };
        let rendered = result.recv().expect("a result").expect("rendered");
        let made = settings().variants.len() * settings().formats.len();
        assert_eq!(rendered.variants.len(), made);
        wait_until_idle(&busy);
    }

    #[test]
    fn no_render_starts_ahead_beside_a_job() {
        let busy = Busy::default();
        let (kept, hash, _) = kept("orientation/Landscape_1.jpg");
        let job = busy.enter();
        assert!(!ahead(&busy).start(&kept, &hash), "a job is rendering");
        drop(job);
        let largest = settings().largest_edge();
        assert!(
            matches!(kept.take(&hash, largest), Some(Kept::Planes(_))),
            "the planes wait for the job"
        );
    }

    #[test]
    fn nothing_starts_ahead_without_kept_planes() {
        let busy = Busy::default();
        let (kept, _, _) = kept("orientation/Landscape_1.jpg");
        let other = hash(b"no such photo");
        assert!(!ahead(&busy).start(&kept, &other));
        assert!(busy.enter_if_idle().is_some(), "nothing left counted");
    }
}
