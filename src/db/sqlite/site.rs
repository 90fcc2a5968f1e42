//! The data version on SQLite. An SQLite file has one node, so there is
//! nobody to notify.

use async_trait::async_trait;
use tokio::sync::broadcast;

use rusqlite::params;

use super::SqliteRepo;
use crate::db::{DbResult, Notice, SiteRepo};
use crate::domain::Millis;
use crate::model::NodeSample;

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
        // Losing the last bump on power loss only means pages are rebuilt.
        self.write_relaxed(move |tx| {
            Ok(tx
                .prepare_cached(
                    "UPDATE site_version
                     SET version = CASE WHEN version + 1 > ?1 THEN version + 1 ELSE ?1 END
                     WHERE id = 1 RETURNING version",
                )?
                .query_row([now], |r| r.get(0))?)
        })
        .await
    }

    fn listen(&self) -> Option<broadcast::Receiver<Notice>> {
        None
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
