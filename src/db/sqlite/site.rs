//! The data version on SQLite. One `scoot serve` uses the file, but other
//! processes may change it meanwhile (`scoot user delete`, `scoot import`):
//! a [`Watch`] looks at the version every [`WATCH_EVERY`], and when it moved
//! on without this process moving it, tells the listeners to drop what
//! they derived ([`Notice::Resync`]). SQLite has no way to say what
//! changed, so nothing finer is sent.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use rusqlite::params;

use super::SqliteRepo;
use crate::db::{DbResult, Notice, SiteRepo};
use crate::domain::Millis;
use crate::model::NodeSample;

/// How often the version is looked at: a change made by another process
/// shows within this.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// This process's view of the version, shared by clones of the repo.
#[derive(Clone, Default)]
pub(super) struct Watch {
    /// The latest version this process moved to or saw.
    known: Arc<AtomicI64>,
    /// Set when an announcement found the version moved on by someone else
    /// since `known`: the next look sends a resync even if the version
    /// then matches.
    missed: Arc<AtomicBool>,
    /// Announcements begun and finished by this process. A look whose read
    /// overlapped one may have seen its commit before `announced` recorded
    /// it, so it proves nothing and is dropped (see [`Watch::quiet`]).
    begun: Arc<AtomicU64>,
    finished: Arc<AtomicU64>,
    /// Where notices go while anyone listens; the looking task holds it
    /// and ends, emptying this, once the last listener has gone.
    notices: Arc<Mutex<Option<broadcast::Sender<Notice>>>>,
}

/// An announcement of this process in flight; it counts as finished when
/// dropped, whether it succeeded or not.
struct InFlight(Watch);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl Watch {
    /// Marks an announcement begun; keep the guard until `announced`.
    fn announcing(&self) -> InFlight {
        self.begun.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// Before a read of the version: a mark if no announcement of this
    /// process is in flight, to be checked by [`Watch::still_quiet`] after
    /// the read.
    fn quiet(&self) -> Option<u64> {
        // `finished` first: it never passes `begun`, so equal values mean
        // nothing was in flight when `begun` was read.
        let finished = self.finished.load(Ordering::SeqCst);
        let begun = self.begun.load(Ordering::SeqCst);
        (begun == finished).then_some(begun)
    }

    /// After the read: whether no announcement began since `mark`, so the
    /// version read was not one this process had committed but not yet
    /// recorded.
    fn still_quiet(&self, mark: u64) -> bool {
        self.begun.load(Ordering::SeqCst) == mark
    }

    /// An announcement moved the version from `before` to `after`.
    fn announced(&self, before: Millis, after: Millis) {
        if before > self.known.load(Ordering::SeqCst) {
            self.missed.store(true, Ordering::SeqCst);
        }
        self.known.fetch_max(after, Ordering::SeqCst);
    }

    /// Whether `version`, just read, shows a change this process did not
    /// make (or an announcement found one).
    fn foreign(&self, version: Millis) -> bool {
        let before = self.known.fetch_max(version, Ordering::SeqCst);
        self.missed.swap(false, Ordering::SeqCst) | (version > before)
    }
}

/// Looks at the version every [`WATCH_EVERY`] until nobody listens.
async fn watch(repo: SqliteRepo, notices: broadcast::Sender<Notice>) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        {
            let mut current = repo.watch.notices.lock().expect("watch lock");
            if notices.receiver_count() == 0 {
                *current = None;
                return;
            }
        }
        // A look that overlapped an announcement of ours is skipped: the
        // next one judges, and `missed` keeps what the announcement saw.
        let Some(mark) = repo.watch.quiet() else {
            continue;
        };
        match repo.data_version().await {
            Ok(_) if !repo.watch.still_quiet(mark) => {}
            Ok(version) if repo.watch.foreign(version) => {
                // A listener that went meanwhile is fine.
                let _ = notices.send(Notice::Resync);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the data version"),
        }
    }
}

#[async_trait]
impl SiteRepo for SqliteRepo {
    fn shared(&self) -> bool {
        false
    }

