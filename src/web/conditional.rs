//! Pages as responses: a strong `ETag` computed from the page's bytes and
//! a `Last-Modified`, so a browser revalidating a page it has gets `304 Not
//! Modified` and no body. [`Rendered`] is a page made once, with what
//! each request for it needs precomputed; `super::page_cache` keeps them.
//!
//! Pages differ by viewer (the header, the owner's extras), so they are
//! `Cache-Control: private, no-cache` with `Vary: Cookie`: revalidated on
//! every use, never stored by a shared cache. The ETag covers everything
//! in the body, so it is what decides; `If-Modified-Since` is only
//! consulted when no `If-None-Match` came (RFC 9110 §13.2.2).
//!
//! Long pages are compressed on the fly in the best coding the request
//! allows ([`Coding`]); each coding is its own representation with its own
//! ETag (`"<hash>-br"`), so a 304 never needs to compress anything.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use warp::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use warp::{Filter, Rejection};

use super::negotiate::Coding;
use super::zero_copy::{CopyFile, FileBytes};
use crate::domain::{ContentHash, Millis};

/// The validators a request came with, and the codings it accepts.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    if_none_match: Option<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
}

impl Validators {
    /// The request's validators read straight from its headers, as
    /// [`validators`] takes them; `None` where a value is not visible
    /// ASCII, which that filter refuses with a 400.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        Self::gather(|name| match headers.get(name) {
            Some(v) if v.to_str().is_err() => None,
            v => Some(v.cloned()),
        })
    }

    /// The same from a way of finding a header's first value by name.
    pub fn read<'a>(value: impl Fn(header::HeaderName) -> Option<&'a [u8]>) -> Option<Self> {
        Self::gather(|name| match value(name) {
            Some(v) => HeaderValue::from_bytes(v)
                .ok()
                .filter(|v| v.to_str().is_ok())
                .map(Some),
            None => Some(None),
        })
    }

    /// The three, each as `visible` finds it: `None` refuses the request.
    fn gather(visible: impl Fn(header::HeaderName) -> Option<Option<HeaderValue>>) -> Option<Self> {
        Some(Self {
            if_none_match: visible(header::IF_NONE_MATCH)?,
            if_modified_since: visible(header::IF_MODIFIED_SINCE)?,
            accept_encoding: visible(header::ACCEPT_ENCODING)?,
        })
    }

    fn accept_encoding(&self) -> &str {
        let value = self.accept_encoding.as_ref();
        value.and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// Extracts the request's [`Validators`], the three headers one by one
/// rather than by copying the whole header map. A value that is not
/// visible ASCII is refused (400), as `warp::header::optional` does.
pub fn validators() -> impl Filter<Extract = (Validators,), Error = Rejection> + Clone {
    use warp::header::optional;
    optional::<HeaderValue>("if-none-match")
        .and(optional::<HeaderValue>("if-modified-since"))
        .and(optional::<HeaderValue>("accept-encoding"))
        .map(
            |if_none_match, if_modified_since, accept_encoding| Validators {
                if_none_match,
                if_modified_since,
                accept_encoding,
            },
        )
}

/// What content-addressed responses (media, assets) say to caches. `public`
/// (the design's contract) lets a shared cache keep them even when an API
/// client asked with `Authorization: Bearer …`.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A rendered page as a response: 200 with the body, or 304 when the
/// client's copy is current. `last_modified` is when what the page shows
/// last changed, if known; bodies of `compress_min` bytes or more are
/// compressed when the request allows it (0 = never).
pub fn page(
    body: String,
    v: &Validators,
    last_modified: Option<Millis>,
    compress_min: usize,
) -> warp::reply::Response {
    Rendered::new(body, last_modified).respond(v, compress_min)
}

/// A response with room for the dozen headers a page or an image ends up
/// with, the security headers among them: the map grows once, not twice.
pub fn response(body: Bytes) -> warp::reply::Response {
    let mut resp = Response::new(body.into());
    resp.headers_mut().reserve(RESPONSE_HEADERS);
    resp
}

/// Room for a response's headers, its own and the security headers,
/// reserved at once rather than grown into.
const RESPONSE_HEADERS: usize = 12;

/// Pages at least this long are also kept in a [`CopyFile`], sent
/// without being copied out of the process: a 160 KB gallery page spent a
/// quarter of its time in that copy. The file is made when a request first
/// asks for the page uncompressed: a page only browsers ask for (they take
/// it compressed) never holds its bytes twice, nor one of the few memory
/// files a process may have.
const SENT_FROM_FILE: usize = 64 * 1024;

/// A page rendered once: its bytes, the hash its ETags derive from, when
/// what it shows last changed, and its compressed copies, each made the
/// first time a request asks for it.
pub struct Rendered {
    body: Bytes,
    /// A large body's copy to send from (see [`CopyFile`]), made the
    /// first time it is sent: `None` inside when the body is short or the
    /// system would not make one.
    body_file: OnceLock<Option<Arc<CopyFile>>>,
    etags: Etags,
    /// In whole seconds, as HTTP dates have them, and as the header says it.
    last_modified: Option<(i64, HeaderValue)>,
    br: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
}

/// The ETag of each representation of a page.
struct Etags {
    identity: HeaderValue,
    br: HeaderValue,
    gzip: HeaderValue,
}

impl Rendered {
    pub fn new(body: String, last_modified: Option<Millis>) -> Self {
        let hash = ContentHash::of(body.as_bytes());
        let hash = &hash.as_str()[..32];
        let etag = |coding: Option<Coding>| {
            let quoted = match coding {
                None => format!("\"{hash}\""),
                Some(c) => format!("\"{hash}-{}\"", c.token()),
            };
            HeaderValue::from_str(&quoted).expect("a hex hash is a header value")
        };
        let etags = Etags {
            identity: etag(None),
            br: etag(Some(Coding::Brotli)),
            gzip: etag(Some(Coding::Gzip)),
        };
        let last_modified = last_modified.map(|ms| (ms.div_euclid(1000), http_date(ms)));
        Self {
            body: Bytes::from(body),
            body_file: OnceLock::new(),
            etags,
            last_modified,
            br: OnceLock::new(),
            gzip: OnceLock::new(),
        }
    }

    fn encoded(&self, coding: Coding) -> Bytes {
        let cell = match coding {
            Coding::Brotli => &self.br,
            Coding::Gzip => &self.gzip,
        };
        cell.get_or_init(|| coding.compress(&self.body).into())
            .clone()
    }

    /// This page, with what `before` made for its answers (its compressed
    /// copies, its copy file) when `before` has the same body: a page
    /// built again after a change elsewhere is compressed once, not once
    /// per change. Its own `Last-Modified` stays, so every node dates the
    /// page by the version it was built at, whichever built it first.
    pub(super) fn carrying_over(mut self, before: &Self) -> Self {
        if self.body == before.body {
            self.body = before.body.clone();
            self.body_file = before.body_file.clone();
            self.br = before.br.clone();
            self.gzip = before.gzip.clone();
        }
        self
    }

    /// The copy file to send the body from, made on first use, if the
    /// body is long enough to be worth one.
    fn body_file(&self) -> Option<&Arc<CopyFile>> {
        self.body_file
            .get_or_init(|| {
                let file = || CopyFile::of(&self.body).map(Arc::new);
                self.sent_from_file().then(file).flatten()
            })
            .as_ref()
    }

    /// Whether the body is long enough to be sent from a copy file.
    fn sent_from_file(&self) -> bool {
        self.body.len() >= SENT_FROM_FILE
    }

    /// Bytes to charge this page in a cache. Weighed once, at insertion,
    /// before any compressed copy or copy file exists: a third of the
    /// body is allowed for the copies (HTML compresses to well under a
    /// sixth, two codings), and for a long body, the body again for the
    /// copy file it may come to have.
    pub(super) fn weight(&self) -> u32 {
        let copy = if self.sent_from_file() {
            self.body.len()
        } else {
            0
        };
        u32::try_from(self.body.len() + self.body.len() / 3 + copy).unwrap_or(u32::MAX)
    }

    /// See [`page`].
    pub fn respond(&self, v: &Validators, compress_min: usize) -> warp::reply::Response {
        let case = self.case(v, compress_min);
        let mut resp = self.body_of(case);
        resp.headers_mut().reserve(RESPONSE_HEADERS);
        self.headers_of(case, resp.headers_mut());
        resp
    }

    /// Which representation a request with `v` gets, and whether the copy
    /// it has is current.
    pub fn case(&self, v: &Validators, compress_min: usize) -> Case {
        let coding = Coding::choose(v.accept_encoding(), self.body.len(), compress_min);
        let fresh = match (&v.if_none_match, &v.if_modified_since) {
            (Some(inm), _) => {
                let etag = self.etag(coding).to_str().expect("made from a str");
                matches_etag(Some(inm), etag, true)
            }
            (None, Some(ims)) => {
                let since = ims
                    .to_str()
                    .ok()
                    .and_then(|s| httpdate::parse_http_date(s).ok())
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                matches!((&self.last_modified, since), (Some((lm, _)), Some(since)) if *lm <= since)
            }
            (None, None) => false,
        };
        Case { coding, fresh }
    }

    fn etag(&self, coding: Option<Coding>) -> &HeaderValue {
        match coding {
            None => &self.etags.identity,
            Some(Coding::Brotli) => &self.etags.br,
            Some(Coding::Gzip) => &self.etags.gzip,
        }
    }

    /// The response for `case`: its status and body, no headers yet.
    pub fn body_of(&self, case: Case) -> warp::reply::Response {
        let (body, file) = self.bytes_of(case);
        let mut resp = Response::new(body.into());
        if let Some(file) = file {
            resp.extensions_mut().insert(file);
        }
        *resp.status_mut() = case.status();
        resp
    }

    /// The body for `case`, and the same bytes as a file's when they can
    /// be sent from one.
    pub fn bytes_of(&self, case: Case) -> (Bytes, Option<FileBytes>) {
        match (case.fresh, case.coding) {
            (true, _) => (Bytes::new(), None),
            (false, Some(c)) => (self.encoded(c), None),
            (false, None) => {
                let file = self.body_file();
                (
                    self.body.clone(),
                    file.map(|f| f.holding(self.body.clone())),
                )
            }
        }
    }

    /// The page's own headers for `case`, the same for every request in
    /// that case.
    pub fn headers_of(&self, case: Case, h: &mut HeaderMap) {
        if !case.fresh {
            if let Some(c) = case.coding {
                h.insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(c.token()),
                );
            }
            h.insert(header::CONTENT_TYPE, HTML);
        }
        h.insert(header::ETAG, self.etag(case.coding).clone());
        if let Some((_, date)) = &self.last_modified {
            h.insert(header::LAST_MODIFIED, date.clone());
        }
        h.insert(header::CACHE_CONTROL, PRIVATE_NO_CACHE);
        h.insert(header::VARY, VARY_COOKIE_AND_CODING);
    }
}

