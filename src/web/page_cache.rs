//! Rendered pages kept between requests ([`PageCache`]), and the keys they
//! are found by ([`PageKey`]).
//!
//! A page is built (photo rows → template → placeholders → hash) once per
//! change, not once per request. A cached page's request does little else
//! than find it, so finding it is kept cheap: its key is written straight
//! into one buffer sized for it, with no `format!` (which grew a string
//! several times per request and was a tenth of a small page's
//! instructions), and the hit and miss counters are looked up once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use moka::future::Cache;
use prometheus::IntCounterVec;

use super::conditional::Rendered;
use crate::domain::Millis;
use crate::metrics::HitsAndMisses;
use crate::model::Cursor;

/// Names one cached page: the data version it was built from, then its
/// route and everything else it depends on, separated by spaces.
///
/// The version comes first, read before the page's data is (see
/// [`PageCache`]). Parts are ids, tokens, numbers, paths and fixed words,
/// none with a space in it, and each route always writes the same number
/// of parts in the same order, so two different pages never share a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    text: String,
    version: Millis,
    anonymous: bool,
}

impl PageKey {
    /// Room for the longest key: a route, a viewer's id and form token, a
    /// cursor and a few words.
    const CAPACITY: usize = 128;

    /// The key of `route` at data `version`, to add parts to.
    pub fn new(version: Millis, route: &'static str) -> Self {
        let mut text = String::with_capacity(Self::CAPACITY);
        text.push_str(itoa::Buffer::new().format(version));
        text.push(' ');
        text.push_str(route);
        Self {
            text,
            version,
            anonymous: false,
        }
    }

    /// Marks the page as the one every logged-out visitor gets at its URL
    /// and this data version, so that [`super::front`] may answer that URL
    /// with it before the route table.
    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }

    /// Takes the mark of [`Self::anonymous`] off: for a page that can change
    /// while the data version stays (the gallery before the site is set up).
    pub fn changes_unversioned(mut self) -> Self {
        self.anonymous = false;
        self
    }

    /// The data version the page is built from.
    pub fn version(&self) -> Millis {
        self.version
    }

    /// See [`Self::anonymous`].
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    /// Adds `part`, which may be empty.
    pub fn part(mut self, part: &str) -> Self {
        self.text.push(' ');
        self.text.push_str(part);
        self
    }

    /// Adds a list position as its URL writes it (`MILLIS-ID`), or an empty
    /// part for the list's start.
    pub fn cursor(mut self, cursor: Option<&Cursor>) -> Self {
        self.text.push(' ');
        if let Some(c) = cursor {
            self.text.push_str(itoa::Buffer::new().format(c.at));
            self.text.push('-');
            self.text.push_str(c.id.as_str());
        }
        self
    }

    /// The key as the cache holds it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Rendered pages, each under its [`PageKey`].
///
/// Keys start with the photo data's version (`App::version`), read before
/// the page's data is: any change to any photo moves it on, so a page built
/// from older data is never found again, with no invalidation to race
/// against. Such pages are let go once a page of a newer version is kept
/// ([`Sweeps`]): they would only take room, and a large one its memory
/// file (`zero_copy::MemoryFile`), of which there are few.
#[derive(Clone)]
pub struct PageCache {
    pages: Cache<String, Arc<Rendered>>,
    lookups: HitsAndMisses,
    sweeps: Arc<Sweeps>,
}

/// The newest data version a cache has kept a page of, so that the pages
/// of older versions are swept out once per version.
#[derive(Debug, Default)]
pub struct Sweeps(AtomicI64);

impl Sweeps {
    /// Whether `version` is newer than any before it: then the pages of
    /// older versions can go.
    pub fn newer(&self, version: Millis) -> bool {
        self.0.fetch_max(version, Ordering::Relaxed) < version
    }
}

/// The data version a page's key starts with.
fn version_of(key: &str) -> Millis {
    key.split_once(' ')
        .and_then(|(version, _)| version.parse().ok())
        .unwrap_or(Millis::MIN)
}

