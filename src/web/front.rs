//! The front: what is answered before the route table. Media bytes, and
//! logged-out visitors' pages by their URL (what nginx's `proxy_cache` or a
//! CDN in front of uWSGI did for the classic stack's anonymous traffic).
//!
//! **Media.** A `GET` or `HEAD` under `/media/variants/` or
//! `/media/originals/` goes straight to its handler ([`media::by_key`]),
//! the one the table's media routes call, with the table's wrapping:
//! failures as JSON (whose rendering no viewer changes), the security
//! headers, the route's counters. The table's filters (route matching,
//! extractors, the viewer's cookie, `recover`) were a fifth of an image
//! request's own work. Other methods go to the table, which says 405.
//! A plain request's answer (no validators, no range) is kept whole by URL
//! ([`media::Ready`]: the bytes and the head as sent), and the next plain
//! `GET` or `HEAD` of that URL is given a copy of the head with the same
//! bytes, at once, until any blob is deleted: checking the key, hashing
//! it into an `ETag`, looking it up, dating it and adding the security
//! headers were most of what was left. Kept answers share their bytes with
//! the byte cache; they are bounded by a quarter of its budget, which is
//! what they can add to it when it has dropped bytes the front still has.
//!
//! **Pages.**
//! A cached page's request through the table still costs most of what a
//! request costs: the group's boxed filters, the query's parsing, the
//! viewer's and the validators' extraction, the page key, and a lookup in
//! the page cache. The front skips all of it for a request that can only
//! be answered one way: a `GET` with no cookie and no `Authorization`, for
//! a URL whose page the table answered to such a request before, at the
//! data version that is still current.
//!
//! - What is kept comes from the table: a page handler that answers a
//!   logged-out visitor marks the response ([`Anonymous`], from
//!   `respond::serve_page`), and the front keeps that page under the
//!   request's path and query. Nothing else is kept.
//! - A page is kept under one URL: the shortest that asked for it, so
//!   that query strings a page ignores cannot fill the front with copies
//!   of it. Other URLs of the page are answered by the table, from the
//!   page cache.
//! - A kept page is used only while the data version it was built from is
//!   current, the rule the page cache follows (see
//!   [`super::page_cache::PageCache`]). Any change moves the version on,
//!   the next request goes through the table, and its answer replaces
//!   the entry.
//! - The answer is the one the table gives: the same [`Rendered`] page,
//!   the same choice of coding and of `304` ([`Rendered::case`]), the same
//!   headers and security headers (made once per case and copied),
//!   counted under the same route label. Lookups count as cache `front`
//!   in `/metrics`.
//! - A request whose validators the table would refuse (not visible
//!   ASCII) goes to the table, which says why.
//!
//! **Where each runs.** The front runs on the connection's thread
//! ([`super::shards`]), and what it answers from what it keeps is
//! answered there and then, without a wake-up or a task. Everything else
//! (the table, a media request it must look up) is handed to the
//! application's runtime as a task of its own ([`Handed`]), where the
//! database, the store and the background work live; the task is
//! cancelled if its connection goes, as the future would have been.

use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::{Either, Ready, ready};
use moka::sync::Cache;
use prometheus::{Histogram, IntCounter, IntCounterVec};
use tokio::runtime::Handle;
use tokio_util::task::AbortOnDropHandle;
use tower_service::Service;
use warp::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};

use super::conditional::{Case, Rendered, Validators};
use super::error::{Failure, Shape, render};
use super::express::{self, Ask, Quick};
use super::media;
use super::page_cache::Anonymous;
use super::respond::security_headers;
use super::state::AppState;
use crate::config::CacheConfig;
use crate::domain::Millis;
use crate::metrics::HitsAndMisses;

/// Paths that never answer with a page (bytes, assets, JSON): most of the
/// traffic, so they are not looked up.
const NEVER_PAGES: [&str; 3] = ["/media/", "/assets/", "/api/"];

/// The route table `S` with the front before it.
#[derive(Clone)]
pub struct Front<S> {
    table: S,
    kept: Arc<Kept>,
    /// The application's runtime, where what is not kept is answered.
    app: Handle,
}