/// How a page is answered: in which coding, and whether as `304`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    coding: Option<Coding>,
    fresh: bool,
}

impl Case {
    /// How many cases there are.
    pub const COUNT: usize = 6;

    /// The status a page is answered with in this case.
    pub fn status(self) -> StatusCode {
        match self.fresh {
            true => StatusCode::NOT_MODIFIED,
            false => StatusCode::OK,
        }
    }

    /// A number below [`Self::COUNT`], different for each case.
    pub fn index(self) -> usize {
        let coding = match self.coding {
            None => 0,
            Some(Coding::Brotli) => 1,
            Some(Coding::Gzip) => 2,
        };
        coding * 2 + usize::from(self.fresh)
    }
}

// A page's fixed header values, made when the binary is built.
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const PRIVATE_NO_CACHE: HeaderValue = HeaderValue::from_static("private, no-cache");
const VARY_COOKIE_AND_CODING: HeaderValue = HeaderValue::from_static("Cookie, Accept-Encoding");

/// `ms` as an HTTP date header value (whole seconds; before 1970 is
/// 1970), written on the stack: the date is always 29 bytes
/// (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(ms: Millis) -> HeaderValue {
    use std::io::Write;
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    let mut date = [0u8; 29];
    write!(&mut date[..], "{}", httpdate::HttpDate::from(t)).expect("an HTTP date is 29 bytes");
    HeaderValue::from_bytes(&date).expect("an HTTP date is a header value")
}

