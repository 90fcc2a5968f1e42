//! Rendered pages kept between requests ([`PageCache`]), and the keys they
//! are found by ([`PageKey`]).
//!
//! A page is built (photo rows → template → hash) once per
//! change, not once per request. A cached page's request does little else
//! than find it, so finding it is kept cheap: its key is written straight
//! into one buffer sized for it, with no `format!` (which grew a string
//! several times per request and was a tenth of a small page's
//! instructions), and the hit and miss counters are looked up once.

use std::future::Future;
use std::sync::Arc;

use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};
use prometheus::IntCounterVec;

use super::conditional::Rendered;
use crate::domain::Millis;
use crate::metrics::HitsAndMisses;
use crate::model::Cursor;

/// Names one page: its route and everything else it depends on,
/// separated by spaces, and the data version it must be at least as new
/// as, read before the page's data is (see [`PageCache`]).
///
/// Parts are ids, tokens, numbers, paths and fixed words, none with a
/// space in it, and each route always writes the same number of parts in
/// the same order, so two different pages never share a key.
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

    /// The key as the cache holds it (without the version).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Rendered pages, each under its [`PageKey`].
///
/// Each page is kept with the data version it was built at. That version
/// (`App::version`) is read before the page's data is, and any change to
/// any photo moves it on: a page kept at an older version than a
/// request's is never answered to it, with no invalidation to race
/// against. It is built again, and replaces the old one in place.
///
/// Most changes leave most pages as they were (an import adds photos to
/// the top of one gallery). A page built again with the same bytes as the
/// one it replaces takes over what that one made for its answers (its
/// compressed copies, its copy file: [`Rendered::carrying_over`]),
/// which are then not made again for every change.
#[derive(Clone)]
pub struct PageCache {
    pages: Cache<String, Arc<Kept>>,
    lookups: HitsAndMisses,
}

/// A page and the data version it was built at.
struct Kept {
    version: Millis,
    page: Arc<Rendered>,
}