/// The front's caches hash every request's URL: with foldhash rather than
/// SipHash, a lookup costs a third less (seeded per process, as SipHash's
/// keys are).
type ByUrl<V> = Cache<String, Arc<V>, foldhash::fast::RandomState>;

struct Kept {
    pages: ByUrl<Entry>,
    /// The one URL each page is kept under, by page key.
    urls: ByUrl<String>,
    media: [MediaRoute; 2],
    /// Plain media answers by URL.
    ready: ByUrl<media::Ready>,
    state: AppState,
    csp: HeaderValue,
    lookups: HitsAndMisses,
    ready_lookups: HitsAndMisses,
    /// Requests the express lane answered.
    express_answers: IntCounter,
    /// Pages of older versions are let go once a newer one is kept.
    sweeps: Sweeps,
}

/// The newest data version the front has kept a page of, so that the
/// pages of older versions are swept out once per version: they are never
/// answered again, and would only take room, and a large one its copy
/// file (`zero_copy::CopyFile`), of which there are few.
#[derive(Debug, Default)]
struct Sweeps(AtomicI64);

impl Sweeps {
    /// Whether `version` is newer than any before it: then the pages of
    /// older versions can go.
    fn newer(&self, version: Millis) -> bool {
        self.0.fetch_max(version, Ordering::Relaxed) < version
    }
}

/// How many bytes of page keys and URLs the front may hold to know which
/// URL each page is kept under: some 30 000 pages' worth.
const URLS_BYTES: u64 = 4 << 20;

/// What share of the byte cache's budget kept media answers may take.
const READY_MEDIA_SHARE: u64 = 4;

/// A media route the front answers (`GET` and `HEAD`), with its counters
/// looked up once.
struct MediaRoute {
    /// What a path starts with.
    path: &'static str,
    /// The first part of the storage key.
    prefix: &'static str,
    counts: RouteCounts,
}

impl MediaRoute {
    fn new(
        prefix: &'static str,
        path: &'static str,
        label: &'static str,
        state: &AppState,
    ) -> Self {
        Self {
            path,
            prefix,
            counts: RouteCounts::new(state, label),
        }
    }
}

/// A route's request counters and duration histogram, as the table counts
/// them (`web::layered`), with the usual statuses' series looked up once.
struct RouteCounts {
    route: &'static str,
    requests: IntCounterVec,
    ok: IntCounter,
    not_modified: IntCounter,
    duration: Histogram,
}

impl RouteCounts {
    fn new(state: &AppState, route: &'static str) -> Self {
        let metrics = &state.metrics;
        let requests = metrics.http_requests.clone();
        Self {
            route,
            ok: requests.with_label_values(&[route, "200"]),
            not_modified: requests.with_label_values(&[route, "304"]),
            duration: metrics.http_duration.with_label_values(&[route]),
            requests,
        }
    }

    /// Counts a request answered with `status`, begun at `started`.
    fn record(&self, status: StatusCode, started: Instant) {
        match status {
            StatusCode::OK => self.ok.inc(),
            StatusCode::NOT_MODIFIED => self.not_modified.inc(),
            _ => self
                .requests
                .with_label_values(&[self.route, status.as_str()])
                .inc(),
        }
        self.duration.observe(started.elapsed().as_secs_f64());
        tracing::debug!(route = self.route, status = status.as_u16(), "request");
    }
}

/// A page kept under its URL, with its route's counters looked up once.
struct Entry {
    version: Millis,
    page: Arc<Rendered>,
    counts: RouteCounts,
    /// The whole of each case's headers (see [`Case`]), made the first
    /// time a request needs them: copying a map is a fraction of filling
    /// one a header at a time.
    heads: [OnceLock<HeaderMap>; Case::COUNT],
    /// The same heads as the express lane writes them.
    wires: [OnceLock<Bytes>; Case::COUNT],
}

impl Entry {
    /// The whole of `case`'s headers, the page's and the security headers.
    fn head(&self, case: Case, csp: &HeaderValue) -> &HeaderMap {
        self.heads[case.index()].get_or_init(|| {
            let mut head = HeaderMap::new();
            self.page.headers_of(case, &mut head);
            security_headers(&mut head, csp);
            head
        })
    }
}

