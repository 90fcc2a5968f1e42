//! CSS, JavaScript and icons from `assets/`, embedded in the binary and served
//! under fingerprinted URLs (`/assets/style.3f2a9c1d0b.css`) that can be
//! cached forever: a changed file gets a new URL.
//!
//! Text assets are also embedded precompressed (Brotli and gzip, made by
//! `build.rs` at the slowest, best settings) and sent in the best encoding
//! the request's `Accept-Encoding` allows, with `Vary: Accept-Encoding` and
//! an ETag per encoding.
//!
//! The manifest is computed once from the embedded bytes; it is a pure
//! function of the binary, so it is the one `static` here.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use warp::http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::conditional::{IMMUTABLE, matches_etag};
use super::negotiate::accepts_encoding;

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Embedded;

/// `<name>.br` and `<name>.gz` for each text asset, from `build.rs`.
#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/assets-compressed/"]
struct Compressed;

struct Asset {
    bytes: Bytes,
    /// Brotli and gzip copies, when they are smaller.
    br: Option<Bytes>,
    gz: Option<Bytes>,
    mime: String,
    /// The content hash part of the ETag (the encoding is appended).
    hash: String,
}

struct Manifest {
    /// `style.css` → `style.<hash>.css`
    names: HashMap<String, String>,
    /// `style.<hash>.css` → the file
    files: HashMap<String, Asset>,
}

static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
    let mut names = HashMap::new();
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
        names.insert(name.to_string(), fingerprinted.clone());
        files.insert(
            fingerprinted,
            Asset {
                mime: file.metadata.mimetype().to_owned(),
                bytes: Bytes::from(file.data.into_owned()),
                br: Compressed::get(&format!("{name}.br"))
                    .map(|f| Bytes::from(f.data.into_owned())),
                gz: Compressed::get(&format!("{name}.gz"))
                    .map(|f| Bytes::from(f.data.into_owned())),
                hash,
            },
        );
    }
    Manifest { names, files }
});

/// The fingerprinted name of an asset (`style.css` → `style.<hash>.css`);
/// pages build the URL with [`Urls::asset`](super::urls::Urls::asset).
pub fn fingerprinted(name: &str) -> &'static str {
    MANIFEST
        .names
        .get(name)
        .map(String::as_str)
        .unwrap_or("missing")
}

/// `GET|HEAD /assets/<fingerprinted name>`; `None` for no such asset.
pub fn serve(name: &str, headers: &HeaderMap) -> Option<warp::reply::Response> {
    MANIFEST
        .files
        .get(name)
        .map(|asset| respond(asset, headers))
}

fn respond(asset: &Asset, headers: &HeaderMap) -> warp::reply::Response {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (encoding, bytes) = match (&asset.br, &asset.gz) {
        (Some(br), _) if accepts_encoding(accept, "br") => (Some("br"), br),
        (_, Some(gz)) if accepts_encoding(accept, "gzip") => (Some("gzip"), gz),
        _ => (None, &asset.bytes),
    };
    let etag = match encoding {
        Some(e) => format!("\"{}-{e}\"", asset.hash),
        None => format!("\"{}\"", asset.hash),
    };
    let mut resp = if matches_etag(headers.get(header::IF_NONE_MATCH), &etag, true) {
        let mut r = Response::new(Bytes::new().into());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(bytes.clone().into())
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
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
            let file = fingerprinted(name);
            assert!(MANIFEST.files.contains_key(file), "{name} → {file}");
        }
        assert_eq!(fingerprinted("nope.css"), "missing");
    }

    #[test]
    fn text_assets_are_precompressed_and_smaller() {
        let css = MANIFEST
            .files
            .values()
            .find(|a| a.mime == "text/css")
            .unwrap();
        let (br, gz) = (css.br.as_ref().unwrap(), css.gz.as_ref().unwrap());
        assert!(br.len() < gz.len() && gz.len() < css.bytes.len());
    }
}