impl PageCache {
    /// At most `max_bytes` of pages; `lookups` counts hits and misses as
    /// cache `html`.
    pub fn new(max_bytes: u64, lookups: &IntCounterVec) -> Self {
        Self {
            pages: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_key: &String, kept: &Arc<Kept>| kept.page.weight())
                .build(),
            lookups: HitsAndMisses::new(lookups, "html"),
        }
    }

    /// The page under `key`, rendered by the future `render` makes if it
    /// is not kept at `key`'s version or a newer one (concurrent misses
    /// render it once).
    ///
    /// `render` makes the future only on a miss: a future is as large as
    /// its largest state, and a page's rendering (database reads, the
    /// template) would otherwise be carried, and moved about, by every
    /// request that finds its page cached.
    pub async fn get_or_render<R, F, E>(&self, key: PageKey, render: R) -> Result<Arc<Rendered>, E>
    where
        R: FnOnce() -> F,
        F: Future<Output = Result<Rendered, E>>,
        E: Send + Sync + 'static,
    {
        let version = key.version;
        // A hit, the usual case, skips the entry API's per-key lock.
        if let Some(kept) = self.pages.get(key.as_str()).await
            && kept.version >= version
        {
            self.lookups.count(true);
            return Ok(kept.page.clone());
        }
        let mut rendered_here = false;
        // Boxed: the entry API's future is several kilobytes, and every
        // request's future would otherwise carry (and move) that much for
        // the rare miss. Calls for one key run one at a time, so a page
        // is rendered once however many requests missed it.
        let outcome = Box::pin(self.pages.entry(key.text).and_try_compute_with(|old| {
            let old = old.map(|entry| entry.into_value());
            rendered_here = old.as_ref().is_none_or(|old| old.version < version);
            async move {
                if !rendered_here {
                    return Ok(Op::Nop);
                }
                let mut page = render().await?;
                if let Some(old) = old {
                    page = page.carrying_over(&old.page);
                }
                let page = Arc::new(page);
                Ok(Op::Put(Arc::new(Kept { version, page })))
            }
        }))
        .await?;
        self.lookups.count(!rendered_here);
        match outcome {
            CompResult::Inserted(kept)
            | CompResult::ReplacedWith(kept)
            | CompResult::Unchanged(kept) => Ok(kept.into_value().page.clone()),
            CompResult::StillNone(_) | CompResult::Removed(_) => {
                unreachable!("a page is put unless one as new is kept")
            }
        }
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
    use bytes::Bytes;
    use warp::http::{HeaderMap, HeaderValue, header};

    use super::super::conditional::{Validators, http_date};
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
            format!("gallery  newest {} 1", Cursor::encode(&cursor))
        );
        assert_eq!(key.version(), 1_796_406_693_890);
        let start = PageKey::new(7, "gallery").part("u").cursor(None).part("0");
        assert_eq!(start.as_str(), "gallery u  0");
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_together_render_once() {
        let lookups = lookups();
        let cache = PageCache::new(1 << 20, &lookups);
        let renders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = (0..8).map(|_| {
            let (cache, renders) = (cache.clone(), renders.clone());
            tokio::spawn(async move {
                let render = || async move {
                    renders.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    Ok::<_, Arc<str>>(Rendered::new("<p>hi</p>".into(), None))
                };
                cache
                    .get_or_render(PageKey::new(3, "gallery"), render)
                    .await
            })
        });
        for request in requests.collect::<Vec<_>>() {
            request.await.unwrap().unwrap();
        }
        assert_eq!(renders.load(std::sync::atomic::Ordering::Relaxed), 1);
        let count = |r: &str| lookups.with_label_values(&["html", r]).get();
        assert_eq!((count("hit"), count("miss")), (7, 1));
    }

    /// A page that `render` makes with `body`, dated by `version` as pages
    /// are, counting its renders.
    fn page_of<'a>(
        body: &'a str,
        version: Millis,
        renders: &'a std::sync::atomic::AtomicUsize,
    ) -> impl FnOnce() -> std::future::Ready<Result<Rendered, Arc<str>>> + 'a {
        move || {
            renders.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok(Rendered::new(body.into(), Some(version))))
        }
    }

    /// What a browser that takes Brotli is sent of `page`: the compressed
    /// body, and the `Last-Modified` date.
    fn brotli_answer(page: &Rendered) -> (Bytes, HeaderValue) {
        let mut asks = HeaderMap::new();
        asks.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br"));
        let case = page.case(&Validators::of(&asks).unwrap(), 0);
        let mut head = HeaderMap::new();
        page.headers_of(case, &mut head);
        (page.bytes_of(case).0, head[header::LAST_MODIFIED].clone())
    }

    /// The body of `page`, as sent uncompressed.
    fn body_of(page: &Rendered) -> Bytes {
        page.bytes_of(page.case(&Validators::default(), usize::MAX))
            .0
    }

    #[tokio::test]
    async fn a_page_of_an_older_version_is_replaced_and_let_go() {
        let cache = PageCache::new(64 << 20, &lookups());
        let renders = std::sync::atomic::AtomicUsize::new(0);
        let mut kept = Vec::new();
        for version in 1..=5 {
            for route in ["gallery", "album"] {
                let body = format!("<p>{route} at {version}</p>");
                let page = cache
                    .get_or_render(
                        PageKey::new(version, route),
                        page_of(&body, version, &renders),
                    )
                    .await
                    .unwrap();
                assert_eq!(body_of(&page), body.as_bytes());
                kept.push((version, Arc::downgrade(&page)));
            }
        }
        cache.pages.run_pending_tasks().await;
        for (version, page) in kept {
            let held = page.upgrade().is_some();
            assert_eq!(held, version == 5, "a page of version {version}");
        }
    }

    #[tokio::test]
    async fn a_page_built_again_unchanged_keeps_what_it_made() {
        let cache = PageCache::new(64 << 20, &lookups());
        let renders = std::sync::atomic::AtomicUsize::new(0);
        let count = || renders.load(std::sync::atomic::Ordering::Relaxed);
        let get = async |version: Millis, body: &str| {
            let key = PageKey::new(version, "gallery").part("u");
            let page = page_of(body, version, &renders);
            cache.get_or_render(key, page).await.unwrap()
        };
        let first = get(1_000, "<p>same</p>").await;
        let (compressed, _) = brotli_answer(&first);
        // A change elsewhere: built again and found the same, it is sent
        // with the copy compressed for the first build, dated by the new
        // version as a node building it afresh would date it.
        let again = get(2_000, "<p>same</p>").await;
        let (carried, dated) = brotli_answer(&again);
        assert_eq!(carried.as_ptr(), compressed.as_ptr(), "compressed again");
        assert_eq!(dated, http_date(2_000));
        assert_eq!(count(), 2);
        // It is kept at the new version: not built a third time.
        let hit = get(2_000, "<p>same</p>").await;
        assert!(Arc::ptr_eq(&again, &hit));
        assert_eq!(count(), 2);
        // A request that read an older version gets the newer page.
        let late = get(1_000, "<p>old</p>").await;
        assert!(Arc::ptr_eq(&again, &late));
        assert_eq!(count(), 2);
        // A change to the page itself gives the new page.
        let changed = get(3_000, "<p>changed</p>").await;
        assert_eq!(body_of(&changed), &b"<p>changed</p>"[..]);
        assert_ne!(brotli_answer(&changed).0, compressed);
        assert_eq!(count(), 3);
    }
}
