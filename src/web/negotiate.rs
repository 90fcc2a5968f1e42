//! Content negotiation: which representation a request gets, from its
//! `Accept` and `Accept-Encoding` headers, and compressing pages on the fly
//! in the encoding chosen.

use std::io::Write;

/// The q-value a header gives `token` by name (`gzip;q=0.5` → 0.5), if it
/// names it at all.
fn quality(header: &str, token: &str) -> Option<f32> {
    header.split(',').find_map(|item| {
        let mut parts = item.split(';').map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case(token) {
            return None;
        }
        Some(
            parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0),
        )
    })
}

/// Whether `Accept-Encoding` allows `coding` (named, or by `*`, with q > 0).
pub fn accepts_encoding(accept_encoding: &str, coding: &str) -> bool {
    quality(accept_encoding, coding)
        .or_else(|| quality(accept_encoding, "*"))
        .is_some_and(|q| q > 0.0)
}

/// Whether `Accept` names `mime` itself with q > 0. Wildcards do not count:
/// old browsers send `*/*` and cannot show WebP.
pub fn accepts_type(accept: &str, mime: &str) -> bool {
    quality(accept, mime).is_some_and(|q| q > 0.0)
}

/// An on-the-fly content coding for pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    /// The best coding a request allows for a body of `len` bytes, or `None`
    /// when it is below `min_len` (0 = never) or nothing is allowed.
    pub fn choose(accept_encoding: &str, len: usize, min_len: usize) -> Option<Self> {
        if min_len == 0 || len < min_len || accept_encoding.is_empty() {
            None
        } else if accepts_encoding(accept_encoding, "br") {
            Some(Self::Brotli)
        } else if accepts_encoding(accept_encoding, "gzip") {
            Some(Self::Gzip)
        } else {
            None
        }
    }

    /// The `Content-Encoding` token, also appended to ETags.
    pub fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    /// Compresses `body` at levels meant for per-request use (Brotli 5,
    /// gzip 6), not the slowest ones `build.rs` spends on assets.
    pub fn compress(self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() / 4);
        let written = match self {
            Self::Brotli => {
                let params = brotli::enc::BrotliEncoderParams {
                    quality: 5,
                    lgwin: 22,
                    ..Default::default()
                };
                brotli::BrotliCompress(&mut &body[..], &mut out, &params).map(|_| ())
            }
            Self::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(6));
                gz.write_all(body).and_then(|()| gz.finish().map(|_| ()))
            }
        };
        // Writing to a Vec cannot fail.
        debug_assert!(written.is_ok());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_accept_encoding() {
        assert!(accepts_encoding("gzip, deflate, br, zstd", "br"));
        assert!(accepts_encoding("gzip;q=0.5", "gzip"));
        assert!(!accepts_encoding("gzip;q=0.5", "br"));
        assert!(!accepts_encoding("br;q=0, *", "br"));
        assert!(accepts_encoding("*", "gzip"));
        assert!(!accepts_encoding("", "gzip"));
        assert!(!accepts_encoding("identity", "gzip"));
    }

    #[test]
    fn types_must_be_named() {
        assert!(accepts_type(
            "image/avif,image/webp,image/apng,*/*;q=0.8",
            "image/webp"
        ));
        assert!(!accepts_type("image/webp;q=0", "image/webp"));
        assert!(!accepts_type("*/*", "image/webp"));
        assert!(!accepts_type("image/*", "image/webp"));
    }

    #[test]
    fn pages_are_compressed_when_worthwhile() {
        assert_eq!(Coding::choose("gzip, br", 5000, 1024), Some(Coding::Brotli));
        assert_eq!(Coding::choose("gzip", 5000, 1024), Some(Coding::Gzip));
        assert_eq!(Coding::choose("gzip, br", 500, 1024), None);
        assert_eq!(Coding::choose("gzip, br", 5000, 0), None);
        assert_eq!(Coding::choose("identity", 5000, 1024), None);

        let page = "<li class=\"tile\"><a href=\"/photos/x\">x</a></li>\n".repeat(100);
        let br = Coding::Brotli.compress(page.as_bytes());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, page.as_bytes());
        let gz = Coding::Gzip.compress(page.as_bytes());
        let mut back = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back)
            .unwrap();
        assert_eq!(back, page);
        assert!(br.len() < page.len() / 10);
    }
}
