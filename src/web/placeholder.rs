//! Placeholders drawn while an image loads: a photo's ThumbHash decoded to a
//! tiny PNG (~32 px on the long side) and inlined as a `data:` URL, which the
//! browser scales up smoothly into a blurred preview. Inline, so the grid
//! never flashes empty and no extra request is made.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::ImageEncoder;
use image::codecs::png::PngEncoder;

/// The `data:image/png;base64,…` URL of a ThumbHash's preview, or `None`
/// if the hash does not decode.
pub fn data_url(thumbhash: &[u8]) -> Option<String> {
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
    fn garbage_is_none() {
        assert_eq!(data_url(b""), None);
        assert_eq!(data_url(b"\xff"), None);
    }
}