    async fn data_version(&self) -> DbResult<Millis> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT version FROM site_version WHERE id = 1", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn announce(&self, _change: &str, now: Millis) -> DbResult<Millis> {
        let in_flight = self.watch.announcing();
        // Losing the last bump on power loss only means pages are rebuilt.
        let (before, after) = self
            .write_relaxed(move |tx| {
                let before: Millis = tx
                    .prepare_cached("SELECT version FROM site_version WHERE id = 1")?
                    .query_row([], |r| r.get(0))?;
                let after: Millis = tx
                    .prepare_cached(
                        "UPDATE site_version
                         SET version = CASE WHEN version + 1 > ?1 THEN version + 1 ELSE ?1 END
                         WHERE id = 1 RETURNING version",
                    )?
                    .query_row([now], |r| r.get(0))?;
                Ok((before, after))
            })
            .await?;
        self.watch.announced(before, after);
        drop(in_flight);
        Ok(after)
    }

    fn listen(&self) -> Option<broadcast::Receiver<Notice>> {
        let mut current = self.watch.notices.lock().expect("watch lock");
        let notices = current.get_or_insert_with(|| {
            let notices = broadcast::channel(16).0;
            tokio::spawn(watch(self.clone(), notices.clone()));
            notices
        });
        Some(notices.subscribe())
    }

    async fn record_sample(
        &self,
        node: &str,
        sample: &NodeSample,
        forget_before: Millis,
    ) -> DbResult<()> {
        let (node, s) = (node.to_owned(), *sample);
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.write_relaxed(move |tx| {
            tx.prepare_cached(
                "INSERT INTO node_samples (node, taken_at, renders_ready, renders_failed,
                     cache_hits, cache_lookups, queue_depth, storage_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                node,
                s.taken_at,
                n(s.renders_ready),
                n(s.renders_failed),
                n(s.cache_hits),
                n(s.cache_lookups),
                n(s.queue_depth),
                n(s.storage_bytes)
            ])?;
            tx.prepare_cached("DELETE FROM node_samples WHERE taken_at < ?1")?
                .execute([forget_before])?;
            Ok(())
        })
        .await
    }

    async fn samples_since(&self, since: Millis) -> DbResult<Vec<NodeSample>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT taken_at, renders_ready, renders_failed, cache_hits, cache_lookups,
                     queue_depth, storage_bytes
                 FROM node_samples WHERE taken_at >= ?1 ORDER BY taken_at",
            )?;
            let n = |v: i64| v.unsigned_abs();
            let rows = stmt.query_map([since], |r| {
                Ok(NodeSample {
                    taken_at: r.get(0)?,
                    renders_ready: n(r.get(1)?),
                    renders_failed: n(r.get(2)?),
                    cache_hits: n(r.get(3)?),
                    cache_lookups: n(r.get(4)?),
                    queue_depth: n(r.get(5)?),
                    storage_bytes: n(r.get(6)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processes on one file: each opens its own repo.
    async fn two_on_one_file() -> (tempfile::TempDir, SqliteRepo, SqliteRepo) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.db");
        let serving = SqliteRepo::open(path.clone()).await.unwrap();
        let other = SqliteRepo::open(path).await.unwrap();
        (dir, serving, other)
    }

    async fn next(notices: &mut broadcast::Receiver<Notice>) -> Option<Notice> {
        tokio::time::timeout(WATCH_EVERY * 3, notices.recv())
            .await
            .ok()
            .map(|n| n.unwrap())
    }

    #[tokio::test]
    async fn another_process_changing_the_file_is_heard_as_a_resync() {
        let (_dir, serving, other) = two_on_one_file().await;
        serving.announce("started", 1).await.unwrap();
        let mut notices = serving.listen().unwrap();
        serving.announce("mine", 2).await.unwrap();
        assert_eq!(next(&mut notices).await, None, "its own change is no news");
        other.announce("theirs", 3).await.unwrap();
        assert_eq!(next(&mut notices).await, Some(Notice::Resync));
        assert_eq!(next(&mut notices).await, None, "told once");
        // Theirs then mine between two looks: the version is one this
        // process made, but it passed over theirs.
        other.announce("theirs", 4).await.unwrap();
        serving.announce("mine", 5).await.unwrap();
        assert_eq!(next(&mut notices).await, Some(Notice::Resync));
    }

    /// The race CI once hit: the watch read the version just after this
    /// process's announcement committed it and before `announced` recorded
    /// it, and took the process's own change for another's.
    #[test]
    fn a_look_overlapping_an_announcement_proves_nothing() {
        let watch = Watch::default();
        // The read begins before the announcement and ends after its commit.
        let mark = watch.quiet().expect("nothing in flight");
        let in_flight = watch.announcing();
        let read = 7; // what the read saw: the announcement's commit
        assert!(!watch.still_quiet(mark), "the read must be dropped");
        // A read begun while the announcement is in flight is not made.
        assert_eq!(watch.quiet(), None);
        watch.announced(0, read);
        drop(in_flight);
        // The next look sees the same version and hears nothing new.
        let mark = watch.quiet().expect("nothing in flight");
        assert!(watch.still_quiet(mark));
        assert!(!watch.foreign(read));
    }

    #[test]
    fn a_change_seen_by_an_announcement_is_still_told() {
        let watch = Watch::default();
        let in_flight = watch.announcing();
        // Another process moved the version to 3; ours moved it to 4.
        watch.announced(3, 4);
        drop(in_flight);
        let mark = watch.quiet().expect("nothing in flight");
        assert!(watch.still_quiet(mark));
        assert!(watch.foreign(4), "the version passed over theirs");
    }

    #[tokio::test]
    async fn the_watch_ends_with_its_last_listener_and_starts_again() {
        let (_dir, serving, other) = two_on_one_file().await;
        drop(serving.listen().unwrap());
        tokio::time::sleep(WATCH_EVERY * 2).await;
        assert!(serving.watch.notices.lock().unwrap().is_none());
        let mut notices = serving.listen().unwrap();
        other.announce("theirs", 7).await.unwrap();
        assert_eq!(next(&mut notices).await, Some(Notice::Resync));
    }
}
