//! What every handler shares, behind one `Arc`: warp filters clone the
//! state for every request they see, and cloning a struct of a dozen `Arc`s
//! (moka caches hold several each) was the largest cost of serving media.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::page_cache::PageCache;
use super::urls::Urls;
use crate::app::App;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    /// The services: every rule and every change goes through them.
    pub app: App,
    /// Request counts and durations are recorded here.
    pub metrics: Metrics,
    /// Where pages point media and assets.
    pub urls: Urls,
    /// Pages this long or longer are compressed on the fly (0 = never).
    pub compress_min_bytes: usize,
    /// Rendered gallery, photo and album pages.
    pub pages: PageCache,
    /// Set when a shutdown has begun; `/readyz` then answers 503.
    pub draining: Arc<AtomicBool>,
    /// Peers whose `X-Forwarded-For` is believed (see [`super::client`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Turns `true` when the listener closes; long-lived streams end then.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}
