//! The data version on PostgreSQL, and the notices nodes send each other.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::rows::get;
use super::{PostgresRepo, listen};
use crate::db::{DbResult, Notice, SiteRepo};
use crate::domain::Millis;
use crate::model::NodeSample;

#[async_trait]
impl SiteRepo for PostgresRepo {
    fn shared(&self) -> bool {
        true
    }

    async fn data_version(&self) -> DbResult<Millis> {
        let row = self
            .client()
            .await?
            .query_one("SELECT version FROM site_version WHERE id = 1", &[])
            .await?;
        get(&row, 0)
    }

    async fn announce(&self, change: &str, now: Millis) -> DbResult<Millis> {
        // One statement, so the version and the notice go together: the
        // notice is sent when the update commits.
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "WITH v AS (
                     UPDATE site_version
                     SET version = CASE WHEN version + 1 > $1 THEN version + 1 ELSE $1 END
                     WHERE id = 1 RETURNING version)
                 SELECT version, pg_notify('{}', version::text || ' ' || $2::text) FROM v",
                listen::CHANGES
            ))
            .await?;
        get(&client.query_one(&stmt, &[&now, &change]).await?, 0)
    }

    fn listen(&self) -> Option<broadcast::Receiver<Notice>> {
        let sender = self.notices.get_or_init(|| {
            let sender = Arc::new(broadcast::channel(1024).0);
            listen::spawn(self.config.clone(), Arc::downgrade(&sender));
            sender
        });
        Some(sender.subscribe())
    }

    async fn record_sample(
        &self,
        node: &str,
        sample: &NodeSample,
        forget_before: Millis,
    ) -> DbResult<()> {
        let s = sample;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO node_samples (node, taken_at, renders_ready, renders_failed,
                     cache_hits, cache_lookups, queue_depth, storage_bytes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .await?;
        client
            .execute(
                &insert,
                &[
                    &node,
                    &s.taken_at,
                    &n(s.renders_ready),
                    &n(s.renders_failed),
                    &n(s.cache_hits),
                    &n(s.cache_lookups),
                    &n(s.queue_depth),
                    &n(s.storage_bytes),
                ],
            )
            .await?;
        client
            .execute(
                "DELETE FROM node_samples WHERE taken_at < $1",
                &[&forget_before],
            )
            .await?;
        Ok(())
    }

    async fn samples_since(&self, since: Millis) -> DbResult<Vec<NodeSample>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT taken_at, renders_ready, renders_failed, cache_hits, cache_lookups,
                     queue_depth, storage_bytes
                 FROM node_samples WHERE taken_at >= $1 ORDER BY taken_at",
                &[&since],
            )
            .await?;
        let n = |r: &tokio_postgres::Row, i| get::<i64>(r, i).map(i64::unsigned_abs);
        rows.iter()
            .map(|r| {
                Ok(NodeSample {
                    taken_at: get(r, 0)?,
                    renders_ready: n(r, 1)?,
                    renders_failed: n(r, 2)?,
                    cache_hits: n(r, 3)?,
                    cache_lookups: n(r, 4)?,
                    queue_depth: n(r, 5)?,
                    storage_bytes: n(r, 6)?,
                })
            })
            .collect()
    }
}
