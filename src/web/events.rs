//! Live render status by Server-Sent Events: `GET /api/events?photos=a,b,c`.
//!
//! A page with photos still rendering opens one stream naming them; each
//! gets one `photo` event (the photo JSON, as that viewer may see it) when
//! it becomes `ready` or `failed`, or a `gone` event if it was deleted, and
//! the stream ends once every named photo has settled. No polling: events
//! come from the change broadcast ([`crate::changes`]). The stream subscribes before it
//! looks at the database, so a render finishing between the page and the
//! stream is not missed; it looks again every [`RECHECK`] (and whenever it
//! lagged behind the broadcast), which also catches renders finished by
//! another node. Streams end when Scoot shuts down; browsers reconnect.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use futures_util::Stream;
use serde::Deserialize;
use sync_wrapper::SyncStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use warp::sse::Event;

use super::error::{Answer, Failure};
use super::extract::Viewer;
use super::json::PhotoJson;
use super::state::AppState;
use crate::changes::Change;
use crate::domain::{PhotoId, PhotoStatus};

/// How many photos one stream may watch (a gallery page shows 48).
pub const MAX_WATCHED: usize = 200;
/// How often a stream re-reads its photos regardless of events.
const RECHECK: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    photos: String,
}

/// `GET /api/events?photos=…`.
pub async fn stream(q: EventsQuery, viewer: Option<Viewer>, state: AppState) -> Answer {
    let ids = parse_ids(&q.photos)?;
    // warp wants a `Sync` stream; the database futures are only `Send`.
    let stream = SyncStream::new(watch_photos(state, viewer, ids));
    Ok(warp::reply::Reply::into_response(warp::sse::reply(
        warp::sse::keep_alive().stream(stream),
    )))
}

fn parse_ids(list: &str) -> Result<BTreeSet<PhotoId>, Failure> {
    let ids = list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<PhotoId>()
                .map_err(|_| Failure::bad_request(format!("{s:?} is not a photo id")))
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    if ids.is_empty() {
        return Err(Failure::bad_request(
            "name the photos to watch: ?photos=ID,ID,…",
        ));
    }
    if ids.len() > MAX_WATCHED {
        return Err(Failure::bad_request(format!(
            "at most {MAX_WATCHED} photos per stream"
        )));
    }
    Ok(ids)
}

/// One stream's state between events.
struct Watch {
    state: AppState,
    viewer: Option<Viewer>,
    pending: BTreeSet<PhotoId>,
    /// Ready to send, oldest first.
    outbox: VecDeque<Event>,
    events: broadcast::Receiver<Change>,
    stopping: watch::Receiver<bool>,
    recheck: tokio::time::Interval,
}

fn watch_photos(
    state: AppState,
    viewer: Option<Viewer>,
    pending: BTreeSet<PhotoId>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let w = Watch {
        events: state.app.changes().subscribe(),
        stopping: state.stopping.clone(),
        state,
        viewer,
        pending,
        outbox: VecDeque::new(),
        recheck,
    };
    // The interval's first tick is immediate: that is the initial look.
    futures_util::stream::unfold(w, |mut w| async move {
        loop {
            if let Some(event) = w.outbox.pop_front() {
                return Some((Ok(event), w));
            }
            if w.pending.is_empty() || *w.stopping.borrow() {
                return None;
            }
            tokio::select! {
                received = w.events.recv() => match received {
                    Ok(Change::Photo { id, .. }) if w.pending.contains(&id) => w.settle(&id).await,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => w.settle_all().await,
                    Err(RecvError::Closed) => return None,
                },
                _ = w.recheck.tick() => w.settle_all().await,
                _ = w.stopping.changed() => return None,
            }
        }
    })
}

impl Watch {
    /// Queues the event for `id` if it has settled (or is gone).
    async fn settle(&mut self, id: &PhotoId) {
        let event = match self.state.app.photos.load(id).await {
            Ok(Some(p)) if !p.visible_to(self.viewer.as_deref(), false) => {
                Ok(Event::default().event("gone").data(id.to_string()))
            }
            Ok(Some(p)) if p.status == PhotoStatus::Pending => return,
            Ok(Some(p)) => Event::default()
                .event("photo")
                .json_data(PhotoJson::for_viewer(
                    &p,
                    self.viewer.as_deref(),
                    &self.state.urls,
                )),
            Ok(None) => Ok(Event::default().event("gone").data(id.to_string())),
            // The database is unreachable: the next recheck tries again.
            Err(_) => return,
        };
        self.pending.remove(id);
        if let Ok(event) = event {
            self.outbox.push_back(event);
        }
    }

    async fn settle_all(&mut self) {
        let ids: Vec<PhotoId> = self.pending.iter().cloned().collect();
        for id in &ids {
            self.settle(id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(parse_ids("").is_err());
        assert!(parse_ids("nope").is_err());
        let many = (0..=MAX_WATCHED)
            .map(|i| format!("{i:016x}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_ids(&many).is_err());
        let two = parse_ids("0123456789abcdef,0123456789abcdef,fedcba9876543210").unwrap();
        assert_eq!(two.len(), 2);
    }
}
