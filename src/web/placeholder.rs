//! Placeholders seen while an image loads: the photo's ThumbHash, which
//! `assets/app.js` draws (with the reference decoder, `assets/thumbhash.js`)
//! into a tiny PNG under the `<picture>` that carries it, and the browser
//! scales up smoothly into a blurred preview. No extra request is made.
//!
//! The page carries the hash, not a drawing of it. A drawing, inlined as a
//! PNG `data:` URL, was some 650 bytes a tile even at 16 px, in base64 that
//! no compression shrinks: over a quarter of the gallery's HTML and most of
//! what a browser downloads of it. The hash is 19 bytes for an opaque
//! photo (28 in base64), and the server neither draws previews
//! nor keeps a cache of drawings to make page builds cheap. Without
//! JavaScript a tile shows no preview until its image loads; nothing else
//! changes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The shortest ThumbHash: its header (the average colour, the scales and
/// the shape) is five bytes.
const HEADER: usize = 5;

/// A ThumbHash as a `<picture>`'s `data-preview` (base64, which `atob`
/// reads), or `None` when it is too short to be one.
pub fn preview(thumbhash: &[u8]) -> Option<String> {
    (thumbhash.len() >= HEADER).then(|| BASE64.encode(thumbhash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_s_preview_is_its_hash_in_a_few_dozen_bytes() {
        let rgba: Vec<u8> = [30u8, 120, 220, 255].repeat(100 * 75);
        let hash = thumbhash::rgba_to_thumb_hash(100, 75, &rgba);
        let attr = preview(&hash).unwrap();
        assert!(attr.len() < 48, "{attr}");
        assert_eq!(BASE64.decode(&attr).unwrap(), hash);
        // The hash holds the photo's colour (what app.js draws from it is
        // checked in the browser suite, `timeline::previews`).
        let (r, g, b, _) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
        let drawn = [r, g, b].map(|c| (c * 255.0).round() as u8);
        assert!(
            drawn
                .iter()
                .zip([30u8, 120, 220])
                .all(|(a, b)| a.abs_diff(b) < 20),
            "{drawn:?}"
        );
    }

    #[test]
    fn what_cannot_be_a_thumbhash_draws_nothing() {
        assert_eq!(preview(&[]), None);
        assert_eq!(preview(&[1, 2, 3, 4]), None);
    }
}
