//! Checking at upload that an original will render: its whole stream is
//! decoded the way the render will decode it, as cheaply as the format
//! allows, so a truncated or damaged file is refused (415) rather than
//! accepted, stored and then failed.
//!
//! - JPEG: libjpeg-turbo decodes every scan at 1/8 scale (the entropy
//!   decoding that finds damage, little of the rest). It reports what a
//!   full decode would: a premature end, corrupt data. (Without the
//!   `turbojpeg` feature the pure-Rust decoder decodes in full.)
//! - PNG: every row is inflated and unfiltered, one row in memory at a
//!   time.
//! - GIF and WebP: the first frame, the one that is rendered, is decoded.
//!
//! Like [`super::probe`], this never touches the database, the store or
//! the network.

use std::io::Cursor;

use image::ImageReader;

use super::jpeg;
use super::probe::to_image_format;
use super::types::{PixelLimits, ProbeError};
use crate::domain::ImageFormat;

/// Whether `bytes`, probed as `format`, decode to the end; the decoder's
/// complaint as [`ProbeError::Corrupt`] when they do not.
pub fn verify(bytes: &[u8], format: ImageFormat, limits: &PixelLimits) -> Result<(), ProbeError> {
    let damaged = |e: &dyn std::fmt::Display| ProbeError::Corrupt(format!("damaged image: {e}"));
    match format {
        ImageFormat::Jpeg => jpeg::decode(bytes, 1, limits, |n| vec![0; n])
            .map(drop)
            .map_err(|e| damaged(&e)),
        ImageFormat::Png => {
            let mut decoder = png::Decoder::new(Cursor::new(bytes));
            decoder.set_transformations(png::Transformations::IDENTITY);
            let mut reader = decoder.read_info().map_err(|e| damaged(&e))?;
            while reader.next_row().map_err(|e| damaged(&e))?.is_some() {}
            Ok(())
        }
        ImageFormat::Gif | ImageFormat::Webp => {
            let mut reader = ImageReader::with_format(Cursor::new(bytes), to_image_format(format));
            reader.limits(limits.decoder_limits());
            reader.decode().map(drop).map_err(|e| damaged(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PixelLimits = PixelLimits {
        max_pixels: 100_000_000,
        max_side: 20_000,
        max_frames: 1_000,
    };

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn whole_images_pass_and_cut_ones_do_not() {
        for (format, ours) in [
            (image::ImageFormat::Jpeg, ImageFormat::Jpeg),
            (image::ImageFormat::Png, ImageFormat::Png),
            (image::ImageFormat::Gif, ImageFormat::Gif),
            (image::ImageFormat::WebP, ImageFormat::Webp),
        ] {
            let whole = encoded(format);
            assert!(verify(&whole, ours, &LIMITS).is_ok(), "{format:?}");
            let cut = &whole[..whole.len() * 2 / 3];
            assert!(
                matches!(verify(cut, ours, &LIMITS), Err(ProbeError::Corrupt(_))),
                "{format:?} cut at two thirds"
            );
        }
    }

    #[test]
    fn a_header_that_promises_more_than_the_data_holds_is_refused() {
        // A JPEG whose frame header says 7000×7000 over a few hundred
        // bytes of scan data.
        let mut jpeg = encoded(image::ImageFormat::Jpeg);
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline frame header");
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x1B, 0x58, 0x1B, 0x58]);
        assert!(matches!(
            verify(&jpeg, ImageFormat::Jpeg, &LIMITS),
            Err(ProbeError::Corrupt(_))
        ));
    }
}
