//! What nodes sharing one database agree on and tell each other: the
//! version of the site's data, and notices of changes and queued jobs.

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::DbResult;
use crate::domain::Millis;
use crate::model::NodeSample;

/// A notice from the database to the nodes listening to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Render jobs were queued: an idle node should claim some.
    Jobs,
    /// A node announced a change: the data version it moved to and the
    /// change as it described it (see [`SiteRepo::announce`]).
    Change { version: Millis, change: String },
    /// The listener lost its connection and has it back: notices may have
    /// been missed meanwhile, so whatever was derived from them is suspect.
    Resync,
}

#[async_trait]
pub trait SiteRepo: Send + Sync {
    /// Whether other processes may use this database as nodes of the same
    /// site at the same time, claiming jobs and changing rows (PostgreSQL).
    /// An engine that is not shared has one node, so whatever that node's
    /// previous process left running is known to have stopped.
    fn shared(&self) -> bool;

    /// The version of the site's data: it moves on with every change that
    /// [`announce`](Self::announce) is told of.
    async fn data_version(&self) -> DbResult<Millis>;

    /// Moves the data version on (to `now`, or just past the last version
    /// if that is later) and, on a shared engine, sends `change` with the
    /// new version to every listening node, this one included, as one
    /// step. Returns the new version.
    async fn announce(&self, change: &str, now: Millis) -> DbResult<Millis>;

    /// Notices from now on, or `None` on an engine that is not shared
    /// (nobody else can change anything). A receiver that lags behind is
    /// told so by `broadcast`, and should treat that as [`Notice::Resync`].
    fn listen(&self) -> Option<broadcast::Receiver<Notice>>;

    /// Records what `node` counted in one interval, and forgets samples
    /// (of every node) taken before `forget_before`.
    async fn record_sample(
        &self,
        node: &str,
        sample: &NodeSample,
        forget_before: Millis,
    ) -> DbResult<()>;

    /// Every node's samples taken at or after `since`, oldest first.
    async fn samples_since(&self, since: Millis) -> DbResult<Vec<NodeSample>>;
}
