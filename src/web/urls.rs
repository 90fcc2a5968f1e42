//! Where pages point browsers for media and assets: Scoot itself by default,
//! or a CDN (the classic stack's CloudFront with two origins) when
//! `web.media_base_url` / `web.asset_base_url` are set.
//!
//! A media URL is `<media base>/<blob key>` and an asset URL is
//! `<asset base>/<fingerprinted name>`. The defaults are `/media` and
//! `/assets`, Scoot's own routes; a CDN whose origin is Scoot keeps those
//! paths (`https://cdn.example/media`), one whose origin is the bucket uses
//! the keys at its root (`https://photos.example`).
//!
//! The Content-Security-Policy is derived here too, since it must allow
//! exactly those origins and nothing else.

use std::sync::Arc;

use warp::http::HeaderValue;

use super::assets;
use crate::config::{WebConfig, base_origin as origin};
use crate::keys::BlobKey;
use crate::model::Photo;

/// The path of a photo's share link.
pub fn share_path(token: &str) -> String {
    format!("/s/{token}")
}

/// The path of an album's share link.
pub fn album_share_path(token: &str) -> String {
    format!("/a/{token}")
}

/// The two bases, cheap to clone into every page.
#[derive(Debug, Clone)]
pub struct Urls {
    media: Arc<str>,
    assets: Arc<str>,
}

impl Default for Urls {
    /// Scoot's own routes (error pages, which have no settings at hand).
    fn default() -> Self {
        Self::new(&WebConfig::default())
    }
}

impl Urls {
    /// The bases from the settings; empty settings mean Scoot's own routes.
    pub fn new(cfg: &WebConfig) -> Self {
        let base = |s: &str, default: &str| -> Arc<str> {
            match s.trim_end_matches('/') {
                "" => default.into(),
                s => s.into(),
            }
        };
        Self {
            media: base(&cfg.media_base_url, "/media"),
            assets: base(&cfg.asset_base_url, "/assets"),
        }
    }

    /// The URL of a stored blob.
    pub fn media(&self, key: &str) -> String {
        format!("{}/{key}", self.media)
    }

    /// The URL of a photo's original.
    pub fn original(&self, photo: &Photo) -> String {
        self.media(BlobKey::original(&photo.hash, photo.format).as_str())
    }

    /// The fingerprinted URL of an embedded asset (`style.css`).
    pub fn asset(&self, name: &str) -> String {
        format!("{}/{}", self.assets, assets::fingerprinted(name))
    }

    /// The Content-Security-Policy for every response: nothing inline,
    /// scripts and styles only from Scoot or the asset origin, images from
    /// Scoot, the media origin, `data:` (placeholders) and `blob:` (local
    /// previews of files being uploaded).
    pub fn content_security_policy(&self) -> HeaderValue {
        let assets = origin(&self.assets).map_or(String::new(), |o| format!(" {o}"));
        let media = origin(&self.media).map_or(String::new(), |o| format!(" {o}"));
        let policy = format!(
            "default-src 'none'; img-src 'self' data: blob:{media}{assets}; \
             style-src 'self'{assets}; script-src 'self'{assets}; connect-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        // Config validation admits only printable ASCII in the bases, so
        // this cannot fail; if it did, fail closed.
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(media: &str, assets: &str) -> Urls {
        Urls::new(&WebConfig {
            media_base_url: media.into(),
            asset_base_url: assets.into(),
            ..WebConfig::default()
        })
    }

    #[test]
    fn defaults_point_at_scoot() {
        let u = urls("", "");
        assert_eq!(u.media("variants/ab/c.jpg"), "/media/variants/ab/c.jpg");
        assert!(u.asset("style.css").starts_with("/assets/style."));
        let csp = u.content_security_policy();
        let csp = csp.to_str().unwrap();
        assert!(csp.contains("style-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }

    #[test]
    fn cdn_bases_are_used_and_allowed() {
        let u = urls("https://img.example/media/", "https://static.example:8443");
        assert_eq!(
            u.media("variants/ab/c.jpg"),
            "https://img.example/media/variants/ab/c.jpg"
        );
        assert!(
            u.asset("app.js")
                .starts_with("https://static.example:8443/app.")
        );
        let csp = u.content_security_policy();
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains(
                "img-src 'self' data: blob: https://img.example https://static.example:8443;"
            ),
            "{csp}"
        );
        assert!(
            csp.contains("script-src 'self' https://static.example:8443;"),
            "{csp}"
        );
    }
}
