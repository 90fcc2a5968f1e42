//! The data version on SQLite. An SQLite file has one node, so there is
//! nobody to notify.

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::SqliteRepo;
use crate::db::{DbResult, Notice, SiteRepo};
use crate::domain::Millis;

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
}
