//! The data version on PostgreSQL, and the notices nodes send each other.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::rows::get;
use super::{PostgresRepo, listen};
use crate::db::{DbResult, Notice, SiteRepo};
use crate::domain::Millis;

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
}
