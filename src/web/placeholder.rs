//! Placeholders drawn while an image loads: a photo's ThumbHash decoded to a
//! tiny PNG ([`LONG_SIDE`] px on the long side) and inlined as a `data:` URL,
//! which the browser scales up smoothly into a blurred preview. Inline, so
//! the grid never flashes empty and no extra request is made.
//!
//! Inline also means every page carries one per tile, in bytes that compress
//! no further (a PNG, in base64). The decoder draws 32 px, but a ThumbHash
//! holds no detail finer than a few cycles across the photo: scaled to 16 px,
//! the preview a browser blows up to a tile is the same to the eye (DSSIM
//! under 0.003 against the 32 px one) in about a third of the bytes, and an
//! opaque photo's preview drops the alpha channel too.
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
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::imageops::{self, FilterType as Resample};
use image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbaImage};

use crate::domain::VariantSpec;

/// Pixels on a preview's long side.
pub const LONG_SIDE: u32 = 16;

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
    let drawn = RgbaImage::from_raw(u32::try_from(w).ok()?, u32::try_from(h).ok()?, rgba)?;
    let (w, h) = VariantSpec::new("placeholder", LONG_SIDE).fit(drawn.width(), drawn.height());
    let png = encode(imageops::resize(&drawn, w, h, Resample::Triangle))?;
    let mut url = String::from("data:image/png;base64,");
    BASE64.encode_string(&png, &mut url);
    Some(url)
}

/// A preview as a PNG: RGB when every pixel is opaque, squeezed hard (it is
/// drawn once per hash and sent with every page that shows it).
fn encode(preview: RgbaImage) -> Option<Vec<u8>> {
    let (w, h) = preview.dimensions();
    let mut png = Vec::with_capacity(512);
    let encoder =
        PngEncoder::new_with_quality(&mut png, CompressionType::Best, FilterType::Adaptive);
    let written = if preview.pixels().all(|p| p[3] == u8::MAX) {
        let rgb = DynamicImage::ImageRgba8(preview).into_rgb8();
        encoder.write_image(rgb.as_raw(), w, h, ExtendedColorType::Rgb8)
    } else {
        encoder.write_image(preview.as_raw(), w, h, ExtendedColorType::Rgba8)
    };
    written.ok()?;
    Some(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PNG inside a preview's `data:` URL.
    fn png_of(url: &str) -> image::DynamicImage {
        let png = BASE64
            .decode(url.strip_prefix("data:image/png;base64,").unwrap())
            .unwrap();
        image::load_from_memory(&png).unwrap()
    }

    #[test]
    fn decodes_to_a_small_png_of_the_right_colour() {
        let rgba: Vec<u8> = [30u8, 120, 220, 255].repeat(60 * 40);
        let hash = thumbhash::rgba_to_thumb_hash(60, 40, &rgba);
        let img = png_of(&data_url(&hash).unwrap());
        assert_eq!(img.width(), LONG_SIDE);
        assert!((10..=12).contains(&img.height()), "{}", img.height());
        assert!(
            !img.color().has_alpha(),
            "an opaque photo's preview carries alpha"
        );
        let px = img.to_rgb8().get_pixel(8, 5).0;
        assert!(
            px.iter()
                .zip([30u8, 120, 220])
                .all(|(a, b)| a.abs_diff(b) < 20),
            "{px:?}"
        );
    }

    #[test]
    fn a_photo_s_preview_is_a_few_hundred_bytes() {
        // Detail in every direction, as a photo has: the decoder's own
        // 32 px drawing of this one is 2 132 bytes inline, this 686.
        let (w, h) = (100usize, 75usize);
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let wave = |f: f32, t: usize| (128.0 + 120.0 * (t as f32 * f).sin()) as u8;
                [wave(0.11, x), wave(0.07, y), wave(0.05, x + y), 255]
            })
            .collect();
        let hash = thumbhash::rgba_to_thumb_hash(w, h, &rgba);
        let url = data_url(&hash).unwrap();
        assert!(url.len() < 800, "{} bytes inline", url.len());
        let img = png_of(&url);
        assert_eq!((img.width(), img.height()), (LONG_SIDE, 12));
    }

    /// DSSIM between two previews as a browser shows them in the same
    /// tile: each scaled bilinearly to 320 px wide, `a`'s shape.
    fn seen_apart(a: &RgbaImage, b: &RgbaImage) -> f64 {
        let dssim = dssim_core::Dssim::new();
        let (w, h) = (320, 320 * a.height() / a.width());
        let shown = |img: &RgbaImage| {
            let big = imageops::resize(img, w, h, Resample::Triangle);
            let px: Vec<_> = big
                .pixels()
                .map(|p| rgb::RGB::new(p[0], p[1], p[2]))
                .collect();
            dssim.create_image_rgb(&px, w as usize, h as usize).unwrap()
        };
        f64::from(dssim.compare(&shown(a), shown(b)).0)
    }

    #[test]
    fn a_preview_at_16_px_looks_as_the_decoder_s_32_px_one() {
        for name in ["Landscape_0.jpg", "Landscape_5.jpg", "Portrait_3.jpg"] {
            let path = format!(
                "{}/tests/fixtures/orientation/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let photo = image::open(path).unwrap().thumbnail(100, 100).into_rgba8();
            let (w, h) = (photo.width() as usize, photo.height() as usize);
            let hash = thumbhash::rgba_to_thumb_hash(w, h, photo.as_raw());
            let (w, h, rgba) = thumbhash::thumb_hash_to_rgba(&hash).unwrap();
            let full = RgbaImage::from_raw(w as u32, h as u32, rgba).unwrap();
            let small = png_of(&data_url(&hash).unwrap()).into_rgba8();
            let apart = seen_apart(&full, &small);
            assert!(apart < 0.003, "{name}: DSSIM {apart}");
        }
    }

    #[test]
    fn a_see_through_photo_keeps_its_alpha() {
        let rgba: Vec<u8> = [200u8, 40, 10, 0].repeat(40 * 40);
        let hash = thumbhash::rgba_to_thumb_hash(40, 40, &rgba);
        let img = png_of(&data_url(&hash).unwrap());
        assert!(img.color().has_alpha());
        assert!(img.to_rgba8().pixels().all(|p| p[3] < 128), "drawn opaque");
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
