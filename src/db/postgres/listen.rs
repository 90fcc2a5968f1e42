//! The connection a node listens on: one per node, outside the pool, for
//! `NOTIFY`s of queued jobs and announced changes.
//!
//! Notices are hints. A connection that drops loses the ones sent
//! meanwhile, so every (re)connection is followed by [`Notice::Resync`],
//! the first one included: notices sent before `LISTEN` took effect are
//! missed too. Listeners answer it by dropping what they derived.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, Config, NoTls, Notification};

use crate::db::Notice;

/// Render jobs were queued.
pub(super) const JOBS: &str = "scoot_jobs";
/// A change was announced: the payload is `VERSION CHANGE`.
pub(super) const CHANGES: &str = "scoot_changes";

/// How often a quiet connection is checked, and how long the check may take.
const CHECK_EVERY: Duration = Duration::from_secs(10);
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens for as long as `notices` has an owner, reconnecting with backoff.
pub(super) fn spawn(config: Config, notices: Weak<broadcast::Sender<Notice>>) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            match session(&config, &notices).await {
                Ok(Ended::Dropped) => return,
                Ok(Ended::Lost) => {
                    tracing::warn!("lost the database's notice connection; reconnecting");
                    backoff = Duration::from_millis(250);
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for notices from the database"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if notices.strong_count() == 0 {
                return;
            }
        }
    });
}

enum Ended {
    /// Nobody owns the sender any more.
    Dropped,
    /// The connection broke after it had been listening.
    Lost,
}

async fn session(
    config: &Config,
    notices: &Weak<broadcast::Sender<Notice>>,
) -> Result<Ended, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection object drives the socket: it must be polled for the
    // client's queries to run and for notifications to arrive.
    let (tx, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                if tx.send(n).is_err() {
                    return;
                }
            }
        }
    });
    let ended = listen(&client, &mut received, notices).await;
    driver.abort();
    ended
}

async fn listen(
    client: &tokio_postgres::Client,
    received: &mut mpsc::UnboundedReceiver<Notification>,
    notices: &Weak<broadcast::Sender<Notice>>,
) -> Result<Ended, tokio_postgres::Error> {
    client
        .batch_execute(&format!("LISTEN {JOBS}; LISTEN {CHANGES}"))
        .await?;
    if !send(notices, Notice::Resync) {
        return Ok(Ended::Dropped);
    }
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.tick().await;
    loop {
        tokio::select! {
            n = received.recv() => match n {
                Some(n) => {
                    if let Some(notice) = notice(&n) {
                        if !send(notices, notice) {
                            return Ok(Ended::Dropped);
                        }
                    }
                }
                None => return Ok(Ended::Lost),
            },
            _ = check.tick() => {
                if notices.strong_count() == 0 {
                    return Ok(Ended::Dropped);
                }
                match tokio::time::timeout(CHECK_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    _ => return Ok(Ended::Lost),
                }
            }
        }
    }
}

/// Sends to whoever listens; `false` once the sender has no owner.
fn send(notices: &Weak<broadcast::Sender<Notice>>, notice: Notice) -> bool {
    let Some(sender): Option<Arc<_>> = notices.upgrade() else {
        return false;
    };
    // Nobody subscribed yet is fine.
    let _ = sender.send(notice);
    true
}

/// What a notification says, if it is one of ours and well formed.
fn notice(n: &Notification) -> Option<Notice> {
    match n.channel() {
        JOBS => Some(Notice::Jobs),
        CHANGES => {
            let (version, change) = n.payload().split_once(' ')?;
            Some(Notice::Change {
                version: version.parse().ok()?,
                change: change.to_owned(),
            })
        }
        _ => None,
    }
}
