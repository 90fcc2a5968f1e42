//! Refusing cross-site requests that would act with a visitor's cookie
//! (CSRF). The session cookie is `SameSite=Lax`, which older browsers and
//! same-site subdomains do not honour, so every unsafe request a browser
//! sends is also checked here, the way Go's `CrossOriginProtection` does:
//!
//! 1. `GET`, `HEAD` and `OPTIONS` change nothing and pass.
//! 2. A request with a bearer token carries its own credentials and passes.
//! 3. `Sec-Fetch-Site` (every current browser sends it) must say
//!    `same-origin` or `none` (typed by the user).
//! 4. Without it, `Origin`, then `Referer`, must name this site's host (the
//!    `Host` header, which a proxy in front passes on).
//! 5. A request with none of the three is not from a browser and passes.
//!
//! JSON bodies must also say `Content-Type: application/json` (see
//! [`super::extract::json_body`]), which a cross-site form cannot send, and
//! every form of a browser session carries the session's form token (see
//! [`super::extract::signed_form`]), which another site cannot know.

use warp::http::{HeaderMap, Method, header};

/// Why an unsafe request is refused, or `None` when it may go on.
pub fn refusal(method: &Method, headers: &HeaderMap) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::AUTHORIZATION).is_some_and(|a| {
        a.trim_start()
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
    }) {
        return None;
    }
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return match site {
            "same-origin" | "none" => None,
            _ => Some("cross-site request refused"),
        };
    }
    let host = text(header::HOST);
    for name in [header::ORIGIN, header::REFERER] {
        if let Some(value) = text(name) {
            return match (authority(value), host) {
                (Some(from), Some(host)) if from.eq_ignore_ascii_case(host) => None,
                _ => Some("cross-site request refused"),
            };
        }
    }
    None
}

/// `host[:port]` of an absolute URL (`null` and the like have none).
fn authority(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Credentials in a URL are not part of the origin.
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    (!authority.is_empty()).then_some(authority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn check(method: Method, pairs: &[(&'static str, &'static str)]) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        refusal(&method, &headers)
    }

    #[test]
    fn browsers_from_elsewhere_are_refused() {
        let host = ("host", "photos.example:8080");
        assert!(check(Method::POST, &[host, ("sec-fetch-site", "cross-site")]).is_some());
        assert!(check(Method::DELETE, &[host, ("sec-fetch-site", "same-site")]).is_some());
        assert!(check(Method::POST, &[host, ("origin", "http://evil.example")]).is_some());
        assert!(check(Method::POST, &[host, ("origin", "null")]).is_some());
        assert!(
            check(
                Method::PATCH,
                &[
                    host,
                    ("referer", "https://evil.example/photos.example:8080")
                ]
            )
            .is_some()
        );
        assert!(check(Method::POST, &[("origin", "http://photos.example:8080")]).is_some());
    }

    #[test]
    fn the_site_itself_and_other_clients_pass() {
        let host = ("host", "photos.example:8080");
        assert!(check(Method::POST, &[host, ("sec-fetch-site", "same-origin")]).is_none());
        assert!(
            check(
                Method::POST,
                &[host, ("origin", "http://Photos.example:8080")]
            )
            .is_none()
        );
        assert!(
            check(
                Method::POST,
                &[host, ("referer", "http://u@photos.example:8080/photos/1?x")]
            )
            .is_none()
        );
        assert!(check(Method::POST, &[host]).is_none(), "curl");
        assert!(
            check(
                Method::POST,
                &[
                    ("authorization", "Bearer abc"),
                    ("origin", "http://evil.example")
                ]
            )
            .is_none()
        );
        assert!(check(Method::GET, &[host, ("sec-fetch-site", "cross-site")]).is_none());
    }
}