impl<S> Front<S> {
    /// `table` behind a front keeping at most `budget.page_bytes` of pages
    /// (they are the page cache's own, shared, not copied) and a quarter
    /// of `budget.media_bytes` of media answers. Made on the application's
    /// runtime, which is where it hands requests.
    pub fn new(state: &AppState, table: S, budget: &CacheConfig) -> Self {
        let pages = Cache::builder()
            .max_capacity(budget.page_bytes)
            .weigher(|url: &String, entry: &Arc<Entry>| {
                entry.page.weight().saturating_add(url.len() as u32)
            })
            .support_invalidation_closures()
            .build_with_hasher(Default::default());
        let media = [
            MediaRoute::new("variants", "/media/variants/", "/media/variants", state),
            MediaRoute::new("originals", "/media/originals/", "/media/originals", state),
        ];
        let lookups = &state.metrics.cache_lookups;
        let kept = Kept {
            pages,
            urls: Cache::builder()
                .max_capacity(URLS_BYTES)
                .weigher(|key: &String, url: &Arc<String>| (key.len() + url.len()) as u32)
                .build_with_hasher(Default::default()),
            media,
            ready: Cache::builder()
                .max_capacity(budget.media_bytes / READY_MEDIA_SHARE)
                .weigher(|url: &String, ready: &Arc<media::Ready>| {
                    ready.weight().saturating_add(url.len() as u32)
                })
                .build_with_hasher(Default::default()),
            state: state.clone(),
            csp: state.urls.content_security_policy(),
            lookups: HitsAndMisses::new(lookups, "front"),
            ready_lookups: HitsAndMisses::new(lookups, "front_media"),
            express_answers: state.metrics.express_answers.clone(),
            sweeps: Sweeps::default(),
        };
        Self {
            table,
            kept: Arc::new(kept),
            app: Handle::current(),
        }
    }

    /// What the front keeps, for the express lane.
    pub fn express(&self) -> Express {
        Express(self.kept.clone())
    }

    fn hand(&self, answer: impl Future<Output = Answer> + Send + 'static) -> Handed {
        Handed {
            task: AbortOnDropHandle::new(self.app.spawn(answer)),
            csp: self.kept.csp.clone(),
        }
    }
}

type Answer = Result<warp::reply::Response, Infallible>;

impl<S, B> Service<Request<B>> for Front<S>
where
    S: Service<Request<B>, Response = warp::reply::Response, Error = Infallible>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = warp::reply::Response;
    type Error = Infallible;
    type Future = Either<Ready<Answer>, Handed>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.table.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(route) = self.kept.media_route(&req) {
            if let Some(resp) = self.kept.ready_media(route, &req) {
                return Either::Left(ready(Ok(resp)));
            }
            let kept = self.kept.clone();
            return Either::Right(self.hand(async move { Ok(kept.media(route, req).await) }));
        }
        let Some(url) = anonymous_url(&req) else {
            let answer = self.table.call(req);
            return Either::Right(self.hand(answer));
        };
        if let Some(resp) = self.kept.answer(url, req.headers()) {
            return Either::Left(ready(Ok(resp)));
        }
        let url = url.to_owned();
        let answer = self.table.call(req);
        let kept = self.kept.clone();
        Either::Right(self.hand(async move {
            let mut resp = answer.await?;
            if let Some(page) = resp.extensions_mut().remove::<Anonymous>() {
                kept.keep(url, page);
            }
            Ok(resp)
        }))
    }
}

/// A request being answered on the application's runtime; dropping it
/// cancels the task.
pub struct Handed {
    task: AbortOnDropHandle<Answer>,
    /// For the answer given when the task could not: the table's wrapping,
    /// which adds the security headers, is what failed.
    csp: HeaderValue,
}

impl Future for Handed {
    type Output = Answer;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        let joined = std::task::ready!(std::pin::Pin::new(&mut self.task).poll(cx));
        Poll::Ready(joined.unwrap_or_else(|e| {
            let failure = match e.is_panic() {
                true => Failure::internal("a request's handler panicked"),
                false => Failure::busy("shutting down", 1),
            };
            let mut resp = render(&failure);
            security_headers(resp.headers_mut(), &self.csp);
            Ok(resp)
        }))
    }
}

