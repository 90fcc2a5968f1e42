//! CSS, JavaScript and icons from `assets/`, embedded in the binary and served
//! under fingerprinted URLs (`/assets/style.3f2a9c1d0b.css`) that can be
//! cached forever: a changed file gets a new URL.
//!
//! The manifest is computed once from the embedded bytes; it is a pure
//! function of the binary, so it is the one `static` here.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use warp::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use warp::{Filter, Rejection};

use super::media::IMMUTABLE;

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Embedded;

struct Asset {
    bytes: Bytes,
    mime: String,
    etag: String,
}

struct Manifest {
    /// `style.css` → `/assets/style.<hash>.css`
    urls: HashMap<String, String>,
    /// `style.<hash>.css` → the file
    files: HashMap<String, Asset>,
}

static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
    let mut urls = HashMap::new();
    let mut files = HashMap::new();
    for name in Embedded::iter() {
        let Some(file) = Embedded::get(&name) else {
            continue;
        };
        let hash = hex::encode(&file.metadata.sha256_hash()[..5]);
        let fingerprinted = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
            None => format!("{name}.{hash}"),
        };
        urls.insert(name.to_string(), format!("/assets/{fingerprinted}"));
        files.insert(
            fingerprinted,
            Asset {
                mime: file.metadata.mimetype().to_owned(),
                bytes: Bytes::from(file.data.into_owned()),
                etag: format!("\"{hash}\""),
            },
        );
    }
    Manifest { urls, files }
});

/// The fingerprinted URL of an asset, for templates.
pub fn url(name: &str) -> &'static str {
    MANIFEST
        .urls
        .get(name)
        .map(String::as_str)
        .unwrap_or("/assets/missing")
}

/// `GET /assets/<fingerprinted name>`.
pub fn route() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("assets" / String)
        .and(warp::get().or(warp::head()).unify())
        .and(warp::header::headers_cloned())
        .and_then(|name: String, headers: HeaderMap| async move {
            let asset = MANIFEST
                .files
                .get(&name)
                .ok_or_else(warp::reject::not_found)?;
            Ok::<_, Rejection>(serve(asset, &headers))
        })
}

fn serve(asset: &Asset, headers: &HeaderMap) -> warp::reply::Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    let mut resp = if fresh {
        let mut r = Response::new(Bytes::new().into());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(asset.bytes.clone().into())
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Ok(v) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&asset.mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_fingerprinted_url() {
        for name in ["style.css", "app.js", "favicon.svg"] {
            let u = url(name);
            assert!(u.starts_with("/assets/"), "{name} → {u}");
            let file = u.trim_start_matches("/assets/");
            assert!(MANIFEST.files.contains_key(file));
        }
        assert_eq!(url("nope.css"), "/assets/missing");
    }
}
