//! Serving image bytes (the CloudFront + nginx of the classic stack).
//!
//! `/media/<storage key>`: keys are content-addressed, so responses are
//! immutable and carry a strong `ETag` derived from the key, `Cache-Control:
//! public, max-age=31536000, immutable`, `Last-Modified`, and honour
//! `If-None-Match` or else `If-Modified-Since` (304), `Range`/`If-Range`
//! (206/416) and `HEAD`. Small
//! blobs (variants) come from the byte cache, and on a local store leave
//! by `sendfile` from their file ([`super::zero_copy`]); large ones
//! (originals) stream from the store without being held in memory.
//!
//! A plain `GET` of a cached blob (no validators, no range) is answered
//! with a [`Plain`] mark: what the front needs to keep the whole answer
//! ([`Ready`]) and give it again to the next plain request for that URL,
//! until a blob is deleted.
//!
//! `/photos/<id>/<variant>` names a size without a format: WebP when the
//! request's `Accept` lists `image/webp`, the universal format otherwise,
//! with `Vary: Accept`. Each concrete format keeps its own immutable
//! `/media/…` URL for caches that ignore `Vary`; pages use those in a
//! `<picture>`.

use std::time::UNIX_EPOCH;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use sync_wrapper::SyncStream;
use warp::Reply;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::conditional::{IMMUTABLE, http_date, matches_etag, response};
use super::error::{Answer, Failure};
use super::express::{self, Quick};
use super::extract::Viewer;
use super::negotiate::accepts_type;
use super::state::AppState;
use super::zero_copy::FileBytes;
use crate::app::media::{Body, SIGNED_URL_LIFETIME};
use crate::domain::{ImageFormat, Millis, PhotoId, Visibility};
use crate::keys::BlobKey;

/// `GET|HEAD /media/<prefix>/<rest>`: a blob by its key.
pub async fn by_key(
    prefix: &'static str,
    tail: &str,
    method: Method,
    headers: &HeaderMap,
    state: &AppState,
) -> Answer {
    let key = BlobKey::from_string([prefix, "/", tail].concat())
        .ok_or_else(|| Failure::not_found("media"))?;
    if let Some(url) = state.app.media.redirect(&key).await? {
        return Ok(redirect_to_bucket(&url));
    }
    serve_key(key, method, headers, state, true).await
}

/// The headers that make a request for a blob conditional or partial.
pub const CONDITIONS: [header::HeaderName; 4] = [
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::RANGE,
    header::IF_RANGE,
];

/// Whether a request asks for a whole blob without conditions: no
/// validators and no range ([`CONDITIONS`]), so its answer depends on the
/// blob alone.
pub fn is_plain(headers: &HeaderMap) -> bool {
    CONDITIONS.iter().all(|name| !headers.contains_key(name))
}

/// Marks the answer to a plain `GET` ([`is_plain`]) of a blob from the
/// byte cache: what is needed to give it again.
#[derive(Clone)]
pub struct Plain {
    /// The whole blob.
    bytes: Bytes,
    /// The same bytes as its file's, when they were sent from one.
    sent: Option<FileBytes>,
}

/// The answer to a plain request for a blob, kept whole: the bytes, and
/// the head as it was sent once, copied into each answer (the front's;
/// checking the key, hashing it into an `ETag`, dating the blob and adding
/// the security headers were half of a media request's own work).
pub struct Ready {
    plain: Plain,
    head: HeaderMap,
    /// The same head as the express lane writes it.
    wire: Bytes,
    /// The media generation read before the bytes were (see
    /// [`crate::cache::Caches::media_generation`]).
    generation: u64,
}

impl Ready {
    /// What was marked [`Plain`], the whole head it was sent with, and the
    /// media generation read before the request began.
    pub fn new(plain: Plain, head: HeaderMap, generation: u64) -> Self {
        let wire = express::wire_head(StatusCode::OK, &head, plain.bytes.len());
        Self {
            plain,
            head,
            wire,
            generation,
        }
    }

    /// How much it holds, for a cache's budget: the bytes (shared with
    /// the byte cache while it holds them too) and about as much as its
    /// head takes.
    pub fn weight(&self) -> u32 {
        u32::try_from(self.plain.bytes.len() + 1024).unwrap_or(u32::MAX)
    }

