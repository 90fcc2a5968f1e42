//! Serving image bytes (the CloudFront + nginx of the classic stack).
//!
//! `/media/<storage key>`: keys are content-addressed, so responses are
//! immutable and carry a strong `ETag` derived from the key, `Cache-Control:
//! public, max-age=31536000, immutable`, `Last-Modified`, and honour
//! `If-None-Match` (304), `Range`/`If-Range` (206/416) and `HEAD`. Small
//! blobs (variants) come from the byte cache; large ones (originals) stream
//! from the store without being held in memory.
//!
//! `/photos/<id>/<variant>` names a size without a format: WebP when the
//! request's `Accept` lists `image/webp`, the universal format otherwise,
//! with `Vary: Accept`. Each concrete format keeps its own immutable
//! `/media/…` URL for caches that ignore `Vary`; pages use those in a
//! `<picture>`.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use sync_wrapper::SyncStream;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use warp::path::Tail;
use warp::{Filter, Rejection, Reply};

use super::AppState;
use super::api::load_visible_photo;
use super::conditional::matches_etag;
use super::error::{Failure, reject};
use super::negotiate::accepts_type;
use super::session::viewer;
use crate::cache::CachedBlob;
use crate::db::User;
use crate::domain::{ContentHash, ImageFormat, Millis, PhotoId, Visibility};
use crate::store::{BlobKey, StoreError};

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET|HEAD /media/<key>`.
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path("media")
        .and(warp::path::tail())
        .and(warp::get().or(warp::head()).unify())
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(super::with_state(state))
        .and_then(serve)
}

/// `GET|HEAD /photos/<id>/<variant>`, negotiated by `Accept`.
pub fn negotiated(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("photos" / String / String)
        .and(warp::get().or(warp::head()).unify())
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(viewer(state.clone()))
        .and(super::with_state(state))
        .and_then(
            |id: String,
             name: String,
             method: Method,
             headers: HeaderMap,
             viewer: Option<User>,
             state: AppState| async move {
                let id: PhotoId = id
                    .parse()
                    .map_err(|_| Failure::not_found("photo").reject())?;
                let photo = load_visible_photo(&state, &id, viewer.as_ref())
                    .await
                    .map_err(Failure::reject)?;
                let accept = headers
                    .get(header::ACCEPT)
                    .and_then(|a| a.to_str().ok())
                    .unwrap_or("");
                let webp = accepts_type(accept, "image/webp")
                    .then(|| photo.variant_in(&name, ImageFormat::Webp))
                    .flatten();
                let variant = webp
                    .or_else(|| photo.variant(&name))
                    .ok_or_else(|| Failure::not_found("variant").reject())?;
                let key = BlobKey::parse(&variant.key)
                    .ok_or_else(|| Failure::not_found("variant").reject())?;
                let mut resp = serve_key(key, method, headers, state).await?;
                let h = resp.headers_mut();
                // Not content-addressed: the photo may be deleted or
                // re-rendered. Only public photos go into shared caches.
                let (cache, vary) = match photo.visibility {
                    Visibility::Public => ("public, max-age=3600", "Accept"),
                    _ => ("private, max-age=3600", "Accept, Cookie"),
                };
                h.insert(header::VARY, HeaderValue::from_static(vary));
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
                Ok::<_, Rejection>(resp)
            },
        )
}

/// Where the bytes of a response come from.
enum Source {
    Cached(CachedBlob),
    Store { size: u64, last_modified: Millis },
}

async fn serve(
    tail: Tail,
    method: Method,
    headers: HeaderMap,
    state: AppState,
) -> Result<warp::reply::Response, Rejection> {
    let key = BlobKey::parse(tail.as_str()).ok_or_else(|| Failure::not_found("media").reject())?;
    serve_key(key, method, headers, state).await
}

async fn serve_key(
    key: BlobKey,
    method: Method,
    headers: HeaderMap,
    state: AppState,
) -> Result<warp::reply::Response, Rejection> {
    let etag = format!(
        "\"{}\"",
        &ContentHash::of(key.as_str().as_bytes()).as_str()[..32]
    );
    if matches_etag(headers.get(header::IF_NONE_MATCH), &etag, true) {
        let mut resp = Response::new(Bytes::new().into());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        common_headers(resp.headers_mut(), &etag, None);
        return Ok(resp);
    }

    let source = match state.caches.media(key.as_str()).await {
        Some(blob) => Source::Cached(blob),
        None => match state.store.head(&key).await.map_err(reject)? {
            None => return Err(Failure::not_found("media").reject()),
            Some(meta) if state.caches.media_fits(meta.size) && method != Method::HEAD => {
                match state.store.get(&key).await {
                    Ok((bytes, meta)) => {
                        let blob = CachedBlob {
                            bytes,
                            last_modified: meta.last_modified,
                        };
                        state
                            .caches
                            .put_media(key.as_str().to_owned(), blob.clone())
                            .await;
                        Source::Cached(blob)
                    }
                    Err(StoreError::NotFound) => return Err(Failure::not_found("media").reject()),
                    Err(e) => return Err(reject(e)),
                }
            }
            Some(meta) => Source::Store {
                size: meta.size,
                last_modified: meta.last_modified,
            },
        },
    };
    let (size, last_modified) = match &source {
        Source::Cached(b) => (b.bytes.len() as u64, b.last_modified),
        Source::Store {
            size,
            last_modified,
        } => (*size, *last_modified),
    };

    let range = match requested_range(&headers, &etag, size) {
        Ok(r) => r,
        Err(()) => {
            let mut resp = Response::new(Bytes::new().into());
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            common_headers(resp.headers_mut(), &etag, Some(last_modified));
            insert(
                resp.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes */{size}"),
            );
            return Ok(resp);
        }
    };
    let (start, end) = range.unwrap_or((0, size)); // end exclusive
    let length = end - start;

    let mut resp = if method == Method::HEAD {
        Response::new(Bytes::new().into())
    } else {
        match source {
            Source::Cached(blob) => {
                Response::new(blob.bytes.slice(start as usize..end as usize).into())
            }
            Source::Store { .. } => {
                let stream = state
                    .store
                    .stream(&key, Some(start..end))
                    .await
                    .map_err(reject)?;
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
    insert(h, header::CONTENT_LENGTH, &length.to_string());
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

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn common_headers(h: &mut HeaderMap, etag: &str, last_modified: Option<Millis>) {
    insert(h, header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(ms) = last_modified {
        let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        insert(h, header::LAST_MODIFIED, &httpdate::fmt_http_date(t));
    }
}

/// The byte range to send, `[start, end)`; `Ok(None)` for the whole body,
/// `Err` when the range cannot be satisfied. Only single ranges are
/// honoured; a multi-range request gets the whole body, as RFC 9110 allows.
fn requested_range(headers: &HeaderMap, etag: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if headers.contains_key(header::IF_RANGE)
        && !matches_etag(headers.get(header::IF_RANGE), etag, false)
    {
        return Ok(None);
    }
    let Some(ranges) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if ranges.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = ranges.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // Suffix: the last `b` bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size
        } else {
            let last: u64 = b.parse().map_err(|_| ())?;
            if last < start {
                return Err(());
            }
            (last + 1).min(size)
        };
        (start, end)
    };
    if range.0 >= size {
        return Err(());
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(spec).unwrap());
        requested_range(&h, "\"e\"", size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(range("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(range("bytes=95-200", 100), Ok(Some((95, 100))));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=5-1", 100), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
    }

    #[test]
    fn if_range_with_another_etag_sends_everything() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"other\""));
        assert_eq!(requested_range(&h, "\"e\"", 100), Ok(None));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"e\""));
        assert_eq!(requested_range(&h, "\"e\"", 100), Ok(Some((0, 10))));
    }
}