/// Whether an `If-None-Match` / `If-Range` header names `etag`. `weak`
/// allows `W/` matches (If-None-Match uses weak comparison; If-Range strong).
pub fn matches_etag(value: Option<&HeaderValue>, etag: &str, weak: bool) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    v.split(',')
        .map(str::trim)
        .any(|t| t == etag || (weak && (t == "*" || t.strip_prefix("W/") == Some(etag))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_case_has_its_own_index() {
        let codings = [None, Some(Coding::Brotli), Some(Coding::Gzip)];
        let mut seen = [false; Case::COUNT];
        for coding in codings {
            for fresh in [false, true] {
                let index = Case { coding, fresh }.index();
                assert!(!std::mem::replace(&mut seen[index], true), "{index}");
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    fn with(inm: Option<&str>, ims: Option<&str>) -> Validators {
        Validators {
            if_none_match: inm.map(|s| HeaderValue::from_str(s).unwrap()),
            if_modified_since: ims.map(|s| HeaderValue::from_str(s).unwrap()),
            accept_encoding: None,
        }
    }

    #[test]
    fn last_modified_is_the_http_date_of_its_second() {
        for ms in [0, 784_111_777_000, 784_111_777_999, 1_796_406_693_890, -5] {
            let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            assert_eq!(http_date(ms), httpdate::fmt_http_date(t).as_str());
        }
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn etag_decides_and_last_modified_is_the_fallback() {
        let first = page(
            "<p>hi</p>".into(),
            &Validators::default(),
            Some(1_700_000_000_500),
            0,
        );
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let lm = first.headers()[header::LAST_MODIFIED]
            .to_str()
            .unwrap()
            .to_owned();

        let same = page(
            "<p>hi</p>".into(),
            &with(Some(&etag), None),
            Some(1_700_000_000_500),
            0,
        );
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
        let changed = page(
            "<p>bye</p>".into(),
            &with(Some(&etag), Some(&lm)),
            Some(1_700_000_000_500),
            0,
        );
        assert_eq!(
            changed.status(),
            StatusCode::OK,
            "a new body wins over an old date"
        );

        let by_date = page(
            "<p>hi</p>".into(),
            &with(None, Some(&lm)),
            Some(1_700_000_000_999),
            0,
        );
        assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);
        let newer = page(
            "<p>hi</p>".into(),
            &with(None, Some(&lm)),
            Some(1_700_000_001_000),
            0,
        );
        assert_eq!(newer.status(), StatusCode::OK);
        let unknown = page("<p>hi</p>".into(), &with(None, Some(&lm)), None, 0);
        assert_eq!(unknown.status(), StatusCode::OK);
    }

    #[test]
    fn compressed_pages_are_their_own_representation() {
        let body = "<li>tile</li>".repeat(200);
        let v = Validators {
            accept_encoding: Some(HeaderValue::from_static("gzip, deflate, br")),
            ..Validators::default()
        };
        let br = page(body.clone(), &v, None, 1024);
        assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
        let etag = br.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.ends_with("-br\""), "{etag}");
        assert!(
            br.headers()[header::VARY]
                .to_str()
                .unwrap()
                .contains("Accept-Encoding")
        );

        let again = Validators {
            if_none_match: Some(HeaderValue::from_str(&etag).unwrap()),
            ..v.clone()
        };
        assert_eq!(
            page(body.clone(), &again, None, 1024).status(),
            StatusCode::NOT_MODIFIED
        );
        let plain = Validators {
            if_none_match: Some(HeaderValue::from_str(&etag).unwrap()),
            ..Validators::default()
        };
        let resp = page(body.clone(), &plain, None, 1024);
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "identity is another representation"
        );
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        let short = page("<p>hi</p>".into(), &v, None, 1024);
        assert!(short.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn a_long_page_gets_its_memory_file_when_first_sent_uncompressed() {
        let rendered = Rendered::new("<li>tile</li>".repeat(SENT_FROM_FILE / 10), None);
        let browser = Validators {
            accept_encoding: Some(HeaderValue::from_static("gzip, deflate, br")),
            ..Validators::default()
        };
        let br = rendered.respond(&browser, 1024);
        assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
        assert!(br.extensions().get::<FileBytes>().is_none());
        assert!(
            rendered.body_file.get().is_none(),
            "a copy file made for a page only sent compressed"
        );

        let plain = rendered.respond(&Validators::default(), 1024);
        assert!(
            plain.extensions().get::<FileBytes>().is_some(),
            "not sent from a file"
        );
        let file = rendered.body_file().expect("made when first sent");
        let again = Rendered::new(String::from_utf8(rendered.body.to_vec()).unwrap(), None)
            .carrying_over(&rendered);
        assert!(Arc::ptr_eq(again.body_file().unwrap(), file), "made again");

        let short = Rendered::new("<p>hi</p>".into(), None);
        short.respond(&Validators::default(), 1024);
        assert!(short.body_file().is_none());
    }
}