    /// The same answer to another plain `GET` or `HEAD`, unless a blob was
    /// deleted since (the full path finds out whether it was this one) or,
    /// for a `GET` sent from a file, the file has been closed since.
    pub fn answer(&self, method: &Method, state: &AppState) -> Option<warp::reply::Response> {
        let (body, file) = self.body(method, state)?;
        let mut resp = warp::reply::Response::new(body.into());
        if let Some(file) = file {
            resp.extensions_mut().insert(file);
        }
        *resp.headers_mut() = self.head.clone();
        Some(resp)
    }

    /// [`Self::answer`], for the express lane.
    pub fn quick(&self, method: &Method, state: &AppState) -> Option<Quick> {
        let (body, file) = self.body(method, state)?;
        Some(Quick::new(self.wire.clone(), body, file))
    }

    /// The body for `method`, and its file, if the answer still holds.
    fn body(&self, method: &Method, state: &AppState) -> Option<(Bytes, Option<FileBytes>)> {
        if state.app.media.generation() != self.generation {
            return None;
        }
        if method == Method::HEAD {
            return Some((Bytes::new(), None));
        }
        let plain = &self.plain;
        if plain.sent.as_ref().is_some_and(|sent| !sent.is_open()) {
            return None;
        }
        Some((plain.bytes.clone(), plain.sent.clone()))
    }
}

/// `307` to a presigned bucket URL. A CDN may keep the redirect, but only
/// for part of the URL's life, so it never hands out one about to expire.
fn redirect_to_bucket(url: &str) -> warp::reply::Response {
    let mut resp = Response::new(Bytes::new().into());
    *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    let h = resp.headers_mut();
    insert(h, header::LOCATION, url);
    let keep = SIGNED_URL_LIFETIME.as_secs() * 5 / 6;
    insert(h, header::CACHE_CONTROL, &format!("public, max-age={keep}"));
    resp
}

/// `GET|HEAD /photos/<id>/<size>`, negotiated by `Accept`.
pub async fn negotiated(
    id: PhotoId,
    name: String,
    method: Method,
    headers: HeaderMap,
    viewer: Option<Viewer>,
    state: AppState,
) -> Answer {
    let photo = state.app.photos.get(&id, viewer.as_deref()).await?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("");
    let webp = accepts_type(accept, "image/webp")
        .then(|| photo.variant_in(&name, ImageFormat::Webp))
        .flatten();
    let variant = webp
        .or_else(|| photo.variant(&name))
        .ok_or_else(|| Failure::not_found("variant"))?;
    let key = BlobKey::parse(&variant.key).ok_or_else(|| Failure::not_found("variant"))?;
    let mut resp = serve_key(key, method, &headers, &state, false).await?;
    let h = resp.headers_mut();
    // Not content-addressed: the photo may be deleted or re-rendered.
    // Only public photos go into shared caches.
    let (cache, vary) = match photo.visibility {
        Visibility::Public => ("public, max-age=3600", "Accept"),
        _ => ("private, max-age=3600", "Accept, Cookie"),
    };
    h.insert(header::VARY, HeaderValue::from_static(vary));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(resp)
}