impl PageCache {
    /// At most `max_bytes` of pages; `lookups` counts hits and misses as
    /// cache `html`.
    pub fn new(max_bytes: u64, lookups: &IntCounterVec) -> Self {
        Self {
            pages: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_key: &String, page: &Arc<Rendered>| page.weight())
                .support_invalidation_closures()
                .build(),
            lookups: HitsAndMisses::new(lookups, "html"),
            sweeps: Arc::default(),
        }
    }

    /// The page under `key`, rendered by the future `render` makes if it
    /// is not cached (concurrent misses render it once).
    ///
    /// `render` makes the future only on a miss: a future is as large as
    /// its largest state, and a page's rendering (database reads, the
    /// template) would otherwise be carried, and moved about, by every
    /// request that finds its page cached.
    pub async fn get_or_render<R, F, E>(&self, key: PageKey, render: R) -> Result<Arc<Rendered>, E>
    where
        R: FnOnce() -> F,
        F: Future<Output = Result<Rendered, E>>,
        E: Clone + Send + Sync + 'static,
    {
        // A hit, the usual case, skips the entry API's bookkeeping for
        // concurrent misses.
        if let Some(page) = self.pages.get(key.as_str()).await {
            self.lookups.count(true);
            return Ok(page);
        }
        let version = key.version;
        // Boxed: the entry API's future is several kilobytes, and every
        // request's future would otherwise carry (and move) that much for
        // the rare miss.
        let entry = Box::pin(
            self.pages
                .entry(key.text)
                .or_try_insert_with(async { render().await.map(Arc::new) }),
        )
        .await
        .map_err(|e| E::clone(&e))?;
        // Not fresh: another request rendered it meanwhile.
        self.lookups.count(!entry.is_fresh());
        if entry.is_fresh() && self.sweeps.newer(version) {
            // Only fails where closures are not supported, and they are.
            let _ = self
                .pages
                .invalidate_entries_if(move |key, _| version_of(key) < version);
        }
        Ok(entry.into_value())
    }
}

/// A page as it was answered to a logged-out visitor, carried on its
/// response (an extension) out of the route table, so that the front
/// (see `super::front`) can answer the same URL with it next time. The
/// route's metric label is filled in once the table has labelled it.
#[derive(Clone)]
pub struct Anonymous {
    pub version: Millis,
    pub page: Arc<Rendered>,
    pub route: &'static str,
    /// The page's [`PageKey`]: which URLs show the same page.
    pub key: String,
}

impl Anonymous {
    pub fn new(key: PageKey, page: Arc<Rendered>) -> Self {
        Self {
            version: key.version,
            page,
            route: "",
            key: key.text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhotoId;

    #[test]
    fn a_key_is_its_parts_in_order() {
        let id: PhotoId = "0123456789abcdef".parse().unwrap();
        let cursor = Cursor {
            at: -1_700_000_000_123,
            id: id.clone(),
        };
        let key = PageKey::new(1_796_406_693_890, "gallery")
            .part("")
            .part("newest")
            .cursor(Some(&cursor))
            .part("1");
        assert_eq!(
            key.as_str(),
            format!(
                "1796406693890 gallery  newest {} 1",
                Cursor::encode(&cursor)
            )
        );
        let start = PageKey::new(7, "gallery").part("u").cursor(None).part("0");
        assert_eq!(start.as_str(), "7 gallery u  0");
        assert_ne!(
            start,
            PageKey::new(8, "gallery").part("u").cursor(None).part("0")
        );
    }

    fn lookups() -> IntCounterVec {
        let opts = prometheus::Opts::new("lookups", "test");
        IntCounterVec::new(opts, &["cache", "result"]).unwrap()
    }

    #[tokio::test]
    async fn a_page_is_rendered_once_and_counted() {
        let lookups = lookups();
        let cache = PageCache::new(1 << 20, &lookups);
        let renders = std::sync::atomic::AtomicUsize::new(0);
        let render = || {
            || async {
                renders.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, Arc<str>>(Rendered::new("<p>hi</p>".into(), None))
            }
        };
        for _ in 0..3 {
            cache
                .get_or_render(PageKey::new(1, "gallery"), render())
                .await
                .unwrap();
        }
        cache
            .get_or_render(PageKey::new(2, "gallery"), render())
            .await
            .unwrap();
        assert_eq!(renders.load(std::sync::atomic::Ordering::Relaxed), 2);
        let count = |r: &str| lookups.with_label_values(&["html", r]).get();
        assert_eq!((count("hit"), count("miss")), (2, 2));
    }

    #[tokio::test]
    async fn pages_of_older_versions_are_let_go() {
        let lookups = lookups();
        let cache = PageCache::new(64 << 20, &lookups);
        let mut kept = Vec::new();
        for version in 1..=5 {
            for route in ["gallery", "album"] {
                let page = cache
                    .get_or_render(PageKey::new(version, route), || async {
                        Ok::<_, Arc<str>>(Rendered::new("<p>hi</p>".into(), None))
                    })
                    .await
                    .unwrap();
                kept.push((version, Arc::downgrade(&page)));
            }
        }
        for _ in 0..10 {
            cache.pages.run_pending_tasks().await;
        }
        for (version, page) in kept {
            let held = page.upgrade().is_some();
            assert_eq!(held, version == 5, "a page of version {version}");
        }
        assert_eq!(version_of("17 gallery u  0"), 17);
    }
}