/// The path and query of a request the front may answer: a `GET` by
/// someone not logged in, for a path that may be a page.
fn anonymous_url<B>(req: &Request<B>) -> Option<&str> {
    let headers = req.headers();
    let path = req.uri().path();
    let candidate = is_anonymous_page(req.method(), path, |name| headers.contains_key(name));
    candidate.then(|| req.uri().path_and_query().map_or(path, |pq| pq.as_str()))
}

/// Whether a request may be for a page kept for logged-out visitors,
/// `has` telling which headers it came with.
fn is_anonymous_page(method: &Method, path: &str, has: impl Fn(HeaderName) -> bool) -> bool {
    method == Method::GET
        && !has(header::COOKIE)
        && !has(header::AUTHORIZATION)
        && !NEVER_PAGES.iter().any(|p| path.starts_with(p))
}

/// What the front keeps, answered in the express lane (see
/// [`super::express`]): the same answers to the same requests as
/// [`Front`] gives them, from the same caches, counted the same way.
#[derive(Clone)]
pub struct Express(Arc<Kept>);

impl express::Answers for Express {
    fn answer(&self, ask: &Ask<'_>) -> Option<Quick> {
        let quick = self.find(ask);
        if quick.is_some() {
            self.0.express_answers.inc();
        }
        quick
    }
}

impl Express {
    fn find(&self, ask: &Ask<'_>) -> Option<Quick> {
        let kept = &*self.0;
        let path = ask.path();
        if let Some(route) = kept.media_route_of(&ask.method, path) {
            let plain = !ask.has_any(&media::CONDITIONS);
            return kept.kept_media(route, path, plain, |ready| {
                ready.quick(&ask.method, &kept.state)
            });
        }
        if !is_anonymous_page(&ask.method, path, |name| ask.header(&name).is_some()) {
            return None;
        }
        let validators = || Validators::read(|name| ask.header(&name));
        kept.kept_page(ask.target, validators, |entry, case| {
            let (body, file) = entry.page.bytes_of(case);
            let wire = entry.wires[case.index()].get_or_init(|| {
                express::wire_head(case.status(), entry.head(case, &kept.csp), body.len())
            });
            Quick::new(wire.clone(), body, file)
        })
    }
}

impl Kept {
    /// The kept page's answer to a request with `headers`, if there is a
    /// current one.
    fn answer(&self, url: &str, headers: &HeaderMap) -> Option<warp::reply::Response> {
        self.kept_page(
            url,
            || Validators::of(headers),
            |entry, case| {
                let mut resp = entry.page.body_of(case);
                *resp.headers_mut() = entry.head(case, &self.csp).clone();
                resp
            },
        )
    }

    /// What `give` makes of the page kept under `url`, in the case the
    /// request's `validators` call for, if the page is current; looked up
    /// and counted as the table counts it. `None` from `validators` (a
    /// value the table refuses) leaves the request to the table.
    fn kept_page<T>(
        &self,
        url: &str,
        validators: impl FnOnce() -> Option<Validators>,
        give: impl FnOnce(&Entry, Case) -> T,
    ) -> Option<T> {
        let started = Instant::now();
        let current = |e: &Entry| e.version == self.state.app.version();
        let entry = self.pages.get(url).filter(|e| current(e));
        self.lookups.count(entry.is_some());
        let entry = entry?;
        let case = entry
            .page
            .case(&validators()?, self.state.compress_min_bytes);
        let given = give(&entry, case);
        entry.counts.record(case.status(), started);
        Some(given)
    }

    /// Which of the media routes a request is for, if it is a `GET` or
    /// `HEAD` of one.
    fn media_route<B>(&self, req: &Request<B>) -> Option<usize> {
        self.media_route_of(req.method(), req.uri().path())
    }