/// A blob's answer; a plain `GET` of a cached one is marked [`Plain`] when
/// `mark` says so.
async fn serve_key(
    key: BlobKey,
    method: Method,
    headers: &HeaderMap,
    state: &AppState,
    mark: bool,
) -> Answer {
    let etag = etag_of(&key);
    if matches_etag(headers.get(header::IF_NONE_MATCH), etag_str(&etag), true) {
        let mut resp = response(Bytes::new());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        common_headers(resp.headers_mut(), &etag, None);
        return Ok(resp);
    }

    let media = &state.app.media;
    let body = media.open(&key, method == Method::HEAD).await?;
    let (size, last_modified) = (body.size(), body.last_modified());
    // `If-Modified-Since` counts only without `If-None-Match` (RFC 9110).
    if !headers.contains_key(header::IF_NONE_MATCH)
        && unchanged_since(headers.get(header::IF_MODIFIED_SINCE), last_modified)
    {
        let mut resp = response(Bytes::new());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        common_headers(resp.headers_mut(), &etag, Some(last_modified));
        return Ok(resp);
    }
    let range = match requested_range(headers, etag_str(&etag), size) {
        Wanted::All => None,
        Wanted::Part { start, end } => Some((start, end)),
        Wanted::Unsatisfiable => {
            let mut resp = response(Bytes::new());
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            common_headers(resp.headers_mut(), &etag, Some(last_modified));
            insert(
                resp.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            // Said outright, so that HEAD answers as GET does.
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            return Ok(resp);
        }
    };
    let (start, end) = range.unwrap_or((0, size)); // end exclusive, start <= end <= size
    let length = end - start;

    let mut resp = if method == Method::HEAD {
        response(Bytes::new())
    } else {
        match body {
            Body::Cached(blob) => {
                let part = blob.bytes.slice(start as usize..end as usize);
                let mut resp = response(part.clone());
                let file = media.file(&key, blob.bytes.len()).await;
                let sent = file.map(|file| FileBytes::new(part, &file, start));
                if mark && range.is_none() && is_plain(headers) {
                    resp.extensions_mut().insert(Plain {
                        bytes: blob.bytes.clone(),
                        sent: sent.clone(),
                    });
                }
                if let Some(sent) = sent {
                    resp.extensions_mut().insert(sent);
                }
                resp
            }
            Body::Stored { .. } => {
                let stream = media.stream(&key, start..end).await?;
                warp::reply::stream(SyncStream::new(stream)).into_response()
            }
        }
    };
    let h = resp.headers_mut();
    common_headers(h, &etag, Some(last_modified));
    if let Some(format) = key.format() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.mime_type()),
        );
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    // Originals are the uploader's bytes, never re-encoded: whatever else
    // they may hold (a polyglot file), a browser saves them rather than
    // rendering them in Scoot's origin. Variants are our own encodes.
    if key.as_str().starts_with("originals/") {
        let name = key.as_str().rsplit('/').next().unwrap_or("original");
        insert(
            h,
            header::CONTENT_DISPOSITION,
            &format!("attachment; filename=\"{name}\""),
        );
    }
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        insert(
            resp.headers_mut(),
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    Ok(resp)
}

/// Whether a body last modified at `last_modified` is no newer than the
/// client's `If-Modified-Since` (HTTP dates have whole seconds).
fn unchanged_since(ims: Option<&HeaderValue>, last_modified: Millis) -> bool {
    let Some(since) = ims
        .and_then(|v| v.to_str().ok())
        .and_then(|s| httpdate::parse_http_date(s).ok())
    else {
        return false;
    };
    let since_secs = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    u64::try_from(last_modified / 1000).is_ok_and(|modified| modified <= since_secs)
}

/// A blob's strong ETag: the first 128 bits of the SHA-256 of its key, in
/// hex and quotes. Written into a buffer on the stack; every media request
/// makes one.
fn etag_of(key: &BlobKey) -> HeaderValue {
    let digest = Sha256::digest(key.as_str().as_bytes());
    let mut quoted = [b'"'; 34];
    hex::encode_to_slice(&digest[..16], &mut quoted[1..33]).expect("32 hex digits fit");
    HeaderValue::from_bytes(&quoted).expect("quoted hex is a header value")
}

/// An ETag made by [`etag_of`], as text to compare with a client's.
fn etag_str(etag: &HeaderValue) -> &str {
    etag.to_str().expect("quoted hex is text")
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn common_headers(h: &mut HeaderMap, etag: &HeaderValue, last_modified: Option<Millis>) {
    const FOREVER: HeaderValue = HeaderValue::from_static(IMMUTABLE);
    const BYTES: HeaderValue = HeaderValue::from_static("bytes");
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, FOREVER);
    h.insert(header::ACCEPT_RANGES, BYTES);
    if let Some(ms) = last_modified {
        h.insert(header::LAST_MODIFIED, http_date(ms));
    }
}

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// The whole body (no range, a syntactically bad one, several ranges,
    /// or an `If-Range` that no longer matches): `200`.
    All,
    /// Bytes `start..end` (end exclusive, never empty, within the body): `206`.
    Part { start: u64, end: u64 },
    /// Nothing the range names exists: `416`.
    Unsatisfiable,
}

