//! Placeholders drawn while an image loads: a photo's ThumbHash decoded to a
//! tiny PNG (~32 px on the long side) and inlined as a `data:` URL, which the
//! browser scales up smoothly into a blurred preview. Inline, so the grid
//! never flashes empty and no extra request is made.
//!
//! Drawing one (decode, PNG, base64) costs about as much as the rest of
//! its tile, and every change to the data rebuilds each page viewed after
//! it with mostly the same photos: beside a `scoot import`, drawing was the
//! largest part of those rebuilds, which every request for the page waits
//! out. So each drawing is kept by its hash ([`DRAWN`]); the same hash
//! always draws the same preview, so nothing ever makes one stale.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::ImageEncoder;
use image::codecs::png::PngEncoder;

/// Bytes of drawings kept: a few thousand previews of about a kilobyte,
/// more than the pages a busy site rebuilds at once show.
const DRAWN_BYTES: u64 = 8 << 20;

/// Drawings by ThumbHash, `None` for a hash that does not decode.
static DRAWN: LazyLock<moka::sync::Cache<Vec<u8>, Option<Arc<str>>>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .max_capacity(DRAWN_BYTES)
        .weigher(|hash: &Vec<u8>, url: &Option<Arc<str>>| {
            let len = hash.len() + url.as_deref().map_or(0, str::len);
            u32::try_from(len).unwrap_or(u32::MAX)
        })
        .build()
});

/// The `data:image/png;base64,…` URL of a ThumbHash's preview, or `None`
/// if the hash does not decode. Drawn once per hash while it is kept.
pub fn data_url(thumbhash: &[u8]) -> Option<Arc<str>> {
    DRAWN.get_with_by_ref(thumbhash, || draw(thumbhash).map(Arc::from))
}

/// Draws a ThumbHash's preview as a `data:` URL.
fn draw(thumbhash: &[u8]) -> Option<String> {
    // The decoder indexes by what the hash's header claims; a corrupt row
    // must not take the page down with it.
    let decoded = std::panic::catch_unwind(|| thumbhash::thumb_hash_to_rgba(thumbhash));
    let (w, h, rgba) = decoded.ok()?.ok()?;
    let mut png = Vec::with_capacity(2048);
    PngEncoder::new(&mut png)
        .write_image(
            &rgba,
            u32::try_from(w).ok()?,
            u32::try_from(h).ok()?,
            image::ExtendedColorType::Rgba8,
        )
        .ok()?;
    let mut url = String::from("data:image/png;base64,");
    BASE64.encode_string(&png, &mut url);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_to_a_small_png_of_the_right_colour() {
        let rgba: Vec<u8> = [30u8, 120, 220, 255].repeat(60 * 40);
        let hash = thumbhash::rgba_to_thumb_hash(60, 40, &rgba);
        let url = data_url(&hash).unwrap();
        let png = BASE64
            .decode(url.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        let img = image::load_from_memory(&png).unwrap().into_rgba8();
        assert!(img.width() <= 32 && img.width() > img.height());
        let px = img.get_pixel(img.width() / 2, img.height() / 2).0;
        assert!(
            px[..3]
                .iter()
                .zip([30u8, 120, 220])
                .all(|(a, b)| a.abs_diff(b) < 20),
            "{px:?}"
        );
        assert!(url.len() < 4096, "{} bytes inline", url.len());
    }

    #[test]
    fn a_hash_is_drawn_once() {
        let rgba: Vec<u8> = [200u8, 40, 10, 255].repeat(30 * 50);
        let hash = thumbhash::rgba_to_thumb_hash(30, 50, &rgba);
        let first = data_url(&hash).unwrap();
        let again = data_url(&hash).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "drawn twice");
        assert_eq!(Some(&*first), draw(&hash).as_deref());
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(data_url(b""), None);
        assert_eq!(data_url(b"\xff"), None);
    }
}