    fn media_route_of(&self, method: &Method, path: &str) -> Option<usize> {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return None;
        }
        self.media.iter().position(|r| path.starts_with(r.path))
    }

    /// The kept answer to a plain media request, if there is a good one.
    fn ready_media<B>(&self, route: usize, req: &Request<B>) -> Option<warp::reply::Response> {
        let plain = media::is_plain(req.headers());
        self.kept_media(route, req.uri().path(), plain, |ready| {
            ready.answer(req.method(), &self.state)
        })
    }

    /// What `give` makes of the answer kept for a plain request of `path`
    /// on media route `route`, if there is one; looked up and counted as
    /// the table's route counts it. A request that is not plain is not
    /// looked up.
    fn kept_media<T>(
        &self,
        route: usize,
        path: &str,
        plain: bool,
        give: impl FnOnce(&media::Ready) -> Option<T>,
    ) -> Option<T> {
        if !plain {
            return None;
        }
        let started = Instant::now();
        let ready = self.ready.get(path);
        self.ready_lookups.count(ready.is_some());
        let given = give(&*ready?)?;
        self.media[route].counts.record(StatusCode::OK, started);
        Some(given)
    }

    /// A media request answered as the table's media route answers it:
    /// the same handler, failures as JSON, the security headers. A plain
    /// one's answer is kept for the next ([`Self::ready_media`]).
    async fn media<B>(&self, route: usize, req: Request<B>) -> warp::reply::Response {
        let started = Instant::now();
        let generation = self.state.app.media.generation();
        let route = &self.media[route];
        let (ask, _body) = req.into_parts();
        let path = ask.uri.path();
        let tail = &path[route.path.len()..];
        let answer = media::by_key(route.prefix, tail, ask.method, &ask.headers, &self.state);
        let mut resp = answer
            .await
            .unwrap_or_else(|f| render(&f.shaped(Shape::Json)));
        security_headers(resp.headers_mut(), &self.csp);
        if let Some(marked) = resp.extensions_mut().remove::<media::Plain>() {
            let head = resp.headers().clone();
            let ready = media::Ready::new(marked, head, generation);
            self.ready.insert(path.to_owned(), Arc::new(ready));
        }
        route.counts.record(resp.status(), started);
        resp
    }

    /// Keeps `page` under `url`, unless it is kept under a URL no longer.
    /// A page is kept under one URL, the shortest it was asked for by:
    /// query parameters a page ignores (`?utm_source=…`, or junk) make new
    /// URLs of the same page without end, and each would take a page's
    /// room in the front and crowd out the pages visitors ask for.
    fn keep(&self, url: String, page: Anonymous) {
        if let Some(kept) = self.urls.get(&page.key).filter(|kept| **kept != url) {
            if kept.len() <= url.len() && self.pages.contains_key(kept.as_str()) {
                return;
            }
            self.pages.invalidate(kept.as_str());
        }
        self.urls.insert(page.key, Arc::new(url.clone()));
        let entry = Entry {
            version: page.version,
            counts: RouteCounts::new(&self.state, page.route),
            page: page.page,
            heads: Default::default(),
            wires: Default::default(),
        };
        let version = entry.version;
        self.pages.insert(url, Arc::new(entry));
        // A page of an older version is never answered again: let it go
        // now, with its copy file, rather than when it is asked for.
        if self.sweeps.newer(version) {
            let _ = self
                .pages
                .invalidate_entries_if(move |_, kept| kept.version < version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handed(task: impl Future<Output = Answer> + Send + 'static) -> Handed {
        Handed {
            task: AbortOnDropHandle::new(tokio::spawn(task)),
            csp: HeaderValue::from_static("default-src 'self'"),
        }
    }

    #[tokio::test]
    async fn a_handed_request_that_panics_is_a_500_with_the_security_headers() {
        let resp = handed(async { panic!("a handler's bug") }).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers();
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "default-src 'self'");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "an error is not kept");
    }

    #[tokio::test]
    async fn a_handed_request_dropped_by_its_connection_is_cancelled() {
        let (held, mut heard) = tokio::sync::mpsc::channel::<()>(1);
        let (started, began) = tokio::sync::oneshot::channel();
        let handed = handed(async move {
            let _held = held;
            started.send(()).unwrap();
            std::future::pending::<Answer>().await
        });
        began.await.unwrap();
        drop(handed);
        let gone = tokio::time::timeout(std::time::Duration::from_secs(5), heard.recv());
        assert_eq!(gone.await, Ok(None), "the task was dropped");
    }
}