/// Reads `Range` / `If-Range` as RFC 9110 says. Parsing and the arithmetic
/// are the `http-range-header` crate's, which clamps every position into
/// the body (`bytes=5-18446744073709551615` is "from 5 to the end"). Only
/// single ranges are honoured; a multi-range request gets the whole body,
/// as the RFC allows, and so does a range the crate refuses outright.
fn requested_range(headers: &HeaderMap, etag: &str, size: u64) -> Wanted {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Wanted::All;
    };
    if headers.contains_key(header::IF_RANGE)
        && !matches_etag(headers.get(header::IF_RANGE), etag, false)
    {
        return Wanted::All;
    }
    let Ok(parsed) = http_range_header::parse_range_header(spec) else {
        return Wanted::All;
    };
    match parsed.validate(size).as_deref() {
        Ok([one]) => Wanted::Part {
            start: *one.start(),
            end: one.end() + 1,
        },
        Ok(_) => Wanted::All,
        Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable) => Wanted::Unsatisfiable,
        Err(_) => Wanted::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(spec: &str, size: u64) -> Wanted {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(spec).unwrap());
        requested_range(&h, "\"e\"", size)
    }

    fn part(start: u64, end: u64) -> Wanted {
        Wanted::Part { start, end }
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), part(0, 10));
        assert_eq!(range("bytes=90-", 100), part(90, 100));
        assert_eq!(range("bytes=-10", 100), part(90, 100));
        assert_eq!(range("bytes=-1000", 100), part(0, 100));
        assert_eq!(range("bytes=95-200", 100), part(95, 100));
        assert_eq!(range("bytes=100-", 100), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 100), Wanted::All);
        assert_eq!(range("items=0-1", 100), Wanted::All);
        // Invalid, so ignored (RFC 9110 14.1.1: last before first).
        assert_eq!(range("bytes=5-1", 100), Wanted::All);
    }

    #[test]
    fn positions_past_u64_are_the_end_of_the_body() {
        let max = u64::MAX;
        assert_eq!(range(&format!("bytes=5-{max}"), 100), part(5, 100));
        assert_eq!(range(&format!("bytes=0-{max}"), 100), part(0, 100));
        assert_eq!(
            range(&format!("bytes={max}-{max}"), 100),
            Wanted::Unsatisfiable
        );
        assert_eq!(range(&format!("bytes=-{max}"), 100), part(0, 100));
        assert_eq!(range("bytes=0-99999999999999999999999", 100), part(0, 100));
        assert_eq!(range("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=-5", 0), Wanted::All);
    }

    #[test]
    fn a_blobs_etag_is_the_head_of_its_keys_hash() {
        // The value clients already hold: the first 32 hex digits of the
        // SHA-256 of the key, quoted.
        let hash = crate::domain::ContentHash::of(b"photo");
        let key = BlobKey::original(&hash, ImageFormat::Jpeg);
        let before = crate::domain::ContentHash::of(key.as_str().as_bytes());
        let expected = format!("\"{}\"", &before.as_str()[..32]);
        assert_eq!(etag_of(&key), expected.as_str());
    }

    #[test]
    fn if_range_with_another_etag_sends_everything() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"other\""));
        assert_eq!(requested_range(&h, "\"e\"", 100), Wanted::All);
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"e\""));
        assert_eq!(requested_range(&h, "\"e\"", 100), part(0, 10));
    }

    /// A position as clients write them: small, near the size, near or past
    /// `u64::MAX`, or not a number at all.
    fn position() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..300).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0u64..3).prop_map(|d| (u64::MAX - d).to_string()),
            "[0-9]{19,40}",
            Just(String::new()),
            "[ +\\-a-z]{1,3}",
        ]
    }

    fn spec() -> impl Strategy<Value = String> {
        let one = (position(), position()).prop_map(|(a, b)| format!("{a}-{b}"));
        (
            prop_oneof![Just("bytes="), Just("bytes= "), Just("BYTES="), Just("")],
            proptest::collection::vec(one, 1..4),
        )
            .prop_map(|(unit, ranges)| format!("{unit}{}", ranges.join(",")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whatever the header, the answer is the whole body, a non-empty
        /// part inside it, or a 416; never a panic.
        #[test]
        fn any_range_is_a_body_part_or_416(spec in spec(), size in prop_oneof![0u64..4, 0u64..1000, any::<u64>()]) {
            let Ok(value) = HeaderValue::from_str(&spec) else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, value);
            match requested_range(&h, "\"e\"", size) {
                Wanted::Part { start, end } => {
                    prop_assert!(start < end, "{spec} on {size}: {start}..{end}");
                    prop_assert!(end <= size, "{spec} on {size}: {start}..{end}");
                }
                Wanted::All | Wanted::Unsatisfiable => {}
            }
        }
    }
}
